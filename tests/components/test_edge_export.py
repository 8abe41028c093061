import json

import numpy as np
import pytest
import tf_keras as keras

from components.common import keras_bundle
from components.edge_export import export
from pipelines import tasks
from pipelines.classification import model
from pipelines.vision import transform
from pipelines.classification.config import ImageConfig, TrainConfig
from tests.conftest import digit_images


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
  """A small CNN trained briefly on real 16px digits, saved as a Keras bundle, with eval data."""
  images = digit_images(classes=(0, 1, 7), per_class=20)
  x = np.stack([im for c in images.values() for im in c])[..., None].astype(np.float32) / 255
  y = np.repeat(np.arange(3), 20)
  keras.utils.set_random_seed(0)
  m = model.build_classifier(3, ImageConfig(16, 16, 1), TrainConfig())
  m.compile("adam", "sparse_categorical_crossentropy")
  m.fit(x, y, epochs=8, batch_size=8, verbose=0)
  folder = str(tmp_path_factory.mktemp("keras"))
  keras_bundle.write(m, ["0", "1", "7"], transform.preprocessing_metadata(ImageConfig(16, 16, 1)),
                     folder)
  return folder, m, x, y


def test_every_export_agrees_with_keras(bundle, tmp_path):
  folder, m, x, y = bundle
  result = export.export_edge(folder, {"image_xf": x, "label_xf": y}, str(tmp_path),
                              tasks.get("classification").edge, int8_max_quality_drop=0.1,
                              representative_examples=30)
  reference = m.predict(x, verbose=0)
  for variant in export.TFLITE_VARIANTS:
    path = tmp_path / export.tflite_file(variant)
    probs = export.tflite_predict(str(path), x)
    assert probs.shape == (60, 3)
    tol = 1e-5 if variant == "float32" else 0.1
    np.testing.assert_allclose(probs, reference, atol=tol)
  onnx_probs = export.onnx_predict(str(tmp_path / export.ONNX_FILE), x)
  np.testing.assert_allclose(onnx_probs, reference, atol=1e-5)
  assert result["models"]["tflite_int8"]["top1_agreement_with_keras"] > 0.9
  assert result["models"]["tflite_int8"]["bytes"] < 0.35 * result["models"]["tflite_float32"]["bytes"]
  assert result["edge_blessed"]
  assert (tmp_path / export.BLESSED_FILE).exists()
  assert (tmp_path / keras_bundle.LABELS_FILE).read_text().split() == ["0", "1", "7"]
  assert json.loads((tmp_path / keras_bundle.PREPROCESSING_FILE).read_text())["scale"] == 1 / 255
  metrics = json.loads((tmp_path / export.METRICS_FILE).read_text())
  assert set(metrics["models"]) == {"tflite_float32", "tflite_float16", "tflite_dynamic_range",
                                    "tflite_int8", "onnx"}


def test_converting_from_one_saved_copy_matches_the_keras_converter(bundle, tmp_path):
  _, m, x, _ = bundle
  saved = export.save_for_tflite(m, str(tmp_path / "saved"))
  for variant in ("float32", "int8"):  # plain, and calibrated with representative data
    representative = x[:20] if variant == "int8" else None
    from_copy = export.to_tflite(m, variant, representative, saved=saved)
    from_keras = export.to_tflite(m, variant, representative)
    np.testing.assert_array_equal(export.tflite_predict(from_copy, x),
                                  export.tflite_predict(from_keras, x), err_msg=variant)


def test_int8_beyond_the_margin_is_not_blessed(bundle, tmp_path):
  folder, _, x, y = bundle
  # A negative margin demands int8 beat float by 0.5: impossible, so never blessed.
  result = export.export_edge(folder, {"image_xf": x, "label_xf": y}, str(tmp_path),
                              tasks.get("classification").edge, int8_max_quality_drop=-0.5,
                              representative_examples=10)
  assert not result["edge_blessed"]
  assert "int8 accuracy" in result["not_blessed_reasons"][0]
  assert "worse than float" in result["not_blessed_reasons"][0]
  assert (tmp_path / export.NOT_BLESSED_FILE).exists()


def test_quantize_round_trips_within_one_step():
  detail = {"dtype": np.int8, "quantization": (1 / 255, -128)}
  x = np.linspace(0, 1, 11, dtype=np.float32)
  assert np.abs(export.dequantize(export.quantize(x, detail), detail) - x).max() <= 1 / 255


def test_unknown_variant_and_missing_representative_data_are_errors(bundle):
  _, m, _, _ = bundle
  with pytest.raises(ValueError, match="unknown TFLite variant"):
    export.to_tflite(m, "int4")
  with pytest.raises(ValueError, match="representative"):
    export.to_tflite(m, "int8")


def test_embedding_export_measures_retrieval_quality_and_int8_recall(tmp_path):
  from pipelines.vision import embedding
  images = digit_images(classes=(0, 1, 7), per_class=10)
  x = np.stack([im for c in images.values() for im in c])[..., None].astype(np.float32) / 255
  y = np.repeat(np.arange(3), 10)
  keras.utils.set_random_seed(0)
  net = embedding.embedding_network(ImageConfig(16, 16, 1), 8)
  folder = str(tmp_path / "keras")
  keras_bundle.write(net, ["0", "1", "7"],
                     transform.preprocessing_metadata(ImageConfig(16, 16, 1)), folder)
  (tmp_path / "keras" / "verification.json").write_text('{"threshold": 0.4}')
  out = tmp_path / "edge"
  result = export.export_edge(folder, {"image_xf": x, "label_xf": y}, str(out),
                              tasks.get("similarity").edge, params={"k": 3.0},
                              int8_max_quality_drop=0.5, representative_examples=20)
  assert result["quality_metric"] == "precision_at_3"
  assert result["models"]["tflite_float32"]["recall_at_3_vs_keras"] == 1.0
  assert result["models"]["onnx"]["max_abs_diff_vs_keras"] < 1e-4
  int8 = result["models"]["tflite_int8"]
  assert 0 < int8["recall_at_3_vs_keras"] <= 1 and int8["mean_cosine_vs_keras"] > 0.9
  assert (out / "verification.json").exists()


def test_a_task_without_edge_models_says_why(bundle, tmp_path):
  from components.common.contract import EdgeContract
  folder, _, x, y = bundle
  result = export.export_edge(folder, {"image_xf": x}, str(tmp_path),
                              EdgeContract.none("needs a flex op"))
  assert not result["exportable"] and not result["edge_blessed"]
  assert (tmp_path / export.NOT_EXPORTABLE_FILE).read_text().strip() == "needs a flex op"
  assert not list(tmp_path.glob("*.tflite"))


def test_models_with_two_inputs_and_two_outputs_export_and_agree(tmp_path):
  """Exporters take one array per model input and return one per output, in Keras's order."""
  from tf_keras import layers
  a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
  joined = layers.Concatenate()([a, b])
  net = keras.Model([a, b], [layers.Dense(2, name="first")(joined),
                             layers.Dense(5, name="second")(joined)])
  xs = [np.random.default_rng(0).random((6, 4), np.float32),
        np.random.default_rng(1).random((6, 3), np.float32)]
  reference = net.predict(xs, verbose=0)
  tflite = export.tflite_predict(export.to_tflite(net, "float32"), xs, batch_size=4,
                                 input_names=net.input_names, output_names=net.output_names)
  export.to_onnx(net, str(tmp_path / "m.onnx"))
  onnx = export.onnx_predict(str(tmp_path / "m.onnx"), xs)
  for got in (tflite, onnx):
    assert [o.shape for o in got] == [(6, 2), (6, 5)]
    for g, r in zip(got, reference):
      np.testing.assert_allclose(g, r, atol=1e-5)
