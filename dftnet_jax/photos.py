"""Reading a person's photo: upright, RGB, and one error that names the file."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image
from PIL import ImageOps


def read_photo(path: str | os.PathLike) -> np.ndarray:
  """uint8 [H, W, 3] RGB, turned upright as the camera's EXIF tag says.

  Phones store a portrait as the sensor's landscape image plus an
  orientation tag saying how to turn it; read without the tag, the face
  lies on its side and the face detector finds none.

  Raises:
    OSError: naming `path`: the file is missing, not an image PIL can read,
      truncated, or over PIL's pixel limit (`Image.MAX_IMAGE_PIXELS`, its
      guard against decompression bombs).
  """
  try:
    with Image.open(path) as image:
      return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise OSError(f"cannot read {path} as an image: {e}") from e
