"""Tests for dftnet_jax.warp against scipy, closed forms and finite differences.

The contract (module docstring, DESIGN §1): flow in normalised coordinates,
pixel centres at (2j + 1) / W - 1 (align_corners=False), so a flow Φ moves
the sampling point of pixel (i, j) to row i + Φy·H/2, column j + Φx·W/2;
outside the image the border is replicated.
"""

import jax
import jax.numpy as jnp
from jax import test_util
import numpy as np
import pytest
from scipy import ndimage

from dftnet_jax import warp as warp_lib


def _scipy_warp(image, flow):
  """Independent reference: scipy's bilinear sampler in float64, edge replicated."""
  image = np.asarray(image, np.float64)
  flow = np.asarray(flow, np.float64)
  batch, height, width, channels = image.shape
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  out = np.empty_like(image)
  for b in range(batch):
    coords = [rows + flow[b, ..., 1] * height / 2, cols + flow[b, ..., 0] * width / 2]
    for c in range(channels):
      out[b, ..., c] = ndimage.map_coordinates(image[b, ..., c], coords, order=1,
                                               mode="nearest")
  return out


def _random(shape, seed, low=-1.0, high=1.0):
  return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _interior_flow(batch, height, width, seed):
  """A flow whose sampling points are non-integer and away from the clamp.

  Every point lies at least 0.15 px from an integer coordinate and inside
  [0.15, size - 1.15], where bilinear sampling is smooth in the flow.
  """
  rng = np.random.default_rng(seed)
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  target_r = rng.integers(0, height - 1, (batch, height, width)) + rng.uniform(
      0.15, 0.85, (batch, height, width))
  target_c = rng.integers(0, width - 1, (batch, height, width)) + rng.uniform(
      0.15, 0.85, (batch, height, width))
  flow = np.stack([(target_c - cols) * 2 / width, (target_r - rows) * 2 / height], -1)
  return flow.astype(np.float32)


@pytest.mark.parametrize("height, width", [(4, 4), (5, 8), (1, 3), (7, 2)])
def test_identity_grid_closed_form(height, width):
  """identity_grid holds the pixel centres (2j + 1)/W - 1 (x) and (2i + 1)/H - 1 (y)."""
  grid = np.asarray(warp_lib.identity_grid(height, width))
  assert grid.shape == (height, width, 2)
  for i in range(height):
    for j in range(width):
      np.testing.assert_allclose(grid[i, j], [(2 * j + 1) / width - 1,
                                              (2 * i + 1) / height - 1], atol=1e-7)


@pytest.mark.parametrize("shape", [(1, 4, 4, 3), (2, 5, 7, 1), (2, 6, 3, 4)])
def test_zero_flow_is_identity(shape):
  """Φ = 0 samples every pixel at its own centre, returning the input."""
  image = _random(shape, 0)
  flow = np.zeros(shape[:3] + (2,), np.float32)
  np.testing.assert_allclose(warp_lib.warp(image, flow), image, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dx, dy", [(2, 0), (0, -3), (1, 2), (-2, -1), (3, 3)])
def test_integer_shift(dx, dy):
  """Φ = (2·dx/W, 2·dy/H) shifts by whole pixels: a roll inside, the edge outside.

  Output pixel (i, j) reads input (i + dy, j + dx); where that lies outside the
  image, the nearest border pixel is repeated.
  """
  batch, height, width, channels = 2, 7, 9, 3
  image = _random((batch, height, width, channels), 1)
  flow = np.zeros((batch, height, width, 2), np.float32)
  flow[..., 0], flow[..., 1] = 2 * dx / width, 2 * dy / height
  out = np.asarray(warp_lib.warp(image, flow))

  rolled = np.roll(image, (-dy, -dx), axis=(1, 2))
  rows = slice(max(0, -dy), height - max(0, dy))
  cols = slice(max(0, -dx), width - max(0, dx))
  np.testing.assert_allclose(out[:, rows, cols], rolled[:, rows, cols], rtol=0, atol=1e-6)

  src_r = np.clip(np.arange(height) + dy, 0, height - 1)
  src_c = np.clip(np.arange(width) + dx, 0, width - 1)
  replicated = image[:, src_r][:, :, src_c]
  border = np.ones((height, width), bool)
  border[rows, cols] = False
  assert border.any()
  np.testing.assert_allclose(out[:, border], replicated[:, border], rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape, scale", [
    ((2, 6, 6, 3), 0.3),
    ((2, 5, 9, 1), 1.0),
    ((1, 8, 3, 5), 2.0),  # Most points land far outside the image.
    ((3, 4, 7, 2), 0.6),
    ((2, 1, 5, 2), 0.8),  # A single row: y is clamped everywhere.
])
def test_matches_scipy(shape, scale):
  """Random flows, in and out of the image, match scipy's map_coordinates."""
  image = _random(shape, 2)
  flow = _random(shape[:3] + (2,), 3, -scale, scale)
  np.testing.assert_allclose(warp_lib.warp(image, flow), _scipy_warp(image, flow),
                             rtol=0, atol=1e-5)


def test_grid_sample_convention():
  """Absolute grid = identity_grid + Φ, unnormalised as grid_sample does, is where we sample.

  PyTorch (align_corners=False) maps x ∈ [-1, 1] to pixel ((x + 1)·W - 1)/2.
  """
  batch, height, width, channels = 2, 5, 8, 3
  image = _random((batch, height, width, channels), 4)
  flow = _random((batch, height, width, 2), 5, -0.7, 0.7)
  grid = np.asarray(warp_lib.identity_grid(height, width), np.float64)[None] + flow
  cols = ((grid[..., 0] + 1) * width - 1) / 2
  rows = ((grid[..., 1] + 1) * height - 1) / 2
  expected = np.stack([
      np.stack([ndimage.map_coordinates(image[b, ..., c].astype(np.float64),
                                        [rows[b], cols[b]], order=1, mode="nearest")
                for c in range(channels)], -1)
      for b in range(batch)])
  np.testing.assert_allclose(warp_lib.warp(image, flow), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_check_grads(mode):
  """JAX's derivatives in image and flow agree with its numerical ones.

  check_grads multiplies its tolerances by the output size, hence the small ones.
  """
  batch, height, width, channels = 2, 5, 6, 2
  image = _random((batch, height, width, channels), 6)
  flow = _interior_flow(batch, height, width, 7)
  test_util.check_grads(warp_lib.warp, (image, flow), order=1, modes=[mode],
                        eps=1e-3, atol=1e-4, rtol=1e-4)


def test_flow_gradient_finite_differences():
  """d/dΦ of ⟨r, warp(X, Φ)⟩ equals central differences of the scipy reference.

  Output pixel (i, j) depends only on Φ[i, j], so moving one flow channel
  everywhere at once gives every pixel's partial derivative.
  """
  batch, height, width, channels = 2, 6, 5, 3
  image = _random((batch, height, width, channels), 8)
  flow = _interior_flow(batch, height, width, 9)
  weights = _random((batch, height, width, channels), 10)
  grad = np.asarray(jax.grad(lambda f: jnp.sum(warp_lib.warp(image, f) * weights))(flow))
  step = 1e-4
  for d in range(2):
    delta = np.zeros_like(flow, np.float64)
    delta[..., d] = step
    plus = (_scipy_warp(image, flow + delta) * weights).sum(-1)
    minus = (_scipy_warp(image, flow - delta) * weights).sum(-1)
    np.testing.assert_allclose(grad[..., d], (plus - minus) / (2 * step), rtol=1e-4, atol=1e-4)


def test_image_gradient_is_the_adjoint():
  """d/dX of ⟨r, warp(X, Φ)⟩ scatters r with the bilinear weights (numpy loop)."""
  batch, height, width, channels = 1, 4, 5, 2
  image = _random((batch, height, width, channels), 11)
  flow = _random((batch, height, width, 2), 12, -0.8, 0.8)
  weights = _random((batch, height, width, channels), 13)
  grad = np.asarray(jax.grad(lambda x: jnp.sum(warp_lib.warp(x, flow) * weights))(image))
  expected = np.zeros((batch, height, width, channels))
  for b in range(batch):
    for i in range(height):
      for j in range(width):
        r = min(max(i + flow[b, i, j, 1] * height / 2, 0), height - 1)
        c = min(max(j + flow[b, i, j, 0] * width / 2, 0), width - 1)
        r0, c0 = int(np.floor(r)), int(np.floor(c))
        for rr, wr in ((r0, 1 - (r - r0)), (min(r0 + 1, height - 1), r - r0)):
          for cc, wc in ((c0, 1 - (c - c0)), (min(c0 + 1, width - 1), c - c0)):
            expected[b, rr, cc] += wr * wc * weights[b, i, j]
  np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-5)


def test_under_jit():
  """An enclosing jax.jit gives the reference result."""
  image = _random((2, 5, 6, 3), 14)
  flow = _random((2, 5, 6, 2), 15)
  out = jax.jit(lambda x, f: warp_lib.warp(x, f) * 2.0)(image, flow)
  np.testing.assert_allclose(out, 2.0 * _scipy_warp(image, flow), rtol=0, atol=2e-5)


def test_under_vmap():
  """vmap over an extra leading axis equals looping over it."""
  images = _random((3, 2, 4, 5, 3), 16)
  flows = _random((3, 2, 4, 5, 2), 17)
  out = np.asarray(jax.vmap(warp_lib.warp)(images, flows))
  assert out.shape == images.shape
  for n in range(3):
    np.testing.assert_allclose(out[n], _scipy_warp(images[n], flows[n]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("image_shape, flow_shape", [
    ((2, 4, 5, 3), (2, 4, 6, 2)),
    ((2, 4, 5, 3), (2, 5, 5, 2)),
    ((2, 4, 5, 3), (1, 4, 5, 2)),
    ((2, 4, 5, 3), (2, 4, 5, 3)),
    ((4, 5, 3), (4, 5, 2)),
    ((2, 4, 5, 3), (2, 4, 5, 1, 2)),
])
def test_shape_errors(image_shape, flow_shape):
  """Mismatched or malformed shapes raise a ValueError that shows both shapes."""
  with pytest.raises(ValueError) as info:
    warp_lib.warp(np.zeros(image_shape, np.float32), np.zeros(flow_shape, np.float32))
  assert str(image_shape) in str(info.value) and str(flow_shape) in str(info.value)
