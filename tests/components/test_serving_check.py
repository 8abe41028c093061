import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from components.common.contract import ServingContract
from components.serving_check import check
from pipelines import tasks

CLASSIFIER = tasks.get("classification").serving


def _example(png: bytes) -> bytes:
  return tf.train.Example(features=tf.train.Features(feature={
      "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png]))})).SerializeToString()


class _Model(tf.Module):
  """Follows the classification serving contract: brightness decides between two classes."""

  def __init__(self, skew: float = 0.0, drop_output: str = ""):
    super().__init__()
    self.skew = skew
    self.drop_output = drop_output

  def _scores(self, images):
    bright = tf.map_fn(lambda b: tf.reduce_mean(tf.cast(tf.io.decode_png(b), tf.float32)) / 255,
                       images, fn_output_signature=tf.float32)
    return tf.stack([1 - bright, bright], axis=1)

  def _outputs(self, scores):
    n = tf.shape(scores)[0]
    out = {"classes": tf.tile(tf.constant([["dark", "bright"]]), [n, 1]), "scores": scores,
           "predicted_class": tf.gather(tf.constant(["dark", "bright"]), tf.argmax(scores, 1)),
           "predicted_score": tf.reduce_max(scores, 1)}
    out.pop(self.drop_output, None)
    return out

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve(self, image_bytes):
    scores = self._scores(image_bytes)
    return self._outputs(tf.abs(scores - self.skew))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, examples):
    parsed = tf.io.parse_example(examples, {"image": tf.io.FixedLenFeature([], tf.string)})
    return self._outputs(self._scores(parsed["image"]))


def _save(module, path):
  tf.saved_model.save(module, str(path), signatures={
      "serving_default": module.serve.get_concrete_function(),
      "serving_examples": module.serve_examples.get_concrete_function()})
  return str(path)


@pytest.fixture(scope="module")
def eval_data():
  pngs = [cv2.imencode(".png", np.full((8, 8), v, np.uint8))[1].tobytes() for v in (10, 240, 128)]
  return [(_example(p), {"image": p, "label": "", "source": ""}) for p in pngs]


def test_a_consistent_model_passes(tmp_path, eval_data):
  report = check.check_serving(_save(_Model(), tmp_path / "m"), eval_data, CLASSIFIER)
  assert report["instances"] == 3 and report["top1_agreement"] == 1.0
  assert report["signatures"]["serving_default"]["inputs"]["image_bytes"] == ["string", [None]]


def test_served_predictions_that_differ_from_evaluated_ones_fail(tmp_path, eval_data):
  with pytest.raises(check.ServingCheckError, match="differ from the evaluated ones"):
    check.check_serving(_save(_Model(skew=0.3), tmp_path / "m"), eval_data, CLASSIFIER)


def test_missing_output_key_fails_the_signature_check(tmp_path, eval_data):
  with pytest.raises(check.ServingCheckError, match=r"lacks outputs \['predicted_score'\]"):
    check.check_serving(_save(_Model(drop_output="predicted_score"), tmp_path / "m"), eval_data,
                        CLASSIFIER)


def test_signature_must_take_the_contract_inputs():
  signatures = {"serving_default": {"inputs": {"x": ["float32", [None, 8, 8, 1]]},
                                    "outputs": {k: ["float32", [None]]
                                                for k in CLASSIFIER.outputs}}}
  with pytest.raises(check.ServingCheckError, match=r"must take \{'image_bytes': 'string'\}"):
    check.check_signature(signatures, CLASSIFIER)
  with pytest.raises(check.ServingCheckError, match="no 'serving_default' signature"):
    check.check_signature({}, CLASSIFIER)
  other = ServingContract(outputs=("scores",), compare="scores", inputs={"x": "float32"})
  check.check_signature(signatures, other)


def test_a_contract_compares_only_its_own_output_with_its_tolerance(tmp_path, eval_data):
  """An embedding-style contract: no argmax rule; a skew within atol passes, beyond fails."""
  loose = ServingContract(outputs=("scores",), compare="scores", atol=0.5)
  assert check.check_serving(_save(_Model(skew=0.3), tmp_path / "m"), eval_data,
                             loose)["top1_agreement"] == 1.0
  with pytest.raises(check.ServingCheckError, match=r"allowed 1e-01"):
    check.check_serving(str(tmp_path / "m"), eval_data,
                        ServingContract(outputs=("scores",), compare="scores", atol=0.1))


class _Generator(tf.Module):
  """A model whose request is not an image: (class id, seed) -> an image tensor."""

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="class_id"),
                                tf.TensorSpec([None], tf.int64, name="seed")])
  def serve(self, class_id, seed):
    value = tf.cast(class_id * 10 + seed, tf.float32)
    return {"image": tf.tile(value[:, None, None], [1, 4, 4])}


def test_a_contract_whose_requests_are_not_images(tmp_path):
  module = _Generator()
  path = str(tmp_path / "g")
  tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
  rows = [(b"", {"label": "3", "source": ""}), (b"", {"label": "5", "source": ""})]
  generator = ServingContract(
      outputs=("image",), compare="image", inputs={"class_id": "int64", "seed": "int64"},
      instances=lambda rows: [{"class_id": int(r["label"]), "seed": 1} for r in rows],
      reference_signature="serving_default",
      reference_inputs=lambda rows: {"class_id": [int(r[1]["label"]) for r in rows],
                                     "seed": [1] * len(rows)})
  report = check.check_serving(path, rows, generator)
  assert report["instances"] == 2 and report["max_abs_diff"] == 0.0


def test_a_warmed_up_process_answers_the_next_check_and_a_dead_one_is_replaced(
    tmp_path, eval_data):
  model = _save(_Model(), tmp_path / "m")
  check.warm_up()
  spare = check._spare[0]  # pylint: disable=protected-access
  check.warm_up()  # one spare at a time
  assert check._spare == [spare]  # pylint: disable=protected-access
  request = check.rest_request(CLASSIFIER.instances([r[1] for r in eval_data]))
  server = check.start_server_process(model, request)
  assert server is spare and not check._spare  # pylint: disable=protected-access
  assert len(check.server_response(server)["predictions"]) == len(eval_data)
  assert not os.path.exists(server.request_file)  # the request file goes with the process
  check.warm_up()
  check._spare[0].kill()  # pylint: disable=protected-access
  check._spare[0].wait()  # pylint: disable=protected-access
  report = check.check_serving(model, eval_data, CLASSIFIER)  # a new process answers
  assert report["instances"] == len(eval_data) and not check._spare  # pylint: disable=protected-access
