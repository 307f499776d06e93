"""GANimation's prepared folder: its names, its id rules, per-example checks.

The EmotioNet builder and the preparation tools share these functions, so a
folder the tools write is exactly what the builder accepts, and bad data is
reported the same way by both: a `DataError` naming the file and the id, or,
with `skip_bad`, a skip counted in one log line.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
import dataclasses
import io
from typing import Any

from absl import logging
from etils import epath
import numpy as np
from PIL import Image

from dftnet_jax import aus
from dftnet_jax.datasets import safe_pickle

IMAGES_DIR = "imgs"
AUS_FILE = "aus_openface.pkl"
ID_FILES = {"train": "train_ids.csv", "test": "test_ids.csv"}
# GANimation names every image `<id>.jpg`; its id lists carry the suffix.
IMAGE_SUFFIX = ".jpg"
# Formats accepted in folders of arbitrary images (photos, OpenFace inputs).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

AusLookup = Callable[[str], np.ndarray]


class DataError(ValueError):
  """One example is unusable; with `skip_bad` it is skipped and counted."""

  def __init__(self, message: str, reason: str):
    super().__init__(message)
    self.reason = reason  # A short category for the skip count.


@dataclasses.dataclass(frozen=True)
class Example:
  """One checked example.

  Attributes:
    id: the file name without suffix.
    image_path: where the image was read.
    image: uint8 [S, S, 3], RGB, as PIL decodes the file.
    image_format: PIL's name for the file's format, e.g. "JPEG".
    raw_aus: float64 [17], OpenFace intensities in [0, 5], in `aus` order.
  """

  id: str
  image_path: epath.Path
  image: np.ndarray
  image_format: str
  raw_aus: np.ndarray

  @property
  def aus(self) -> np.ndarray:
    """float32 [17] in [0, 1]: the model's scale."""
    return (self.raw_aus / aus.OPENFACE_MAX_INTENSITY).astype(np.float32)


def check_id(example_id: str, where: str) -> str:
  """Refuses ids that could name a file outside the folder they index."""
  if (example_id in ("", ".", "..")
      or any(c in example_id for c in "/\\\0")):
    raise ValueError(
        f"{where}: refusing id {example_id!r}: an id is a file name without"
        " folders")
  return example_id


def read_ids(path: epath.PathLike) -> list[str]:
  """Ids from a GANimation id list (one `<id>.jpg` per line).

  Raises:
    ValueError: an id would leave the folder or is listed twice.
  """
  path = epath.Path(path)
  ids: list[str] = []
  seen: set[str] = set()
  for line_no, line in enumerate(path.read_text().splitlines(), start=1):
    if not line.strip():
      continue
    where = f"{path}:{line_no}"
    example_id = check_id(line.strip().removesuffix(IMAGE_SUFFIX), where)
    if example_id in seen:
      raise ValueError(f"{where}: id {example_id!r} is listed twice")
    seen.add(example_id)
    ids.append(example_id)
  return ids


def format_ids(ids: Iterable[str]) -> str:
  """The inverse of `read_ids`: GANimation's id-list text."""
  return "".join(f"{example_id}{IMAGE_SUFFIX}\n" for example_id in ids)


def list_images(folder: epath.PathLike) -> list[tuple[str, epath.Path]]:
  """(id, path) for each image in `folder`, sorted; the id is the stem.

  Raises:
    NotADirectoryError: `folder` is not a folder.
    ValueError: two images share a stem (their outputs would collide).
  """
  if not epath.Path(folder).is_dir():
    raise NotADirectoryError(f"{folder} is not a folder of images")
  found: dict[str, epath.Path] = {}
  for path in sorted(epath.Path(folder).iterdir()):
    if path.suffix.lower() not in IMAGE_SUFFIXES:
      continue
    example_id = check_id(path.stem, str(path))
    if example_id in found:
      raise ValueError(
          f"{found[example_id]} and {path} share the id {example_id!r}")
    found[example_id] = path
  return list(found.items())


def split_ids(ids: Iterable[str], test_fraction: float,
              seed: int) -> dict[str, list[str]]:
  """A seeded train/test split; each list sorted, the same for the same ids."""
  if not 0.0 <= test_fraction < 1.0:
    raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
  ordered = sorted(ids)
  order = np.random.default_rng(seed).permutation(len(ordered))
  num_test = round(len(ordered) * test_fraction)
  test = {ordered[i] for i in order[:num_test]}
  return {"train": [i for i in ordered if i not in test],
          "test": [i for i in ordered if i in test]}


def check_raw_aus(raw: Any, where: str) -> np.ndarray:
  """Raw OpenFace intensities as float64 [17], checked to lie in [0, 5]."""
  try:
    arr = np.asarray(raw, dtype=np.float64)
  except (TypeError, ValueError):
    raise DataError(f"{where}: AUs are not numbers: {raw!r}",
                    "AUs not numbers") from None
  if arr.shape != (aus.NUM_AUS,):
    raise DataError(
        f"{where}: expected {aus.NUM_AUS} AU intensities"
        f" ({', '.join(aus.AU_NAMES)}), got shape {arr.shape}",
        "wrong AU count")
  if not np.all(np.isfinite(arr)):
    raise DataError(f"{where}: AUs contain NaN or infinite values",
                    "non-finite AUs")
  if arr.min() < 0.0 or arr.max() > aus.OPENFACE_MAX_INTENSITY:
    raise DataError(
        f"{where}: AU intensities must lie in [0,"
        f" {aus.OPENFACE_MAX_INTENSITY:g}] (OpenFace's scale), got values in"
        f" [{arr.min():g}, {arr.max():g}]", "AUs out of range")
  return arr


def pickle_lookup(path: epath.PathLike) -> AusLookup:
  """AUs by id from GANimation's `aus_openface.pkl`, loaded without code."""
  path = epath.Path(path)
  table = safe_pickle.load(path)
  if not isinstance(table, dict):
    raise ValueError(
        f"{path}: expected a dict id -> AU intensities, got a"
        f" {type(table).__name__}")

  def lookup(example_id: str) -> np.ndarray:
    where = f"{path} (id {example_id!r})"
    if example_id not in table:
      raise DataError(f"{where}: the id is listed but has no AUs",
                      "missing AUs")
    return check_raw_aus(table[example_id], where)

  return lookup


def read_image(path: epath.Path, example_id: str,
               image_size: int) -> tuple[np.ndarray, str]:
  """Decodes a square RGB image with PIL; returns it and its format."""
  where = f"{path} (id {example_id!r})"
  try:
    data = path.read_bytes()
  except FileNotFoundError:
    raise DataError(f"{where}: the image does not exist",
                    "missing image") from None
  try:
    with Image.open(io.BytesIO(data)) as img:
      img.load()
      image_format, mode, pixels = img.format, img.mode, np.asarray(img)
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise DataError(f"{where}: unreadable or truncated image: {e}",
                    "unreadable image") from None
  if mode != "RGB":
    raise DataError(f"{where}: expected a 3-channel RGB image, got mode {mode}",
                    "not RGB")
  if pixels.shape[:2] != (image_size, image_size):
    raise DataError(
        f"{where}: expected {image_size}x{image_size} pixels, got"
        f" {pixels.shape[1]}x{pixels.shape[0]} (crop_faces makes such crops)",
        "wrong image size")
  return pixels, image_format


def iter_examples(entries: Iterable[tuple[str, epath.Path]],
                  lookup: AusLookup, *, image_size: int, skip_bad: bool,
                  what: str) -> Iterator[Example]:
  """Reads and checks each (id, image path); AUs come from `lookup(id)`.

  Args:
    entries: (id, image path) pairs.
    lookup: the raw AUs of an id, raising `DataError` when it has none.
    image_size: the side every image must have.
    skip_bad: skip bad examples instead of raising; they are counted in one
      warning at the end, so nothing is dropped silently.
    what: names the split in that warning, e.g. "emotionet/ganimation train".

  Yields:
    The good examples, in order.

  Raises:
    DataError: a bad example when `skip_bad` is False.
  """
  skipped: collections.Counter[str] = collections.Counter()
  first_error = ""
  total = 0
  for example_id, image_path in entries:
    total += 1
    try:
      raw_aus = lookup(example_id)
      image, image_format = read_image(image_path, example_id, image_size)
    except DataError as e:
      if not skip_bad:
        raise
      skipped[e.reason] += 1
      first_error = first_error or str(e)
      continue
    yield Example(example_id, image_path, image, image_format, raw_aus)
  if skipped:
    logging.warning(
        "%s: skipped %d of %d examples (%s); the first: %s", what,
        sum(skipped.values()), total,
        ", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items())),
        first_error)
