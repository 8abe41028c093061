"""Compile specifics beyond the task kit's golden specs (`tests/test_task_kit.py`): the configured
image and Dataflow beam args reach every step, overrides reach their component."""

import json

import pytest

from pipelines import runners
from pipelines.classification.config import TrainConfig
from pipelines.infra import no_prism_flag

IMAGE = "europe-docker.pkg.dev/p/cvpipe/cvpipe:1.2.3"
BEAM = ["--runner=DataflowRunner", "--project=p", "--region=europe-west4",
        "--temp_location=gs://b/tmp"]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
  out = tmp_path_factory.mktemp("kf") / "p.json"
  overrides = {"infra": {"kubeflow": {"image": IMAGE, "beam_pipeline_args": BEAM,
                                      "pipeline_root": "gs://b/root",
                                      "serving_dir": "gs://b/serving"}},
               "classification": {"model_name": "digits"}}
  path = runners.compile_task("classification", data="gs://b/data/", overrides=overrides,
                              output_file=str(out))
  return json.load(open(path))


def test_images_and_beam_args(spec):
  executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
  assert executors and all(e["container"]["image"] == IMAGE for e in executors.values()
                           if "container" in e)
  text = json.dumps(spec)
  for arg in BEAM:
    assert arg in text
  assert spec["runtimeConfig"]["gcsOutputDirectory"] == "gs://b/root"


def test_parameters_and_dotted_entry_points(spec):
  text = json.dumps(spec)
  assert "pipelines.classification.model.run_fn" in text
  assert "pipelines.vision.transform.preprocessing_fn" in text
  assert "gs://b/data/" in text
  assert "gs://b/serving/digits" in text


def test_compile_without_data_is_a_clear_error():
  from pipelines.config_loader import ConfigError
  with pytest.raises(ConfigError, match="compile needs a data source"):
    runners.compile_task("classification")


def test_face_mode_reaches_ingest(tmp_path):
  overrides = {"similarity": {"faces": {"enabled": True, "min_confidence": 0.95,
                                        "crop_size": 96}}}
  path = runners.compile_task("similarity", data="gs://b/people/", overrides=overrides,
                              output_file=str(tmp_path / "p.json"))
  text = json.dumps(json.load(open(path)))
  assert '\\"min_confidence\\": 0.95' in text and '\\"crop_size\\": 96' in text


VERTEX = {"enabled": True, "project": "p", "region": "europe-west4",
          "machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4",
          "accelerator_count": 1, "replica_count": 3, "service_account": "train@p.iam"}
RESOURCES = {"Transform": {"cpu": 8, "memory_gib": 32},
             "EdgeExport": {"cpu": 4, "memory_gib": 16},
             "Evaluator": {"cpu": 4, "memory_gib": 16, "accelerator_type": "NVIDIA_L4",
                           "accelerator_count": 1}}


@pytest.fixture(scope="module")
def vertex_spec(tmp_path_factory):
  out = tmp_path_factory.mktemp("kfv") / "p.json"
  overrides = {"infra": {"kubeflow": {"image": IMAGE, "beam_pipeline_args": BEAM,
                                      "pipeline_root": "gs://b/root",
                                      "serving_dir": "gs://b/serving",
                                      "training": VERTEX, "resources": RESOURCES}}}
  return json.load(open(runners.compile_task("classification", data="gs://b/data/",
                                             overrides=overrides, output_file=str(out))))


def test_vertex_training_job_and_step_resources_golden(vertex_spec, update_goldens):
  from tests import golden  # pylint: disable=g-import-not-at-top
  golden.check("compile/classification-vertex-training.json",
               golden.normalise_pipeline_spec(vertex_spec), update_goldens)


def test_trainer_runs_as_a_vertex_custom_job_with_worker_pools(vertex_spec):
  executors = vertex_spec["pipelineSpec"]["deploymentSpec"]["executors"]
  trainer = executors["Trainer_executor"]["container"]
  assert "components.trainer.vertex.VertexExecutor" in trainer["args"]
  tasks = vertex_spec["pipelineSpec"]["root"]["dag"]["tasks"]
  config = json.loads(tasks["Trainer"]["inputs"]["parameters"]["custom_config"][
      "runtimeValue"]["constantValue"]["stringValue"])
  assert config["ai_platform_enable_vertex"] is True
  assert config["ai_platform_vertex_region"] == "europe-west4"
  job = config["ai_platform_training_args"]
  assert job["project"] == "p" and job["job_spec"]["service_account"] == "train@p.iam"
  pools = job["job_spec"]["worker_pool_specs"]
  # Vertex names pool 0 "chief" and pool 1 "worker" in TF_CONFIG: one chief, two workers.
  assert [p["replica_count"] for p in pools] == [1, 2]
  for pool in pools:
    assert pool["container_spec"]["image_uri"] == IMAGE
    assert pool["machine_spec"] == {"machine_type": "n1-standard-8",
                                    "accelerator_type": "NVIDIA_TESLA_T4",
                                    "accelerator_count": 1}
  assert "classification" in config  # the task's sections still reach run_fn


def test_steps_get_their_resources(vertex_spec):
  executors = vertex_spec["pipelineSpec"]["deploymentSpec"]["executors"]
  resources = {name.removesuffix("_executor"): e["container"].get("resources")
               for name, e in executors.items() if "container" in e}
  assert resources["Transform"] == {"cpuLimit": 8.0, "memoryLimit": 32.0}
  assert resources["EdgeExport"] == {"cpuLimit": 4.0, "memoryLimit": 16.0}
  assert resources["Evaluator"]["accelerator"] == {"type": "NVIDIA_L4", "count": "1"}
  assert resources["ImageIngest"] is None  # not named: the platform's default


def test_local_trainer_unchanged_without_vertex_training(spec):
  trainer = spec["pipelineSpec"]["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
  assert "components.trainer.component.Executor" in trainer["args"]


@pytest.mark.parametrize("kubeflow, message", [
    ({"resources": {"Trainerr": {"cpu": 4}}}, r"names no step of this pipeline: \['Trainerr'\]"),
    ({"training": {"enabled": True}}, "training.project is required"),
    ({"training": {"accelerator_type": "NVIDIA_TESLA_T4"}}, "go together"),
    ({"training": {"replica_count": 0}}, "replica_count must be >= 1"),
])
def test_bad_cloud_settings_are_clear_errors(tmp_path, kubeflow, message):
  from pipelines.config_loader import ConfigError  # pylint: disable=g-import-not-at-top
  with pytest.raises((ConfigError, ValueError), match=message):
    runners.compile_task("classification", data="gs://b/data/",
                         overrides={"infra": {"kubeflow": kubeflow}},
                         output_file=str(tmp_path / "p.json"))


def test_dataflow_workers_get_the_image_as_their_sdk_container(spec):
  # Every Beam step's args carry the image; TFX then builds no tfx_ephemeral sdist for them.
  executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
  transform = executors["Transform_executor"]["container"]["args"]
  assert f"--sdk_container_image={IMAGE}" in transform and "--sdk_location=container" in transform
  assert sum(f"--sdk_container_image={IMAGE}" in e["container"]["args"]
             for e in executors.values() if "container" in e) >= 5


@pytest.mark.parametrize("kubeflow, message", [
    ({"beam_pipeline_args": BEAM}, "needs cvpipe's image on its workers"),  # placeholder image
    ({"image": IMAGE, "beam_pipeline_args": [*BEAM, "--sdk_container_image="]},
     "sets --sdk_container_image to nothing"),
])
def test_dataflow_without_cvpipe_on_the_workers_is_refused(tmp_path, kubeflow, message):
  from pipelines.config_loader import ConfigError  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match=message):
    runners.compile_task("classification", data="gs://b/data/",
                         overrides={"infra": {"kubeflow": kubeflow}},
                         output_file=str(tmp_path / "p.json"))


def test_dataflow_keeps_an_explicit_worker_image():
  from pipelines.infra import KubeflowConfig  # pylint: disable=g-import-not-at-top
  own = [*BEAM, "--sdk_container_image", "eu.gcr.io/p/worker:1"]
  assert KubeflowConfig(image=IMAGE, beam_pipeline_args=tuple(own)).beam_args() == tuple(own)
  local = ("--runner=DirectRunner",)
  assert KubeflowConfig(beam_pipeline_args=local).beam_args() == (*local, no_prism_flag())


def test_beam_steps_on_the_direct_runner_in_the_cluster_are_kept_off_prism():
  from pipelines.infra import KubeflowConfig  # pylint: disable=g-import-not-at-top
  assert KubeflowConfig().beam_args() == (no_prism_flag(),)  # no --runner: the DirectRunner
  own_pin = ("--update_compatibility_version=2.60.0",)
  assert KubeflowConfig(beam_pipeline_args=own_pin).beam_args() == own_pin
  portable = ("--runner=PortableRunner", "--job_endpoint=localhost:8099")
  assert KubeflowConfig(beam_pipeline_args=portable).beam_args() == portable
  dataflow = KubeflowConfig(image=IMAGE, beam_pipeline_args=tuple(BEAM)).beam_args()
  assert no_prism_flag() not in dataflow


def test_yaml_pipeline_spec_carries_the_data_parameter_and_loads_in_vertex(tmp_path):
  import yaml  # pylint: disable=g-import-not-at-top
  from google.auth import credentials  # pylint: disable=g-import-not-at-top
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  path = runners.compile_task("classification", data="gs://b/data/",
                              overrides={"infra": {"kubeflow": {"pipeline_root": "gs://b/root"}}},
                              output_file=str(tmp_path / "p.yaml"))
  spec = yaml.safe_load(open(path))
  assert spec["defaultPipelineRoot"] == "gs://b/root" and "pipelineSpec" not in spec
  assert spec["root"]["inputDefinitions"]["parameters"]["data"]["defaultValue"] == "gs://b/data/"
  ingest = spec["root"]["dag"]["tasks"]["ImageIngest"]["inputs"]["parameters"]["source"]
  assert ingest == {"componentInputParameter": "data"}  # a run may point at other data
  # Vertex AI's SDK reads it offline: without values the spec's default applies (server side);
  # a value given for `data` reaches the job's runtime config.
  for values, expected in (({}, 0), ({"data": "gs://b/2026-11-25/"}, 1)):
    job = aiplatform.PipelineJob(display_name="t", template_path=path, project="p",
                                 location="europe-west4", parameter_values=values,
                                 credentials=credentials.AnonymousCredentials())
    runtime = job.to_dict()["runtimeConfig"]
    assert json.dumps(runtime).count("gs://b/2026-11-25/") == expected, runtime
    assert runtime["gcsOutputDirectory"] == "gs://b/root"


def test_epochs_and_learning_rate_are_runtime_parameters(spec):
  params = spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
  assert set(params) == {"data", "epochs", "learning_rate"}
  trainer = spec["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
  assert trainer["epochs"] == {"componentInputParameter": "epochs"}
  assert trainer["learning_rate"] == {"componentInputParameter": "learning_rate"}
  defaults = spec["runtimeConfig"]["parameters"]
  train = TrainConfig()  # the spec was compiled with the default config
  assert defaults["epochs"] == {"intValue": str(train.epochs)}
  assert defaults["learning_rate"] == {"doubleValue": train.learning_rate}


def test_blessed_model_also_goes_to_a_vertex_endpoint(tmp_path):
  endpoint = {"enabled": True, "project": "p", "region": "europe-west4",
              "endpoint_name": "digits", "machine_type": "n1-standard-2"}
  path = runners.compile_task("classification", data="gs://b/data/", output_file=str(
      tmp_path / "p.json"), overrides={"infra": {"kubeflow": {"endpoint": endpoint}}})
  spec = json.load(open(path))["pipelineSpec"]
  task = spec["root"]["dag"]["tasks"]["VertexEndpointPusher"]
  # Gated like the TF Serving push: the evaluator's blessing and the serving check's.
  assert set(task["inputs"]["artifacts"]) == {"model", "model_blessing", "infra_blessing"}
  config = json.loads(task["inputs"]["parameters"]["custom_config"]["runtimeValue"][
      "constantValue"]["stringValue"])
  assert config["ai_platform_vertex_region"] == "europe-west4"
  assert config["ai_platform_serving_args"]["endpoint_name"] == "digits"
  assert config["ai_platform_serving_args"]["machine_type"] == "n1-standard-2"
  assert "tf2-cpu" in config["ai_platform_vertex_container_image_uri"]
  executor = spec["deploymentSpec"]["executors"]["VertexEndpointPusher_executor"]["container"]
  assert "tfx.extensions.google_cloud_ai_platform.pusher.executor.Executor" in executor["args"]
  # Off by default: no endpoint step.
  plain = runners.compile_task("classification", data="gs://b/data/",
                               output_file=str(tmp_path / "q.json"))
  assert "VertexEndpointPusher" not in json.load(open(plain))["pipelineSpec"]["root"]["dag"][
      "tasks"]


def test_no_task_pipeline_imports_google_cloud_aiplatform_unless_it_uses_vertex(tmp_path):
  # `tfx.v1` (through its `extensions`) and TFX's Vertex trainer and pusher import
  # google-cloud-aiplatform: 3.5 s of every `cvpipe` process, Beam worker and test child. Only
  # pipelines that train or deploy on Vertex AI may pay it.
  import subprocess
  import sys
  code = f"""
import sys
from pipelines import runners, tasks
for name in tasks.names():
  runners.compile_task(name, data="gs://b/data", output_file=r"{tmp_path}/" + name + ".yaml")
print(sorted(m for m in ("google.cloud.aiplatform", "tfx.v1") if m in sys.modules))
"""
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip().splitlines()[-1] == "[]"
