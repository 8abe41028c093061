"""Boxes for single-stage detection: anchors, IoU, box encoding, anchor matching and NMS.

One implementation serves training (targets), serving and the edge models (decoding and NMS are
inside every exported graph). Boxes are [ymin, xmin, ymax, xmax], normalised to [0, 1] of the
model's input (TF Serving's detection convention); anchors likewise.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from components.common import metrics

# Box-regression targets are scaled by these (the usual SSD/RetinaNet variances), so the four
# targets have similar magnitudes: (dy, dx) * 10, log(h, w ratio) * 5.
BOX_SCALES = (10.0, 10.0, 5.0, 5.0)
# Anchor labels of `match`: a class id >= 0, or one of these.
NEGATIVE = -1
IGNORE = -2


@dataclasses.dataclass(frozen=True)
class AnchorSpec:
  """Anchors on feature maps of the given strides: at every cell of every level, one anchor per
  (scale, aspect ratio), of side `size * stride * scale` (aspect ratio = width / height)."""
  height: int
  width: int
  strides: tuple[int, ...] = (8, 16)
  size: float = 2.0
  scales: tuple[float, ...] = (1.0, 1.5)
  aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)

  @property
  def per_cell(self) -> int:
    return len(self.scales) * len(self.aspect_ratios)

  def grid(self, stride: int) -> tuple[int, int]:
    return math.ceil(self.height / stride), math.ceil(self.width / stride)


def anchors(spec: AnchorSpec) -> np.ndarray:
  """All anchors [A, 4] (normalised yxyx), level by level, row-major cells, then scale x ratio:
  the order the detection heads' outputs are flattened in."""
  out = []
  for stride in spec.strides:
    rows, cols = spec.grid(stride)
    cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride,
                         indexing="ij")
    shapes = [(spec.size * stride * s / math.sqrt(r), spec.size * stride * s * math.sqrt(r))
              for s in spec.scales for r in spec.aspect_ratios]  # (h, w) in pixels
    for y, x in zip(cy.reshape(-1), cx.reshape(-1)):
      for h, w in shapes:
        out.append([(y - h / 2) / spec.height, (x - w / 2) / spec.width,
                    (y + h / 2) / spec.height, (x + w / 2) / spec.width])
  return np.asarray(out, np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Pairwise IoU [len(a), len(b)] of yxyx boxes (numpy; the one the evaluators use)."""
  return metrics.box_iou(a, b)


def tf_iou(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """Pairwise IoU [len(a), len(b)] of yxyx boxes (TensorFlow)."""
  tl = tf.maximum(a[:, None, :2], b[None, :, :2])
  br = tf.minimum(a[:, None, 2:], b[None, :, 2:])
  inter = tf.reduce_prod(tf.maximum(br - tl, 0.0), axis=-1)
  area = lambda x: tf.reduce_prod(tf.maximum(x[:, 2:] - x[:, :2], 0.0), axis=-1)
  union = area(a)[:, None] + area(b)[None, :] - inter
  return tf.math.divide_no_nan(inter, union)


def _centre_size(boxes):
  h, w = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
  return boxes[..., 0] + 0.5 * h, boxes[..., 1] + 0.5 * w, h, w


def encode(boxes: tf.Tensor, anchor_boxes: tf.Tensor) -> tf.Tensor:
  """Regression targets [..., 4] of `boxes` relative to their anchors (same shape)."""
  cy, cx, h, w = _centre_size(boxes)
  acy, acx, ah, aw = _centre_size(anchor_boxes)
  h, w = tf.maximum(h, 1e-6), tf.maximum(w, 1e-6)
  sy, sx, sh, sw = BOX_SCALES
  return tf.stack([(cy - acy) / ah * sy, (cx - acx) / aw * sx,
                   tf.math.log(h / ah) * sh, tf.math.log(w / aw) * sw], axis=-1)


def decode(deltas: tf.Tensor, anchor_boxes: tf.Tensor) -> tf.Tensor:
  """Boxes [..., 4] from regression outputs relative to their anchors (`encode`'s inverse)."""
  acy, acx, ah, aw = _centre_size(anchor_boxes)
  sy, sx, sh, sw = BOX_SCALES
  # Clamped like torchvision/TF OD: exp of a wild output must not overflow.
  limit = math.log(1000.0 / 16)
  cy = deltas[..., 0] / sy * ah + acy
  cx = deltas[..., 1] / sx * aw + acx
  h = tf.exp(tf.minimum(deltas[..., 2] / sh, limit)) * ah
  w = tf.exp(tf.minimum(deltas[..., 3] / sw, limit)) * aw
  return tf.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)


def match(gt_boxes: tf.Tensor, gt_classes: tf.Tensor, anchor_boxes: tf.Tensor,
          positive_iou: float = 0.5, negative_iou: float = 0.4) -> tf.Tensor:
  """Training targets for one image: [A, 5] = (encoded box, anchor label).

  An anchor is positive (label = the class id of its best box) with IoU >= `positive_iou`, and
  every box's best anchor is positive for it (so small boxes are learned); negative (`NEGATIVE`)
  below `negative_iou`; `IGNORE` in between. Padding boxes have class < 0 and are skipped.

  Args:
    gt_boxes: [M, 4] yxyx; gt_classes: [M] int (< 0: padding).
  """
  valid = gt_classes >= 0
  gt_boxes = tf.boolean_mask(gt_boxes, valid)
  gt_classes = tf.boolean_mask(tf.cast(gt_classes, tf.int64), valid)
  num_anchors = tf.shape(anchor_boxes)[0]

  def with_boxes():
    overlaps = tf_iou(anchor_boxes, gt_boxes)  # [A, M]
    best_gt = tf.argmax(overlaps, axis=1)
    best_iou = tf.reduce_max(overlaps, axis=1)
    labels = tf.where(best_iou >= positive_iou, tf.gather(gt_classes, best_gt),
                      tf.where(best_iou < negative_iou, tf.constant(NEGATIVE, tf.int64),
                               tf.constant(IGNORE, tf.int64)))
    # Each box claims its best anchor (if it overlaps any).
    best_anchor = tf.argmax(overlaps, axis=0)  # [M]
    has_overlap = tf.reduce_max(overlaps, axis=0) > 0
    forced = tf.boolean_mask(best_anchor, has_overlap)
    forced_gt = tf.boolean_mask(tf.range(tf.shape(gt_boxes)[0], dtype=tf.int64), has_overlap)
    best_gt = tf.tensor_scatter_nd_update(best_gt, forced[:, None], forced_gt)
    labels = tf.tensor_scatter_nd_update(labels, forced[:, None],
                                         tf.gather(gt_classes, forced_gt))
    targets = encode(tf.gather(gt_boxes, best_gt), anchor_boxes)
    return tf.concat([targets, tf.cast(labels, tf.float32)[:, None]], axis=-1)

  def background():
    return tf.concat([tf.zeros([num_anchors, 4]), tf.fill([num_anchors, 1], float(NEGATIVE))],
                     axis=-1)

  return tf.cond(tf.size(gt_classes) > 0, with_boxes, background)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
  """Greedy non-maximum suppression (numpy reference): kept indices, best first."""
  order = list(np.argsort(-np.asarray(scores), kind="stable"))
  keep = []
  while order:
    i = order.pop(0)
    keep.append(int(i))
    order = [j for j in order if iou(boxes[i], boxes[j])[0, 0] <= iou_threshold]
  return keep


def postprocess_one(raw: tf.Tensor, anchor_boxes: tf.Tensor, num_classes: int,
                    score_threshold: float, iou_threshold: float, max_detections: int,
                    pre_nms_top_k: int = 300) -> tuple[tf.Tensor, ...]:
  """Detections of one image from the heads' raw outputs, inside the graph (TF Serving, TFLite,
  ONNX).

  Sigmoid class scores, the `pre_nms_top_k` best (anchor, class) pairs, boxes decoded and
  clipped to the image, then class-aware NMS as one NMS call on boxes offset by class (boxes of
  different classes never overlap) with `tf.image.non_max_suppression_with_scores`, which
  converts to TFLite's builtin NMS v5 and ONNX NonMaxSuppression.

  Args:
    raw: [A, 4 + num_classes] (box regression, class logits).
  Returns:
    boxes [K, 4], scores [K], classes [K] (float class index; -1 for padding) and
    num_detections [] (float), K = max_detections.
  """
  boxes = tf.clip_by_value(decode(raw[:, :4], anchor_boxes), 0.0, 1.0)
  scores = tf.sigmoid(raw[:, 4:])
  top_k = min(pre_nms_top_k, int(anchor_boxes.shape[0]) * num_classes)
  best, index = tf.math.top_k(tf.reshape(scores, [-1]), top_k)
  cls = index % num_classes
  candidates = tf.gather(boxes, index // num_classes)
  offset = tf.cast(cls, tf.float32)[:, None] * 2.0
  keep, kept_scores = tf.image.non_max_suppression_with_scores(
      candidates + offset, best, max_detections, iou_threshold, score_threshold)
  n = tf.shape(keep)[0]
  pad = max_detections - n
  return (tf.pad(tf.gather(candidates, keep), [[0, pad], [0, 0]]),
          tf.pad(kept_scores, [[0, pad]]),
          tf.pad(tf.cast(tf.gather(cls, keep), tf.float32), [[0, pad]], constant_values=-1.0),
          tf.cast(n, tf.float32))


def postprocess(raw: tf.Tensor, anchor_boxes: tf.Tensor, num_classes: int,
                score_threshold: float, iou_threshold: float, max_detections: int,
                pre_nms_top_k: int = 300) -> tuple[tf.Tensor, ...]:
  """`postprocess_one` for every image of raw [N, A, 4 + C]: boxes [N, K, 4], scores [N, K],
  classes [N, K], num_detections [N]. A batch of one skips the loop (the int8 TFLite converter
  mishandles quantized loops over the batch: edge models have a batch of 1)."""
  args = (anchor_boxes, num_classes, score_threshold, iou_threshold, max_detections,
          pre_nms_top_k)
  if raw.shape[0] == 1:
    return tuple(t[tf.newaxis] for t in postprocess_one(raw[0], *args))
  k = max_detections
  return tf.map_fn(lambda r: postprocess_one(r, *args), raw, fn_output_signature=(
      tf.TensorSpec([k, 4], tf.float32), tf.TensorSpec([k], tf.float32),
      tf.TensorSpec([k], tf.float32), tf.TensorSpec([], tf.float32)))
