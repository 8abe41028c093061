"""The captioning pieces at tiny sizes: the scene generator's captions and held-out split, the
Transform's caption ids, the encoder / attention decoder builders, beam search against greedy in
the serving graph, and the edge decoding loop against the graph's greedy decoding."""

import collections
import json
import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
import tf_keras as keras
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import schema_utils

from components.caption_eval import metrics
from components.common import text
from components.edge_export import export
from pipelines import datasets
from pipelines.captioning import edge
from pipelines.captioning import model as captioner
from pipelines.captioning import transform
from pipelines.captioning.config import CaptionGateConfig
from pipelines.captioning.config import TrainConfig
from pipelines.vision.config import ImageConfig

IMAGE = ImageConfig(16, 16, 3)
TRAIN = TrainConfig(width=4, units=8, attention_units=4, embedding=4, poolings=2, epochs=1)


def test_generated_scenes_hold_out_unseen_pairs_with_exact_captions(tmp_path):
  root = datasets.write_digit_captions(str(tmp_path), count=120, size=24, seed=3)
  scenes = [json.loads(line) for line in open(f"{root}/scenes.jsonl")]
  coco = json.load(open(f"{root}/captions.json"))
  captions = collections.defaultdict(list)
  for a in coco["annotations"]:
    captions[a["image_id"]].append(a["caption"])
  words = list(datasets.DIGIT_WORDS)
  train_pairs = {tuple(s["objects"]) for s in scenes
                 if s["split"] == "train" and len(s["objects"]) == 2}
  for i, s in enumerate(scenes):
    assert 3 <= len(captions[i]) <= 5
    # No count word is an object name: what a caption mentions is what is there.
    mentioned = set().union(*(metrics.mentions(c, words) for c in captions[i]))
    assert mentioned == set(s["objects"]), (captions[i], s["objects"])
    for word in s["objects"]:  # every reference names what is there ...
      assert all(word in c for c in captions[i])
    pair = tuple(words.index(w) for w in s["objects"])
    held_out = len(pair) == 2 and datasets.held_out_pair(*pair)
    assert (s["split"] == "eval") == held_out
    if held_out:  # ... and eval pairs are never seen in training
      assert tuple(s["objects"]) not in train_pairs
  assert any(s["split"] == "eval" for s in scenes)
  # The captioning config's default object words are the generator's.
  assert CaptionGateConfig().object_words == datasets.DIGIT_WORDS
  assert datasets.scene_captions([{"word": "seven", "size": "large"},
                                  {"word": "three", "size": "small"}], "row")[0] == (
      "a large seven to the left of a small three")
  assert "a pair of sixes stacked vertically" in datasets.scene_captions(
      [{"word": "six", "size": "small"}] * 2, "column")


def test_transform_turns_captions_into_padded_ids_with_one_vocabulary():
  png = tf.io.encode_png(tf.zeros([20, 20, 3], tf.uint8)).numpy()
  raw = [{"image": [png], "captions": [b"A seven, left of a three!", b"a three"]},
         {"image": [png], "captions": [b"Seven"]}]
  spec = {"image": tf.io.FixedLenFeature([1], tf.string),
          "captions": tf.io.VarLenFeature(tf.string)}
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
  config = {"image": {"height": 16, "width": 16, "channels": 3},
            "text": {"max_tokens": 4, "max_captions": 3}}
  out = tempfile.mkdtemp()
  with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
    (rows, _), transform_fn = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
        lambda inputs: transform.preprocessing_fn(inputs, config))
    _ = transform_fn | tft_beam.WriteTransformFn(out)
  vocabulary = transform.vocabulary(tft.TFTransformOutput(out))
  first = rows[0][transform.CAPTIONS_XF]
  assert first.shape == (3, 6) and rows[0][transform.NUM_CAPTIONS_XF] == 2
  # "a seven left of" (cut at max_tokens=4), then <end>; all-<pad> where there is no caption.
  assert [vocabulary[i] for i in first[0]] == ["<start>", "a", "seven", "left", "of", "<end>"]
  assert [vocabulary[i] for i in first[1][:4]] == ["<start>", "a", "three", "<end>"]
  assert not first[2].any() and rows[1][transform.NUM_CAPTIONS_XF] == 1


@pytest.fixture(scope="module")
def trained():
  net = captioner.build(10, 5, IMAGE, TRAIN, captions=2)
  images = np.random.default_rng(0).uniform(size=(6, 16, 16, 3)).astype(np.float32)
  # Two caption rows per image; the second image of each kind has one caption and a <pad> row.
  ids = np.array([[[1, 4, 5, 6, 2, 0], [1, 4, 5, 6, 2, 0]], [[1, 4, 5, 6, 2, 0], [0] * 6]] +
                 [[[1, 7, 8, 2, 0, 0], [1, 7, 8, 2, 0, 0]]] * 4)[[0, 1, 0, 2, 3, 2]]
  data = (tf.data.Dataset.from_tensor_slices((images, ids))
          .map(captioner.teacher_forcing(10)).batch(3))
  history = captioner.fit(net, data, data, TrainConfig(**{
      **TRAIN.__dict__, "epochs": 3, "learning_rate": 0.05, "batch_size": 3,
      "monitor": "accuracy"}), 6)
  # Early stopping and the plateau schedule watch a metric fit reports (Keras only warns if not).
  assert len(history["val_accuracy"]) == 3
  return net, images


def test_builders_have_the_documented_shapes(trained):
  net, images = trained
  encoder, step = net.get_layer("encoder"), net.get_layer("decoder_step")
  assert net.output_shape == (None, 2, 5, 10)
  # The caption rows of an image read its one encoding; the model saves and loads as a bundle.
  words = tf.one_hot(np.tile([[[1, 4, 5, 6, 2]]], (2, 2, 1)), 10)
  probs = net([tf.constant(images[:2]), words], training=False).numpy()
  np.testing.assert_allclose(probs[:, 0], probs[:, 1], atol=1e-6)
  path = os.path.join(tempfile.mkdtemp(), "model.keras")
  net.save(path)
  loaded = keras.models.load_model(path, compile=False)
  np.testing.assert_allclose(loaded([tf.constant(images[:2]), words]).numpy(), probs, atol=1e-6)
  assert [tuple(s) for s in encoder.output_shape] == [(None, 16, 16), (None, 8), (None, 8)]
  assert [tuple(s) for s in step.output_shape] == [(None, 10), (None, 8), (None, 8), (None, 16)]


def test_beam_search_is_greedy_at_width_one_and_never_less_likely(trained):
  net, images = trained
  encoder, step = net.get_layer("encoder"), net.get_layer("decoder_step")
  greedy = captioner.decode(encoder, step, images, 5, 1)
  beam = captioner.decode(encoder, step, images, 5, 3)
  # Beam search keeps the greedy path among its beams: its best is at least as likely.
  assert np.all(beam["log_prob"].numpy() >= greedy["log_prob"].numpy() - 1e-5)
  words = tf.constant([*text.SPECIAL_TOKENS, *"abcdef"])
  out = captioner.caption_outputs(beam, words, (4, 4))
  ids = beam["ids"].numpy()
  for i, caption in enumerate(out["caption"].numpy()):
    said = edge.id_text(ids[i]).split()
    assert caption.decode() == " ".join(words.numpy()[int(w)].decode() for w in said)
    assert out["length"].numpy()[i] == len(said)
    # Attention is a distribution over the 4x4 grid for every word said, zero after.
    sums = out["attention"].numpy()[i].sum(axis=(1, 2))
    np.testing.assert_allclose(sums[:len(said)], 1.0, atol=1e-5)
    assert not sums[len(said):].any()


def test_edge_loop_decodes_as_the_graph_does_and_scores_bleu(trained):
  net, images = trained
  parts = edge.parts(net, {})
  preprocessing = {"steps": 5, "vocab_size": 10, "start_id": 1, "end_id": 2, "pad_id": 0}
  ids = export.run_model(
      _contract(), {p: export.keras_predictor(m) for p, m in parts.items()}, [images],
      preprocessing)
  graph = captioner.decode(parts["encoder"], parts["decoder_step"], images, 5, 1)["ids"].numpy()
  assert [edge.id_text(r) for r in ids] == [edge.id_text(r) for r in graph]
  references = np.zeros((6, 2, 6), np.int64)
  references[:, 0] = [1, 4, 5, 6, 2, 0]
  scores = edge.bleu_of_ids(ids, {"captions_xf": references, "num_captions_xf": np.ones(6)},
                            ids)
  assert scores["caption_agreement_with_keras"] == 1.0 and 0 <= scores["bleu4"] <= 1


def _contract():
  from pipelines import tasks  # pylint: disable=g-import-not-at-top
  return tasks.get("captioning").edge


class _ScriptedStep:
  """A decoder step whose next-word probabilities depend only on the previous word: after
  <start>, <end> 0.5, word 4 0.45, word 5 0.05; after any word, <end>."""

  output_shape = [(None, 6)]

  def __call__(self, inputs, training=False):
    token, h, c, features = inputs
    previous = tf.argmax(token, axis=-1)
    after_start = tf.constant([0.0, 0.0, 0.5, 0.0, 0.45, 0.05])
    after_word = tf.one_hot(text.END_ID, 6)
    probs = tf.where((previous == text.START_ID)[:, None], after_start, after_word)
    attention = tf.ones([tf.shape(token)[0], features.shape[1]]) / features.shape[1]
    return probs, h, c, attention


def test_length_penalty_lets_a_longer_caption_beat_a_slightly_likelier_short_one():
  encoder = lambda images, training=False: (tf.zeros([2, 4, 3]), tf.zeros([2, 8]),  # noqa
                                            tf.zeros([2, 8]))
  images = tf.zeros([2, 8, 8, 3])
  plain = captioner.decode(encoder, _ScriptedStep(), images, 3, 3)
  # log 0.5 (<end> at once) beats log 0.45 ("4 <end>") on the plain sum ...
  assert [edge.id_text(ids) for ids in plain["ids"].numpy()] == ["", ""]
  np.testing.assert_allclose(plain["log_prob"], np.log(0.5), rtol=1e-5)
  # ... but not once divided by ((5 + length) / 6) ** 2: -0.69 / 1 < -0.80 / 1.36.
  normalised = captioner.decode(encoder, _ScriptedStep(), images, 3, 3, length_penalty=2.0)
  assert [edge.id_text(ids) for ids in normalised["ids"].numpy()] == ["4", "4"]
  np.testing.assert_allclose(normalised["log_prob"], np.log(0.45), rtol=1e-5)
  assert normalised["attention"].shape == (2, 3, 4)
  # Greedy decoding ignores it.
  greedy = captioner.decode(encoder, _ScriptedStep(), images, 3, 1, length_penalty=2.0)
  assert [edge.id_text(ids) for ids in greedy["ids"].numpy()] == ["", ""]
