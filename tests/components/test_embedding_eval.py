"""Embedding evaluators' logic with controlled embeddings (the SavedModel calls are patched): the
gate, metrics, figures and what the report renders from them."""

import json
import os
from unittest import mock

import cv2
import numpy as np
import pytest

from components.common import outcome
from components.embedding_eval import retrieval
from components.embedding_eval import verification
from components.embedding_index import index as index_lib
from components.run_report import report as report_lib


def _rows(labels):
  png = cv2.imencode(".png", np.full((8, 8), 128, np.uint8))[1].tobytes()
  return [(f"ex{i}".encode(), {"image": png, "label": str(c), "source": f"/nowhere/{i}.png"})
          for i, c in enumerate(labels)]


def _embeddings(labels, spread, seed=0):
  rng = np.random.default_rng(seed)
  centers = np.eye(8)[: max(labels) + 1]
  x = centers[labels] + spread * rng.normal(0, 1, (len(labels), 8))
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def served(tmp_path):
  """A fake served model dir whose index holds 3 classes x 20 corpus embeddings."""
  corpus_labels = np.repeat([0, 1, 2], 20)
  serving = tmp_path / "serving"
  index_lib.build(_embeddings(corpus_labels, 0.1), [
      {"source": f"/nowhere/c{i}.png", "label": str(c)} for i, c in enumerate(corpus_labels)],
      str(serving / index_lib.SERVING_SUBDIR), n_trees=8)
  return str(serving)


def test_retrieval_blesses_a_good_model_and_blocks_below_the_bound(served, tmp_path):
  labels = np.repeat([0, 1, 2], 4)
  with mock.patch.object(retrieval.embed, "load"), \
      mock.patch.object(retrieval.embed, "embed_examples",
                        return_value=_embeddings(labels, 0.1, seed=1)):
    good = retrieval.evaluate(served, str(tmp_path / "keras"), _rows(labels), str(tmp_path),
                              k=5, lower_bounds={"map_at_5": 0.9, "recall_at_5_vs_exact": 0.9})
    bad = retrieval.evaluate(served, str(tmp_path / "keras"), _rows(labels[::-1]),
                             str(tmp_path), k=5, lower_bounds={"map_at_5": 0.9})
  assert good["blessed"] and good["metrics"]["map_at_5"] == pytest.approx(1.0)
  assert good["slices"]["label=1"]["queries"] == 4
  assert good["metrics"]["corpus_items"] == 60 and good["metrics"]["queries"] == 12
  assert os.path.exists(tmp_path / "queries.png")
  # Queries labelled with the wrong classes: mAP collapses and the gate blocks.
  assert not bad["blessed"] and "map_at_5" in bad["failures"][0]
  outcome.write(str(tmp_path / "ev"), str(tmp_path / "bl"), bad)
  assert os.path.exists(tmp_path / "bl" / outcome.NOT_BLESSED_FILE)
  assert outcome.read(str(tmp_path / "ev"))["blessed"] is False


def test_verification_metrics_threshold_and_figure(tmp_path):
  labels = np.repeat([0, 1, 2, 3], 5)
  keras_dir = tmp_path / "keras"
  keras_dir.mkdir()
  (keras_dir / verification.VERIFICATION_FILE).write_text(json.dumps({"threshold": 0.5}))
  with mock.patch.object(verification.embed, "load"), \
      mock.patch.object(verification.embed, "embed_examples",
                        return_value=_embeddings(labels, 0.05)):
    result = verification.evaluate(str(tmp_path), str(keras_dir), _rows(labels), str(tmp_path),
                                   lower_bounds={"roc_auc": 0.9, "accuracy": 0.9})
  m = result["metrics"]
  assert result["blessed"] and m["roc_auc"] == 1.0 and m["accuracy"] == 1.0
  assert m["threshold"] == 0.5 and m["positive_pairs"] == 4 * 10 and m["negative_pairs"] == 150
  assert os.path.exists(tmp_path / "pairs.png")
  html = report_lib.render("t", "similarity", result, True, {}, {}, [], None, {}, None,
                           figures=[(result["figures"][0], (tmp_path / "pairs.png").read_bytes())])
  assert "Verification metrics" in html and "Held-out pairs" in html and "roc_auc" in html


def test_verification_without_an_exported_threshold_is_an_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="exports no verification threshold"):
    verification.evaluate(str(tmp_path), str(tmp_path), _rows([0, 0, 1, 1]), str(tmp_path))
