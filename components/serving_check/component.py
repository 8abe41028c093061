"""ServingCheck: InfraValidator's role without Docker. Loads the candidate in a separate process,
sends TF Serving REST requests built from eval examples as the task's serving contract says, and
blesses the model only if the answers have the expected outputs and match the evaluated ones.

Output `blessing` (standard `InfraBlessing`): `{uri}/INFRA_BLESSED` or `{uri}/INFRA_NOT_BLESSED`
(with the reason), `{uri}/serving_check.json` (what was compared, and `model_dir`: the
SavedModel served); custom property `blessed` (1/0), which TFX's Pusher
checks through its `infra_blessing` input.
"""

import json
import os

from absl import logging
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common import contract
from components.image_ingest import ingest
from components.serving_check import check


@component
def ServingCheck(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    blessing: OutputArtifact[standard_artifacts.InfraBlessing],
    task: Parameter[str],
    num_examples: Parameter[int] = 16,
    timeout_seconds: Parameter[int] = 300,
    code_version: Parameter[str] = "",
) -> None:
  """Blesses the model for serving only if it answers REST requests as evaluated.

  `task` is the dotted path of the registered task whose serving contract applies.
  """
  del code_version  # keys TFX's cache to the code that runs here
  serving = contract.load_task(task).serving
  rows = ingest.read_examples(examples.uri, "eval", num_examples)
  model_dir = path_utils.serving_model_path(model.uri)
  try:
    report = check.check_serving(model_dir, rows, serving, timeout=timeout_seconds)
    ok, reason = True, ""
  except (check.ServingCheckError, ValueError, OSError) as e:
    report, ok, reason = {"error": str(e)}, False, str(e)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.io.gfile.makedirs(blessing.uri)
  with tf.io.gfile.GFile(os.path.join(blessing.uri, check.REPORT_FILE), "w") as f:
    json.dump(report, f, indent=1)
  with tf.io.gfile.GFile(os.path.join(
      blessing.uri, check.INFRA_BLESSED if ok else check.INFRA_NOT_BLESSED), "w") as f:
    f.write(reason)
  blessing.set_int_custom_property("blessed", int(ok))
  if ok:
    logging.info("serving check passed: %d REST instances match the evaluated predictions",
                 report["instances"])
  else:
    logging.warning("serving check failed: %s", reason)


# A local run calls this as it starts (`pipelines.runners.run_local`): the serving check's fresh
# process imports TensorFlow while the first components run.
ServingCheck.warm_up = staticmethod(check.warm_up)
