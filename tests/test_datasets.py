"""The scene generator behind the detection/segmentation defaults and benchmarks."""

import numpy as np
import pytest
from pipelines import datasets


def _scene(opaque: bool):
  sprite = np.zeros((8, 8), np.float32)
  sprite[2:6, 2:6] = 0.3  # a dark object: its grey level is shading, or 30 % ink coverage
  background = np.full((64, 64, 3), 200, np.uint8)  # bright: the object is painted dark
  return datasets.compose_scene(np.random.default_rng(0), [background], sprite[None],
                                np.array([4]), 32, count=(1, 1), scale=(0.5, 0.5),
                                opaque=opaque)


def test_an_opaque_object_is_painted_over_its_whole_silhouette_and_masked_exactly():
  image, mask, instances = _scene(opaque=True)
  inside = mask == 5
  # 16 px square of an 8 px sprite whose object is its middle half: an 8x8 silhouette.
  assert inside.sum() == 64 and set(np.unique(mask)) == {0, 5}
  assert image[inside].max() <= 60 and (image[~inside] == 200).all()
  (instance,) = instances
  x0, y0, x1, y1 = instance["box"]
  assert (x1 - x0, y1 - y0) == (8, 8) and instance["pixels"] == 64
  assert inside[y0:y1, x0:x1].all()


def test_coverage_paste_blends_by_the_sprite_and_masks_only_majority_ink():
  image, mask, instances = _scene(opaque=False)
  assert not mask.any() and not instances  # 30 % ink is under the half that makes a mask pixel
  assert (image < 200).any()  # but it is drawn, blended with the photo


def test_digit_scenes_of_some_digits_name_only_those_classes(tmp_path):
  import cv2  # pylint: disable=import-outside-toplevel
  root = datasets.write_digit_scenes(str(tmp_path), count=6, size=24, seed=1, digits=(0, 7))
  assert root.endswith("-07")
  classes = (tmp_path / root / "classes.txt").read_text().split()
  assert classes == ["background", "0", "7"]
  masks = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in (tmp_path / root / "masks").glob("*")]
  assert len(masks) == 6 and set(np.unique(np.concatenate([m.ravel() for m in masks]))) <= {0, 1, 2}
  with pytest.raises(ValueError, match="ascending"):
    datasets.write_digit_scenes(str(tmp_path), count=6, size=24, digits=(7, 0))
