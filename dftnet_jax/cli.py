"""How the command lines report a mistake: one line, and exit status 1.

A user who passes a wrong path or field needs the sentence that names it,
not forty lines of library frames above it. The project's errors name the
problem and the file or field, so the command lines (training, editing,
the data tools) print that message alone; `DFTNET_TRACEBACK=1` in the
environment lets the traceback through, for a bug report.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import os
import pickle
import sys
from typing import TypeVar

# Set (to anything but "" or "0") to see the traceback of an error.
TRACEBACK_ENV = "DFTNET_TRACEBACK"
# What a user's input or environment raises: bad files, paths, values, a
# pickle that is not the data it should be, and a run that stopped on a
# non-finite loss. Anything else is a bug, and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, pickle.UnpicklingError,
                                            FloatingPointError)

R = TypeVar("R")


def one_line(error: BaseException) -> str:
  """The error's message with its line breaks and runs of spaces folded."""
  return " ".join(str(error).split()) or type(error).__name__


def report_errors(main: Callable[..., R]) -> Callable[..., R]:
  """`main`, printing `error: <message>` to stderr and exiting 1 on a
  `USER_ERRORS` exception (unless `TRACEBACK_ENV` is set)."""
  @functools.wraps(main)
  def wrapped(*args, **kwargs) -> R:
    try:
      return main(*args, **kwargs)
    except USER_ERRORS as e:
      if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
        raise
      sys.exit(f"error: {one_line(e)} ({TRACEBACK_ENV}=1 shows the traceback)")
  return wrapped
