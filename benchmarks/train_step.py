"""Training throughput: one cycle of n_critic D steps + 1 G step.

Usage: python -m benchmarks.train_step [--configs default,synthetic] [--batch 16]
           [--conv_impls native,auto] [--variants dftnet,ganimation]
           [--dtypes float32,bfloat16] [--malloc default]

A cycle is GANimation's: n_critic (5) critic steps, each on a fresh batch,
then one generator step on the last batch; images/s = n_critic · batch /
cycle time. Each configuration runs through the real parallel
`steps.parallel_cycle` on one device. The formulations and compute dtypes
are timed in the same run so their ratios are meaningful on this shared,
noisy machine.

FLOPs are counted analytically from the convolutions (2 × multiply-adds; a
backward pass costs twice its forward) for the cycle as a straightforward
implementation runs it, so that GFLOP/s compare across implementations:
per image, a critic step is a generator forward F_G, the critic's forward
and backward on a real and a fake image (6 F_D) and the penalty's forward,
input gradient and double backward (6 F_D); the generator step is two
generator forwards and their backwards (6 F_G) and the critic's forward and
input gradient (2 F_D). The fused cycle skips one of those forwards.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from dftnet_jax import aus
from dftnet_jax import models
from dftnet_jax import states
from dftnet_jax import steps


def cycle_gflop(config, batch: int) -> float:
  """The analytic GFLOP of one cycle (module doc) at `batch` images a step."""
  size = config.model.image_size
  f_g = sum(layer.flops for layer in common.conv_layers(
      models.create_generator(config.model), *common.generator_inputs(1, size)))
  f_d = sum(layer.flops for layer in common.conv_layers(
      models.create_discriminator(config.model),
      jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)))
  per_image = config.n_critic * (f_g + 12 * f_d) + 6 * f_g + 2 * f_d
  return per_image * batch / 1e9


def bench(config_name: str, variant: str, conv_impl: str, dtype: str, batch: int, cycles: int,
          peak: float) -> None:
  config = importlib.import_module(f"configs.{config_name}").get_config()
  config.model.variant = variant
  config.model.conv_impl = conv_impl
  config.model.dtype = dtype
  config.batch_size = batch
  size = config.model.image_size
  state = states.create_train_states(config, jax.random.key(0))
  p_cycle = steps.parallel_cycle(config)
  rng = np.random.default_rng(0)
  batches = {"image": rng.uniform(-1, 1, (1, config.n_critic, batch, size, size, 3)),
             "aus": rng.uniform(0, 1, (1, config.n_critic, batch, aus.NUM_AUS)),
             "target_aus": rng.uniform(0, 1, (1, config.n_critic, batch, aus.NUM_AUS))}
  batches = {name: value.astype(np.float32) for name, value in batches.items()}
  key = jax.random.key(1)

  def cycle(state):
    state, metrics = p_cycle(state, batches, key)
    jax.block_until_ready(metrics)
    return state

  start = time.perf_counter()
  state = cycle(state)
  first_s = time.perf_counter() - start
  times = []
  for _ in range(cycles):
    start = time.perf_counter()
    state = cycle(state)
    times.append(time.perf_counter() - start)
  median = float(np.median(times))
  gflop = cycle_gflop(config, batch)
  common.emit(benchmark="train_cycle", config=config_name, variant=variant,
              conv_impl=conv_impl, dtype=dtype, size=size, batch=batch, n_critic=config.n_critic,
              first_cycle_s=first_s, cycle_s_median=median, cycle_s_min=min(times),
              cycle_s_max=max(times), images_per_s=config.n_critic * batch / median,
              gflop_per_cycle=gflop, gflops_achieved=gflop / min(times),
              fraction_of_matmul_peak=gflop / min(times) / peak)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.setup()
  peak = common.peak_gflops()
  common.emit(benchmark="peak", when="before", **peak)
  for config_name in _CONFIGS.value:
    for variant in _VARIANTS.value:
      for impl in _CONV_IMPLS.value:
        for dtype in _DTYPES.value:
          bench(config_name, variant, impl, dtype, _BATCH.value, _CYCLES.value,
                peak["matmul_gflops"])
  common.emit(benchmark="peak", when="after", **common.peak_gflops())


if __name__ == "__main__":
  _CONFIGS = flags.DEFINE_list("configs", ["default"],
                               "Modules under configs/ (default: the paper's 128×128 model)")
  _BATCH = flags.DEFINE_integer("batch", 16, "Images a training step.")
  _VARIANTS = flags.DEFINE_list("variants", ["dftnet"],
                                "Generator variants (config.model.variant).")
  _CONV_IMPLS = flags.DEFINE_list("conv_impls", ["native", "auto"],
                                  "Convolution formulations (config.model.conv_impl).")
  _DTYPES = flags.DEFINE_list("dtypes", ["float32"],
                              "Compute dtypes (config.model.dtype), e.g. float32,bfloat16")
  _CYCLES = flags.DEFINE_integer("cycles", 3, "Timed cycles of each configuration, after"
                                 " the first (compiling) one.")
  common.define_flags()
  app.run(main)
