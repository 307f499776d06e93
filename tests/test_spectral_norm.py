"""Spectral normalisation of the critic's kernels (`dftnet_jax.spectral_norm`),
checked against numpy's SVD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftnet_jax import layers
from dftnet_jax import models
from dftnet_jax import spectral_norm

# The demo critic's conv matrices [k·k·C_in, C_out] (width 16, 5 layers) and
# its AU head's, at GANimation's N(0, 0.02) init.
DEMO_SHAPES = [(48, 16), (256, 32), (512, 64), (1024, 128), (2048, 256), (1024, 17)]


@pytest.mark.parametrize("shape", DEMO_SHAPES)
def test_the_estimate_is_within_two_percent_below_the_largest_singular_value(shape):
  matrix = np.random.default_rng(0).normal(0.0, 0.02, shape).astype(np.float32)
  exact = np.linalg.svd(matrix, compute_uv=False)[0]
  estimate = float(spectral_norm.largest_singular_value(jnp.asarray(matrix)))
  # Power iteration's Rayleigh quotient never exceeds σ₁.
  assert 0.98 * exact <= estimate <= exact * (1 + 1e-5)


def test_the_gradient_is_the_top_singular_vectors_outer_product():
  """∂σ₁/∂W = u₁ v₁ᵀ where the top singular value stands apart."""
  rng = np.random.default_rng(1)
  u, _ = np.linalg.qr(rng.normal(size=(40, 6)))
  v, _ = np.linalg.qr(rng.normal(size=(6, 6)))
  matrix = (u * np.array([3.0, 1.5, 1.0, 0.7, 0.4, 0.1])) @ v.T
  grad = jax.grad(spectral_norm.largest_singular_value)(jnp.asarray(matrix, jnp.float32))
  left, _, right = np.linalg.svd(matrix)
  np.testing.assert_allclose(grad, np.outer(left[:, 0], right[0]), atol=1e-5)


def test_a_normalised_conv_ignores_the_kernels_scale_and_has_unit_norm():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
  conv = layers.Conv(8, 4, stride=2, padding=1, spectral_norm=True)
  params = conv.init(jax.random.PRNGKey(1), x)
  scaled = jax.tree_util.tree_map(lambda p: 7.0 * p, params)
  np.testing.assert_allclose(conv.apply(scaled, x), conv.apply(params, x), rtol=1e-4, atol=1e-6)
  kernel = spectral_norm.normalise(params["params"]["kernel"])
  assert np.linalg.svd(np.asarray(kernel).reshape(-1, 8), compute_uv=False)[0] == pytest.approx(
      1.0, abs=0.02)


def test_the_critic_normalises_every_kernel_only_when_asked():
  """A critic whose kernels are all scaled by 10 scores as before when it is
  normalised (biases zero at init) and does not when it is not."""
  image = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3), minval=-1.0, maxval=1.0)
  for normalised in (True, False):
    critic = models.Discriminator(width=4, num_layers=3, spectral_norm=normalised)
    params = critic.init(jax.random.PRNGKey(1), image)
    scaled = jax.tree_util.tree_map(lambda p: 10.0 * p, params)
    same = all(np.allclose(a, b, rtol=1e-3, atol=1e-6)
               for a, b in zip(critic.apply(params, image), critic.apply(scaled, image)))
    assert same == normalised
