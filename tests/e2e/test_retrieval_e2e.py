"""The whole retrieval DAG on the Beam DirectRunner, three runs in one metadata store: a first run
(classifier-bottleneck embeddings) that indexes and pushes, an unchanged rerun served from the
cache, and a denoising-autoencoder candidate trained on shuffled labels that the evaluator's
lower bound blocks."""

import json
import os

import numpy as np
import pytest

from components.edge_export import export
from components.common import outcome
from components.embedding_index import index as index_lib
from components.embedding_index import query
from components.run_report import report as report_lib
from pipelines import cli
from pipelines import runners
from pipelines import tasks
from tests import kit
from tests.conftest import digit_images, shuffled_labels, write_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPONENTS = ["ImageIngest", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Trainer", "IndexBuilder", "RetrievalEvaluator", "ServingCheck", "Pusher",
              "EdgeExport", "RunReport"]
CONFIG = {"retrieval": {
    "image": {"height": 16, "width": 16, "channels": 1},
    "model": {"kind": "classifier", "epochs": 12, "batch_size": 8, "early_stopping_patience": 0},
    "index": {"n_trees": 8},
    "evaluation": {"k": 3, "min_map_at_k": 0.6, "min_recall_at_k": 0.9},
    "export": {"int8_max_quality_drop": 0.3, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("retrieval")
  data = tmp / "data"
  digits = digit_images(classes=(0, 1, 7), per_class=16)
  write_folder(data, digits)
  write_folder(tmp / "shuffled", shuffled_labels(digits))
  (data / "7" / "empty.png").write_bytes(b"")
  out = tmp / "out"
  lines = []
  first = runners.run_task("retrieval", str(out), data=str(data), overrides=CONFIG,
                           emit=lines.append)
  second = runners.run_task("retrieval", str(out), data=str(data), overrides=CONFIG,
                            emit=lines.append)
  blocked = {"retrieval": {**CONFIG["retrieval"],
                           "model": {"kind": "denoising_autoencoder", "epochs": 1,
                                     "batch_size": 8, "code_size": 8},
                           "evaluation": {"k": 3, "min_map_at_k": 0.6}}}
  third = runners.run_task("retrieval", str(out), data=str(tmp / "shuffled"), overrides=blocked,
                           emit=lines.append)
  return {"first": first, "second": second, "third": third, "lines": lines, "data": data,
          "tmp": tmp}


def test_task_kit(runs):
  image = str(sorted((runs["data"] / "7").glob("00*.png"))[0])
  kit.check_e2e(tasks.get("retrieval"), {**runs, "worse": runs["third"]}, image, CONFIG)


def test_every_component_ran_once(runs):
  first = runs["first"]
  assert sorted(first.nodes) == sorted(COMPONENTS)
  for name in COMPONENTS:
    assert first.nodes[name].executions == 1, name
    assert first.nodes[name].last_state == "COMPLETE", name
  assert first.output_properties("ImageIngest", "examples")["num_quarantined"] == 1


def test_index_covers_the_train_split_and_travels_with_the_pushed_model(runs):
  first = runs["first"]
  num_train = first.output_properties("ImageIngest", "examples")["num_train"]
  assert first.output_properties("IndexBuilder", "indexed_model")["index_items"] == num_train
  pushed = first.output_properties("Pusher", "pushed_model")
  assert pushed["pushed"] == 1
  index = index_lib.EmbeddingIndex.load(
      os.path.join(pushed["pushed_destination"], index_lib.SERVING_SUBDIR))
  assert len(index.items) == num_train
  assert {item["label"] for item in index.items} == {"0", "1", "7"}
  assert all(os.path.exists(item["source"]) for item in index.items)


def test_evaluator_measured_and_blessed(runs):
  result = outcome.read(runs["first"].output_uri("RetrievalEvaluator", "evaluation"))
  m = result["metrics"]
  assert result["blessed"] and not result["failures"]
  assert m["recall_at_3_vs_exact"] >= 0.9 and m["map_at_3"] >= 0.6
  assert set(result["slices"]) == {"label=0", "label=1", "label=7"}
  assert runs["first"].output_properties("RetrievalEvaluator", "blessing")["blessed"] == 1


def test_pushed_model_answers_rest_and_query_finds_same_class_neighbours(runs, capsys):
  first = runs["first"]
  version_dir = first.output_properties("Pusher", "pushed_model")["pushed_destination"]
  assert first.output_properties("ServingCheck", "blessing")["blessed"] == 1
  from components.serving_check import rest
  sevens = sorted((runs["data"] / "7").glob("00*.png"))[:2]
  response = rest.predict(os.path.dirname(version_dir), rest.image_request([str(p) for p in sevens]))
  vectors = np.array([p["embedding"] for p in response["predictions"]])
  assert vectors.shape[0] == 2
  np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
  results = query.search(os.path.dirname(version_dir), [str(p) for p in sevens], k=3)
  labels = [x["label"] for r in results for x in r["results"]]
  assert labels.count("7") >= 4
  html_path = runs["tmp"] / "q.html"
  assert cli.main(["query", "--index", os.path.dirname(version_dir), "-k", "2", "--html",
                   str(html_path), str(sevens[0])]) == 0
  printed = capsys.readouterr().out
  assert "  1. " in printed and "label=" in printed and html_path.exists()


def test_edge_models_carry_the_index_and_measure_int8_recall(runs):
  edge_dir = runs["first"].output_uri("EdgeExport", "edge_model")
  metrics = json.load(open(os.path.join(edge_dir, export.METRICS_FILE)))
  assert metrics["quality_metric"] == "precision_at_3"
  int8 = metrics["models"]["tflite_int8"]
  assert 0 <= int8["recall_at_3_vs_keras"] <= 1 and int8["mean_cosine_vs_keras"] > 0.9
  assert metrics["models"]["onnx"]["max_abs_diff_vs_keras"] < 1e-4
  for name in index_lib.FILES:
    assert os.path.exists(os.path.join(edge_dir, "index", name))
  for name in ("model_int8.tflite", "model_float16.tflite", "model.onnx"):
    assert os.path.exists(os.path.join(edge_dir, name))


def test_report_shows_queries(runs):
  text = open(os.path.join(runs["first"].output_uri("RunReport", "report"),
                           report_lib.REPORT_FILE)).read()
  for needle in ("BLESSED", "Blessing gate", "Sample queries", "recall_at_3_vs_exact",
                 "precision_at_3", "empty.png"):
    assert needle in text, needle


def test_unchanged_rerun_is_served_from_the_cache(runs):
  second = runs["second"]
  for name in ("ImageIngest", "Transform", "Trainer", "IndexBuilder", "RetrievalEvaluator",
               "ServingCheck", "EdgeExport"):
    assert second.nodes[name].last_state == "CACHED", name
  first_pushed = runs["first"].output_properties("Pusher", "pushed_model")
  serving = os.path.dirname(first_pushed["pushed_destination"])
  assert os.listdir(serving) == [first_pushed["pushed_version"]]


def test_below_threshold_autoencoder_is_not_pushed_but_reports_denoising(runs):
  third = runs["third"]
  assert third.nodes["Trainer"].last_state == "COMPLETE"
  assert third.output_properties("RetrievalEvaluator", "blessing")["blessed"] == 0
  assert third.output_properties("Pusher", "pushed_model")["pushed"] == 0
  result = outcome.read(third.output_uri("RetrievalEvaluator", "evaluation"))
  assert any("map_at_3" in f for f in result["failures"])
  m = result["metrics"]
  assert m["compression_ratio"] == 16 * 16 / 8
  assert m["noise_stddev"] == 0.3 and "noisy_psnr" in m and "reconstruction_ssim" in m
  assert any(f["file"] == "reconstructions.png" for f in result["figures"])
  first_pushed = runs["first"].output_properties("Pusher", "pushed_model")
  assert os.listdir(os.path.dirname(first_pushed["pushed_destination"])) == [
      first_pushed["pushed_version"]]
