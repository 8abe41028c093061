"""Ingest readers are registered by name; the task's accepted readers pick one per source."""

import pytest

from components.image_ingest import ingest
from components.image_ingest import readers


def test_built_in_readers_and_detection():
  assert {"class_folders", "csv_manifest"} <= set(readers.names())
  assert readers.detect("gs://b/list.CSV") == "csv_manifest"
  assert readers.detect("/data/images") == "class_folders"
  assert readers.detect("/data/images", accepted=("class_folders",)) == "class_folders"
  with pytest.raises(ingest.IngestError, match=r"/m\.csv: no ingest reader of \['class_folders'\]"):
    readers.detect("/m.csv", accepted=("class_folders",))
  with pytest.raises(ingest.IngestError, match="unknown ingest reader 'no_such_format'"):
    readers.get("no_such_format")
  # A remote source is not probed: the task's first accepted reader reads it.
  assert readers.detect("gs://b/voc/", accepted=("coco_json", "voc_xml")) == "coco_json"


def test_a_new_reader_registers_without_touching_the_others(tmp_path):
  listed = [ingest.ImageSource(str(tmp_path / "a.png"), "x", "train"),
            ingest.ImageSource(str(tmp_path / "b.png"), "x", "eval")]
  reader = readers.Reader("fixed_list", lambda s: s.startswith("fixed:"),
                          lambda source, labels, train_percent, split_by: list(listed),
                          lambda source: [])
  readers.register(reader)
  try:
    assert readers.detect("fixed:anything") == "fixed_list"
    assert ingest.list_sources("fixed:anything", (), 80, reader="fixed_list") == listed
    with pytest.raises(ValueError, match="registered twice"):
      readers.register(reader)
  finally:
    readers._READERS.pop("fixed_list")


def test_reader_choice_reaches_the_ingest_parameters(tmp_path):
  from pipelines import runners
  import json
  path = runners.compile_task("classification", data="gs://b/list.csv",
                              output_file=str(tmp_path / "p.json"))
  params = json.load(open(path))["pipelineSpec"]["root"]["dag"]["tasks"]["ImageIngest"][
      "inputs"]["parameters"]
  assert params["reader"]["runtimeValue"]["constantValue"]["stringValue"] == "csv_manifest"
