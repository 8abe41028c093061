"""TFX's Trainer with two more execution parameters, `epochs` and `learning_rate`: compiled for
Kubeflow / Vertex AI they are runtime parameters, so a run or a schedule can change them without
a recompile. None (local runs) keeps the configured values. `vertex.VertexTrainer` runs the same
executor as a Vertex AI custom training job (TFX's `google_cloud_ai_platform.Trainer` launcher).
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from components.trainer import overrides


class TrainerSpec(types.ComponentSpec):
  """TFX's TrainerSpec plus `epochs` and `learning_rate` (optional)."""
  PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS,
                "epochs": ExecutionParameter(type=int, optional=True),
                "learning_rate": ExecutionParameter(type=float, optional=True)}
  INPUTS = standard_component_specs.TrainerSpec.INPUTS
  OUTPUTS = standard_component_specs.TrainerSpec.OUTPUTS


class Executor(trainer_executor.GenericExecutor):
  """TFX's generic Trainer executor; `run_fn` sees the overrides in its custom_config."""

  def _GetFnArgs(self, input_dict, output_dict, exec_properties):
    fn_args = super()._GetFnArgs(input_dict, output_dict, exec_properties)
    fn_args.custom_config = overrides.apply(
        fn_args.custom_config or {}, epochs=exec_properties.get("epochs"),
        learning_rate=exec_properties.get("learning_rate"))
    return fn_args


class Trainer(base_component.BaseComponent):
  """Trains with the task's `run_fn` on transformed examples (see the module doc)."""
  SPEC_CLASS = TrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, examples: types.Channel, transform_graph: types.Channel,
               schema: types.Channel, run_fn: str, custom_config: dict[str, Any],
               epochs=None, learning_rate=None):
    super().__init__(spec=TrainerSpec(
        examples=examples, transform_graph=transform_graph, schema=schema,
        train_args=trainer_pb2.TrainArgs(), eval_args=trainer_pb2.EvalArgs(), run_fn=run_fn,
        custom_config=json_utils.dumps(custom_config), epochs=epochs,
        learning_rate=learning_rate,
        model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun)))
