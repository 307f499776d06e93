"""Test setup: two host devices, so multi-device code paths run on CPU, LLVM
at -O0, and a compilation cache shared by the tests, the subprocesses they
start and pytest-xdist's workers (set here in the controlling process,
which the workers inherit; the training tests compile the same tiny steps
in several runs); a tiny trained workdir for the tests of editing."""

import atexit
import os
import shutil
import tempfile

import pytest

# Must happen before jax is imported anywhere in the test session. LLVM at
# -O0: the tests' programs are tiny and each compiles once or twice, so XLA's
# compilation, not their execution, is most of the suite's time. Beside a
# training, two compile-bound tests took 239 s → 115 s and the whole suite
# 3,067 s → 2,358 s (session 17; the subprocess-heavy tests gain little).
# The subprocesses the tests start inherit it.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2"
                      " --xla_backend_optimization_level=0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix="dftnet_jax_tests_jax_cache_")
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"


@pytest.fixture(scope="session")
def tiny_workdir(tmp_path_factory):
  """A workdir of the tiny config trained for 4 steps: checkpoints at steps 2
  and 4 and config.json, shared by the tests that need a trained model."""
  # Imported on use: runs without editing tests skip training and TensorFlow.
  from configs import tiny  # pylint: disable=g-import-not-at-top
  from dftnet_jax import train  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  config.data_dir = str(tmp_path_factory.mktemp("tfds"))
  workdir = str(tmp_path_factory.mktemp("tiny_run"))
  train.train_and_evaluate(config, workdir)
  return workdir
