"""Stride-1 convolutions as matmuls over patches, and the banded gradient.

`im2col_valid` is the whole conv as one matmul over its patches (the
critic's formulation: its double backward under the gradient penalty is
10-50× faster than XLA:CPU's own). `valid_fast_grads` keeps a fast forward
and input gradient and takes the weight gradient as im2col matmuls over
bands of rows small enough to stay in cache (`banded_weight_grad`).
"""

from __future__ import annotations

import functools

import jax
from jax import lax
import jax.numpy as jnp

from dftnet_jax.cpu_conv import native
from dftnet_jax.cpu_conv import winograd as winograd_lib

# Patch bytes per step of the banded weight gradient: small enough to stay
# in this CPU's cache, large enough for an efficient matmul (measured).
_PATCH_BAND_BYTES = 4 << 20


def patches(x: jax.Array, kh: int, kw: int) -> jax.Array:
  """[B, H, W, C] → [B, H', W', kh·kw·C]: every VALID window, (row, col, c)."""
  ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  if (kh, kw) == (1, 1):
    return x
  if (ho, wo) == (1, 1):
    return x[:, :kh, :kw, :].reshape(x.shape[0], 1, 1, kh * kw * x.shape[3])
  return jnp.concatenate(
      [x[:, i:i + ho, j:j + wo, :] for i in range(kh) for j in range(kw)], axis=-1)


def im2col_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID conv as one matmul over the concatenated shifted slices."""
  kh, kw, c, o = kernel.shape
  return jnp.dot(patches(x, kh, kw), kernel.reshape(kh * kw * c, o))


def banded_weight_grad(x: jax.Array, g: jax.Array, kernel_shape: tuple[int, ...]) -> jax.Array:
  """∂⟨conv(x, w), g⟩/∂w for a stride-1 VALID conv, one band of rows at a time.

  XLA:CPU's own filter gradient runs at 40-100 GFLOP/s on large images, and
  one matmul over all patches spends its time writing them (1.2 GB at
  128×128×128); bands of a few MB stay in cache and run near matmul peak.
  """
  kh, kw, c, o = kernel_shape
  batch, ho, wo, _ = g.shape
  row_bytes = wo * kh * kw * c * x.dtype.itemsize
  rows = max([r for r in range(1, ho + 1) if ho % r == 0 and r * row_bytes <= _PATCH_BAND_BYTES],
             default=1)
  bands = ho // rows

  def add_band(acc: jax.Array, index: jax.Array) -> tuple[jax.Array, None]:
    n, top = index // bands, (index % bands) * rows
    xs = lax.dynamic_slice(x, (n, top, 0, 0), (1, rows + kh - 1, x.shape[2], c))
    gs = lax.dynamic_slice(g, (n, top, 0, 0), (1, rows, wo, o))
    return acc + jnp.einsum("bhwk,bhwo->ko", patches(xs, kh, kw), gs,
                            preferred_element_type=jnp.float32), None

  # Accumulated in float32 whatever the compute dtype: bfloat16 sums of many
  # bands would lose the small ones.
  acc, _ = lax.scan(add_band, jnp.zeros((kh * kw * c, o), jnp.float32), jnp.arange(batch * bands))
  return acc.reshape(kernel_shape).astype(g.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def valid_fast_grads(x: jax.Array, kernel: jax.Array, winograd: bool = False) -> jax.Array:
  """A stride-1 VALID conv with the gradients measured fastest on CPU.

  Plain: native forward and input gradient, banded im2col weight gradient.
  With `winograd`: Winograd forward and input gradient, and for 3×3 kernels
  Winograd's own weight gradient (banded's is faster for 2×2).
  """
  return winograd_lib.valid(x, kernel) if winograd else native.valid(x, kernel)


def _valid_fast_grads_fwd(x, kernel, winograd):
  return valid_fast_grads(x, kernel, winograd), (x, kernel)


def _valid_fast_grads_bwd(winograd, residuals, g):
  x, kernel = residuals
  k = kernel.shape[0]
  if winograd:
    # The input gradient of a VALID correlation is the full correlation of
    # g with the flipped, transposed kernel: one more Winograd forward.
    dx = winograd_lib.valid(native.pad(g, k - 1, k - 1), jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
  else:
    # The primal output of this vjp is unused, so XLA drops it.
    (dx,) = jax.vjp(lambda x_: native.valid(x_, kernel), x)[1](g)
  if winograd and k == 3:
    # Winograd's own: 36 matmuls of transformed tiles by transformed g.
    (dw,) = jax.vjp(lambda w_: winograd_lib.valid(x, w_), kernel)[1](g)
  else:
    dw = banded_weight_grad(x, g, kernel.shape)
  return dx, dw


valid_fast_grads.defvjp(_valid_fast_grads_fwd, _valid_fast_grads_bwd)
