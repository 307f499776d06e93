"""Tests for dftnet_jax.logs: the libraries' chatter is dropped, ours is not."""

import logging as py_logging
import os

from absl import logging
import orbax.checkpoint as ocp
import pytest

import dftnet_jax
from dftnet_jax import logs


def _record(pathname, level):
  return py_logging.LogRecord("absl", level, pathname, 1, "message", (), None)


def test_the_libraries_info_and_warnings_are_dropped_not_their_errors():
  chatter = logs.LibraryChatter(logs.library_dirs())
  orbax_file = os.path.join(os.path.dirname(ocp.__file__), "_src", "checkpoint_manager.py")
  assert not chatter.filter(_record(orbax_file, py_logging.INFO))
  assert not chatter.filter(_record(orbax_file, py_logging.WARNING))
  assert chatter.filter(_record(orbax_file, py_logging.ERROR))
  ours = os.path.join(os.path.dirname(dftnet_jax.__file__), "train.py")
  assert chatter.filter(_record(ours, py_logging.INFO))
  # A folder whose name only begins like a library's is not that library.
  assert chatter.filter(_record(os.path.dirname(ocp.__file__) + "_extra/x.py", py_logging.INFO))


@pytest.fixture
def absl_handler_filters():
  handler = logging.get_absl_handler()
  kept, verbosity = list(handler.filters), logging.get_verbosity()
  yield handler
  handler.filters[:] = kept
  logging.set_verbosity(verbosity)


def test_quiet_libraries_filters_once_and_not_when_verbose(absl_handler_filters):
  handler = absl_handler_filters
  logging.set_verbosity(logging.DEBUG)
  logs.quiet_libraries()
  assert not any(isinstance(f, logs.LibraryChatter) for f in handler.filters)
  logging.set_verbosity(logging.INFO)
  logs.quiet_libraries()
  logs.quiet_libraries()
  assert sum(isinstance(f, logs.LibraryChatter) for f in handler.filters) == 1
