import base64

import pytest
import tensorflow as tf

from components.serving_check import rest as serving


class _Echo(tf.Module):

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve(self, image_bytes):
    return {"length": tf.strings.length(image_bytes), "upper": tf.strings.upper(image_bytes)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  base = tmp_path_factory.mktemp("serving")
  module = _Echo()
  for version in ("1", "12"):
    tf.saved_model.save(module, str(base / version),
                        signatures={"serving_default": module.serve.get_concrete_function()})
  return base


def _b64(data: bytes):
  return {"b64": base64.b64encode(data).decode()}


def test_latest_version_is_the_highest_number(model_dir):
  assert serving.latest_version_dir(str(model_dir)).endswith("/12")


def test_row_format_with_b64_instances(model_dir):
  response = serving.predict(str(model_dir), {"instances": [_b64(b"ab"), _b64(b"xyz")]})
  assert response == {"predictions": [{"length": 2, "upper": "AB"},
                                      {"length": 3, "upper": "XYZ"}]}


def test_named_inputs_and_columnar_format(model_dir):
  named = serving.predict(str(model_dir), {"instances": [{"image_bytes": _b64(b"q")}]})
  assert named["predictions"][0]["upper"] == "Q"
  columnar = serving.predict(str(model_dir), {"inputs": [_b64(b"hi")]})
  assert columnar == {"outputs": {"length": [2], "upper": ["HI"]}}


def test_bad_requests_are_request_errors(model_dir):
  with pytest.raises(serving.RequestError, match="unknown signature_name 'nope'"):
    serving.predict(str(model_dir), {"signature_name": "nope", "instances": [_b64(b"a")]})
  with pytest.raises(serving.RequestError, match="needs 'instances' or 'inputs'"):
    serving.predict(str(model_dir), {"data": []})


def test_missing_model_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="no SavedModel"):
    serving.latest_version_dir(str(tmp_path))


class _Decoder(tf.Module):
  """Decodes images like the serving graph does."""

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve(self, image_bytes):
    sizes = tf.map_fn(lambda b: tf.shape(tf.io.decode_image(b, channels=1,
                                                            expand_animations=False))[0],
                      image_bytes, fn_output_signature=tf.int32)
    return {"height": sizes}


def test_bad_base64_and_non_image_bytes_name_the_instance(tmp_path):
  import cv2
  import numpy as np
  module = _Decoder()
  tf.saved_model.save(module, str(tmp_path / "1"),
                      signatures={"serving_default": module.serve.get_concrete_function()})
  png = cv2.imencode(".png", np.zeros((5, 4), np.uint8))[1].tobytes()
  ok = serving.predict(str(tmp_path), {"instances": [_b64(png)]})
  assert ok["predictions"] == [{"height": 5}]
  with pytest.raises(serving.RequestError, match=r"^instance 1: invalid base64"):
    serving.predict(str(tmp_path), {"instances": [_b64(png), {"b64": "***"}]})
  with pytest.raises(serving.RequestError,
                     match=r"^instance 2: cannot run signature 'serving_default': "):
    serving.predict(str(tmp_path), {"instances": [_b64(png), _b64(png), _b64(b"hello")]})
