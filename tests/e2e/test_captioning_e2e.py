"""The whole captioning DAG on the Beam DirectRunner through the shared task test kit: real
images composed with exact reference captions in (COCO captions JSON), a pushed captioner out
that serves image bytes -> caption (beam search in the graph), tokens and attention maps; the
edge models (encoder + one-step decoder) decode greedily in Python exactly as the SavedModel's
greedy signature; an unchanged rerun is cached; a worse candidate (untrained) is not pushed."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components.caption_eval import evaluate
from components.common import keras_bundle
from components.common import outcome
from components.edge_export import export
from components.image_ingest import ingest
from pipelines import datasets
from pipelines import tasks
from pipelines.captioning import edge
from tests import kit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = {"captioning": {
    "image": {"height": 24, "width": 24, "channels": 3},
    "text": {"max_tokens": 10},
    "train": {"width": 8, "units": 32, "attention_units": 16, "embedding": 16, "epochs": 12,
              "batch_size": 32, "learning_rate": 1e-2},
    "decode": {"beam_width": 2},
    # Floors a few epochs on 240 tiny scenes clear and an untrained model does not.
    "evaluation": {"bleu4_lower_bound": 0.15, "cider_d_lower_bound": 0.3},
    "export": {"int8_max_quality_drop": 1.0, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("captioning")
  data = datasets.write_digit_captions(str(tmp / "data"), count=240, size=24, seed=1)
  return kit.three_runs("captioning", str(tmp / "out"), data, CONFIG,
                        {"epochs": 1, "learning_rate": 0.0})


def test_task_kit(runs):
  kit.check_e2e(tasks.get("captioning"), runs, os.path.join(runs["data"], "images", "00003.png"),
                CONFIG)


def test_caption_gate_metrics_and_report(runs):
  first = runs["first"]
  result = outcome.read(first.output_uri("CaptionEvaluator", "evaluation"))
  assert result["blessed"], result["failures"]
  for key in ("bleu1", "bleu4", "cider_d", "mention_f1"):
    assert 0 < result["metrics"][key], key
  rows = [json.loads(line) for line in open(os.path.join(
      first.output_uri("CaptionEvaluator", "evaluation"), evaluate.CAPTIONS_FILE))]
  eval_count = len(ingest.read_examples(first.output_uri("ImageIngest", "examples"), "eval"))
  assert len(rows) == eval_count and all(r["references"] for r in rows)
  # text.max_tokens=10 drops the generator's 11-word captions, with a counted note.
  summary = json.load(open(os.path.join(first.output_uri("ImageIngest", "examples"),
                                        ingest.COUNTS_FILE)))
  assert summary["notes"]["dropped"] > 0 and summary["quarantined"] == 0
  text = open(os.path.join(first.output_uri("RunReport", "report"), "report.html")).read()
  assert "Captions and attention" in text and "cider_d" in text


def test_edge_greedy_decoding_equals_the_saved_model(runs):
  """The Python loop over the float TFLite and ONNX encoder + decoder captions sample eval
  images word for word as the SavedModel's greedy signature does."""
  first = runs["first"]
  rows = ingest.read_examples(first.output_uri("ImageIngest", "examples"), "eval", limit=16)
  model_uri = first.output_uri("Trainer", "model")
  serving = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
  greedy = serving.signatures["serving_greedy"](tf.constant([r[1]["image"] for r in rows]))
  saved = [c.decode() for c in greedy["caption"].numpy()]
  images = serving.signatures["transform_features"](
      tf.constant([r[0] for r in rows]))["image_xf"].numpy()
  keras_dir = keras_bundle.keras_dir(model_uri)
  words = keras_bundle.read_labels(keras_dir)
  edge_dir = first.output_uri("EdgeExport", "edge_model")
  for name in ("tflite_float32", "onnx"):
    ids = export.saved_outputs(edge_dir, name, keras_dir, tasks.get("captioning").edge,
                               [images])
    captions = [" ".join(words[int(i)] for i in edge.id_text(row).split()) for row in ids]
    assert captions == saved, name
  metrics = json.load(open(os.path.join(edge_dir, "metrics.json")))
  assert metrics["parts"] == ["decoder_step", "encoder"]
  assert metrics["models"]["tflite_float32"]["caption_agreement_with_keras"] == 1.0
  assert set(metrics["models"]["tflite_int8"]["files"]) == {"encoder_int8.tflite",
                                                             "decoder_step_int8.tflite"}
  assert np.isfinite(metrics["models"]["tflite_int8"]["bleu4"])
