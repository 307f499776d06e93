"""Shared benchmark plumbing: timing, JSON lines, the machine's peak, layers.

Every benchmark prints one JSON object per line so figures can be collected
with `jq` or pandas; times are seconds unless a key says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
import os
import statistics
import time
from typing import Any, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # pylint: disable=g-import-not-at-top
import flax.linen as nn
import jax
import jax.numpy as jnp

from benchmarks.jsonl import emit  # pylint: disable=unused-import (benchmarks call common.emit)
from dftnet_jax import allocator
from dftnet_jax import aus
from dftnet_jax import layers
from dftnet_jax.cpu_conv import convolve


def define_flags() -> None:
  """Defines `--malloc`; called from a benchmark's `__main__` block, so that
  importing a benchmark (tests, `benchmarks.accelerator`) claims no flag names.

  `--malloc=retain` (the default, as in `dftnet_jax.main`) keeps freed memory
  mapped; `default` leaves glibc as it is, to measure what that costs.
  """
  # Disclaimed here, the flag counts as the calling benchmark's own: its --help lists it.
  flags.disclaim_key_flags()
  flags.DEFINE_enum("malloc", "retain", ["retain", "default"],
                    "Glibc malloc: keep freed memory mapped (retain) or not")


def setup() -> None:
  """Applies `--malloc` before JAX runs anything; emits the 'setup' line
  (malloc setting, JAX version, device, cores). First thing in a `main`."""
  malloc = flags.FLAGS.malloc
  if malloc == "retain" and not allocator.retain_freed_memory():
    raise SystemExit("--malloc=retain needs glibc malloc; pass --malloc=default")
  emit(benchmark="setup", malloc=malloc, jax=jax.__version__,
       device=jax.devices()[0].device_kind, cpus=os.cpu_count())


def time_fn(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1,
            warm_up_fn: Callable[[], Any] | None = None) -> dict[str, float]:
  """Median/min/max seconds of `fn()` (its result blocked on) after warm-up.

  `warm_up_fn` replaces `fn` for the warm-up where a full call is too long.
  """
  for _ in range(warmup):
    jax.block_until_ready((warm_up_fn or fn)())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def peak_gflops(repeats: int = 5) -> dict[str, float]:
  """The machine's reachable float32 GFLOP/s: a 2048² matmul and a big conv.

  Measured in the same run as the figures it scales, since this shared
  machine's speed drifts by tens of percent between runs.
  """
  n = 2048
  a = jax.random.normal(jax.random.key(0), (n, n))
  matmul = jax.jit(lambda x: x @ x)
  t_mm = time_fn(lambda: matmul(a), repeats=repeats)["min"]
  x = jax.random.normal(jax.random.key(1), (16, 32, 32, 256))
  w = jax.random.normal(jax.random.key(2), (3, 3, 256, 256)) * 0.02
  conv_fn = jax.jit(lambda x, w: convolve.conv2d(x, w, padding=1))
  t_conv = time_fn(lambda: conv_fn(x, w), repeats=repeats)["min"]
  conv_flops = 2 * 16 * 32 * 32 * 9 * 256 * 256
  return {"matmul_gflops": 2 * n ** 3 / t_mm / 1e9, "conv_gflops": conv_flops / t_conv / 1e9}


class LayerCall(NamedTuple):
  """One convolution as a network calls it (shapes without the batch axis)."""
  module: str        # flax path, e.g. 'encoder/Conv_1'
  kind: str          # 'conv' or 'conv_transpose2x'
  in_shape: tuple[int, int, int]
  features: int
  kernel_size: int
  stride: int
  padding: int
  constants: int = 0  # input channels constant over the image (the AU maps)

  @property
  def out_hw(self) -> tuple[int, int]:
    if self.kind == "conv_transpose2x":
      return 2 * self.in_shape[0], 2 * self.in_shape[1]
    return tuple((n + 2 * self.padding - self.kernel_size) // self.stride + 1
                 for n in self.in_shape[:2])

  @property
  def flops(self) -> int:
    """Multiply-adds ×2 per example; a transposed conv counts its input taps."""
    if self.kind == "conv_transpose2x":
      h, w = self.in_shape[:2]
    else:
      h, w = self.out_hw
    channels = self.in_shape[2] + self.constants
    return 2 * h * w * self.kernel_size ** 2 * channels * self.features


def conv_layers(module: nn.Module, *inputs: jax.ShapeDtypeStruct) -> list[LayerCall]:
  """Every convolution `module` runs on `inputs`, found by tracing shapes only."""
  calls: list[LayerCall] = []

  def record(next_fun, args, kwargs, context):
    mod = context.module
    if context.method_name == "__call__" and isinstance(mod, (layers.Conv, layers.ConvTranspose2x)):
      x = args[0]
      transposed = isinstance(mod, layers.ConvTranspose2x)
      calls.append(LayerCall(
          module="/".join(mod.path), kind="conv_transpose2x" if transposed else "conv",
          in_shape=tuple(x.shape[1:]), features=mod.features,
          kernel_size=4 if transposed else mod.kernel_size,
          stride=2 if transposed else mod.stride, padding=1 if transposed else mod.padding,
          constants=args[1].shape[-1] if len(args) > 1 and args[1] is not None else 0))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(module.init, jax.random.key(0), *inputs)
  return calls


def generator_inputs(batch: int, size: int) -> tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct]:
  """Abstract generator inputs: images [batch, size, size, 3] and AUs."""
  return (jax.ShapeDtypeStruct((batch, size, size, 3), jnp.float32),
          jax.ShapeDtypeStruct((batch, aus.NUM_AUS), jnp.float32))
