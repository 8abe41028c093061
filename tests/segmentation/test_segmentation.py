"""Segmentation pieces with tiny inputs: metrics on hand-checked cases, nearest-neighbour mask
resizing, joint image/mask augmentation, the builders and the loss."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from components.common import edge_quality
from components.common import metrics
from components.mask_eval import evaluate
from pipelines.segmentation import model
from pipelines.segmentation import task as seg_task
from pipelines.segmentation import transform
from pipelines.segmentation.config import SegmentationAugmentConfig
from pipelines.segmentation.config import SegmentationConfig
from pipelines.segmentation.config import TrainConfig
from pipelines.vision.config import ImageConfig


def test_iou_on_a_hand_checked_case():
  true = np.array([[0, 0, 1, 1],
                   [0, 0, 1, 1]])
  pred = np.array([[0, 1, 1, 1],
                   [0, 0, 1, 2]])
  cm = metrics.pixel_confusion(true, pred, 3)
  np.testing.assert_array_equal(cm, [[3, 1, 0], [0, 3, 1], [0, 0, 0]])
  s = metrics.iou_scores(cm, ["bg", "a", "b"])
  # bg: 3 / (4 + 3 - 3) = 0.75; a: 3 / (4 + 4 - 3) = 0.6; b: 0 / (1 + 0 - 0) = 0.
  assert s["per_class"]["bg"]["iou"] == pytest.approx(0.75)
  assert s["per_class"]["a"]["iou"] == pytest.approx(0.6)
  assert s["per_class"]["b"]["iou"] == 0.0
  assert s["miou"] == pytest.approx((0.75 + 0.6 + 0.0) / 3)
  assert s["pixel_accuracy"] == pytest.approx(6 / 8)
  # A class absent from truth and prediction has no IoU and does not count.
  assert metrics.iou_scores(metrics.pixel_confusion(true, true, 5))["miou"] == 1.0
  with pytest.raises(ValueError, match="differ in size"):
    metrics.pixel_confusion(true, pred[:1], 3)


def test_edge_quality_scores_probabilities_against_masks():
  true = np.array([[[0, 1], [1, 1]]])
  probs = np.eye(2)[np.array([[[0, 1], [1, 0]]])]  # one pixel wrong
  out = edge_quality.mask_scores(probs, {"mask_xf": true}, probs)
  assert out["pixel_accuracy"] == 0.75 and out["pixel_agreement_with_keras"] == 1.0
  assert out["miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_masks_are_resized_with_nearest_neighbour_and_keep_their_ids():
  mask = np.zeros((20, 20), np.uint8)
  mask[:10, :10], mask[10:, 10:] = 3, 7
  encoded = tf.constant([cv2.imencode(".png", mask)[1].tobytes(), b""])
  out = transform.decode_masks(encoded, 8, 8).numpy()
  assert set(np.unique(out[0])) == {0, 3, 7}  # never a blend such as 5
  assert out[0, 0, 0] == 3 and out[0, 7, 7] == 7 and out[0, 0, 7] == 0
  assert not out[1].any()  # a serving request has no mask


def test_augmentation_moves_image_and_mask_together():
  image = np.zeros((16, 16, 3), np.float32)
  mask = np.zeros((16, 16), np.int64)
  image[4:9, 5:11] = 1.0
  mask[4:9, 5:11] = 4
  cfg = SegmentationAugmentConfig(flip=True, shift=0.2)
  moved = 0
  for seed in range(6):
    x, y = model.augment_pair(tf.constant(image), tf.constant(mask), cfg, seed)
    x, y = x.numpy(), y.numpy()
    np.testing.assert_array_equal(y == 4, x[..., 0] == 1.0)
    assert set(np.unique(y)) <= {0, 4}
    moved += not np.array_equal(y, mask)
  assert moved


@pytest.mark.parametrize("kind", ["unet", "fcn"])
@pytest.mark.parametrize("stride", [1, 2])
def test_builders_give_per_pixel_probabilities(kind, stride):
  m = model.build(ImageConfig(16, 16, 3), 5,
                  TrainConfig(model=kind, base_filters=4, depth=2, stem_stride=stride))
  out = m(np.random.default_rng(0).random((2, 16, 16, 3), np.float32)).numpy()
  assert out.shape == (2, 16, 16, 5)
  np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
  # The strided stem halves every level: the deepest feature map of a depth-2 net on 16 px.
  assert m.get_layer("bottom_relu1").output.shape[1] == 16 // (stride * 4)


def test_strided_stem_needs_a_divisible_image_size():
  with pytest.raises(ValueError, match="stem_stride x 2\\*\\*depth = 16"):
    SegmentationConfig(image=ImageConfig(24, 24, 3),
                       train=TrainConfig(depth=3, stem_stride=2)).validate()
  SegmentationConfig(image=ImageConfig(32, 32, 3),
                     train=TrainConfig(depth=3, stem_stride=2)).validate()


def test_loss_prefers_the_true_mask():
  true = np.zeros((1, 4, 4), np.int64)
  true[0, 1:3, 1:3] = 2
  loss = model.SegmentationLoss(3, dice_weight=1.0)
  right = np.eye(3)[true] * 0.98 + 0.01
  uniform = np.full((1, 4, 4, 3), 1 / 3)
  assert float(loss(true, right)) < 0.2 < float(loss(true, uniform))


def test_training_learns_tiny_masks():
  rng = np.random.default_rng(0)
  x = rng.random((32, 16, 16, 3), dtype=np.float32) * 0.3
  y = np.zeros((32, 16, 16), np.int64)
  for i in range(32):  # a bright square is class 1
    r, c = rng.integers(0, 10, 2)
    x[i, r:r + 6, c:c + 6] += 0.6
    y[i, r:r + 6, c:c + 6] = 1
  cfg = TrainConfig(base_filters=4, depth=2, epochs=20, batch_size=8, learning_rate=1e-2,
                    dice_weight=1.0, early_stopping_patience=0,
                    augment=SegmentationAugmentConfig(shift=0))
  m = model.build(ImageConfig(16, 16, 3), 2, cfg)
  ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
  model.fit(m, ds, ds, 2, cfg, 32)
  pred = m.predict(x, verbose=0).argmax(-1)
  assert metrics.iou_scores(metrics.pixel_confusion(y, pred, 2))["miou"] > 0.8


def test_overlay_grid_and_describe():
  images = np.zeros((2, 8, 8, 3), np.float32)
  masks = np.zeros((2, 8, 8), np.int64)
  masks[:, 2:4, 2:4] = 1
  grid = evaluate.overlay_grid(images, masks, masks, 2, scale=2)
  assert grid.shape == (2 * 12 * 2, 3 * 12 * 2, 3) and grid.dtype == np.uint8
  line = seg_task.describe({"class_ids": masks[0], "classes": ["background", "one"]})
  assert line == "8x8 mask: one (6%)"


def test_an_untrained_model_starts_at_the_pixel_class_prior():
  masks = np.zeros((4, 16, 16), np.int64)
  masks[:, :4, :4] = 2  # 1/16 of the pixels class 2, none class 1
  ds = tf.data.Dataset.from_tensor_slices((np.zeros((4, 16, 16, 3), np.float32), masks)).batch(3)
  frequencies = model.pixel_class_frequencies(ds, 3).numpy()
  np.testing.assert_allclose(frequencies, [15 / 16, 0, 1 / 16])
  m = model.build(ImageConfig(16, 16, 3), 3, TrainConfig(base_filters=4, depth=2))
  m.get_layer("scores").set_weights([np.zeros_like(w) for w in m.get_layer("scores").get_weights()])
  model.start_at_class_prior(m, frequencies)
  out = m(np.random.default_rng(0).random((1, 16, 16, 3), np.float32)).numpy()
  prior = np.array([15 / 16, 1e-3, 1 / 16])
  np.testing.assert_allclose(out[0, 5, 5], prior / prior.sum(), rtol=1e-5)
