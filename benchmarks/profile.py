"""Where a generator forward spends its time, stage by stage.

Usage: python -m benchmarks.profile [--variant dftnet] [--batches 1,32]
                                    [--trace_dir DIR]

Times each stage of the generator on its own (jitted alone, with the
model's parameters and the inputs the network feeds it): the stem conv, the
two strided convs, one residual block (× their count), each decoder, and
the warp + composition; then the whole forward. The whole minus the
stages' sum is the encoder's three InstanceNorm + ReLU passes and what
running everything as one program saves or costs; each stage's GFLOP/s
(direct-convolution count, so Winograd layers can exceed the machine's
peak) shows which stages run near peak and which are bound by something
else. With --trace_dir, also writes a
`jax.profiler` trace of the whole forward for TensorBoard's profile plugin
or Perfetto (per-HLO-op times).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
from typing import Any

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp

from benchmarks import common
from benchmarks import int_lists
from dftnet_jax import models
from dftnet_jax import warp as warp_lib


def _stages(generator: models.Generator, params: Any, image: jax.Array, target: jax.Array
            ) -> list[tuple[str, int, Callable[..., Any], tuple[Any, ...]]]:
  """(module path, times per forward, function, its inputs) per stage.

  The stages are the generator's own submodules, caught with their inputs
  while the whole generator runs once, and re-applied alone to their
  parameters.
  """
  repeated = {"encoder/ResidualBlock_0": generator.num_res_blocks}
  paths = ["encoder/Conv_0", "encoder/Conv_1", "encoder/Conv_2", *repeated,
           "decoder", "flow_decoder", "texture_decoder"]
  caught = {}

  def catch(next_fun, args, kwargs, context):
    path = "/".join(context.module.path)
    if context.method_name == "__call__" and path in paths and path not in caught:
      caught[path] = (context.module.clone(parent=None), args)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(catch):
    out = generator.apply({"params": params}, image, target)
  stages = []
  for path in (p for p in paths if p in caught):
    module, args = caught[path]
    subtree = functools.reduce(lambda tree, key: tree[key], path.split("/"), params)
    stages.append((path, repeated.get(path, 1),
                   lambda *a, m=module, t=subtree: m.apply({"params": t}, *a), args))
  if out.flow is not None:
    stages.append(("warp + compose", 1,
                   lambda x, f, b, a: models.compose(warp_lib.warp(x, f), b, a),
                   (image, out.flow, out.image, jnp.full(out.image.shape[:3] + (1,), 0.5))))
  return stages


def profile(variant: str, batch: int, size: int, conv_impl: str, repeats: int,
            trace_dir: str | None) -> None:
  """Emits each stage's time, then the whole forward's (and writes its trace)."""
  generator = models.Generator(variant=variant, conv_impl=conv_impl)
  image_spec, aus_spec = common.generator_inputs(batch, size)
  image = jax.random.uniform(jax.random.key(1), image_spec.shape, minval=-1.0, maxval=1.0)
  target = jax.random.uniform(jax.random.key(2), aus_spec.shape)
  params = jax.jit(generator.init)(jax.random.key(0), image, target)["params"]
  layers = common.conv_layers(generator, *common.generator_inputs(1, size))
  # Small batches are timed over many calls: single calls scatter by ±15%.
  calls = max(repeats, 64 // batch)
  total = 0.0
  for name, count, fn, args in _stages(generator, params, image, target):
    stats = common.time_fn(lambda f=jax.jit(fn), a=args: f(*a), repeats=calls, warmup=3)
    gflop = batch * sum(l.flops for l in layers if l.module.startswith(name)) / 1e9
    total += count * stats["median"]
    common.emit(benchmark="profile_stage", variant=variant, batch=batch, stage=name, count=count,
                ms_median=1e3 * stats["median"], ms_min=1e3 * stats["min"], gflop=gflop,
                gflops=gflop / stats["min"] if gflop else None)
  forward = jax.jit(lambda p, x, t: generator.apply({"params": p}, x, t))
  whole = common.time_fn(lambda: forward(params, image, target), repeats=calls, warmup=3)
  common.emit(benchmark="profile_whole", variant=variant, batch=batch,
              ms_median=1e3 * whole["median"], ms_min=1e3 * whole["min"],
              stages_sum_ms=1e3 * total, gflop=batch * sum(l.flops for l in layers) / 1e9)
  if trace_dir:
    with jax.profiler.trace(trace_dir):
      for _ in range(calls):
        jax.block_until_ready(forward(params, image, target))
    common.emit(benchmark="profile_trace", variant=variant, batch=batch, trace_dir=trace_dir)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.setup()
  common.emit(benchmark="peak", when="before", **common.peak_gflops())
  for batch in map(int, _BATCHES.value):
    profile(_VARIANT.value, batch, _SIZE.value, _CONV_IMPL.value, _REPEATS.value,
            _TRACE_DIR.value and f"{_TRACE_DIR.value}/batch{batch}")
  common.emit(benchmark="peak", when="after", **common.peak_gflops())


if __name__ == "__main__":
  _VARIANT = flags.DEFINE_enum("variant", "dftnet", models.VARIANTS, "Generator variant.")
  _BATCHES = int_lists.positive(
      flags.DEFINE_list("batches", ["1", "32"], "Batch sizes to profile."))
  _SIZE = flags.DEFINE_integer("size", 128, "Image side in pixels.")
  _CONV_IMPL = flags.DEFINE_string("conv_impl", "auto", "Convolution formulation"
                                   " (models.Generator.conv_impl).")
  _REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls (more where needed to reach 64"
                                  " images).")
  _TRACE_DIR = flags.DEFINE_string("trace_dir", None,
                                   "Write a jax.profiler trace of the whole forward here")
  common.define_flags()
  app.run(main)
