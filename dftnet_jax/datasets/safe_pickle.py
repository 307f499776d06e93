"""Loads pickles of plain data and float arrays without running their code.

`pickle.load` calls whatever a file names, so a downloaded `aus_openface.pkl`
could run anything. This loader resolves only the few numpy globals that
rebuild float arrays (for pickles written by numpy 1, `numpy.core`, and numpy
2, `numpy._core`) and then checks that the result holds nothing else.
"""

from __future__ import annotations

import codecs
import pickle
from typing import Any

from etils import epath
import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import numeric as _numeric

_ALLOWED = ("only dicts, lists, strings, numbers and numpy float arrays are"
            " allowed")


def _latin1_encode(text: str, encoding: str) -> bytes:
  """Protocol-2 pickles store array bytes as latin-1 text; nothing else."""
  if codecs.lookup(encoding).name != "iso8859-1":
    raise pickle.UnpicklingError(f"refusing _codecs.encode with {encoding!r}")
  return text.encode("latin-1")


_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
# numpy's own pickles name these private helpers; numpy 1 wrote `numpy.core`.
for _core in ("numpy.core", "numpy._core"):
  _GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _multiarray._reconstruct
  _GLOBALS[(f"{_core}.multiarray", "scalar")] = _multiarray.scalar
  _GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _numeric._frombuffer


class _RestrictedUnpickler(pickle.Unpickler):
  """An unpickler that resolves only the globals float arrays need."""

  def __init__(self, file, path: str):
    super().__init__(file, encoding="latin1")  # Python 2 pickles need latin1.
    self._path = path

  def find_class(self, module: str, name: str) -> Any:
    try:
      return _GLOBALS[(module, name)]
    except KeyError:
      raise pickle.UnpicklingError(
          f"{self._path}: refusing to load {module}.{name}; {_ALLOWED}"
      ) from None


def _check_plain(obj: Any, path: str) -> None:
  """Raises unless `obj` is built only from the allowed types."""
  if isinstance(obj, dict):
    for key, value in obj.items():
      _check_plain(key, path)
      _check_plain(value, path)
  elif isinstance(obj, list):
    for item in obj:
      _check_plain(item, path)
  elif isinstance(obj, np.ndarray):
    if obj.dtype.kind != "f":
      raise pickle.UnpicklingError(
          f"{path}: holds a numpy array of dtype {obj.dtype}; {_ALLOWED}")
  elif not isinstance(obj, (str, int, float, np.floating, np.integer)):
    raise pickle.UnpicklingError(
        f"{path}: holds a {type(obj).__name__}; {_ALLOWED}")


def load(path: epath.PathLike) -> Any:
  """Reads a pickle of dicts, lists, strings, numbers and float arrays.

  Args:
    path: the pickle file.

  Returns:
    The unpickled object.

  Raises:
    pickle.UnpicklingError: the file names any other global or holds any other
      type; the message names the file. Nothing it names is ever called.
  """
  path = epath.Path(path)
  with path.open("rb") as f:
    try:
      obj = _RestrictedUnpickler(f, str(path)).load()
    except EOFError:
      raise pickle.UnpicklingError(f"{path}: the pickle ends early (a truncated file)") from None
    except pickle.UnpicklingError as e:
      if str(e).startswith(f"{path}:"):
        raise
      raise pickle.UnpicklingError(f"{path}: not a readable pickle ({e})") from None
  _check_plain(obj, str(path))
  return obj
