"""Which formulation each layer runs: 'auto' resolved per backend and shape."""

from __future__ import annotations

import jax

IMPLS: tuple[str, ...] = ("auto", "native", "s2d", "im2col", "banded", "winograd")
# Stride-1 convs smaller than this (GFLOP per example, forward) run as fast
# natively: the banded gradient only pays where XLA's own is slow (measured).
_MIN_BANDED_GFLOP = 0.5
# Winograd's transforms are memory-bound passes over tiles 1.8-2.25× the
# input; past this input size (whole batch) they cost more than the saved
# multiplications (measured at batch 16: 64²×256 in, 64 MB, gains 1.3x over
# banded; 128²×128, 128 MB, loses 1.2x).
_MAX_WINOGRAD_BYTES = 64 << 20


def resolve_impl(impl: str, *, transposed: bool = False, twice_differentiated: bool = False,
                 stride: int = 1, kernel_size: int = 0, gflop_per_example: float = 0.0,
                 input_bytes: int = 0, dtype: str = "float32") -> str:
  """Turns 'auto' into the formulation this backend runs fastest.

  Accelerators keep native convolutions (cuDNN and TPUs have no slow
  gradient paths to dodge). On CPU, per `benchmarks/conv_layers.py` (README,
  "Convolutions on CPU"):
    - the critic, which the gradient penalty differentiates twice: im2col
      (10-50x faster double backward than native);
    - transposed convs: banded (native's weight gradient is 30-60x slower),
      winograd where that pays (below: its 2×2 forward and input gradient,
      1.3x faster forward at batch 1, 1.2x a training cycle at batch 16);
    - stride-1 convs of at least 0.5 GFLOP per example: winograd if 3×3
      (the bottleneck's residual blocks at batch 16: 1.8x faster forward,
      1.8x faster forward and both gradients than banded), else banded
      (2-3x faster weight gradient than native); smaller ones (the 64×64
      demo's, the 3-channel heads): native, as fast or faster there;
    - Winograd only in float32 (bfloat16 is too coarse for its transforms),
      from 0.5 GFLOP per example (smaller layers lose to its transforms)
      and up to 64 MB of input per batch (`_MAX_WINOGRAD_BYTES`);
    - strided convs: native.

  Args:
    impl: 'auto' or a formulation name (returned unchanged).
    transposed: the layer is a ×2 transposed conv.
    twice_differentiated: the layer sits under a nested grad (the critic).
    stride: the layer's stride.
    kernel_size: the layer's (square) kernel side.
    gflop_per_example: the layer's forward cost.
    input_bytes: the size of the layer's input, whole batch.
    dtype: the layer's compute dtype.
  """
  if impl not in IMPLS:
    raise ValueError(f"unknown convolution impl {impl!r}; expected one of {IMPLS}")
  if impl != "auto":
    return impl
  if jax.default_backend() != "cpu":
    return "native"
  if twice_differentiated:
    return "im2col"
  winograd = (dtype == "float32" and input_bytes <= _MAX_WINOGRAD_BYTES
              and gflop_per_example >= _MIN_BANDED_GFLOP)
  if transposed:
    return "winograd" if winograd else "banded"
  if stride != 1 or gflop_per_example < _MIN_BANDED_GFLOP:
    return "native"
  return "winograd" if winograd and kernel_size == 3 else "banded"
