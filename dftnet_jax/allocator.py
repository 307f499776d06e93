"""glibc malloc settings that keep freed memory mapped for the next step.

XLA:CPU takes each executable's buffers from malloc. By default glibc serves
large blocks with fresh mmap'd pages and returns them to the kernel on free,
so every training step page-faults its whole working set in again and the
kernel zeroes it: on the development machine ~400,000 faults and ~13% of
the CPU time of a generator step at batch 8. Serving every block from one
heap that is never trimmed removes all of them (README, Performance), at the
price of the process keeping its peak memory until it exits.
"""

import ctypes
import ctypes.util
import sys

# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def retain_freed_memory() -> bool:
  """Makes glibc keep freed memory for reuse; False where that is not possible.

  Call it before JAX runs anything, so that XLA's threads share the one
  arena it configures. Elsewhere than glibc (macOS, musl) it does nothing.
  """
  if not sys.platform.startswith("linux"):
    return False
  try:
    mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
  except (OSError, AttributeError):
    return False
  # One arena, no mmap'd blocks, and -1 disables trimming (glibc manual).
  settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1))
  return all(mallopt(param, value) == 1 for param, value in settings)
