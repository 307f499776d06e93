"""Writing files so that an interrupted run never leaves a partial one."""

from __future__ import annotations

import io
import os
import pathlib
import tempfile

import numpy as np
from PIL import Image

JPEG_QUALITY = 95  # Crops are small; keep the detail the model should learn.


def atomic_write(path: os.PathLike[str] | str, data: bytes) -> None:
  """Writes a temporary file beside `path`, syncs it, then renames it over.

  A run killed at any moment leaves either the old file or the new one.
  """
  path = pathlib.Path(path)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                             suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def encode_jpeg(image: np.ndarray) -> bytes:
  """JPEG bytes of a uint8 [H, W, 3] RGB image."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
  return buffer.getvalue()
