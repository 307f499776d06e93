"""What the command lines print: the project's own lines; the libraries'
behind `--verbosity`.

Orbax logs each checkpoint manager it opens, each read and the closing of its
metadata stores (about thirty records to restore one checkpoint for
`python -m dftnet_jax.photo`, three more at every save of a training run),
TFDS each tf.data pipeline it builds (again at every checkpoint, where the
training stream restarts), and JAX each backend it did not find, all through
absl at INFO or WARNING. A user reads them before, and between, the lines
that say what the run is doing and what was written where. At absl's default
verbosity (0) records below ERROR from those libraries' files are dropped;
`--verbosity=1` (`-v 1`) lets them through, with every debug record.
"""

from __future__ import annotations

from collections.abc import Sequence
import logging as py_logging
import os

from absl import logging
import jax
import orbax.checkpoint as ocp
import tensorflow_datasets as tfds


def library_dirs() -> tuple[str, ...]:
  """The package folders whose INFO and WARNING records are chatter."""
  return tuple(os.path.dirname(os.path.abspath(module.__file__)) + os.sep
               for module in (jax, ocp, tfds))


class LibraryChatter(py_logging.Filter):
  """Drops records below ERROR logged from files under `dirs`."""

  def __init__(self, dirs: Sequence[str]):
    super().__init__()
    self._dirs = tuple(dirs)

  def filter(self, record: py_logging.LogRecord) -> bool:
    return record.levelno >= py_logging.ERROR or not record.pathname.startswith(self._dirs)


def quiet_libraries() -> None:
  """Filters the libraries' chatter from absl's handler, unless
  `--verbosity` asks for more than INFO. Call it once the flags are parsed;
  calling it again adds nothing."""
  if logging.get_verbosity() > logging.INFO:
    return
  handler = logging.get_absl_handler()
  if not any(isinstance(f, LibraryChatter) for f in handler.filters):
    handler.addFilter(LibraryChatter(library_dirs()))
