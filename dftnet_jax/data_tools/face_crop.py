"""Reading a photo, finding a face in it and cutting out a centred square crop.

Detection uses the frontal-face Haar cascade bundled with OpenCV (the optional
`data` extra, imported only when needed). Boxes are squares in the photo's
pixel coordinates, so a caller that edits a crop can paste it back over
`image[box.top:box.top + box.size, box.left:box.left + box.size]` after
resizing it to `box.size`. Crops are centred and scaled, not rotated: the
cascade finds no landmarks to align with.
"""

from __future__ import annotations

import functools
import os
from typing import Any, NamedTuple

import numpy as np
from PIL import Image
from PIL import ImageOps

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# The cascade's box runs from the brows to the mouth; widen it so the crop
# holds the whole face with a little hair and chin, like GANimation's crops.
DEFAULT_MARGIN = 0.2


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


class Box(NamedTuple):
  """A square in pixel coordinates; it may reach beyond the photo."""

  left: int
  top: int
  size: int


def _cv2() -> Any:
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "face detection needs OpenCV: pip install 'dftnet_jax[data]'"
        " (or pip install 'opencv-python-headless<5')") from e
  return cv2


@functools.cache
def _cascade() -> Any:
  cv2 = _cv2()
  cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
  if cascade.empty():
    raise FileNotFoundError(
        f"OpenCV has no {CASCADE_FILE} in {cv2.data.haarcascades}; install"
        " opencv-python-headless<5, whose wheels bundle it")
  return cascade


def detect_faces(image: np.ndarray, *,
                 margin: float = DEFAULT_MARGIN) -> list[Box]:
  """Square crop boxes around the frontal faces in a photo, largest first.

  Args:
    image: uint8 [H, W, 3] RGB.
    margin: how far each box extends past the detection, as a fraction of
      its side, on every side.

  Returns:
    One box per face, centred on the detection; empty when there is none.
  """
  cv2 = _cv2()
  gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
  # Faces under 1/20 of the photo are background people, not the subject.
  least = max(24, min(gray.shape) // 20)
  found = _cascade().detectMultiScale(
      gray, scaleFactor=1.1, minNeighbors=5, minSize=(least, least))
  boxes = []
  for x, y, w, h in found:
    side = round(max(w, h) * (1.0 + 2.0 * margin))
    boxes.append(Box(left=round(x + w / 2 - side / 2),
                     top=round(y + h / 2 - side / 2), size=side))
  return sorted(boxes, key=lambda box: box.size, reverse=True)


def detect_face(image: np.ndarray, *,
                margin: float = DEFAULT_MARGIN) -> Box | None:
  """The largest face's crop box (see `detect_faces`), or None."""
  boxes = detect_faces(image, margin=margin)
  return boxes[0] if boxes else None


def crop_face(image: np.ndarray, box: Box, size: int) -> np.ndarray:
  """The box's square of `image`, resized to uint8 [size, size, 3].

  Where the box reaches beyond the photo the edge pixels are repeated, so a
  face near the border stays centred.
  """
  height, width = image.shape[:2]
  top, left, side = box.top, box.left, box.size
  y0, y1 = np.clip([top, top + side], 0, height)
  x0, x1 = np.clip([left, left + side], 0, width)
  if y0 >= y1 or x0 >= x1:
    raise ValueError(f"{box} lies outside the {width}x{height} image")
  patch = np.pad(image[y0:y1, x0:x1],
                 ((y0 - top, top + side - y1), (x0 - left, left + side - x1),
                  (0, 0)), mode="edge")
  return np.asarray(Image.fromarray(patch).resize(
      (size, size), Image.Resampling.LANCZOS))
