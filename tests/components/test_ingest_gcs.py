"""Ingest reads gs:// folders and manifests through Beam's filesystems (gcp-storage-emulator)."""

import cv2

from components.image_ingest import ingest
from pipelines.infra import local_pipeline
from tests.conftest import digit_images


def _upload(client, bucket_name, prefix, images_by_class):
  bucket = client.bucket(bucket_name)
  names = []
  for label, images in images_by_class.items():
    for i, image in enumerate(images):
      name = f"{prefix}/{label}/{i:03d}.png"
      bucket.blob(name).upload_from_string(cv2.imencode(".png", image)[1].tobytes())
      names.append((name, label))
  return names


def test_gs_folder_and_manifest(gcs_emulator, tmp_path):
  gcs_emulator.create_bucket("images")
  names = _upload(gcs_emulator, "images", "digits", digit_images(classes=(0, 7), per_class=10))
  gcs_emulator.bucket("images").blob("digits/7/empty.png").upload_from_string(b"")

  sources = ingest.list_sources("gs://images/digits", (), 70)
  assert len(sources) == 21 and all(s.path.startswith("gs://images/digits/") for s in sources)
  summary = ingest.run_ingest(local_pipeline(), "gs://images/digits", str(tmp_path / "folder"),
                              train_percent=70)
  assert sum(summary["examples"].values()) == 20
  assert summary["quarantine_reasons"] == {"empty file": 1}

  manifest = "\n".join(["path,label,split"] + [
      f"{name.split('/', 1)[1]},{label},{'eval' if i % 5 == 0 else 'train'}"
      for i, (name, label) in enumerate(names)])
  gcs_emulator.bucket("images").blob("digits/manifest.csv").upload_from_string(manifest)
  summary = ingest.run_ingest(local_pipeline(), "gs://images/digits/manifest.csv",
                              str(tmp_path / "manifest"))
  assert summary["examples"] == {"train": 16, "eval": 4}
  assert ingest.input_fingerprint("gs://images/digits/manifest.csv")
