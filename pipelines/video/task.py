"""The video-classification task: what generic components and the CLI ask of it."""

from __future__ import annotations

import base64
from typing import Sequence

from components.common import contract
from components.common import edge_quality
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from components.image_ingest import video
from pipelines import datasets
from pipelines import tasks
from pipelines.video import config

# The embedded default: 600 seeded clips (100 per motion) of 16 frames at 32 px.
DEFAULT_CLIPS = 600

# What `cvpipe predict` sends for a video file: up to this many frames, evenly spread (the model
# picks its T of them).
PREDICT_FRAMES = 32


def default_data(out_dir: str) -> str:
  return datasets.write_moving_digits(out_dir, DEFAULT_CLIPS)


def frame_instances(rows: Sequence[dict]) -> list[dict]:
  """TF Serving REST instances: each clip's encoded frames as a list of {"b64": ...}."""
  return [{"frames": [{"b64": base64.b64encode(f).decode()} for f in r["frames"]]} for r in rows]


def row_from_file(path: str, data: bytes) -> dict | str:
  """A video file's frames, as ingest decodes them (evenly spread), or why it cannot be read."""
  clip = video.read_clip_bytes(data, path, video.VideoOptions(num_frames=PREDICT_FRAMES,
                                                              min_frames=1))
  if isinstance(clip, str):
    return clip
  return {"frames": [video.encode_png(f) for f in clip.frames], "source": path}


TASK = tasks.register(Task(
    name="video",
    module=__name__,
    summary="video classification: (2+1)D CNN or frame CNN + LSTM, TFMA accuracy gate",
    config=config.VideoConfig,
    load_config=config.load,
    pipeline="pipelines.video.pipeline.create_pipeline",
    preprocessing_fn="pipelines.video.transform.preprocessing_fn",
    run_fn="pipelines.video.model.run_fn",
    serving_module="pipelines.video.model.VideoServingModule",
    trainer_sections=("image", "train"),
    features={**contract.IMAGE_FEATURES, **video.VIDEO_EXTRA_FEATURES},
    readers=("video_folders", "video_manifest"),
    default_data=default_data,
    serving=ServingContract(
        outputs=("classes", "scores", "predicted_class", "predicted_score"), compare="scores",
        inputs={"frames": "string"}, argmax_agreement=True, instances=frame_instances,
        describe=contract.describe_class, row_from_file=row_from_file),
    edge=EdgeContract(quality=edge_quality.class_scores, quality_metric="accuracy",
                      agreement_metric="top1_agreement_with_keras", inputs=("frames_xf",)),
    evaluation=Evaluation(node="Evaluator", tfma_config="pipelines.video.pipeline.eval_config"),
    report_sections=("components.run_report.sections.confusion_matrix",
                     "pipelines.video.report.single_frame_baseline",
                     "pipelines.video.report.clip_predictions"),
))
