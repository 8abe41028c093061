"""Compile specifics beyond the task kit's golden specs (`tests/test_task_kit.py`): the configured
image and Dataflow beam args reach every step, overrides reach their component."""

import json

import pytest

from pipelines import runners

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
