"""Training throughput: one cycle of n_critic D steps + 1 G step.

Usage: python -m benchmarks.train_step [--configs default,synthetic] [--batch 16]
           [--conv_impls native,auto] [--variants dftnet,ganimation]
           [--dtypes float32,bfloat16]

A cycle is GANimation's: n_critic (5) critic steps, each on a fresh batch,
then one generator step on the last batch; images/s = n_critic · batch /
cycle time. Each configuration runs through the real parallel steps of
dftnet_jax.train on one device. The formulations and compute dtypes are timed
in the same run so their ratios are meaningful on this shared, noisy machine.
"""

from __future__ import annotations

import argparse
import importlib
import time

import jax
import numpy as np

from benchmarks import common
from dftnet_jax import aus
from dftnet_jax import train


def bench(config_name: str, variant: str, conv_impl: str, dtype: str, batch: int,
          cycles: int) -> None:
  config = importlib.import_module(f"configs.{config_name}").get_config()
  config.model.variant = variant
  config.model.conv_impl = conv_impl
  config.model.dtype = dtype
  config.batch_size = batch
  size = config.model.image_size
  g_state, d_state = train.create_train_states(config, jax.random.key(0))
  p_d_step, p_g_step = train.parallel_steps(config, g_state, d_state)
  rng = np.random.default_rng(0)
  batches = [{"image": rng.uniform(-1, 1, (1, batch, size, size, 3)).astype(np.float32),
              "aus": rng.uniform(0, 1, (1, batch, aus.NUM_AUS)).astype(np.float32),
              "target_aus": rng.uniform(0, 1, (1, batch, aus.NUM_AUS)).astype(np.float32)}
             for _ in range(config.n_critic)]
  key = jax.random.key(1)

  def cycle(g_state, d_state):
    for b in batches:
      d_state, _ = p_d_step(d_state, g_state.params, b, key)
    g_state, metrics = p_g_step(g_state, d_state.params, batches[-1], key)
    return g_state, d_state, metrics

  start = time.perf_counter()
  g_state, d_state, metrics = cycle(g_state, d_state)
  jax.block_until_ready(metrics)
  first_s = time.perf_counter() - start
  times = []
  for _ in range(cycles):
    start = time.perf_counter()
    g_state, d_state, metrics = cycle(g_state, d_state)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  images = config.n_critic * batch
  common.emit(benchmark="train_cycle", config=config_name, variant=variant, conv_impl=conv_impl,
              dtype=dtype, size=size, batch=batch, n_critic=config.n_critic, first_cycle_s=first_s,
              cycle_s_median=float(np.median(times)), cycle_s_min=min(times),
              cycle_s_max=max(times), images_per_s=images / float(np.median(times)))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", default="default",
                      help="modules under configs/ (default: the paper's 128×128 model)")
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--variants", default="dftnet")
  parser.add_argument("--conv_impls", default="native,auto")
  parser.add_argument("--dtypes", default="float32",
                      help="compute dtypes (config.model.dtype), e.g. float32,bfloat16")
  parser.add_argument("--cycles", type=int, default=2)
  args = parser.parse_args()
  common.emit(benchmark="peak", when="before", **common.peak_gflops())
  for config_name in args.configs.split(","):
    for variant in args.variants.split(","):
      for impl in args.conv_impls.split(","):
        for dtype in args.dtypes.split(","):
          bench(config_name, variant, impl, dtype, args.batch, args.cycles)
  common.emit(benchmark="peak", when="after", **common.peak_gflops())


if __name__ == "__main__":
  main()
