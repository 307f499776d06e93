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

import argparse
import importlib
import time

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
  g_state, d_state = states.create_train_states(config, jax.random.key(0))
  p_cycle = steps.parallel_cycle(config)
  rng = np.random.default_rng(0)
  batches = {"image": rng.uniform(-1, 1, (1, config.n_critic, batch, size, size, 3)),
             "aus": rng.uniform(0, 1, (1, config.n_critic, batch, aus.NUM_AUS)),
             "target_aus": rng.uniform(0, 1, (1, config.n_critic, batch, aus.NUM_AUS))}
  batches = {name: value.astype(np.float32) for name, value in batches.items()}
  key = jax.random.key(1)

  def cycle(g_state, d_state):
    g_state, d_state, metrics = p_cycle(g_state, d_state, batches, key)
    jax.block_until_ready(metrics)
    return g_state, d_state

  start = time.perf_counter()
  g_state, d_state = cycle(g_state, d_state)
  first_s = time.perf_counter() - start
  times = []
  for _ in range(cycles):
    start = time.perf_counter()
    g_state, d_state = cycle(g_state, d_state)
    times.append(time.perf_counter() - start)
  median = float(np.median(times))
  gflop = cycle_gflop(config, batch)
  common.emit(benchmark="train_cycle", config=config_name, variant=variant,
              conv_impl=conv_impl, dtype=dtype, size=size, batch=batch, n_critic=config.n_critic,
              first_cycle_s=first_s, cycle_s_median=median, cycle_s_min=min(times),
              cycle_s_max=max(times), images_per_s=config.n_critic * batch / median,
              gflop_per_cycle=gflop, gflops_achieved=gflop / min(times),
              fraction_of_matmul_peak=gflop / min(times) / peak)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", default="default",
                      help="modules under configs/ (default: the paper's 128×128 model)")
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--variants", default="dftnet")
  parser.add_argument("--conv_impls", default="native,auto")
  parser.add_argument("--dtypes", default="float32",
                      help="compute dtypes (config.model.dtype), e.g. float32,bfloat16")
  parser.add_argument("--cycles", type=int, default=3)
  args = common.parse_args(parser)
  peak = common.peak_gflops()
  common.emit(benchmark="peak", when="before", **peak)
  for config_name in args.configs.split(","):
    for variant in args.variants.split(","):
      for impl in args.conv_impls.split(","):
        for dtype in args.dtypes.split(","):
          bench(config_name, variant, impl, dtype, args.batch, args.cycles,
                peak["matmul_gflops"])
  common.emit(benchmark="peak", when="after", **common.peak_gflops())


if __name__ == "__main__":
  main()
