"""Generator inference: latency per image, compile time, FLOPs, parameters.

Usage: python -m benchmarks.inference [--config default] [--batches 1,32]
           [--variants dftnet,ganimation,warp_only] [--conv_impl auto] [--dtypes float32]
Prints one JSON line per (variant, dtype, batch), plus the machine's peak
before and after (this machine is shared and noisy; compare within one run).
The networks are the config's (`configs/<name>.py`; default: the paper's
128×128 model).
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import ml_collections

from benchmarks import common
from benchmarks import int_lists
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
  layers = common.conv_layers(generator, *common.generator_inputs(1, size))
  flops = sum(layer.flops for layer in layers)
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


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.setup()
  peak = common.peak_gflops()
  common.emit(benchmark="peak", when="before", **peak)
  model = importlib.import_module(f"configs.{_CONFIG.value}").get_config().model
  for variant in _VARIANTS.value:
    for dtype in _DTYPES.value:
      model.update(variant=variant, conv_impl=_CONV_IMPL.value, dtype=dtype)
      for batch in map(int, _BATCHES.value):
        bench_variant(_CONFIG.value, model, batch, _REPEATS.value, peak["matmul_gflops"])
  common.emit(benchmark="peak", when="after", **common.peak_gflops())


if __name__ == "__main__":
  _CONFIG = flags.DEFINE_string("config", "default", "A module under configs/")
  _BATCHES = int_lists.positive(flags.DEFINE_list("batches", ["1", "32"], "Batch sizes to time."))
  _VARIANTS = flags.DEFINE_list("variants", list(models.VARIANTS), "Generator variants.")
  _CONV_IMPL = flags.DEFINE_string("conv_impl", "auto",
                                   "Convolution formulation (config.model.conv_impl).")
  _DTYPES = flags.DEFINE_list("dtypes", ["float32"],
                              "Compute dtypes (config.model.dtype), e.g. float32,bfloat16")
  _REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls (more where needed to reach 64"
                                  " images).")
  common.define_flags()
  app.run(main)
