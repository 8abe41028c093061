"""Infrastructure settings shared by every task pipeline: where runs live and how Beam runs.

Kept apart from task hyperparameters: the same model config runs locally on the DirectRunner or on
Vertex AI / Dataflow by changing only this section (`infra:` in a YAML config).
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class LocalBeamConfig:
  """The Beam DirectRunner as used by local runs."""
  # in_memory is fastest on small data; multi_processing uses `num_workers` processes.
  direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "in_memory"
  num_workers: int = 2

  def validate(self) -> None:
    if self.num_workers < 1:
      raise ValueError(f"num_workers must be >= 1, got {self.num_workers}")


@dataclasses.dataclass(frozen=True)
class StepResources:
  """CPU, memory and accelerator of one pipeline step's container on Vertex AI / Kubeflow
  (TFX `with_platform_config`). 0 / "": the platform's default."""
  cpu: float = 0.0
  memory_gib: float = 0.0
  accelerator_type: str = ""  # e.g. NVIDIA_TESLA_T4, NVIDIA_L4
  accelerator_count: int = 0

  def validate(self) -> None:
    if self.cpu < 0 or self.memory_gib < 0 or self.accelerator_count < 0:
      raise ValueError("cpu, memory_gib and accelerator_count must be >= 0")
    if bool(self.accelerator_type) != (self.accelerator_count > 0):
      raise ValueError("accelerator_type and accelerator_count go together")

  def platform_config(self):
    """The Kubeflow V2 ResourceSpec proto TFX's compiler copies into the step."""
    from kfp.pipeline_spec import pipeline_spec_pb2  # pylint: disable=g-import-not-at-top
    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(
        cpu_limit=self.cpu, memory_limit=self.memory_gib)
    if self.accelerator_type:
      spec.accelerator.type = self.accelerator_type
      spec.accelerator.count = self.accelerator_count
    return spec


@dataclasses.dataclass(frozen=True)
class VertexTrainingConfig:
  """The Trainer as a Vertex AI custom training job (TFX's `google_cloud_ai_platform.Trainer`)
  instead of inside its pipeline step. `replica_count` > 1: a chief pool of one replica and a
  worker pool of the rest; Vertex sets TF_CONFIG and every task's run_fn trains with
  MultiWorkerMirroredStrategy (`pipelines.vision.distribute`); with GPUs on one replica,
  MirroredStrategy."""
  enabled: bool = False
  project: str = ""
  region: str = "us-central1"
  machine_type: str = "n1-standard-8"
  accelerator_type: str = ""  # e.g. NVIDIA_TESLA_T4
  accelerator_count: int = 0
  replica_count: int = 1
  service_account: str = ""  # default: the project's Vertex AI custom-code service agent

  def validate(self) -> None:
    if self.replica_count < 1:
      raise ValueError(f"replica_count must be >= 1, got {self.replica_count}")
    if bool(self.accelerator_type) != (self.accelerator_count > 0):
      raise ValueError("accelerator_type and accelerator_count go together")
    if self.enabled and not self.project:
      raise ValueError("training.project is required when training.enabled is true")

  def custom_config(self, image: str, kms_key_name: str = "") -> dict:
    """The Trainer's custom_config keys that send it to Vertex AI (TFX's documented keys)."""
    from tfx.extensions.google_cloud_ai_platform import constants  # pylint: disable=g-import-not-at-top
    from tfx.extensions.google_cloud_ai_platform.trainer import executor  # pylint: disable=g-import-not-at-top
    machine = {"machine_type": self.machine_type}
    if self.accelerator_type:
      machine.update(accelerator_type=self.accelerator_type,
                     accelerator_count=self.accelerator_count)
    pool = {"machine_spec": machine, "container_spec": {"image_uri": image}}
    pools = [{**pool, "replica_count": 1}]
    if self.replica_count > 1:
      pools.append({**pool, "replica_count": self.replica_count - 1})
    job_spec = {"worker_pool_specs": pools}
    if self.service_account:
      job_spec["service_account"] = self.service_account
    job = {"project": self.project, "job_spec": job_spec}
    if kms_key_name:
      job["encryption_spec"] = {"kms_key_name": kms_key_name}
    return {constants.ENABLE_VERTEX_KEY: True,
            constants.VERTEX_REGION_KEY: self.region,
            executor.TRAINING_ARGS_KEY: job}


LOCAL_WORKERS = "--sdk_container_image=local-process-not-a-container"
PLACEHOLDER_IMAGE = "gcr.io/my-project/cvpipe:latest"
_DEPENDENCY_FLAGS = ("--sdk_container_image", "--worker_harness_container_image",
                     "--setup_file", "--requirements_file", "--extra_package")


def _flag_value(args: tuple[str, ...] | list[str], flag: str) -> str | None:
  """The value of `--flag=value` or `--flag value` in `args` (the last one); None if absent."""
  value = None
  for i, arg in enumerate(args):
    if arg.startswith(flag + "="):
      value = arg.split("=", 1)[1]
    elif arg == flag:
      value = args[i + 1] if i + 1 < len(args) else ""
  return value


def is_dataflow(args) -> bool:
  return (_flag_value(args, "--runner") or "").lower() in ("dataflow", "dataflowrunner")


def no_prism_flag() -> str:
  """The Beam flag that keeps the DirectRunner off the PrismRunner: the update-compatibility
  version pinned to the installed Beam.

  Beam 2.72's DirectRunner first tries the PrismRunner on every pipeline it can: it starts a
  worker pool, translates the pipeline and downloads the Prism binary from GitHub (`urlopen`, no
  timeout). Offline the download fails and it falls back to the FnApiRunner it uses anyway:
  0.4-0.8 s of every Beam step of a run (the run log's "Downloading prism from https://..."),
  and on a network that drops packets rather than refusing them, a wait for the system's
  connect timeout; online it would fetch and run an executable at run time. It skips Prism for
  a pipeline pinned to an update-compatibility version. Pinned to the installed version, every
  other use of the pin (`PipelineOptions.is_compat_version_prior_to`: older transform
  expansions and coders for pipeline updates) answers as if unset, so the runner and the
  pipeline are what they were, less the Prism attempt."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  return f"--update_compatibility_version={metadata.version('apache-beam')}"


def on_direct_runner(args) -> bool:
  """Whether Beam runs `args` on its DirectRunner (named, or no `--runner` at all)."""
  runner = (_flag_value(args, "--runner") or "DirectRunner").lower()
  return runner in ("direct", "directrunner", "switchingdirectrunner")


def without_prism(args: tuple[str, ...]) -> tuple[str, ...]:
  """`args`, plus `no_prism_flag()` when they run on the DirectRunner and pin no
  update-compatibility version themselves."""
  if on_direct_runner(args) and _flag_value(args, "--update_compatibility_version") is None:
    return (*args, no_prism_flag())
  return args


@dataclasses.dataclass(frozen=True)
class VertexEndpointConfig:
  """Also push the blessed model to a Vertex AI Endpoint (TFX's `google_cloud_ai_platform.Pusher`:
  Model.upload of the pushed SavedModel, deploy with all traffic), beside the TF Serving folder."""
  enabled: bool = False
  project: str = ""
  region: str = "us-central1"
  endpoint_name: str = "cvpipe"  # created when missing
  machine_type: str = "n1-standard-4"
  min_replica_count: int = 1
  max_replica_count: int = 2
  # Vertex AI's prebuilt TensorFlow 2 serving image (serving_default of the SavedModel).
  serving_image: str = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"

  def validate(self) -> None:
    if self.enabled and not self.project:
      raise ValueError("endpoint.project is required when endpoint.enabled is true")
    if not 1 <= self.min_replica_count <= self.max_replica_count:
      raise ValueError("need 1 <= min_replica_count <= max_replica_count")

  def custom_config(self) -> dict:
    """TFX's Vertex Pusher custom_config keys."""
    from tfx.extensions.google_cloud_ai_platform import constants  # pylint: disable=g-import-not-at-top
    return {constants.ENABLE_VERTEX_KEY: True,
            constants.VERTEX_REGION_KEY: self.region,
            constants.VERTEX_CONTAINER_IMAGE_URI_KEY: self.serving_image,
            constants.SERVING_ARGS_KEY: {
                "project": self.project, "endpoint_name": self.endpoint_name,
                "machine_type": self.machine_type, "min_replica_count": self.min_replica_count,
                "max_replica_count": self.max_replica_count}}


@dataclasses.dataclass(frozen=True)
class KubeflowConfig:
  """Kubeflow V2 / Vertex AI compilation."""
  # The container image every component runs in (built from the repo's Dockerfile); Dataflow
  # workers run it too (--sdk_container_image).
  image: str = PLACEHOLDER_IMAGE
  # gs:// root for artifacts of pipelines run on Vertex AI.
  pipeline_root: str = "gs://my-bucket/cvpipe/pipeline_root"
  # TF Serving base directory the Pusher writes versions under (gs://, a PVC path, ...).
  serving_dir: str = "gs://my-bucket/cvpipe/serving"
  # Beam args for Dataflow, e.g. ["--runner=DataflowRunner", "--project=P", "--region=R",
  # "--temp_location=gs://B/tmp"]. Beam steps switch runner by config only.
  beam_pipeline_args: tuple[str, ...] = ()
  # The Trainer on Vertex AI custom training (machines, accelerators, replicas).
  training: VertexTrainingConfig = dataclasses.field(default_factory=VertexTrainingConfig)
  # Container resources per pipeline step, by component id (e.g. Transform, Trainer, EdgeExport;
  # `cvpipe compile` names the ids when one is unknown).
  resources: dict[str, StepResources] = dataclasses.field(default_factory=dict)
  # Also deploy the blessed model to a Vertex AI Endpoint.
  endpoint: VertexEndpointConfig = dataclasses.field(default_factory=VertexEndpointConfig)
  # Customer-managed key for Vertex AI pipeline jobs and training jobs
  # (projects/P/locations/L/keyRings/R/cryptoKeys/K; terraform/gcp output kms_key_name).
  kms_key_name: str = ""

  def beam_args(self) -> tuple[str, ...]:
    """`beam_pipeline_args`, plus, on Dataflow, the image as the workers' SDK container.

    Without it TFX ships only its own `tfx_ephemeral` sdist and the workers cannot import
    cvpipe (ImageIngest's DoFns, OpenCV, the readers); the image carries all of it and Beam's
    worker boot. An explicit `--sdk_container_image` (or another dependency flag) is kept.
    """
    args = tuple(self.beam_pipeline_args)
    if not is_dataflow(args):
      # Beam steps then run on the DirectRunner inside the steps' containers: off the
      # PrismRunner too (`no_prism_flag`; the image installs the same lock, so the same Beam, as
      # the environment that compiles).
      return without_prism(args)
    explicit = {flag: _flag_value(args, flag) for flag in _DEPENDENCY_FLAGS}
    if any(value == "" for value in explicit.values()):
      empty = [flag for flag, value in explicit.items() if value == ""]
      raise ValueError(f"beam_pipeline_args sets {empty[0]} to nothing: Dataflow workers would "
                       "get no cvpipe code")
    if any(explicit.values()):
      return args
    if not self.image or self.image == PLACEHOLDER_IMAGE:
      raise ValueError(
          "the Dataflow runner needs cvpipe's image on its workers: set infra.kubeflow.image to "
          "the image built from the Dockerfile (it becomes --sdk_container_image), or pass "
          "--sdk_container_image in beam_pipeline_args; without it the workers cannot import "
          "cvpipe's components")
    return args + (f"--sdk_container_image={self.image}", "--sdk_location=container")


@dataclasses.dataclass(frozen=True)
class InfraConfig:
  pipeline_name: str = ""  # default: "cvpipe-<task>"
  local: LocalBeamConfig = dataclasses.field(default_factory=LocalBeamConfig)
  kubeflow: KubeflowConfig = dataclasses.field(default_factory=KubeflowConfig)
  # Extra Beam args for local runs (appended to the DirectRunner args).
  extra_beam_args: tuple[str, ...] = ()
  enable_cache: bool = True

  def local_beam_args(self) -> list[str]:
    # Explicit in_memory matters: with no Beam args at all Beam's default DirectRunner leaves
    # background work that cost the Trainer 30-60 s (measured side by side).
    # LOCAL_WORKERS: the DirectRunner's workers are this process (in_memory) or its children
    # (multi_processing), which already import cvpipe and TFX; any dependency flag stops TFX
    # from building its 52 MB `tfx_ephemeral` sdist for every Beam step (2-3 s each, and a temp
    # folder never removed), and the DirectRunner starts no container. `no_prism_flag`: no
    # PrismRunner attempt (a download from GitHub) before every Beam step.
    args = ["--runner=DirectRunner", f"--direct_running_mode={self.local.direct_running_mode}",
            LOCAL_WORKERS, no_prism_flag()]
    if self.local.direct_running_mode != "in_memory":
      args.append(f"--direct_num_workers={self.local.num_workers}")
    return args + list(self.extra_beam_args)


def local_pipeline():
  """A Beam pipeline set up as local runs set up their Beam steps (`InfraConfig().
  local_beam_args()`: in-process workers, no PrismRunner download), for code and tests that run
  Beam transforms outside TFX."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  return beam.Pipeline(options=PipelineOptions(InfraConfig().local_beam_args()))
