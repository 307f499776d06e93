"""data_tools/face_crop.read_photo: photos read upright, and errors that name the file."""

import numpy as np
from PIL import Image
import pytest

from dftnet_jax.data_tools import face_crop


def _asymmetric(height=6, width=10):
  """An image whose every turn and mirror differs from it."""
  image = np.zeros((height, width, 3), np.uint8)
  image[0, 0] = (255, 0, 0)
  image[1:3, 7] = (0, 255, 0)
  image[-1, 2:5] = (0, 0, 255)
  return image


@pytest.mark.parametrize("orientation, upright", [
    (1, lambda a: a),
    (3, lambda a: np.rot90(a, 2)),
    # 6: the camera was turned a quarter clockwise; shown turned back.
    (6, lambda a: np.rot90(a, -1)),
    (8, lambda a: np.rot90(a, 1)),
    (2, lambda a: a[:, ::-1]),
])
def test_photos_are_turned_as_their_exif_orientation_says(tmp_path, orientation, upright):
  stored = _asymmetric()
  exif = Image.Exif()
  exif[0x0112] = orientation  # the EXIF orientation tag
  path = tmp_path / "phone.png"
  Image.fromarray(stored).save(path, exif=exif)
  np.testing.assert_array_equal(face_crop.read_photo(path), upright(stored))


def test_a_grey_photo_comes_back_rgb(tmp_path):
  path = tmp_path / "grey.png"
  Image.fromarray(np.full((4, 5), 77, np.uint8)).save(path)
  np.testing.assert_array_equal(face_crop.read_photo(str(path)), np.full((4, 5, 3), 77, np.uint8))


def _truncated(tmp_path):
  path = tmp_path / "cut.png"
  Image.fromarray(_asymmetric(64, 64)).save(path)
  path.write_bytes(path.read_bytes()[:60])
  return path


def _text(tmp_path):
  path = tmp_path / "notes.jpg"
  path.write_text("not an image")
  return path


@pytest.mark.parametrize("make", [
    lambda tmp_path: tmp_path / "missing.jpg", _truncated, _text])
def test_unreadable_photos_raise_one_error_naming_the_file(tmp_path, make):
  path = make(tmp_path)
  with pytest.raises(OSError, match=f"cannot read {path} as an image"):
    face_crop.read_photo(path)


def test_a_photo_over_the_pixel_limit_is_an_unreadable_photo(tmp_path, monkeypatch):
  path = tmp_path / "huge.png"
  Image.fromarray(_asymmetric(40, 40)).save(path)
  # PIL refuses an image over twice its limit as a likely decompression bomb.
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
  with pytest.raises(OSError, match=f"cannot read {path} as an image.*decompression bomb"):
    face_crop.read_photo(path)
