"""The model's two convolutions in any formulation (`policy.IMPLS`).

`conv2d` and `conv_transpose2x` compute the same function of the same
parameters whatever `impl` names, so checkpoints move freely between
formulations and backends.
"""

from __future__ import annotations

import jax
from jax import lax
import jax.numpy as jnp

from dftnet_jax.cpu_conv import im2col
from dftnet_jax.cpu_conv import native
from dftnet_jax.cpu_conv import policy
from dftnet_jax.cpu_conv import space_to_depth as s2d
from dftnet_jax.cpu_conv import winograd


def _valid_stride1(x: jax.Array, kernel: jax.Array, impl: str) -> jax.Array:
  if impl == "im2col":
    return im2col.im2col_valid(x, kernel)
  if impl in ("banded", "winograd"):
    square = kernel.shape[0] == kernel.shape[1]
    return im2col.valid_fast_grads(
        x, kernel, impl == "winograd" and square and kernel.shape[0] in winograd.WINOGRAD_KERNELS)
  return native.valid(x, kernel)


def _check_impl(impl: str) -> None:
  if impl not in policy.IMPLS[1:]:
    raise ValueError(f"unknown convolution impl {impl!r}; expected one of {policy.IMPLS[1:]}"
                     " ('auto' is resolved by the layers)")


def conv2d(x: jax.Array, kernel: jax.Array, *, stride: int = 1, padding: int = 0,
           impl: str = "native") -> jax.Array:
  """Zero-padded cross-correlation, [B, H, W, C] * [k, k, C, O] → NHWC.

  Args:
    x: [B, H, W, C] input.
    kernel: [k, k, C, O] weights.
    stride: spatial stride (the same along H and W).
    padding: zeros added on every side.
    impl: 'native', 's2d', 'im2col', 'banded' or 'winograd' (`cpu_conv`'s doc); 'auto' is
      resolved by the layers, not here.

  Returns:
    [B, (H + 2p - k) // s + 1, (W + 2p - k) // s + 1, O].
  """
  if impl == "native":
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), [(padding, padding)] * 2, dimension_numbers=native.DIMS)
  _check_impl(impl)
  k = kernel.shape[0]
  x = native.pad(x, padding, padding)
  if stride == 1:
    return _valid_stride1(x, kernel, impl)
  # Crop to what the strided conv reads, then pad to a multiple of the stride
  # so space-to-depth tiles it exactly.
  out = [(n - k) // stride + 1 for n in x.shape[1:3]]
  span = [(-(-k // stride) + m - 1) * stride for m in out]
  x = x[:, :min(span[0], x.shape[1]), :min(span[1], x.shape[2]), :]
  x = jnp.pad(x, ((0, 0), (0, span[0] - x.shape[1]), (0, span[1] - x.shape[2]), (0, 0)))
  return _valid_stride1(s2d.space_to_depth(x, stride), s2d.s2d_kernel(kernel, stride), impl)


def conv_transpose2x(x: jax.Array, kernel: jax.Array, *, impl: str = "native") -> jax.Array:
  """×2 upsampling by a 4×4 stride-2 padding-1 transposed convolution.

  Args:
    x: [B, H, W, C] input.
    kernel: [4, 4, C, O] weights in the canonical layout (`layers`' doc).
    impl: 'native' (dilated conv), 's2d' (sub-pixel: one 2×2 conv to the
      four output phases), 'im2col' (sub-pixel with the 2×2 conv as a
      matmul), 'banded' (sub-pixel with a banded weight gradient) or
      'winograd' (banded, with a Winograd F(3×3, 2×2) forward).

  Returns:
    [B, 2H, 2W, O].
  """
  if kernel.shape[:2] != (4, 4):
    raise ValueError(f"conv_transpose2x needs a [4, 4, C, O] kernel, got {kernel.shape}")
  if impl == "native":
    return lax.conv_general_dilated(
        x, kernel[::-1, ::-1], (1, 1), [(2, 2), (2, 2)], lhs_dilation=(2, 2),
        dimension_numbers=native.DIMS)
  _check_impl(impl)
  return s2d.interleave_phases(_valid_stride1(native.pad(x, 1, 1), s2d.phase_kernel(kernel), impl))
