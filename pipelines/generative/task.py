"""The generative task (DCGAN / conditional GAN): what generic components and the CLI ask of it."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from components.common import contract
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.generative import config
from pipelines.generative import edge


def seed_instances(rows: Sequence[dict]) -> list[dict]:
  """TF Serving REST instances: (label, seed) per row; eval rows get their class and their
  position as the seed, `cvpipe predict` requests carry their own seed."""
  return [{"label": r.get("label", ""), "seed": int(r.get("seed", i))}
          for i, r in enumerate(rows)]


def seed_inputs(rows: Sequence[tuple]) -> dict[str, list]:
  """The same requests for the in-process reference call of `serving_default`."""
  instances = seed_instances([r[1] for r in rows])
  return {"label": [x["label"] for x in instances], "seed": [x["seed"] for x in instances]}


def request_from_file(path: str, data: bytes) -> dict | str:
  """`cvpipe predict` for a generator takes a JSON request file: {"label": "3", "seed": 7}
  (label: a class name; "" for unconditional models)."""
  try:
    request = json.loads(data)
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    return f"a generator takes a JSON file {{\"label\": ..., \"seed\": ...}}, not this ({e})"
  if (not isinstance(request, dict) or not isinstance(request.get("label", ""), str)
      or not isinstance(request.get("seed"), int)):
    return "the JSON request needs \"seed\" (an integer) and \"label\" (a class name)"
  return {"label": request.get("label", ""), "seed": request["seed"], "source": path}


def describe_image(prediction: Mapping[str, Any]) -> str:
  """'16x16x1 image, PNG of 312 bytes'."""
  shape = "x".join(str(n) for n in _shape(prediction["image"]))
  return f"{shape} image, PNG of {len(prediction['png'])} bytes"


def describe(prediction: Mapping[str, Any]) -> str:
  """'class 3: 16x16x1 image, PNG of 312 bytes'."""
  what = f"class {prediction['label']}" if prediction["class_id"] >= 0 else "unconditional"
  return f"{what}: {describe_image(prediction)}"


def _shape(value) -> list[int]:
  shape = []
  while isinstance(value, list):
    shape.append(len(value))
    value = value[0] if value else None
  return shape


TASK = tasks.register(Task(
    name="generative",
    module=__name__,
    summary="image generation: conditional GAN or DCGAN (custom train_step), FID / conditional "
            "accuracy gate in a trained judge's feature space",
    config=config.GenerativeConfig,
    load_config=config.load,
    pipeline="pipelines.generative.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="pipelines.generative.model.run_fn",
    serving_module="pipelines.generative.model.GenerativeServingModule",
    trainer_sections=("image", "train", "judge"),
    features=contract.IMAGE_FEATURES,
    readers=("class_folders", "csv_manifest"),
    default_data=datasets.write_digits,
    serving=ServingContract(
        outputs=("image", "png", "class_id", "label"), compare="image",
        inputs={"label": "string", "seed": "int64"}, instances=seed_instances,
        reference_signature="serving_default", reference_inputs=seed_inputs,
        describe=describe, row_from_file=request_from_file),
    edge=EdgeContract(quality=edge.fid_scores, quality_metric="fid_vs_keras",
                      higher_is_better=False, agreement_metric="pixel_mae_vs_keras",
                      inputs=("label_xf", "image_xf"), edge_model=edge.parts,
                      run_parts=edge.generate, scoring_parts=("judge",)),
    evaluation=Evaluation(node="GenerativeEvaluator",
                          component="components.gen_eval.component.GenerativeEvaluator"),
    report_sections=("pipelines.generative.report.samples",),
))
