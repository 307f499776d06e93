"""The preparation tools: face crops, OpenFace conversion, atomic writes."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import emotionet_testdata as td
import numpy as np
from PIL import Image
import pytest

from dftnet_jax import files
from dftnet_jax.data_tools import crop_faces
from dftnet_jax.data_tools import face_crop
from dftnet_jax.data_tools import openface_to_ganimation
from dftnet_jax.datasets import layout
from dftnet_jax.datasets import safe_pickle

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_tool(tool: str, *args: str) -> subprocess.CompletedProcess:
  """`python -m dftnet_jax.data_tools.<tool> <args>`, as a user runs it."""
  return subprocess.run([sys.executable, "-m", f"dftnet_jax.data_tools.{tool}", *args],
                        cwd=REPO, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.parametrize("tool", ["crop_faces", "openface_to_ganimation"])
def test_help(tool):
  result = run_tool(tool, "--help")  # absl's --help exits with status 1
  assert "--output_dir: " in result.stdout, result.stderr


def _gradient_photo(height: int = 90, width: int = 120) -> np.ndarray:
  y, x = np.mgrid[:height, :width]
  return np.stack([x * 2, y * 2, x + y], axis=-1).astype(np.uint8)


def test_crop_faces_reports_photos_without_a_face(tmp_path):
  pytest.importorskip("cv2")
  (tmp_path / "photos").mkdir()
  Image.fromarray(_gradient_photo()).save(tmp_path / "photos" / "wall.png")
  result = run_tool("crop_faces", "--input_dir", str(tmp_path / "photos"),
                    "--output_dir", str(tmp_path / "crops"))
  assert result.returncode == 0, result.stderr
  out = result.stdout
  assert "no face: " in out and "wall.png" in out
  assert "cropped 0 of 1 photos" in out
  assert not list((tmp_path / "crops").iterdir())


def test_crop_faces_keeps_the_largest_of_several_faces(tmp_path, capsys,
                                                       monkeypatch):
  (tmp_path / "photos").mkdir()
  photo = _gradient_photo()
  Image.fromarray(photo).save(tmp_path / "photos" / "group.png")
  big, small = face_crop.Box(10, 5, 64), face_crop.Box(80, 40, 20)
  monkeypatch.setattr(face_crop, "detect_faces",
                      lambda image, margin: [big, small])
  outcomes = crop_faces.crop_folder(tmp_path / "photos", tmp_path / "crops", size=64,
                                    margin=face_crop.DEFAULT_MARGIN)
  assert outcomes["several faces"] == ["group.png"]
  assert "2 faces in" in capsys.readouterr().out
  crop = td.decode(tmp_path / "crops" / "group.jpg")
  expected = photo[5:69, 10:74]
  assert crop.shape == (64, 64, 3)
  assert np.abs(crop.astype(int) - expected).mean() < 2  # JPEG's loss only


def test_detect_face_finds_none_in_a_blank_photo():
  pytest.importorskip("cv2")
  assert face_crop.detect_face(_gradient_photo()) is None


def test_detect_face_centres_a_rendered_face():
  """A synthetic face (main's renderer) pasted into a flat photo is found."""
  pytest.importorskip("cv2")
  renderer = pytest.importorskip("dftnet_jax.faces")
  expressions = pytest.importorskip("dftnet_jax.expressions")
  rng = np.random.default_rng(0)
  face = renderer.render(renderer.sample_identity(rng),
                         expressions.sample_aus(rng), 256)
  photo = np.full((480, 640, 3), 120, np.uint8)
  photo[100:356, 300:556] = face
  box = face_crop.detect_face(photo)
  assert box is not None
  centre = (box.left + box.size / 2, box.top + box.size / 2)
  assert abs(centre[0] - 428) < 20 and abs(centre[1] - 228) < 20
  assert 200 < box.size < 320


def test_detection_without_opencv_says_what_to_install(monkeypatch):
  monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` fail
  with pytest.raises(ImportError, match="opencv-python-headless"):
    face_crop.detect_faces(_gradient_photo())


def test_crop_face_inside_the_photo_is_the_box():
  photo = _gradient_photo()
  np.testing.assert_array_equal(
      face_crop.crop_face(photo, face_crop.Box(left=7, top=3, size=40), 40),
      photo[3:43, 7:47])


def test_crop_face_repeats_edge_pixels_beyond_the_photo():
  photo = _gradient_photo()
  crop = face_crop.crop_face(photo, face_crop.Box(left=-5, top=80, size=20), 20)
  np.testing.assert_array_equal(crop[:10, 5:], photo[80:90, :15])
  np.testing.assert_array_equal(crop[10:, 5:], np.broadcast_to(
      photo[89, :15], (10, 15, 3)))
  np.testing.assert_array_equal(crop[:, :5], np.repeat(crop[:, 5:6], 5, 1))


def test_crop_face_resizes():
  crop = face_crop.crop_face(_gradient_photo(), face_crop.Box(0, 0, 80), 32)
  assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8


@pytest.mark.parametrize("one_csv", [False, True])
def test_converter_output_reads_back_like_the_openface_build(tmp_path,
                                                             one_csv):
  raw = td.write_openface(tmp_path / "manual", one_csv=one_csv)
  csv = ["--csv_file", str(tmp_path / "manual" / "openface.csv")] if one_csv \
      else ["--csv_dir", str(tmp_path / "manual" / "openface")]
  result = run_tool("openface_to_ganimation", "--images_dir", str(tmp_path / "manual" / "imgs"),
                    *csv, "--output_dir", str(tmp_path / "prepared"), "--image_size",
                    str(td.SIZE), "--test_fraction", "0.25", "--seed", "3")
  assert result.returncode == 0, result.stderr
  assert not list(tmp_path.glob("prepared/**/.*.tmp"))
  for name in ("img000.jpg", "img007.jpg"):  # JPEGs are copied unchanged
    assert (tmp_path / "prepared" / "imgs" / name).read_bytes() == (
        tmp_path / "manual" / "imgs" / name).read_bytes()
  table = safe_pickle.load(tmp_path / "prepared" / layout.AUS_FILE)
  assert sorted(table) == sorted(raw)
  for example_id, au in table.items():
    np.testing.assert_array_equal(au, raw[example_id])
  converted = td.build(tmp_path / "prepared", tmp_path / "data")
  direct = td.build(tmp_path / "manual", tmp_path / "data", "openface",
                    test_fraction=0.25, split_seed=3)
  for split in ("train", "test"):
    a, b = td.read_split(converted, split), td.read_split(direct, split)
    assert sorted(a) == sorted(b)
    for example_id in a:
      np.testing.assert_array_equal(a[example_id][0], b[example_id][0])
      np.testing.assert_array_equal(a[example_id][1], b[example_id][1])


def test_converter_reencodes_other_formats_as_jpeg(tmp_path):
  raw = td.write_openface(tmp_path / "manual", num=3)
  jpeg = tmp_path / "manual" / "imgs" / "img000.jpg"
  Image.open(jpeg).save(jpeg.with_suffix(".png"))
  jpeg.unlink()
  openface_to_ganimation.convert(
      tmp_path / "manual" / "imgs", tmp_path / "manual" / "openface",
      tmp_path / "prepared", image_size=td.SIZE, test_fraction=0.0, seed=0,
      skip_bad=False)
  out = tmp_path / "prepared" / "imgs" / "img000.jpg"
  assert Image.open(out).format == "JPEG"
  assert layout.read_ids(tmp_path / "prepared" / "train_ids.csv") == sorted(
      raw)


def test_converter_stops_at_bad_data_unless_told_to_skip(tmp_path):
  td.write_openface(tmp_path / "manual", num=4)
  (tmp_path / "manual" / "openface" / "img002.csv").unlink()
  args = ["--images_dir", str(tmp_path / "manual" / "imgs"), "--csv_dir",
          str(tmp_path / "manual" / "openface"), "--image_size", str(td.SIZE),
          "--output_dir", str(tmp_path / "prepared")]
  stopped = run_tool("openface_to_ganimation", *args)
  assert stopped.returncode == 1
  assert "img002" in stopped.stderr and "--skip_bad leaves such examples out" in stopped.stderr
  assert not (tmp_path / "prepared" / layout.AUS_FILE).exists()
  skipped = run_tool("openface_to_ganimation", *args, "--skip_bad")
  assert skipped.returncode == 0, skipped.stderr
  table = safe_pickle.load(tmp_path / "prepared" / layout.AUS_FILE)
  assert sorted(table) == ["img000", "img001", "img003"]


def test_atomic_write_gives_the_permissions_a_plain_open_gives(tmp_path):
  (tmp_path / "plain").write_bytes(b"x")
  files.atomic_write(tmp_path / "atomic", b"x")
  assert (tmp_path / "atomic").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_write_image_round_trips_whole_or_not_at_all(tmp_path, monkeypatch):
  image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
  files.write_image(tmp_path / "a.png", image)
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), image)
  with pytest.raises(ValueError, match=r"b\.unknown: the file name needs an image extension"):
    files.write_image(tmp_path / "b.unknown", image)

  def interrupted(src, dst):
    raise KeyboardInterrupt

  monkeypatch.setattr(os, "replace", interrupted)
  with pytest.raises(KeyboardInterrupt):
    files.write_image(tmp_path / "a.png", np.zeros_like(image))
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), image)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path,
                                                         monkeypatch):
  target = tmp_path / "aus_openface.pkl"
  target.write_bytes(b"old")

  def interrupted(src, dst):
    raise KeyboardInterrupt

  monkeypatch.setattr(os, "replace", interrupted)
  with pytest.raises(KeyboardInterrupt):
    files.atomic_write(target, b"new")
  assert target.read_bytes() == b"old"
  assert [p.name for p in tmp_path.iterdir()] == [target.name]
