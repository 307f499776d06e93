"""Strided and transposed convolutions rewritten as stride-1 ones.

A stride-b conv is a stride-1 conv of the space-to-depth(b) input with a
rearranged kernel (`s2d_kernel`); a ×2 transposed conv is one stride-1 2×2
conv to its four output phases (`phase_kernel`), interleaved
(`interleave_phases`): the transposed conv's FLOPs exactly, where a shared
3×3 window would spend 9/4 of them. XLA:CPU differentiates the stride-1
forms far faster than the originals (DESIGN §7).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def space_to_depth(x: jax.Array, block: int) -> jax.Array:
  """[B, H, W, C] → [B, H/b, W/b, b·b·C], channel order (row, col, c)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // block, block, w // block, block, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // block, w // block, block * block * c)


def s2d_kernel(kernel: jax.Array, block: int) -> jax.Array:
  """Kernel of a stride-b conv → kernel of the equivalent conv after s2d(b).

  [k, k, C, O] → [k', k', b·b·C, O] with k' = ceil(k / b): tap (b·p + r) of
  the strided conv becomes tap p of sub-pixel r (zero where k is not a
  multiple of b).
  """
  k, _, c, o = kernel.shape
  kp = -(-k // block)
  kernel = jnp.pad(kernel, ((0, kp * block - k), (0, kp * block - k), (0, 0), (0, 0)))
  kernel = kernel.reshape(kp, block, kp, block, c, o).transpose(0, 2, 1, 3, 4, 5)
  return kernel.reshape(kp, kp, block * block * c, o)


def phase_kernel(kernel: jax.Array) -> jax.Array:
  """[4, 4, C, O] transposed-conv kernel → [2, 2, C, 4·O] phase kernel.

  Output pixel (2m + r, 2n + s) reads the 1-padded input at rows m + r + t,
  columns n + s + u (t, u = 0, 1) with kernel tap (3 - r - 2t, 3 - s - 2u):
  each phase (r, s) is a 2×2 conv whose window starts r rows and s columns
  further on. Output channel order is (r, s, o).
  """
  c, o = kernel.shape[2:]
  phases = [kernel[jnp.array([3 - r, 1 - r])][:, jnp.array([3 - s, 1 - s])]
            for r in range(2) for s in range(2)]
  return jnp.stack(phases, axis=3).reshape(2, 2, c, 4 * o)


def interleave_phases(y: jax.Array) -> jax.Array:
  """[B, H+1, W+1, 4·O] phase maps → [B, 2H, 2W, O]; phase (r, s) shifted by (r, s)."""
  b, h, w = y.shape[0], y.shape[1] - 1, y.shape[2] - 1
  y = y.reshape(b, h + 1, w + 1, 2, 2, -1)
  rows = [jnp.stack([y[:, r:r + h, s:s + w, r, s] for s in range(2)], axis=3)
          for r in range(2)]
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, -1)
