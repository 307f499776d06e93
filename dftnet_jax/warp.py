"""Hand-written bilinear warp: the sampler behind DFT-Net's appearance flow.

Coordinate convention (DESIGN §1, PyTorch `grid_sample(align_corners=False)`):
normalised coordinates in [-1, 1] span the image edge to edge, so pixel `j` of
a width-`W` row has its centre at `(2j + 1) / W - 1`. A flow `Φ[..., 0]` moves
the sampling point along x (width), `Φ[..., 1]` along y (height), and is added
to the identity grid. Outside the image the border pixel is replicated (the
sampling point is clamped to the outermost pixel centres), so a face pulled in
from the edge repeats the edge instead of fading to black.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def identity_grid(height: int, width: int) -> jax.Array:
  """[H, W, 2] normalised (x, y) coordinates of the pixel centres."""
  xs = (2.0 * jnp.arange(width, dtype=jnp.float32) + 1.0) / width - 1.0
  ys = (2.0 * jnp.arange(height, dtype=jnp.float32) + 1.0) / height - 1.0
  return jnp.stack(jnp.meshgrid(xs, ys, indexing="xy"), axis=-1)


def flow_to_pixels(flow: jax.Array) -> jax.Array:
  """Normalised flow [..., H, W, 2] as (dx, dy) displacements in pixels."""
  height, width = flow.shape[-3], flow.shape[-2]
  return flow * jnp.array([width / 2.0, height / 2.0], flow.dtype)


def corner_weights(coord: jax.Array, size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Clamped pixel coordinate → (lower index, upper index, upper weight)."""
  coord = jnp.clip(coord, 0.0, size - 1.0)
  lower = jnp.floor(coord)
  frac = coord - lower
  lower = lower.astype(jnp.int32)
  return lower, jnp.minimum(lower + 1, size - 1), frac


def _warp_one(image: jax.Array, flow: jax.Array) -> jax.Array:
  """Warps one [H, W, C] image by one [H, W, 2] flow."""
  height, width, channels = image.shape
  # Identity grid plus flow, in pixel units: x_pix = j + Φx·W/2.
  pixels = flow_to_pixels(flow)
  cols = jnp.arange(width, dtype=flow.dtype)[None, :] + pixels[..., 0]
  rows = jnp.arange(height, dtype=flow.dtype)[:, None] + pixels[..., 1]
  x0, x1, wx = corner_weights(cols, width)
  y0, y1, wy = corner_weights(rows, height)
  flat = image.reshape(height * width, channels)

  def tap(y: jax.Array, x: jax.Array) -> jax.Array:
    return flat[(y * width + x).reshape(-1)].reshape(height, width, channels)

  wx, wy = wx[..., None], wy[..., None]
  top = tap(y0, x0) * (1.0 - wx) + tap(y0, x1) * wx
  bottom = tap(y1, x0) * (1.0 - wx) + tap(y1, x1) * wx
  return top * (1.0 - wy) + bottom * wy


@jax.jit
def warp(image: jax.Array, flow: jax.Array) -> jax.Array:
  """Bilinearly samples `image` at the identity grid displaced by `flow`.

  Args:
    image: [B, H, W, C] float images.
    flow: [B, H, W, 2] offsets in normalised coordinates (x, y); see module doc.

  Returns:
    [B, H, W, C] warped images; differentiable in both `image` and `flow`.
  """
  if image.ndim != 4 or flow.ndim != 4 or flow.shape[-1] != 2:
    raise ValueError(
        f"warp expects image [B, H, W, C] and flow [B, H, W, 2], got"
        f" {image.shape} and {flow.shape}")
  if image.shape[:3] != flow.shape[:3]:
    raise ValueError(
        f"image {image.shape} and flow {flow.shape} disagree on [B, H, W]")
  return jax.vmap(_warp_one)(image, flow.astype(image.dtype))
