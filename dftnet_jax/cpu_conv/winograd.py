"""Winograd's minimal filtering for 3×3 and 2×2 stride-1 convolutions.

F(4×4, 3×3) and F(3×3, 2×2) (Lavin & Gray, 2016): 36 multiplications per 16
outputs instead of 144, 16 per 9 instead of 36. Equal to the plain
convolution up to float32 rounding (~1e-5 relative); too coarse in bfloat16.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np


class Winograd(NamedTuple):
  """F(m×m, r×r): an α×α input tile d (α = m + r - 1) and an r×r kernel g
  give the m×m outputs Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A: α² multiplications where
  the direct sum spends m²·r²."""
  bt: np.ndarray  # [α, α]
  g: np.ndarray   # [α, r]
  at: np.ndarray  # [m, α]


# Interpolation points 0, ±1, ±2, ∞ (Lavin & Gray, 2016): 36 multiplications
# per 16 outputs instead of 144.
_F4X4_3X3 = Winograd(
    bt=np.array([[4, 0, -5, 0, 1, 0],
                 [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0],
                 [0, 4, 0, -5, 0, 1]]),
    g=np.array([[1 / 4, 0, 0],
                [-1 / 6, -1 / 6, -1 / 6],
                [-1 / 6, 1 / 6, -1 / 6],
                [1 / 24, 1 / 12, 1 / 6],
                [1 / 24, -1 / 12, 1 / 6],
                [0, 0, 1]]),
    at=np.array([[1, 1, 1, 1, 1, 0],
                 [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]]))
# Points 0, ±1, ∞: 16 multiplications per 9 outputs instead of 36 (the 2×2
# convs of the sub-pixel transposed conv and of space-to-depth).
_F3X3_2X2 = Winograd(
    bt=np.array([[1, 0, -1, 0],
                 [0, 1, 1, 0],
                 [0, -1, 1, 0],
                 [0, -1, 0, 1]]),
    g=np.array([[1, 0],
                [1 / 2, 1 / 2],
                [1 / 2, -1 / 2],
                [0, 1]]),
    at=np.array([[1, 1, 1, 0],
                 [0, 1, -1, 0],
                 [0, 1, 1, 1]]))
WINOGRAD_KERNELS = {3: _F4X4_3X3, 2: _F3X3_2X2}


def _transform(matrix: np.ndarray, x: jax.Array, axis: int) -> jax.Array:
  """`matrix` applied along `axis` of x; that axis moves to the front.

  Written as sums of scaled slices, which XLA fuses into one memory pass: a
  dot whose contraction is 4-6 long runs several times slower on CPU.
  """
  parts = [lax.index_in_dim(x, i, axis, keepdims=False) for i in range(matrix.shape[1])]
  return jnp.stack([sum(float(c) * part for c, part in zip(row, parts) if c)
                    for row in matrix])


def _winograd_tiles(x: jax.Array, m: int, alpha: int) -> tuple[jax.Array, int, int]:
  """[B, H, W, C] → [B, th, α, tw, α, C]: α×α tiles every m pixels.

  The input is zero-padded at the bottom and right to (th + 1)·m so that
  each tile is one m-pixel block plus the first α - m of the next (α ≤ 2m):
  two slices and a concatenation per axis, whose transposes in the
  gradient are as cheap.
  """
  b, h, w, c = x.shape
  r = alpha - m + 1
  th, tw = -(-(h - r + 1) // m), -(-(w - r + 1) // m)
  x = jnp.pad(x, ((0, 0), (0, m * th + m - h), (0, m * tw + m - w), (0, 0)))
  x = x.reshape(b, th + 1, m, m * tw + m, c)
  x = jnp.concatenate([x[:, :th], x[:, 1:, :alpha - m]], axis=2)
  x = x.reshape(b, th, alpha, tw + 1, m, c)
  return jnp.concatenate([x[:, :, :, :tw], x[:, :, :, 1:, :alpha - m]], axis=4), th, tw


def valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID conv by Winograd (`WINOGRAD_KERNELS`): α² batched matmuls."""
  b, h, w, c = x.shape
  r, _, _, o = kernel.shape
  f = WINOGRAD_KERNELS[r]
  m, alpha = f.at.shape
  tiles, th, tw = _winograd_tiles(x, m, alpha)
  # Transformed tiles and kernel, both indexed [row freq, column freq, ...];
  # the kernel's as one matmul by G ⊗ G (r² → α² taps), which beats the sums.
  v = _transform(f.bt, _transform(f.bt, tiles, 4), 3)
  u = jnp.dot(jnp.asarray(np.kron(f.g, f.g), jnp.result_type(kernel)), kernel.reshape(r * r, c * o))
  prods = jnp.einsum("fnc,fco->fno", v.reshape(alpha * alpha, b * th * tw, c),
                     u.reshape(alpha * alpha, c, o))
  y = _transform(f.at, _transform(f.at, prods.reshape(alpha, alpha, b, th, tw, o), 0), 1)
  # y is [column s, row t, B, th, tw, O]: pixel (m·ti + t, m·tj + s).
  y = y.transpose(2, 3, 1, 4, 0, 5).reshape(b, m * th, m * tw, o)
  return y[:, :h - r + 1, :w - r + 1]
