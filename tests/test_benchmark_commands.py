"""Every benchmark's command line parses: `--help` lists its flags.

The benchmarks define their absl flags only when run (`__main__`), so an
import cannot show a broken flag definition; their `--help` can. Timings
are not asserted anywhere (benchmarks/README.md).
"""

import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# Benchmark -> one flag of its own; `--malloc` where the benchmark runs JAX
# code whose allocations it times (`benchmarks.common.define_flags`).
FLAGS = {"accelerator": "smoke", "compare_peer": "pairs", "conv_layers": "formulations",
         "inference": "batches", "input_pipeline": "num_images", "profile": "trace_dir",
         "pytorch_peer": "inference_batches", "renderer": "sizes", "train_step": "cycles",
         "warp": "repeats"}
WITH_MALLOC = {"accelerator", "conv_layers", "inference", "profile", "train_step", "warp"}


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_the_benchmarks_help_lists_its_flags(name):
  result = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=300)
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert re.search(rf"--(\[no\])?{FLAGS[name]}: ", result.stdout), result.stdout
  assert ("--malloc: " in result.stdout) == (name in WITH_MALLOC)
