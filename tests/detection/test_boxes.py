"""Detection pieces with tiny inputs, against hand-checked values: anchors, IoU, box encoding,
anchor matching, NMS, in-graph post-processing, COCO metrics, the loss and the edge export."""

import numpy as np
import pytest
import tensorflow as tf

from components.common import coco
from components.common import edge_quality
from components.common.contract import EdgeContract
from components.edge_export import export
from pipelines import config_loader
from pipelines.detection import boxes
from pipelines.detection import model
from pipelines.detection.config import DetectionConfig
from pipelines.detection.config import DetectionAugmentConfig


def test_anchors_are_centred_on_cells_with_the_configured_shapes():
  spec = boxes.AnchorSpec(16, 16, strides=(8,), size=1.0, scales=(1.0,), aspect_ratios=(1.0, 4.0))
  a = boxes.anchors(spec)
  assert a.shape == (2 * 2 * 2, 4)
  # Cell (0, 0): centre (4, 4) px; a square of 8 px; then ratio 4 (w/h): h 4 px, w 16 px.
  np.testing.assert_allclose(a[0], [0 / 16, 0 / 16, 8 / 16, 8 / 16])
  np.testing.assert_allclose(a[1], [2 / 16, -4 / 16, 6 / 16, 12 / 16])
  # Cell (0, 1) comes next (row-major), centre x = 12 px.
  np.testing.assert_allclose(a[2], [0, 8 / 16, 8 / 16, 16 / 16])
  two = boxes.AnchorSpec(32, 32, strides=(8, 16), scales=(1.0, 1.5), aspect_ratios=(0.5, 1, 2))
  assert len(boxes.anchors(two)) == (16 + 4) * 6 == 120


def test_iou_hand_checked():
  a = np.array([[0, 0, 2, 2]], np.float32)
  b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [2, 2, 3, 3], [0, 0, 1, 2]], np.float32)
  # 1 / (4 + 4 - 1); itself; touching only; half inside.
  np.testing.assert_allclose(boxes.iou(a, b)[0], [1 / 7, 1.0, 0.0, 0.5])
  np.testing.assert_allclose(boxes.tf_iou(tf.constant(a), tf.constant(b)).numpy()[0],
                             [1 / 7, 1.0, 0.0, 0.5], rtol=1e-6)


def test_encode_decode_round_trip_and_zero_for_the_anchor_itself():
  anchors = tf.constant([[0.1, 0.1, 0.5, 0.3], [0.4, 0.4, 0.9, 0.9]])
  gt = tf.constant([[0.1, 0.1, 0.5, 0.3], [0.5, 0.3, 0.7, 0.95]])
  enc = boxes.encode(gt, anchors)
  np.testing.assert_allclose(enc[0].numpy(), [0, 0, 0, 0], atol=1e-6)
  # Centre moved by +0.05 of a 0.5-high anchor -> 0.1 * 10; height 0.2 / 0.5 -> 5 log 0.4.
  assert enc[1, 0].numpy() == pytest.approx((0.6 - 0.65) / 0.5 * 10, abs=1e-5)
  assert enc[1, 2].numpy() == pytest.approx(5 * np.log(0.2 / 0.5), abs=1e-5)
  np.testing.assert_allclose(boxes.decode(enc, anchors).numpy(), gt.numpy(), atol=1e-6)


def test_matching_positive_negative_ignored_and_forced_best_anchor():
  anchors = tf.constant([[0.0, 0.0, 0.5, 0.5],     # the box itself: positive
                         [0.0, 0.1, 0.5, 0.6],     # IoU 0.4 / 0.6 = 0.667: positive
                         [0.0, 0.2, 0.5, 0.7],     # IoU 0.3 / 0.7 = 0.43: ignored
                         [0.5, 0.5, 1.0, 1.0],     # no overlap: negative
                         [0.6, 0.6, 0.7, 0.7]])    # best (only) anchor of the small box: forced
  gt = tf.constant([[0.0, 0.0, 0.5, 0.5], [0.58, 0.58, 0.66, 0.66], [0, 0, 0, 0]])
  classes = tf.constant([3, 7, -1])  # the last is padding
  t = boxes.match(gt, classes, anchors).numpy()
  assert t[:, 4].tolist() == [3, 3, boxes.IGNORE, boxes.NEGATIVE, 7]
  np.testing.assert_allclose(t[0, :4], 0, atol=1e-6)
  np.testing.assert_allclose(boxes.decode(tf.constant(t[4, :4]), anchors[4]).numpy(),
                             gt[1].numpy(), atol=1e-6)
  empty = boxes.match(tf.zeros([2, 4]), tf.constant([-1, -1]), anchors).numpy()
  assert (empty[:, 4] == boxes.NEGATIVE).all()


def test_nms_reference_keeps_the_best_of_overlapping_boxes():
  b = np.array([[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3], [0, 0.5, 1, 1.5]], np.float32)
  s = np.array([0.9, 0.8, 0.7, 0.95])
  # 3 (0.95) overlaps 0 by 1/3 and 1 by 0.6/1.4; 0 overlaps 1 by 0.9/1.1 -> dropped.
  assert boxes.nms(b, s, 0.5) == [3, 0, 2]
  assert boxes.nms(b, s, 0.3) == [3, 2]


def _raw_for(anchor_boxes, wanted):
  """Raw outputs whose decoded boxes are the anchors and whose class logits are `wanted`
  {(anchor, class): probability}, every other probability ~0."""
  raw = np.full((len(anchor_boxes), 4 + 3), -20.0, np.float32)
  raw[:, :4] = 0
  for (a, c), p in wanted.items():
    raw[a, 4 + c] = np.log(p / (1 - p))
  return raw


def test_postprocess_is_class_aware_nms_with_padding():
  anchors = np.array([[0, 0, 0.5, 0.5], [0, 0.05, 0.5, 0.55], [0.5, 0.5, 1, 1]], np.float32)
  raw = _raw_for(anchors, {(0, 1): 0.9, (1, 1): 0.8, (1, 2): 0.7, (2, 0): 0.6})
  out = [t.numpy() for t in boxes.postprocess(tf.constant(raw[None]), tf.constant(anchors), 3,
                                               score_threshold=0.05, iou_threshold=0.5,
                                               max_detections=5)]
  b, s, c, n = (x[0] for x in out)
  # Anchor 1 class 1 overlaps anchor 0 class 1 (IoU 0.82): suppressed; class 2 on it is kept.
  assert n == 3
  np.testing.assert_allclose(s[:3], [0.9, 0.7, 0.6], rtol=1e-5)
  assert c.tolist() == [1, 2, 0, -1, -1]
  np.testing.assert_allclose(b[:3], anchors[[0, 1, 2]], atol=1e-6)
  assert (s[3:] == 0).all() and (b[3:] == 0).all()
  batch = boxes.postprocess(tf.constant(np.stack([raw, raw])), tf.constant(anchors), 3, 0.05,
                            0.5, 5)
  np.testing.assert_allclose(batch[1].numpy(), [s, s])


def test_coco_metrics_on_a_known_case_and_the_empty_case():
  gt_boxes = [np.array([[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]])]
  gt_classes = [np.array([0, 1])]
  names = ["a", "b"]
  perfect = coco.evaluate(gt_boxes, gt_classes, gt_boxes, [np.array([0.9, 0.8])],
                          gt_classes, names, (32, 32))
  assert perfect["metrics"]["ap"] == pytest.approx(1.0)
  assert perfect["per_class"]["a"]["ap50"] == pytest.approx(1.0)
  # Only class a found: AP(a) = 1, AP(b) = 0 -> mean 0.5; AR@100 = 0.5.
  half = coco.evaluate(gt_boxes, gt_classes, [gt_boxes[0][:1]], [np.array([0.9])],
                       [np.array([0])], names, (32, 32))
  assert half["metrics"]["ap50"] == pytest.approx(0.5)
  assert half["metrics"]["ar100"] == pytest.approx(0.5)
  # A wrong class is no detection; a box shifted to IoU < 0.5 counts at no threshold.
  wrong = coco.evaluate(gt_boxes, gt_classes, [gt_boxes[0][:1]], [np.array([0.9])],
                        [np.array([1])], names, (32, 32))
  assert wrong["metrics"]["ap50"] == 0.0
  # No detections at all: COCO's loadRes([]) raises; we score zero.
  none = coco.evaluate(gt_boxes, gt_classes, [np.zeros((0, 4))], [np.zeros(0)],
                       [np.zeros(0)], names, (32, 32))
  assert none["metrics"]["ap"] == 0.0 and none["per_class"]["b"]["instances"] == 1
  # Padding (class -1) is skipped on both sides.
  padded = coco.evaluate([np.vstack([gt_boxes[0], np.zeros((3, 4))])],
                         [np.array([0, 1, -1, -1, -1])], gt_boxes, [np.array([0.9, 0.8])],
                         gt_classes, names, (32, 32))
  assert padded["metrics"]["ap"] == pytest.approx(1.0)


def test_focal_loss_rewards_the_right_class_and_box():
  loss = model.DetectionLoss(num_classes=2)
  y = np.array([[[0, 0, 0, 0, 1], [0, 0, 0, 0, boxes.NEGATIVE], [0, 0, 0, 0, boxes.IGNORE]]],
               np.float32)
  good = np.array([[[0, 0, 0, 0, -5, 5], [1, 1, 1, 1, -5, -5], [0, 0, 0, 0, 5, 5]]], np.float32)
  bad = np.array([[[2, 0, 0, 0, 5, -5], [0, 0, 0, 0, 5, 5], [0, 0, 0, 0, 5, 5]]], np.float32)
  assert float(loss(y, good)) < 0.01 < 1.0 < float(loss(y, bad))
  # The ignored anchor and the negative anchor's box outputs cost nothing.
  ignored = good.copy()
  ignored[0, 2, 4:] = [-5, -5]
  ignored[0, 1, :4] = 9
  assert float(loss(y, ignored)) == pytest.approx(float(loss(y, good)), rel=1e-5)



def test_focal_loss_gradient_is_finite_for_saturated_logits_at_any_gamma():
  # (1 - p_t) ** gamma with gamma < 1 has an infinite slope where the sigmoid saturates.
  y = tf.constant([[[0, 0, 0, 0, 1], [0, 0, 0, 0, boxes.NEGATIVE]]], tf.float32)
  pred = tf.Variable([[[0, 0, 0, 0, -40, 40], [0, 0, 0, 0, -40, -40]]], dtype=tf.float32)
  for gamma in (0.0, 0.5, 2.0):
    with tf.GradientTape() as tape:
      value = model.DetectionLoss(num_classes=2, gamma=gamma)(y, pred)
    grad = tape.gradient(value, pred)
    assert np.isfinite(float(value)) and np.isfinite(grad.numpy()).all(), gamma

def test_augmentation_moves_boxes_with_the_image():
  image = np.zeros((16, 16, 1), np.float32)
  image[4:8, 4:8] = 1
  box = tf.constant([[4 / 16, 4 / 16, 8 / 16, 8 / 16]])
  tf.random.set_seed(3)
  for _ in range(5):
    img, b, c = model.augment(tf.constant(image), box, tf.constant([2]),
                              DetectionAugmentConfig(shift=0.25))
    ys, xs = np.nonzero(img.numpy()[..., 0] > 0.5)
    if c.numpy()[0] >= 0:
      np.testing.assert_allclose(b.numpy()[0] * 16, [ys.min(), xs.min(), ys.max() + 1,
                                                     xs.max() + 1], atol=1e-4)


def test_zoom_moves_boxes_with_the_image_and_drops_boxes_zoomed_out_of_it():
  image = np.zeros((32, 32, 1), np.float32)
  image[8:16, 12:24] = 1
  box = tf.constant([[8 / 32, 12 / 32, 16 / 32, 24 / 32], [0, 0, 2 / 32, 2 / 32]])
  tf.random.set_seed(5)
  kept = dropped = 0
  for _ in range(12):
    img, b, c = model.augment(tf.constant(image), box, tf.constant([1, 0]),
                              DetectionAugmentConfig(shift=0.2, zoom=0.5, colour=0.0))
    ys, xs = np.nonzero(img.numpy()[..., 0] > 0.5)  # the square, resampled
    if c.numpy()[0] >= 0 and len(ys):
      kept += 1
      # Within a pixel of the resampled square (bilinear edges).
      np.testing.assert_allclose(b.numpy()[0] * 32, [ys.min(), xs.min(), ys.max() + 1,
                                                     xs.max() + 1], atol=1.01)
    dropped += int(c.numpy()[1] < 0)  # the corner box leaves the window when zoomed in/shifted
  assert kept >= 6 and dropped >= 1


def test_colour_jitter_keeps_images_in_range_and_boxes_in_place():
  rng = np.random.default_rng(0)
  image = tf.constant(rng.random((16, 16, 3), np.float32))
  box = tf.constant([[0.25, 0.25, 0.5, 0.75]])
  img, b, c = model.augment(image, box, tf.constant([3]),
                            DetectionAugmentConfig(shift=0.0, colour=0.5))
  assert 0.0 <= float(tf.reduce_min(img)) and float(tf.reduce_max(img)) <= 1.0
  assert not np.allclose(img.numpy(), image.numpy())
  np.testing.assert_array_equal(b.numpy(), box.numpy())
  assert c.numpy().tolist() == [3]


def _tiny_detector():
  cfg = config_loader.from_dict(DetectionConfig, {
      "image": {"height": 16, "width": 16, "channels": 3},
      "train": {"width": 4, "anchors": {"strides": [8]}},
      "postprocess": {"max_detections": 10, "pre_nms_top_k": 20}})
  raw = model.build(cfg.image, 3, cfg.train)
  meta = {"height": 16, "width": 16, "channels": 3,
          **model.bundle_metadata(cfg.image, cfg.train.anchors, cfg.postprocess)}
  return raw, meta


def test_edge_models_have_nms_inside_and_agree_with_keras(tmp_path):
  raw, meta = _tiny_detector()
  rng = np.random.default_rng(0)
  images = rng.random((6, 16, 16, 3), np.float32)
  edge = model.edge_model(raw, meta)
  served = model.edge_model(raw, meta, batch_size=None)
  reference = served.predict(images, verbose=0)
  assert [r.shape for r in reference] == [(6, 10, 4), (6, 10), (6, 10), (6,)]
  for variant in ("float32", "int8"):
    content = export.to_tflite(edge, variant, images, int8_float_outputs=True)
    out = export.tflite_predict(content, images, input_names=edge.input_names,
                                output_names=edge.output_names)
    assert out[3].shape == (6,)
    if variant == "float32":
      np.testing.assert_allclose(out[1], reference[1], atol=1e-4)
      assert edge_quality.detection_agreement(out, reference) == 1.0
  export.to_onnx(edge, str(tmp_path / "d.onnx"))
  onnx_out = export.onnx_predict(str(tmp_path / "d.onnx"), images)
  np.testing.assert_allclose(onnx_out[1], reference[1], atol=1e-4)
  np.testing.assert_allclose(onnx_out[0], reference[0], atol=1e-4)


def test_edge_quality_scores_detections_with_coco():
  features = {"boxes_xf": np.array([[[0.1, 0.1, 0.4, 0.4], [0, 0, 0, 0]]], np.float32),
              "box_classes_xf": np.array([[1, -1]]), "image_xf": np.zeros((1, 32, 32, 3))}
  hit = [np.array([[[0.1, 0.1, 0.4, 0.4], [0, 0, 0, 0]]]), np.array([[0.9, 0.0]]),
         np.array([[1.0, -1.0]]), np.array([1.0])]
  miss = [hit[0], hit[1], np.array([[0.0, -1.0]]), hit[3]]
  assert edge_quality.detections(hit, features, hit)["ap50"] == pytest.approx(1.0)
  scores = edge_quality.detections(miss, features, hit)
  assert scores["ap50"] == 0.0 and scores["detection_agreement_with_keras"] == 0.0


def test_the_edge_contract_wraps_the_bundle_model():
  from pipelines.detection import task
  assert isinstance(task.TASK.edge, EdgeContract) and task.TASK.edge.int8_float_outputs
  raw, meta = _tiny_detector()
  wrapped = task.TASK.edge.edge_model(raw, meta)
  assert wrapped.output_names == list(model.OUTPUTS)
  assert wrapped.inputs[0].shape[0] == 1
