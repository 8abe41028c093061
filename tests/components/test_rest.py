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
