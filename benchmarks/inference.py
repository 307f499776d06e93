"""Generator inference: latency per image, compile time, FLOPs, parameters.

Usage: python -m benchmarks.inference [--config default] [--batches 1,32]
           [--variants dftnet,ganimation,warp_only] [--conv_impl auto] [--dtypes float32]
Prints one JSON line per (variant, dtype, batch), plus the machine's peak
before and after (this machine is shared and noisy; compare within one run).
The networks are the config's (`configs/<name>.py`; default: the paper's
128×128 model).
"""

from __future__ import annotations

import argparse
import importlib
import time

import jax
import jax.numpy as jnp
import ml_collections

from benchmarks import common
from dftnet_jax import models


def bench_variant(config_name: str, model: ml_collections.ConfigDict, batch: int, repeats: int,
                  peak: float) -> None:
  """Times the generator `model` (a config's `model` part) at `batch`."""
  generator = models.create_generator(model)
  size = model.image_size
  image_spec, aus_spec = common.generator_inputs(batch, size)
  params = jax.jit(generator.init)(jax.random.key(0), jnp.zeros(image_spec.shape),
                                   jnp.zeros(aus_spec.shape))
  image = jax.random.uniform(jax.random.key(1), image_spec.shape, minval=-1.0, maxval=1.0)
  target = jax.random.uniform(jax.random.key(2), aus_spec.shape)
  start = time.perf_counter()
  forward = jax.jit(generator.apply).lower(params, image, target).compile()
  compile_s = time.perf_counter() - start
  # Small batches are timed over at least 64 images and after 3 warm-up
  # calls: single calls of ~60 ms scatter by ±15% here.
  stats = common.time_fn(lambda: forward(params, image, target), repeats=max(repeats, 64 // batch),
                         warmup=3)
  flops = sum(layer.flops for layer in common.conv_layers(generator, *common.generator_inputs(1, size)))
  common.emit(
      benchmark="inference", config=config_name, variant=model.variant, size=size, batch=batch,
      conv_impl=model.conv_impl, dtype=model.dtype,
      params=sum(p.size for p in jax.tree.leaves(params)),
      compile_s=compile_s,
      ms_per_image_median=1e3 * stats["median"] / batch,
      ms_per_image_min=1e3 * stats["min"] / batch,
      ms_per_image_max=1e3 * stats["max"] / batch,
      gflop_per_image=flops / 1e9,
      gflops_achieved=flops * batch / stats["min"] / 1e9,
      fraction_of_matmul_peak=flops * batch / stats["min"] / 1e9 / peak)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="default", help="a module under configs/")
  parser.add_argument("--batches", default="1,32")
  parser.add_argument("--variants", default=",".join(models.VARIANTS))
  parser.add_argument("--conv_impl", default="auto")
  parser.add_argument("--dtypes", default="float32",
                      help="compute dtypes (config.model.dtype), e.g. float32,bfloat16")
  parser.add_argument("--repeats", type=int, default=5)
  args = common.parse_args(parser)
  peak = common.peak_gflops()
  common.emit(benchmark="peak", when="before", **peak)
  model = importlib.import_module(f"configs.{args.config}").get_config().model
  for variant in args.variants.split(","):
    for dtype in args.dtypes.split(","):
      model.update(variant=variant, conv_impl=args.conv_impl, dtype=dtype)
      for batch in map(int, args.batches.split(",")):
        bench_variant(args.config, model, batch, args.repeats, peak["matmul_gflops"])
  common.emit(benchmark="peak", when="after", **common.peak_gflops())


if __name__ == "__main__":
  main()
