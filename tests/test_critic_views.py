"""The critic's shifted and noisy views (`critic_views`) and their path
into both networks' losses."""

import jax
from jax import test_util
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from configs import tiny
from dftnet_jax import critic_views
from dftnet_jax import losses
from dftnet_jax import states
import random_batches


@pytest.mark.parametrize("offsets", [[[0.3, -1.7], [2.5, 0.6]], [[-9.0, 4.0], [0.0, 0.0]]])
def test_shift_matches_scipy_with_the_border_replicated(offsets):
  """Sampling at index + offset moves the content by −offset: scipy's
  linear shift by −offset with 'nearest' edges, whole and fractional
  offsets, some past the edge."""
  images = np.random.default_rng(0).uniform(-1, 1, (2, 9, 7, 3)).astype(np.float32)
  offsets = np.asarray(offsets, np.float32)
  shifted = np.asarray(critic_views.shift(jnp.asarray(images), jnp.asarray(offsets)))
  for image, offset, out in zip(images, offsets, shifted):
    expected = ndimage.shift(image, (-offset[0], -offset[1], 0), order=1, mode="nearest")
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_shift_derivatives_match_finite_differences():
  """First and second derivatives in the images and the offsets (the
  mixed ones are not zero): the gradient penalty differentiates the
  viewing critic twice. Offsets away from whole pixels, where linear
  interpolation has a kink."""
  images = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (1, 5, 6, 2)), jnp.float32)
  offsets = jnp.asarray([[0.4, -0.7]], jnp.float32)
  test_util.check_grads(critic_views.shift, (images, offsets), order=2, modes=("rev",),
                        atol=1e-2, rtol=1e-2)


def test_each_view_is_shifted_by_its_own_offset_within_the_bound():
  """On ramps (value = row index, column index) the interior of a linear
  resampling reads its offset back exactly."""
  size, batch, max_shift = 16, 64, 1.5
  rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  ramps = jnp.asarray(np.broadcast_to(np.stack([rows, cols, rows], -1), (batch, size, size, 3)),
                      jnp.float32)
  keys = jax.random.split(jax.random.key(3), batch)
  viewed = np.asarray(critic_views.view(ramps, keys, max_shift))
  offsets = (viewed - np.asarray(ramps))[:, 4:-4, 4:-4, :2]
  per_example = offsets[:, 0, 0]
  np.testing.assert_allclose(offsets, np.broadcast_to(per_example[:, None, None], offsets.shape),
                             atol=1e-5)
  assert np.all(np.abs(per_example) <= max_shift)
  assert len(np.unique(np.round(per_example, 5), axis=0)) == batch
  # Uniform draws: both signs and most of the range.
  assert per_example.min() < -1.0 and per_example.max() > 1.0


def test_no_shift_is_the_images_themselves_and_needs_no_keys():
  images = jnp.ones((2, 4, 4, 3))
  assert critic_views.view(images, None, 0.0) is images
  assert critic_views.view(images, None, 0.0, 0.0) is images


def test_noise_is_gaussian_of_its_deviation_each_view_its_own_and_leaves_the_shift():
  """The view with noise minus the same view without: zero mean, standard
  deviation σ, Gaussian tails (about 4.6% beyond 2σ), another draw per
  example; the shift's draw is the one the view makes without noise."""
  size, batch, sigma = 32, 16, 0.25
  images = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (batch, size, size, 3)),
                       jnp.float32)
  keys = jax.random.split(jax.random.key(6), batch)
  noise = np.asarray(critic_views.view(images, keys, 1.5, sigma)
                     - critic_views.view(images, keys, 1.5, 0.0))
  assert abs(noise.mean()) < 0.01
  np.testing.assert_allclose(noise.std(), sigma, rtol=0.02)
  np.testing.assert_allclose(np.mean(np.abs(noise) > 2 * sigma), 0.0455, atol=0.005)
  flat = noise.reshape(batch, -1)
  correlations = np.corrcoef(flat)[np.triu_indices(batch, 1)]
  assert np.max(np.abs(correlations)) < 0.05


def _tiny_losses(critic_shift, keys, critic_noise=0.0):
  config = tiny.get_config()
  config.critic_shift = critic_shift
  config.critic_noise = critic_noise
  state = states.create_train_states(config, jax.random.key(0))
  batch = random_batches.random_batch(config, 2)
  d_keys = jax.random.split(jax.random.key(1), config.batch_size)

  # Compiled: op by op, the penalty's inner gradient alone takes seconds.
  @jax.jit
  def metrics(g_params, d_params):
    fake = losses.edit_batch(state.generator.apply_fn, g_params, batch).image
    _, d_metrics = losses.critic_loss(d_params, fake, batch, d_keys,
                                      d_apply=state.critic.apply_fn, config=config)
    _, g_metrics = losses.generator_loss(g_params, d_params, batch, keys,
                                         g_apply=state.generator.apply_fn,
                                         d_apply=state.critic.apply_fn, config=config)
    return d_metrics, g_metrics
  return jax.device_get(metrics(state.generator.params, state.critic.params))


@pytest.mark.parametrize("critic_shift,critic_noise", [(2.0, 0.0), (0.0, 0.1)])
def test_a_viewing_critic_changes_what_both_networks_are_scored_by(critic_shift, critic_noise):
  """Shifted or noisy views change the critic's reading of real and fake
  faces and the generator's adversarial and AU terms, not the terms the
  critic does not enter (the cycle)."""
  keys = jax.random.split(jax.random.key(4), tiny.get_config().batch_size)
  d_plain, g_plain = _tiny_losses(0.0, keys)
  d_viewed, g_viewed = _tiny_losses(critic_shift, keys, critic_noise)
  # An untrained AU head reads noise faces almost alike (d_cond 2e-5 apart
  # here), still 100 times float32's rounding.
  for metrics, viewed, names in ((d_plain, d_viewed, ("d_real_minus_fake", "d_cond", "d_gp")),
                                 (g_plain, g_viewed, ("g_adv", "g_cond"))):
    for name in names:
      assert not np.isclose(metrics[name], viewed[name], rtol=1e-6, atol=0), name
  np.testing.assert_allclose(g_plain["g_cycle"], g_viewed["g_cycle"], rtol=1e-6)


@pytest.mark.parametrize("critic_shift,critic_noise", [(1.0, 0.0), (0.0, 0.1)])
def test_a_viewing_critic_without_generator_keys_is_refused(critic_shift, critic_noise):
  with pytest.raises(ValueError, match="critic_noise"):
    _tiny_losses(critic_shift, None, critic_noise)


@pytest.mark.parametrize("critic_shift,critic_noise", [(0.0, 0.0), (2.0, 0.0), (0.0, 0.1)])
def test_real_and_fake_faces_are_viewed_through_draws_of_their_own(critic_shift, critic_noise):
  """The same faces passed as real and as fake: through one shared draw of
  views (or none) the critic reads them alike and its realness gap is 0
  up to float32's rounding (3e-11 here); each side's own salt views them
  apart."""
  config = tiny.get_config()
  config.critic_shift = critic_shift
  config.critic_noise = critic_noise
  state = states.create_train_states(config, jax.random.key(0))
  b, size = config.batch_size, config.model.image_size
  faces = np.random.default_rng(3).uniform(-1, 1, (b, size, size, 3)).astype(np.float32)
  batch = {"image": faces, "aus": np.zeros((b, 17), np.float32),
           "target_aus": np.zeros((b, 17), np.float32)}
  keys = jax.random.split(jax.random.key(5), b)
  gap = jax.jit(lambda d_params: losses.critic_loss(
      d_params, faces, batch, keys, d_apply=state.critic.apply_fn, config=config,
      terms=("adv",))[1]["d_real_minus_fake"])(state.critic.params)
  assert (abs(float(gap)) > 1e-6) == bool(critic_shift or critic_noise)
