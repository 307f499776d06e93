"""OpenFace 2 CSVs: each image's 17 AU intensities, found by column name.

OpenFace separates columns with ", " (so names carry a leading space) and its
column set depends on its flags, so columns are found by stripped name
(`aus.openface_column`), never by position; all other columns are ignored.
Rows whose `success` is 0 are failed detections and are ignored; image mode
(FaceLandmarkImg) writes no `success` column, and there every row is a face.
An image must have exactly one face: a second face leaves it ambiguous which
one the AUs describe.

Two layouts are read, both keyed by image id (the file name without suffix):
- a folder with one CSV per image, `<id>.csv`, as `FaceLandmarkImg -fdir imgs
  -out_dir openface` writes it;
- one CSV for all images with a `filename` column naming each row's image (a
  leading folder is ignored). OpenFace's sequence mode numbers rows by `frame`
  only; add the column to map frames to files.
"""

from __future__ import annotations

import collections
import csv
import io
import posixpath

from etils import epath
import numpy as np

from dftnet_jax import aus
from dftnet_jax.datasets import layout

FILENAME_COLUMN = "filename"
SUCCESS_COLUMN = "success"

_Row = tuple[int, list[str]]  # (line number, cells)


def _read_table(path: epath.Path) -> tuple[list[str], list[_Row]]:
  """The stripped header and the non-empty rows with their line numbers."""
  reader = csv.reader(io.StringIO(path.read_text()), skipinitialspace=True)
  rows = list(reader)
  header = [name.strip() for name in rows[0]] if rows else []
  return header, [(n, row) for n, row in enumerate(rows[1:], start=2) if row]


def _au_columns(header: list[str], where: str) -> list[int]:
  """Positions of the 17 AU intensity columns in `header`."""
  names = [aus.openface_column(k) for k in range(aus.NUM_AUS)]
  missing = [name for name in names if name not in header]
  if missing:
    raise layout.DataError(
        f"{where}: no AU intensity column(s) {', '.join(missing)}; run"
        " OpenFace with -aus", "no AU columns")
  return [header.index(name) for name in names]


def _numbers(row: list[str], columns: list[int], where: str) -> list[float]:
  try:
    return [float(row[c]) for c in columns]
  except (ValueError, IndexError) as e:
    raise layout.DataError(f"{where}: unreadable row: {e}",
                           "unreadable OpenFace row") from None


def _one_face(path: epath.Path, example_id: str, header: list[str],
              rows: list[_Row]) -> np.ndarray:
  """The raw AUs of the single successful face among `rows`."""
  columns = _au_columns(header, f"{path} (id {example_id!r})")
  success = ([header.index(SUCCESS_COLUMN)] if SUCCESS_COLUMN in header
             else [])
  faces = [(n, row) for n, row in rows
           if not success
           or _numbers(row, success, f"{path}:{n} (id {example_id!r})")[0]]
  if not faces:
    raise layout.DataError(
        f"{path} (id {example_id!r}): OpenFace found no face in the image",
        "no face")
  if len(faces) > 1:
    raise layout.DataError(
        f"{path} (id {example_id!r}): OpenFace found {len(faces)} faces"
        f" (lines {', '.join(str(n) for n, _ in faces)}); crop to one face",
        "several faces")
  line_no, row = faces[0]
  where = f"{path}:{line_no} (id {example_id!r})"
  return layout.check_raw_aus(_numbers(row, columns, where), where)


def _csv_per_image(folder: epath.Path) -> layout.AusLookup:
  def lookup(example_id: str) -> np.ndarray:
    path = folder / f"{example_id}.csv"
    if not path.exists():
      raise layout.DataError(
          f"{path} (id {example_id!r}): no OpenFace CSV for the image",
          "missing AUs")
    return _one_face(path, example_id, *_read_table(path))

  return lookup


def _csv_for_all(path: epath.Path) -> layout.AusLookup:
  header, rows = _read_table(path)
  if FILENAME_COLUMN not in header:
    raise ValueError(
        f"{path}: a CSV for many images needs a {FILENAME_COLUMN!r} column"
        " naming each row's image")
  _au_columns(header, str(path))
  column = header.index(FILENAME_COLUMN)
  by_id: dict[str, list[_Row]] = collections.defaultdict(list)
  for line_no, row in rows:
    name = posixpath.basename(row[column].strip().replace("\\", "/"))
    by_id[posixpath.splitext(name)[0]].append((line_no, row))

  def lookup(example_id: str) -> np.ndarray:
    if example_id not in by_id:
      raise layout.DataError(
          f"{path} (id {example_id!r}): no row names the image",
          "missing AUs")
    return _one_face(path, example_id, header, by_id[example_id])

  return lookup


def aus_lookup(path: epath.PathLike) -> layout.AusLookup:
  """Raw AUs by image id from a folder of per-image CSVs or one CSV for all.

  Args:
    path: a folder holding `<id>.csv` files, or one CSV with a `filename`
      column.

  Returns:
    A function from id to float64 [17] intensities in [0, 5]; it raises
    `layout.DataError`, naming the CSV and the id, for an image without a CSV
    or row, with no face or several, or with bad values.

  Raises:
    ValueError: a CSV for all images lacks the `filename` or AU columns.
  """
  path = epath.Path(path)
  return _csv_per_image(path) if path.is_dir() else _csv_for_all(path)
