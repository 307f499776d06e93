"""Tests for dftnet_jax.allocator: freed memory stays mapped and is reused."""

import subprocess
import sys

import pytest

# Allocates, touches and frees 256 MB twice with libc directly; prints the
# page faults the second round costs.
_PROBE = """
import ctypes, ctypes.util, resource, sys
from dftnet_jax import allocator
print(allocator.retain_freed_memory() if sys.argv[1] == "retain" else "default")
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 256 << 20
def touch_and_free():
  block = libc.malloc(size)
  ctypes.memset(block, 1, size)
  libc.free(block)
touch_and_free()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch_and_free()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _second_round_faults(mode: str) -> tuple[str, int]:
  out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                       check=True).stdout.split()
  return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_retained_memory_is_reused_without_page_faults():
  """By default glibc unmaps a freed 256 MB block, and touching a new one
  faults every page in again; retained, the second block reuses the first."""
  status, faults = _second_round_faults("retain")
  assert status == "True"
  assert faults < 100
  _, default_faults = _second_round_faults("default")
  assert default_faults > (256 << 20) // (2 << 20)  # at least one per huge page
