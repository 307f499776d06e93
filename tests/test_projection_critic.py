"""A projection critic's terms in both networks' losses (`model.d_projection`,
`loss.mismatch`), against the critic applied pair by pair."""

import jax
import numpy as np
import pytest

from configs import tiny
from dftnet_jax import losses
from dftnet_jax import states
import random_batches


def _setup(mismatch):
  config = tiny.get_config()
  config.model.d_projection = True
  config.loss.mismatch = mismatch
  state = states.create_train_states(config, jax.random.key(0))
  # W starts at zero; a trained one reads the AUs.
  d_params = jax.tree.map(np.asarray, state.critic.params)
  kernel = d_params["au_projection"]["kernel"]
  d_params["au_projection"]["kernel"] = np.random.default_rng(1).normal(
      size=kernel.shape).astype(np.float32)
  batch = random_batches.random_batch(config, 2)
  return config, state, d_params, batch


def _mean_score(state, d_params, images, aus):
  return float(np.mean(state.critic.apply_fn({"params": d_params}, images, aus)[0]))


@pytest.mark.parametrize("mismatch", [0.0, 0.25])
def test_the_critic_scores_real_pairs_against_edits_and_mismatched_pairs(mismatch):
  """D(real, its AUs) against (1 − m)·D(edit, target) + m·D(real, target);
  the generator raises D(edit, target)."""
  config, state, d_params, batch = _setup(mismatch)
  keys = jax.random.split(jax.random.key(3), config.batch_size)
  fake = np.asarray(losses.edit_batch(state.generator.apply_fn, state.generator.params,
                                      batch).image)
  _, d_metrics = jax.jit(lambda p: losses.critic_loss(
      p, fake, batch, keys, d_apply=state.critic.apply_fn, config=config))(d_params)
  _, g_metrics = jax.jit(lambda p: losses.generator_loss(
      state.generator.params, p, batch, g_apply=state.generator.apply_fn,
      d_apply=state.critic.apply_fn, config=config))(d_params)
  real = _mean_score(state, d_params, batch["image"], batch["aus"])
  edits = _mean_score(state, d_params, fake, batch["target_aus"])
  mismatched = _mean_score(state, d_params, batch["image"], batch["target_aus"])
  assert abs(mismatched - real) > 1e-3  # the AUs matter to this critic
  np.testing.assert_allclose(d_metrics["d_real_minus_fake"],
                             real - (1 - mismatch) * edits - mismatch * mismatched, rtol=1e-5)
  np.testing.assert_allclose(g_metrics["g_adv"], -edits, rtol=1e-5)


def test_the_penalty_differentiates_the_critic_at_the_fakes_targets():
  """The penalty's interpolates are scored as showing the targets: scoring
  them with the sources' AUs instead changes it."""
  config, state, d_params, batch = _setup(0.0)
  keys = jax.random.split(jax.random.key(4), config.batch_size)
  fake = np.asarray(losses.edit_batch(state.generator.apply_fn, state.generator.params,
                                      batch).image)

  def penalty(aus):
    critic = lambda x: state.critic.apply_fn({"params": d_params}, x, aus)[0]
    return float(jax.jit(lambda: losses.gradient_penalty(critic, batch["image"], fake, keys))())

  _, metrics = jax.jit(lambda p: losses.critic_loss(
      p, fake, batch, keys, d_apply=state.critic.apply_fn, config=config,
      terms=("gp",)))(d_params)
  np.testing.assert_allclose(metrics["d_gp"], penalty(batch["target_aus"]), rtol=1e-5)
  assert not np.isclose(metrics["d_gp"], penalty(batch["aus"]), rtol=1e-4)
