"""The accelerator run, ready to go: inference and training at the paper's size.

    python -m benchmarks.accelerator             # on a GPU/TPU: about 3-5 minutes
    python -m benchmarks.accelerator --smoke     # CPU dry run, tiny networks (CI)

Inference (DFT-Net and GANimation, batch 1, 32 and 256) and the training
cycle (`benchmarks.train_step`: 5 critic updates and a generator update,
batch 16) at 128×128 with the paper's networks and native convolutions
(`conv_impl=native`, what `auto` picks off CPU), in float32 and bfloat16, on
random tensors; one JSON line per figure, with the device and the matmul
probe before and after. The paper reports 7.32 ms (DFT-Net) and 12.11 ms
(GANimation) per image on a GTX 1080 Ti.

Why a script of its own: a lent accelerator machine has JAX with CUDA but no
TensorFlow or TFDS and reaches no registry, and a session has one short call
on it. This imports only the models, the losses, the step bodies and the
configs (`tests/test_accelerator_script.py` runs `--smoke` with TensorFlow
and TFDS made unimportable), and stops starting new figures once
`--budget_s` has passed, most important figures first, so one call returns
what it measured.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib
import time

from absl import app
from absl import flags

from benchmarks import common
from benchmarks import inference
from benchmarks import train_step

# (config, variants, inference batches, training batch, cycles) per mode.
# The smoke run (a CPU dry run, in the tests) takes one inference batch:
# each is a compilation, and one shows the script works as well as two.
FULL = ("default", ("dftnet", "ganimation"), (1, 32, 256), 16, 5)
SMOKE = ("tiny", ("dftnet", "ganimation"), (2,), 2, 1)
DTYPES = ("float32", "bfloat16")


def plan(smoke: bool) -> list[tuple[str, str, str, int]]:
  """The figures in the order they are taken: (kind, variant, dtype, batch),
  float32 before bfloat16, inference before training."""
  _, variants, batches, train_batch, _ = SMOKE if smoke else FULL
  items = []
  for dtype in DTYPES:
    items += [("inference", v, dtype, b) for v in variants for b in batches]
    items.append(("train_cycle", "dftnet", dtype, train_batch))
  return items


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.setup()
  start = time.perf_counter()
  config_name, _, _, _, cycles = SMOKE if _SMOKE.value else FULL
  peak = common.peak_gflops()
  common.emit(benchmark="peak", when="before", **peak)
  for kind, variant, dtype, batch in plan(_SMOKE.value):
    elapsed = time.perf_counter() - start
    if elapsed > _BUDGET_S.value:
      common.emit(benchmark="skipped", kind=kind, variant=variant, dtype=dtype, batch=batch,
                  elapsed_s=elapsed)
      continue
    if kind == "inference":
      model = importlib.import_module(f"configs.{config_name}").get_config().model
      model.update(variant=variant, conv_impl="native", dtype=dtype)
      inference.bench_variant(config_name, model, batch, _REPEATS.value, peak["matmul_gflops"])
    else:
      train_step.bench(config_name, variant, "native", dtype, batch, cycles,
                       peak["matmul_gflops"])
  common.emit(benchmark="peak", when="after", elapsed_s=time.perf_counter() - start,
              **common.peak_gflops())


if __name__ == "__main__":
  _SMOKE = flags.DEFINE_bool("smoke", False, "The tiny config and small batches: a CPU dry run")
  _BUDGET_S = flags.DEFINE_float("budget_s", 270.0,
                                 "Start no new figure after this many seconds")
  _REPEATS = flags.DEFINE_integer("repeats", 10, "Timed inference calls (more where needed to"
                                  " reach 64 images).")
  common.define_flags()
  app.run(main)
