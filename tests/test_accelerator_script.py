"""benchmarks/accelerator.py: the accelerator run's CPU dry run, with no
TensorFlow or TFDS to import (the lent GPU machine has neither)."""

import json
import subprocess
import sys

from benchmarks import accelerator

# Runs the script with TensorFlow and TFDS unimportable: `None` in
# sys.modules makes `import tensorflow` raise ImportError.
BLOCKED_RUN = """
import runpy, sys
for name in ("tensorflow", "tensorflow_datasets"):
  sys.modules[name] = None
sys.argv = ["accelerator", "--smoke", "--repeats", "1"]
runpy.run_module("benchmarks.accelerator", run_name="__main__", alter_sys=True)
"""


def test_smoke_run_takes_every_figure_without_tensorflow():
  done = subprocess.run([sys.executable, "-c", BLOCKED_RUN], capture_output=True, text=True,
                        check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
  taken = {(line["benchmark"], line["variant"], line["dtype"], line["batch"]) for line in lines
           if line["benchmark"] in ("inference", "train_cycle")}
  assert taken == set(accelerator.plan(smoke=True))
  assert {line["conv_impl"] for line in lines if "conv_impl" in line} == {"native"}
  assert [line["when"] for line in lines if line["benchmark"] == "peak"] == ["before", "after"]
  for line in lines:
    if line["benchmark"] == "inference":
      assert line["ms_per_image_median"] > 0
    if line["benchmark"] == "train_cycle":
      assert line["cycle_s_median"] > 0


def test_the_plan_covers_both_dtypes_float32_first():
  items = accelerator.plan(smoke=False)
  assert {dtype for _, _, dtype, _ in items} == {"float32", "bfloat16"}
  assert {batch for kind, _, _, batch in items if kind == "inference"} == {1, 32, 256}
  dtypes = [dtype for _, _, dtype, _ in items]
  assert dtypes == sorted(dtypes, key=accelerator.DTYPES.index)
