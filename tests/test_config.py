import pytest

from pipelines import config_loader
from pipelines.classification import config
from pipelines.config_loader import ConfigError


def test_defaults_are_the_embedded_digits_run():
  run = config.load()
  assert run.classification.data.source == ""
  assert run.classification.train.model == "small_cnn"
  assert run.infra.local.direct_running_mode == "in_memory"


def test_yaml_overrides_nested_keys_and_keeps_other_defaults(tmp_path):
  path = tmp_path / "c.yaml"
  path.write_text("classification:\n  image: {height: 24, width: 20}\n  train:\n"
                  "    augment: {flip: true}\ninfra:\n  kubeflow:\n"
                  "    beam_pipeline_args: ['--runner=DataflowRunner']\n")
  run = config.load(path)
  assert (run.classification.image.height, run.classification.image.width) == (24, 20)
  assert run.classification.image.channels == 1
  assert run.classification.train.augment.flip is True
  assert run.classification.train.augment.zoom == 0.1
  assert run.infra.kubeflow.beam_pipeline_args == ("--runner=DataflowRunner",)


def test_unknown_key_is_an_error_naming_file_and_key(tmp_path):
  path = tmp_path / "c.yaml"
  path.write_text("classification:\n  train:\n    epoch: 3\n")
  with pytest.raises(ConfigError,
                     match=r"c\.yaml: unknown config key 'classification\.train\.epoch'.*epochs"):
    config.load(path)


@pytest.mark.parametrize("override, message", [
    ({"classification": {"train": {"epochs": "ten"}}}, r"train\.epochs: expected an integer"),
    ({"classification": {"train": {"model": "resnet"}}}, r"train\.model: 'resnet' is not one of"),
    ({"classification": {"image": {"channels": 2}}}, r"image\.channels: 2 is not one of"),
    ({"classification": {"data": {"train_percent": 100}}}, r"train_percent must be in \[1, 99\]"),
    ({"classification": {"evaluation": {"accuracy_lower_bound": 1.5}}}, r"accuracy_lower_bound"),
    ({"classification": {"train": {"augment": True}}}, r"train\.augment: expected a mapping"),
    ({"classification": {"train": {"widths": [32, 0]}}}, r"widths must be one or more filter"),
    ({"infra": {"local": {"direct_running_mode": "fast"}}}, r"direct_running_mode"),
])
def test_invalid_values_are_rejected(override, message):
  with pytest.raises(ConfigError, match=message):
    config.load(overrides=override)


def test_invalid_yaml_names_the_file(tmp_path):
  path = tmp_path / "bad.yaml"
  path.write_text("classification: [unclosed\n")
  with pytest.raises(ConfigError, match=r"bad\.yaml: invalid YAML"):
    config.load(path)


def test_to_dict_round_trips():
  run = config.load(overrides={"classification": {"data": {"labels": ["a", "b"]}}})
  again = config_loader.from_dict(config.ClassificationRun, config_loader.to_dict(run))
  assert again == run


def test_configs_are_frozen():
  run = config.load()
  with pytest.raises(Exception):
    run.classification.train.epochs = 3  # type: ignore[misc]


def test_partial_override_of_a_section_keeps_that_fields_own_defaults():
  from pipelines.similarity import config as similarity_config
  train = similarity_config.load(overrides={"similarity": {"train": {"epochs": 3}}}).similarity.train
  assert (train.loss, train.margin, train.epochs) == ("contrastive", 1.0, 3)


def test_retrieval_config_checks_autoencoder_sizes_and_names_bad_keys():
  from pipelines.config_loader import ConfigError
  from pipelines.retrieval import config as retrieval_config
  with pytest.raises(ConfigError, match="divisible by 4"):
    retrieval_config.load(overrides={"retrieval": {"model": {"kind": "autoencoder"},
                                                   "image": {"height": 30, "width": 30}}})
  with pytest.raises(ConfigError, match="retrieval.model.kind"):
    retrieval_config.load(overrides={"retrieval": {"model": {"kind": "pca"}}})
  with pytest.raises(ConfigError, match="unknown config key 'retrieval.index.trees'"):
    retrieval_config.load(overrides={"retrieval": {"index": {"trees": 3}}})
  cfg = retrieval_config.load(overrides={"retrieval": {"evaluation": {"k": 5}}}).retrieval
  assert cfg.evaluation.lower_bounds() == {"map_at_5": 0.7, "recall_at_5_vs_exact": 0.9}


def test_local_beam_args_name_the_direct_runner_mode():
  from pipelines.infra import InfraConfig, LocalBeamConfig
  from pipelines.infra import LOCAL_WORKERS, no_prism_flag
  assert InfraConfig().local_beam_args() == ["--runner=DirectRunner",
                                             "--direct_running_mode=in_memory", LOCAL_WORKERS,
                                             no_prism_flag()]
  multi = InfraConfig(local=LocalBeamConfig(direct_running_mode="multi_processing", num_workers=2))
  assert multi.local_beam_args() == ["--runner=DirectRunner",
                                     "--direct_running_mode=multi_processing", LOCAL_WORKERS,
                                     no_prism_flag(), "--direct_num_workers=2"]


def test_local_runs_build_no_tfx_ephemeral_package():
  """TFX builds its sdist only for Beam args without a dependency flag (it returns them as they
  are otherwise)."""
  from tfx.utils import dependency_utils
  from pipelines.infra import InfraConfig
  args = InfraConfig().local_beam_args()
  assert dependency_utils.make_beam_dependency_flags(args) == args
