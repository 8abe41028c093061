"""The task contract: what a registered task declares, and what generic components ask of it.

A task (`pipelines/<task>/task.py`) builds one `Task` and registers it by name
(`pipelines.tasks.register`). Generic components never switch on a task or model kind: they take
the task's dotted path as a parameter (`Task.ref`, as the Trainer takes `run_fn`), load it with
`load_task` and ask it: the serving contract says what a served model must answer and how a served
answer is compared with the evaluated one; the edge contract says what is exported to TFLite/ONNX
and how each exported model is scored; `report_sections` lists the report's task sections.

TFX-free and task-free: the types and the default image-bytes serving helpers live here, below
both `components/` and `pipelines/`.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
from typing import Any, Callable, Mapping, Sequence

import numpy as np

IMAGE_BYTES = "image_bytes"
# The tf.Example features of ingested images (name -> tf.train.Feature kind): what image tasks
# declare as `Task.features`; the task test kit checks them against ingest's output.
IMAGE_FEATURES = {"image": "bytes", "height": "int64", "width": "int64", "channels": "int64",
                  "label": "bytes", "source": "bytes"}
# Written into `assets.extra/` of every exported SavedModel: {"task": name}, so `cvpipe predict`
# knows which task's serving contract applies.
TASK_FILE = "cvpipe_task.json"


# ---------------------------------------------------------------------------------------------
# Serving


def image_instances(rows: Sequence[dict]) -> list[dict]:
  """TF Serving REST instances for image tasks: each eval image's bytes as {"b64": ...}."""
  return [{"b64": base64.b64encode(r["image"]).decode()} for r in rows]


def describe_outputs(prediction: Mapping[str, Any]) -> str:
  """A generic one-line summary of one served prediction: scalars as values, arrays as shapes."""
  parts = []
  for key in sorted(prediction):
    value = np.asarray(prediction[key], dtype=object if isinstance(prediction[key], str) else None)
    if value.ndim == 0:
      v = prediction[key]
      parts.append(f"{key}={v:.4g}" if isinstance(v, float) else f"{key}={v}")
    else:
      parts.append(f"{key}=<{'x'.join(map(str, value.shape))}>")
  return "  ".join(parts)


def image_row(path: str, data: bytes) -> dict:
  """A file given to `cvpipe predict` as the row `instances` takes: an image's bytes."""
  return {"image": data, "source": path}


def serialized_examples(rows: Sequence[tuple]) -> dict[str, list]:
  """Inputs of the `serving_examples` signature: the eval rows' serialized tf.Examples."""
  return {"examples": [r[0] for r in rows]}


def describe_class(prediction: Mapping[str, Any]) -> str:
  """A classifier's served prediction as "class (score)"."""
  return f"{prediction['predicted_class']} ({prediction['predicted_score']:.3f})"


def describe_vector(key: str) -> Callable[[Mapping[str, Any]], str]:
  """A `describe` for predictions whose main output is one vector (e.g. an embedding)."""
  return lambda prediction: f"{key} of {len(prediction[key])} dimensions"


@dataclasses.dataclass(frozen=True)
class ServingContract:
  """What the served SavedModel must answer, and how its answers are checked.

  Attributes:
    inputs: the serving signature's inputs, name -> dtype name ("string" for encoded images).
    outputs: keys every served prediction must have.
    compare: the numeric output compared with the same output of `reference_signature` on the
      same eval examples (what the evaluator scored).
    atol: the largest absolute difference allowed in `compare`.
    argmax_agreement: `compare` holds class scores: the top-1 class must agree on every instance.
    instances: eval rows ({"image", "label", "source"} dicts) -> REST request instances.
    reference_signature, reference_inputs: the in-process signature whose `compare` output the
      served one must match, and its inputs from the eval rows ((serialized example, dict)
      pairs); by default what the evaluator scored: `serving_examples` on the examples.
    describe: one served prediction -> the line `cvpipe predict` prints for it.
    row_from_file: (path, bytes) of a file given to `cvpipe predict` -> the row `instances`
      takes (an image's bytes; a video's sampled frames), or a reason the file cannot be sent.
  """
  outputs: tuple[str, ...]
  compare: str
  inputs: Mapping[str, str] = dataclasses.field(default_factory=lambda: {IMAGE_BYTES: "string"})
  atol: float = 1e-4
  argmax_agreement: bool = False
  signature: str = "serving_default"
  reference_signature: str = "serving_examples"
  instances: Callable[[Sequence[dict]], list] = image_instances
  reference_inputs: Callable[[Sequence[tuple]], dict] = serialized_examples
  describe: Callable[[Mapping[str, Any]], str] = describe_outputs
  row_from_file: Callable[[str, bytes], dict | str] = image_row

  def __post_init__(self):
    if self.compare not in self.outputs:
      raise ValueError(f"compared output {self.compare!r} is not one of {self.outputs}")


# ---------------------------------------------------------------------------------------------
# Edge


@dataclasses.dataclass(frozen=True)
class EdgeContract:
  """What is exported to TFLite/ONNX and how every exported model is scored on the eval split.

  Attributes:
    quality: (outputs of the exported model, transformed eval features, outputs of the Keras
      model, **params) -> {metric: value}. Outputs are a numpy array (one model output) or a list.
    quality_metric: the metric the int8 gate compares with float32; may name `params`, e.g.
      "precision_at_{k}".
    higher_is_better: whether a larger `quality_metric` is better (accuracy) or worse (error).
    agreement_metric: the metric that says how close each exported model is to Keras.
    inputs: the transformed features fed to the model, in its input order.
    labels: the transformed feature holding the ground truth, passed to `quality` in `features`.
    extra_files: files of the Keras bundle that travel with the edge models.
    extra_dirs: serving-model sub-folder -> edge-artifact sub-folder, copied when present.
    not_exportable: why this task has no edge models ("" when it has).
    edge_model: (the bundle's Keras model, its preprocessing.json) -> the model that is exported
      and scored, e.g. with decoding and NMS inside, or {part name: Keras model} for a model
      exported in parts (an encoder and a one-step decoder); None: the bundle's model as it is.
    run_parts: for a model in parts: (predictors {part: list of inputs -> list of outputs, in
      the part's Keras order}, the contract's inputs, preprocessing.json) -> the outputs
      `quality` scores (e.g. a decoding loop). Keras, every TFLite variant and ONNX run through
      it, and int8 calibration data of each part is what it feeds that part.
    keras_modules: modules that register the custom Keras objects of the bundle's model,
      imported before it is loaded (task modules stay free of TensorFlow at import).
    int8_float_outputs: the int8 model keeps float32 outputs (outputs of float post-processing
      such as NMS, which int8 would round); inputs are int8 either way.
    scoring_parts: parts of `edge_model` that only score the exported ones (e.g. a classifier
      whose features measure generated images): run in Keras for every variant, never exported.
  """
  quality: Callable[..., dict] | None
  quality_metric: str = ""
  higher_is_better: bool = True
  agreement_metric: str = ""
  inputs: tuple[str, ...] = ("image_xf",)
  labels: str = "label_xf"
  extra_files: tuple[str, ...] = ()
  extra_dirs: Mapping[str, str] = dataclasses.field(default_factory=dict)
  not_exportable: str = ""
  edge_model: Callable[[Any, dict], Any] | None = None
  run_parts: Callable[[Mapping[str, Callable], list, Mapping[str, Any]], Any] | None = None
  keras_modules: tuple[str, ...] = ()
  int8_float_outputs: bool = False
  scoring_parts: tuple[str, ...] = ()

  @classmethod
  def none(cls, reason: str) -> "EdgeContract":
    """A task whose models are not exported for edge runtimes, and why."""
    if not reason:
      raise ValueError("say why the task is not exportable")
    return cls(quality=None, not_exportable=reason)

  def metric(self, name: str, params: Mapping[str, Any]) -> str:
    return name.format(**{k: _plain(v) for k, v in params.items()})


def _plain(v: Any) -> Any:
  """10.0 -> 10: typed float parameters of whole numbers name metrics as integers."""
  return int(v) if isinstance(v, float) and v.is_integer() else v


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """How a task's candidate is judged.

  Attributes:
    node: the id of the evaluator component in the DAG (its `blessing` gates the Pusher).
    tfma_config: dotted path of `(task config) -> tfma.EvalConfig` when TFX's Evaluator is used.
    component: dotted path of the custom evaluator component otherwise.
  """
  node: str
  tfma_config: str = ""
  component: str = ""

  def __post_init__(self):
    if bool(self.tfma_config) == bool(self.component):
      raise ValueError("an evaluation is either a TFMA config or a custom component")


# ---------------------------------------------------------------------------------------------
# The task


@dataclasses.dataclass(frozen=True)
class Task:
  """Everything task-specific, in one place.

  Attributes:
    name: the name on the command line (`cvpipe run <name>`).
    module: the module that defines the task (`__name__` of its task.py); `ref` is its path.
    summary: one line for help texts and the README's task table.
    config: the task's config class (the section `<name>` of a run config).
    load_config: (YAML path or None, overrides) -> run config (`<name>` section plus `infra`).
    pipeline: dotted path of `create_pipeline(task config, runtime) -> tfx Pipeline`.
    preprocessing_fn, run_fn: dotted paths for Transform and the Trainer.
    serving_module: dotted path of the `ServingModule` class the Trainer exports.
    trainer_sections: the config sections the Trainer reads (others do not retrain).
    features: the tf.Example features ingest writes and Transform reads, name -> kind
      ("bytes", "int64", "float").
    readers: the ingest readers this task accepts (`components.image_ingest.readers`).
    default_data: folder -> data source of the embedded default data.
    serving, edge, evaluation: the contracts above.
    edge_params: task config -> parameters of `edge.quality` (e.g. {"k": 10}).
    report_sections: dotted paths of the report's task sections
      (`components.run_report.sections`), after the shared ones.
  """
  name: str
  module: str
  summary: str
  config: type
  load_config: Callable[[str | None, Mapping[str, Any] | None], Any]
  pipeline: str
  preprocessing_fn: str
  run_fn: str
  serving_module: str
  trainer_sections: tuple[str, ...]
  features: Mapping[str, str]
  readers: tuple[str, ...]
  default_data: Callable[[str], str]
  serving: ServingContract
  edge: EdgeContract
  evaluation: Evaluation
  edge_params: Callable[[Any], dict] = lambda cfg: {}
  report_sections: tuple[str, ...] = ()

  @property
  def ref(self) -> str:
    """The dotted path generic components load the task from."""
    return f"{self.module}.TASK"

  def task_config(self, run_config: Any) -> Any:
    return getattr(run_config, self.name)


def load_object(dotted: str) -> Any:
  """The object at `package.module.name`."""
  module, _, name = dotted.rpartition(".")
  if not module:
    raise ValueError(f"{dotted!r} is not a dotted path module.name")
  try:
    return getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    raise ValueError(f"cannot load {dotted!r}: {e}") from None


def load_task(ref: str) -> Task:
  """The task at a dotted path (`Task.ref`)."""
  task = load_object(ref)
  if not isinstance(task, Task):
    raise ValueError(f"{ref!r} is a {type(task).__name__}, not a Task")
  return task
