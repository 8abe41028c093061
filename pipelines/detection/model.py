"""Single-stage object detection (RetinaNet style): a small conv backbone (or MobileNetV2) with a
light feature pyramid, shared class and box heads over anchors, focal loss + Huber box loss, box
targets built on the fly, and post-processing (decoding + class-aware NMS) inside the served and
the edge graphs. The Trainer's `run_fn` is at the bottom.

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(image_bytes: string[N]) -> detection_boxes [N, K, 4] (ymin, xmin, ymax,
          xmax normalised), detection_scores [N, K], detection_classes [N, K] (int64 index into
          the class list; -1 pads), detection_class_names [N, K] ("" pads), num_detections [N]
      serving_examples(examples: string[N])   -> same outputs, from serialized tf.Examples
      transform_features(examples: string[N]) -> transformed features (image_xf, boxes_xf, ...)
  {uri}/Format-Keras/   the bare Keras detector on [N, H, W, C] float images in [0, 1] -> raw
                        head outputs [N, A, 4 + C]; `preprocessing.json` records the anchors and
                        the post-processing `edge_model` adds (so TFLite/ONNX have NMS inside).
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from pipelines import config_loader
from pipelines.detection import boxes as box_ops
from pipelines.detection import transform as det_transform
from pipelines.detection.config import AnchorConfig
from pipelines.detection.config import DetectionAugmentConfig
from pipelines.detection.config import DetectionConfig
from pipelines.detection.config import PostprocessConfig
from pipelines.detection.config import TrainConfig
from pipelines.vision import backbones
from pipelines.vision import distribute
from pipelines.vision import preprocessing
from pipelines.vision import serving
from pipelines.vision import training
from pipelines.vision import transform
from pipelines.vision.config import ImageConfig

RUN_FN = "pipelines.detection.model.run_fn"
OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
PRIOR_PROBABILITY = 0.01

# ---------------------------------------------------------------------------------------------
# Keras


def anchor_spec(image: ImageConfig, anchors: AnchorConfig) -> box_ops.AnchorSpec:
  return box_ops.AnchorSpec(image.height, image.width, tuple(anchors.strides), anchors.size,
                            tuple(anchors.scales), tuple(anchors.aspect_ratios))


def _conv_bn(x, filters: int, stride: int, name: str):
  x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                    name=f"{name}_conv")(x)
  x = layers.BatchNormalization(name=f"{name}_bn")(x)
  return layers.ReLU(name=f"{name}_relu")(x)


def small_backbone(inputs, width: int, strides: tuple[int, ...]) -> dict[int, tf.Tensor]:
  """Conv-BN-ReLU stages, each halving the resolution (stride 2 conv, then a 3x3 conv, except in
  the stem); filters `width` up to stride 4, then doubled per stage. Returns {stride: map}."""
  x, stride, features = inputs, 1, {}
  while stride < max(strides):
    stride *= 2
    filters = width * max(1, stride // 4)
    x = _conv_bn(x, filters, 2, f"s{stride}a")
    if stride > 2:  # the stem (stride 2) is one conv: the most expensive resolution
      x = _conv_bn(x, filters, 1, f"s{stride}b")
    features[stride] = x
  return {s: features[s] for s in strides}


MOBILENET_TAPS = {8: "block_6_expand_relu", 16: "block_13_expand_relu", 32: "out_relu"}


def mobilenet_features(inputs, image: ImageConfig, alpha: float,
                       strides: tuple[int, ...]) -> dict[int, tf.Tensor]:
  """MobileNetV2 (random init: nothing is downloaded) feature maps at strides 8, 16 and 32."""
  if min(strides) < 8 or min(image.height, image.width) < backbones.MOBILENET_MIN_SIZE:
    raise ValueError("the MobileNetV2 backbone needs anchor strides >= 8 and images >= 32 px")
  x = inputs
  if image.channels == 1:
    x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
  x = layers.Rescaling(2.0, offset=-1.0, name="to_mobilenet_range")(x)
  base = keras.applications.MobileNetV2(input_shape=(image.height, image.width, 3),
                                        include_top=False, weights=None, alpha=alpha)
  taps = keras.Model(base.input, [base.get_layer(MOBILENET_TAPS[s]).output for s in strides],
                     name="mobilenet_v2_taps")
  outs = taps(x)
  return dict(zip(strides, outs if isinstance(outs, list) else [outs]))


def build(image: ImageConfig, num_classes: int, train: TrainConfig) -> keras.Model:
  """[N, H, W, C] in [0, 1] -> raw outputs [N, A, 4 + num_classes] (box regression, class
  logits), anchors in `box_ops.anchors` order."""
  strides = tuple(train.anchors.strides)
  inputs = keras.Input((image.height, image.width, image.channels), name="image")
  if train.backbone == "small":
    features = small_backbone(inputs, train.width, strides)
  else:
    features = mobilenet_features(inputs, image, train.mobilenet_alpha, strides)
  head = 2 * train.width
  # A light feature pyramid: 1x1 laterals, top-down sums, a 3x3 conv per level.
  pyramid, above = {}, None
  for s in sorted(strides, reverse=True):
    x = layers.Conv2D(head, 1, name=f"lateral{s}")(features[s])
    if above is not None:
      x = layers.Add(name=f"topdown{s}")([x, layers.UpSampling2D(
          above_stride // s, name=f"up{s}")(above)])
    above, above_stride = x, s
    pyramid[s] = layers.Conv2D(head, 3, padding="same", activation="relu", name=f"p{s}")(x)
  per_cell = len(train.anchors.scales) * len(train.anchors.aspect_ratios)
  # Heads shared by every level (as in RetinaNet); the class bias starts at the prior.
  cls_convs = [layers.Conv2D(head, 3, padding="same", activation="relu", name=f"cls_conv{i}")
               for i in range(2)]
  box_convs = [layers.Conv2D(head, 3, padding="same", activation="relu", name=f"box_conv{i}")
               for i in range(2)]
  cls_out = layers.Conv2D(per_cell * num_classes, 3, padding="same", name="cls_logits",
                          bias_initializer=keras.initializers.Constant(
                              -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)))
  box_out = layers.Conv2D(per_cell * 4, 3, padding="same", name="box_deltas",
                          kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
  cls_all, box_all = [], []
  for s in strides:
    c, b = pyramid[s], pyramid[s]
    for conv in cls_convs:
      c = conv(c)
    for conv in box_convs:
      b = conv(b)
    cls_all.append(layers.Reshape((-1, num_classes), name=f"cls_flat{s}")(cls_out(c)))
    box_all.append(layers.Reshape((-1, 4), name=f"box_flat{s}")(box_out(b)))
  cls = layers.Concatenate(axis=1, name="cls")(cls_all) if len(strides) > 1 else cls_all[0]
  box = layers.Concatenate(axis=1, name="box")(box_all) if len(strides) > 1 else box_all[0]
  raw = layers.Concatenate(axis=-1, name="raw")([box, cls])
  return keras.Model(inputs, raw, name=f"detector_{train.backbone}")


class DetectionLoss(keras.losses.Loss):
  """Sigmoid focal loss over (anchor, class) pairs plus `box_weight` x Huber loss of positive
  anchors' box targets, per image, divided by the image's positive anchors (at least 1).
  y_true: [N, A, 5] = (box targets, anchor label: class id, NEGATIVE or IGNORE)."""

  def __init__(self, num_classes: int, alpha: float = 0.25, gamma: float = 2.0,
               box_weight: float = 1.0, name: str = "focal_huber"):
    super().__init__(name=name)
    self.num_classes, self.alpha, self.gamma, self.box_weight = (num_classes, alpha, gamma,
                                                                 box_weight)

  def call(self, y_true, y_pred):
    labels = y_true[..., 4]
    positive = tf.cast(labels >= 0, tf.float32)
    counted = tf.cast(labels > box_ops.IGNORE, tf.float32)
    logits = y_pred[..., 4:]
    onehot = tf.one_hot(tf.cast(tf.maximum(labels, 0), tf.int32), self.num_classes) * positive[
        ..., None]
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=onehot, logits=logits)
    p = tf.sigmoid(logits)
    p_t = onehot * p + (1 - onehot) * (1 - p)
    alpha_t = onehot * self.alpha + (1 - onehot) * (1 - self.alpha)
    # (1 - p_t) ** gamma has an infinite gradient at 0 for gamma < 1 (a saturated sigmoid gives
    # exactly 0 in float32: NaN); from 1e-6 up it is finite.
    modulating = tf.maximum(1 - p_t, 1e-6) ** self.gamma
    focal = tf.reduce_sum(alpha_t * modulating * ce, axis=-1) * counted
    diff = tf.abs(y_true[..., :4] - y_pred[..., :4])
    huber = tf.reduce_sum(tf.where(diff < 1.0, 0.5 * diff ** 2, diff - 0.5), axis=-1) * positive
    n = tf.maximum(tf.reduce_sum(positive, axis=1), 1.0)
    return (tf.reduce_sum(focal, axis=1) + self.box_weight * tf.reduce_sum(huber, axis=1)) / n

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes, "alpha": self.alpha,
            "gamma": self.gamma, "box_weight": self.box_weight}


class DetectionPostprocess(layers.Layer):
  """Raw outputs -> (boxes, scores, classes, num_detections): `box_ops.postprocess`."""

  def __init__(self, anchor_boxes: np.ndarray, num_classes: int, post: PostprocessConfig,
               **kwargs):
    super().__init__(**kwargs)
    self.anchor_boxes = np.asarray(anchor_boxes, np.float32)
    self.num_classes = num_classes
    self.post = post

  def call(self, raw):
    return list(box_ops.postprocess(
        raw, tf.constant(self.anchor_boxes), self.num_classes, self.post.score_threshold,
        self.post.iou_threshold, self.post.max_detections, self.post.pre_nms_top_k))


def bundle_metadata(image: ImageConfig, anchors: AnchorConfig, post: PostprocessConfig) -> dict:
  """What `preprocessing.json` of the Keras bundle records beyond the image preprocessing: the
  anchors and post-processing the edge models carry inside."""
  return {"output": "raw detector outputs [N, A, 4 + C]; the edge models add post-processing",
          "anchors": config_loader.to_dict(anchors),
          "postprocess": config_loader.to_dict(post),
          "edge_outputs": list(OUTPUTS)}


def edge_model(model: keras.Model, metadata: dict, batch_size: int | None = 1) -> keras.Model:
  """The raw detector with decoding and NMS inside: [N, H, W, C] -> detection_boxes [N, K, 4],
  detection_scores [N, K], detection_classes [N, K] (float class index, -1 pads),
  num_detections [N]. Edge models (what TFLite and ONNX export) take a batch of 1, as edge
  runtimes run; serving takes any batch (`batch_size` None)."""
  image = ImageConfig(metadata["height"], metadata["width"], metadata["channels"])
  anchors = config_loader.from_dict(AnchorConfig, metadata["anchors"], "anchors")
  post = config_loader.from_dict(PostprocessConfig, metadata["postprocess"], "postprocess")
  anchor_boxes = box_ops.anchors(anchor_spec(image, anchors))
  num_classes = int(model.output.shape[-1]) - 4
  inputs = keras.Input((image.height, image.width, image.channels), batch_size=batch_size,
                       name="image")
  outs = DetectionPostprocess(anchor_boxes, num_classes, post, name="postprocess")(
      model(inputs))
  named = [layers.Activation("linear", name=n)(t) for n, t in zip(OUTPUTS, outs)]
  return keras.Model(inputs, named, name="detector_with_nms")


# ---------------------------------------------------------------------------------------------
# Training data


def _window_transform(window: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
  """For `tf.image.crop_and_resize` of a [size] axis to [size] pixels over the normalised window
  (start, end): (offset, ratio) such that a pixel-edge coordinate u of the input (u = pixels /
  size, the boxes' convention) is (u - offset) / ratio in the output. crop_and_resize maps
  output pixel i to input pixel start * (size - 1) + i * ratio, hence the half-pixel terms."""
  ratio = window[1] - window[0]
  return (window[0] * (size - 1) + 0.5 * (1.0 - ratio)) / size, ratio


def _colour_jitter(image: tf.Tensor, strength: float) -> tf.Tensor:
  """Random brightness, contrast (and for RGB saturation and hue) of one image in [0, 1]."""
  image = tf.image.random_brightness(image, 0.5 * strength)
  image = tf.image.random_contrast(image, 1.0 - strength, 1.0 + strength)
  if image.shape[-1] == 3:
    image = tf.image.random_saturation(image, 1.0 - strength, 1.0 + strength)
    image = tf.image.random_hue(image, 0.25 * strength)
  return tf.clip_by_value(image, 0.0, 1.0)


def augment(image: tf.Tensor, gt_boxes: tf.Tensor, gt_classes: tf.Tensor,
            cfg: DetectionAugmentConfig) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Random geometry and colour of one image [H, W, C], its boxes [M, 4] moving with it.

  Geometry: a crop window of side 1 / s (s log-uniform in [1 / (1 + zoom), 1 + zoom]; s > 1
  zooms in) centred up to `shift` of the image away from the centre, resized back to H x W
  (zero outside the image), and an optional horizontal flip. A box left with under half its area
  inside is dropped (class -1); the others are clipped. Colour: `_colour_jitter`.
  """
  h, w = int(image.shape[0]), int(image.shape[1])
  if cfg.shift > 0 or cfg.zoom > 0:
    log_zoom = math.log1p(cfg.zoom)
    side = tf.exp(-tf.random.uniform([], -log_zoom, log_zoom))  # window side (normalised)
    centre = 0.5 + tf.random.uniform([2], -cfg.shift, cfg.shift)
    # Whole input pixels: without zoom the shift moves pixels exactly, as before.
    scale = tf.constant([max(h - 1, 1), max(w - 1, 1)], tf.float32)
    start = tf.round((centre - side / 2) * scale) / scale
    window = tf.stack([start[0], start[1], start[0] + side, start[1] + side])
    image = tf.image.crop_and_resize(image[tf.newaxis], window[tf.newaxis], [0], [h, w])[0]
    (oy, ry), (ox, rx) = (_window_transform(tf.stack([window[0], window[2]]), h),
                          _window_transform(tf.stack([window[1], window[3]]), w))
    moved = (gt_boxes - tf.stack([oy, ox, oy, ox])) / tf.stack([ry, rx, ry, rx])
    clipped = tf.clip_by_value(moved, 0.0, 1.0)
    area = lambda b: tf.maximum(b[:, 2] - b[:, 0], 0) * tf.maximum(b[:, 3] - b[:, 1], 0)
    kept = area(clipped) >= 0.5 * area(moved)
    gt_classes = tf.where(kept, gt_classes, -tf.ones_like(gt_classes))
    gt_boxes = clipped
  if cfg.flip:
    flip = tf.random.uniform([]) < 0.5
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    gt_boxes = tf.cond(flip, lambda: tf.stack(
        [gt_boxes[:, 0], 1 - gt_boxes[:, 3], gt_boxes[:, 2], 1 - gt_boxes[:, 1]], axis=1),
                       lambda: gt_boxes)
  if cfg.colour > 0:
    image = _colour_jitter(image, cfg.colour)
  return image, gt_boxes, gt_classes


def with_targets(ds: tf.data.Dataset, anchor_boxes: np.ndarray, anchors: AnchorConfig,
                 batch_size: int, augment_cfg: DetectionAugmentConfig | None = None
                 ) -> tf.data.Dataset:
  """(image, boxes [M, 4], classes [M]) examples -> (image, targets [A, 5]) batches."""
  anchor_t = tf.constant(anchor_boxes)

  def one(image, gt_boxes, gt_classes):
    if augment_cfg is not None:
      image, gt_boxes, gt_classes = augment(image, gt_boxes, gt_classes, augment_cfg)
    return image, box_ops.match(gt_boxes, gt_classes, anchor_t, anchors.positive_iou,
                                anchors.negative_iou)

  return ds.map(one, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)


def examples_dataset(file_pattern, data_accessor, tft_output, batch_size: int, shuffle: bool,
                     seed: int, shape: tuple[int, ...]) -> tf.data.Dataset:
  """Unbatched (image, boxes, box classes) of transformed examples (TFXIO; `shape`: one stored
  image's)."""
  from tfx_bsl.public import tfxio  # pylint: disable=g-import-not-at-top
  ds = data_accessor.tf_dataset_factory(
      file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1,
                                                   shuffle=shuffle, shuffle_seed=seed),
      tft_output.transformed_metadata.schema)
  image, boxes, classes = (transform.xf(k) for k in (
      transform.IMAGE_KEY, det_transform.BOXES_KEY, det_transform.BOX_CLASSES_KEY))
  ds = ds.map(lambda f: preprocessing.decoded(f, {image: shape}))
  return ds.map(lambda f: (f[image], f[boxes], f[classes])).unbatch()


def fit(model: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset,
        num_classes: int, train: TrainConfig, anchor_boxes: np.ndarray, num_examples: int,
        log_dir: str | None = None) -> dict:
  """Trains on (image, boxes, classes) examples; returns the Keras history."""
  train_b = with_targets(train_ds, anchor_boxes, train.anchors, train.batch_size, train.augment)
  eval_b = with_targets(eval_ds, anchor_boxes, train.anchors, train.batch_size)
  training.adapt_batch_norm(model, num_examples, train.batch_size, train.batch_norm_momentum)
  model.compile(optimizer=keras.optimizers.Adam(train.learning_rate, clipnorm=10.0),
                loss=DetectionLoss(num_classes, train.focal_alpha, train.focal_gamma,
                                   train.box_loss_weight))
  callbacks = training.callbacks(train.epochs, train.learning_rate, train.lr_schedule,
                                 train.early_stopping_patience, train.reduce_lr_patience,
                                 log_dir)
  steps = training.num_batches(num_examples, train.batch_size)
  return model.fit(**training.one_iterator(train_b, steps), validation_data=eval_b.cache(),
                   epochs=train.epochs, callbacks=callbacks, verbose=2).history


# ---------------------------------------------------------------------------------------------
# Serving


class DetectionServingModule(serving.ImageServingModule):
  """Serves the detector with decoding and NMS in the graph (the same `edge_model` the edge
  exports convert); adds class names."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               class_names: list[str], metadata: dict):
    super().__init__(model, tft_output)
    self.detector = serving.WeightsOnly(edge_model(model, metadata, batch_size=None))
    self.class_names = tf.constant(list(class_names) + [""])  # "" names padding
    self.padding_id = len(class_names)

  def outputs(self, images):
    boxes, scores, classes, num = self.detector(images, training=False)
    ids = tf.cast(tf.round(classes), tf.int64)
    names = tf.gather(self.class_names, tf.where(ids >= 0, ids, self.padding_id))
    return {"detection_boxes": boxes, "detection_scores": scores, "detection_classes": ids,
            "detection_class_names": names, "num_detections": num}


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains on transformed examples, exports serving + Keras models."""
  cfg = config_loader.from_dict(DetectionConfig, fn_args.custom_config["detection"])
  keras.utils.set_random_seed(cfg.train.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = det_transform.class_names(tft_output)
  anchor_boxes = box_ops.anchors(anchor_spec(cfg.image, cfg.train.anchors))
  read = lambda files, shuffle: examples_dataset(files, fn_args.data_accessor, tft_output,
                                                 cfg.train.batch_size, shuffle, cfg.train.seed,
                                                 transform.image_shape(cfg.image))
  logging.info("training a %s detector on %d classes %s with %d anchors", cfg.train.backbone,
               len(class_names), class_names, len(anchor_boxes))
  model = build(cfg.image, len(class_names), cfg.train)
  num_train = transform.count_examples(fn_args.train_files)
  # 64 px: 50 MB per 1,000 images in memory.
  train_ds = transform.reshuffled_in_memory(read(fn_args.train_files, False), num_train,
                                            cfg.train.seed)
  fit(model, train_ds, read(fn_args.eval_files, False), len(class_names), cfg.train,
      anchor_boxes, num_train, log_dir=fn_args.model_run_dir)
  metadata = {**transform.preprocessing_metadata(cfg.image),
              **bundle_metadata(cfg.image, cfg.train.anchors, cfg.postprocess)}
  DetectionServingModule(model, tft_output, class_names, metadata).save(
      fn_args.serving_model_dir, task="detection")
  keras_bundle.write(model, class_names, metadata,
                     os.path.join(os.path.dirname(fn_args.serving_model_dir),
                                  keras_bundle.KERAS_DIR))

