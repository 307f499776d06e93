"""Writing files and folders so that an interrupted run never leaves a
partial one."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import functools
import io
import os
import pathlib
import shutil
import tempfile

import numpy as np
from PIL import Image

JPEG_QUALITY = 95  # Crops are small; keep the detail the model should learn.


def atomic_write(path: os.PathLike[str] | str, data: bytes) -> None:
  """Writes a temporary file beside `path`, syncs it, then renames it over.

  A run killed at any moment leaves either the old file or the new one. The
  file gets the permissions a plain `open` would give it (the temporary
  file starts private).
  """
  path = pathlib.Path(path)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                             suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      os.fchmod(f.fileno(), 0o666 & ~_umask())
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


@contextlib.contextmanager
def output_folder(path: os.PathLike[str] | str) -> Iterator[pathlib.Path]:
  """A temporary folder beside `path` that becomes `path` when the block
  ends, and is removed if it raises: a tool stopped by a bad example, an
  error or Ctrl-C leaves no half-filled output for the next step to read.

  Raises:
    FileExistsError: `path` exists and is not an empty folder (before
      anything is written).
  """
  path = pathlib.Path(path)
  if path.exists() and (not path.is_dir() or any(path.iterdir())):
    raise FileExistsError(f"{path} already exists and is not an empty folder: choose a new"
                          f" output folder or remove it")
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-"))
  try:
    yield partial
  except BaseException:
    shutil.rmtree(partial)
    raise
  if path.exists():
    path.rmdir()
  partial.chmod(0o777 & ~_umask())
  os.replace(partial, path)


@functools.cache
def _umask() -> int:
  """The process's umask, read once: reading it means setting it for a
  moment, under any threads writing files beside."""
  mask = os.umask(0)
  os.umask(mask)
  return mask


def image_format(path: os.PathLike[str] | str) -> str:
  """The image format PIL writes for `path`'s extension.

  Raises:
    ValueError: the extension names none (PIL's own error names no path).
  """
  extension = pathlib.Path(path).suffix.lower()
  found = Image.registered_extensions().get(extension)
  if found is None:
    raise ValueError(f"{path}: the file name needs an image extension such as .png or .jpg"
                     f" (got {extension or 'none'!r})")
  return found


def write_image(path: os.PathLike[str] | str, image: np.ndarray) -> None:
  """Saves a uint8 [H, W, 3] image in the format its extension names, whole
  or not at all (`atomic_write`)."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=image_format(path))
  atomic_write(path, buffer.getvalue())


def encode_jpeg(image: np.ndarray) -> bytes:
  """JPEG bytes of a uint8 [H, W, 3] RGB image."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
  return buffer.getvalue()
