"""Every benchmark's command line parses: `--help` lists its flags.

The benchmarks define their absl flags only when run (`__main__`), so an
import cannot show a broken flag definition; their `--help` can. Timings
are not asserted anywhere (benchmarks/README.md).
"""

import pathlib
import re
import subprocess
import sys

from absl import flags
import pytest

from benchmarks import int_lists

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


@pytest.mark.parametrize("value,parsed", [("1,32", ["1", "32"]), ("", [])])
def test_an_integer_list_flag_takes_positive_integers_or_none(value, parsed):
  flag_values = flags.FlagValues()
  holder = int_lists.positive(
      flags.DEFINE_list("sizes", ["64"], "sizes", flag_values=flag_values), flag_values)
  flag_values(["prog", f"--sizes={value}"])
  assert holder.value == parsed


@pytest.mark.parametrize("value", ["1,x", "0", "-4", "2.5"])
def test_an_integer_list_flag_refuses_other_values_naming_itself(value):
  flag_values = flags.FlagValues()
  int_lists.positive(flags.DEFINE_list("sizes", ["64"], "sizes", flag_values=flag_values),
                     flag_values)
  with pytest.raises(flags.IllegalFlagValueError, match="--sizes takes comma-separated"
                     " positive integers"):
    flag_values(["prog", f"--sizes={value}"])


def test_a_benchmark_refuses_a_bad_integer_list_before_it_starts():
  result = subprocess.run([sys.executable, "-m", "benchmarks.renderer", "--sizes=64,big"],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
  assert result.returncode != 0
  assert "--sizes takes comma-separated positive integers" in result.stderr, result.stderr
