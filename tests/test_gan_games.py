"""The adversarial game in both networks' losses (`loss.gan`): the
non-saturating logistic game with R1 against the critic applied by hand."""

import jax
import jax.numpy as jnp
import numpy as np

from configs import tiny
from dftnet_jax import losses
from dftnet_jax import states
import random_batches


def _setup(gan):
  config = tiny.get_config()
  config.loss.gan = gan
  state = states.create_train_states(config, jax.random.key(0))
  batch = random_batches.random_batch(config, 2)
  fake = np.asarray(losses.edit_batch(state.generator.apply_fn, state.generator.params,
                                      batch).image)
  keys = jax.random.split(jax.random.key(3), config.batch_size)
  return config, state, batch, fake, keys


def _critic_metrics(config, state, batch, fake, keys):
  return jax.jit(lambda p, f: losses.critic_loss(
      p, f, batch, keys, d_apply=state.critic.apply_fn, config=config)[1])(
          state.critic.params, fake)


def test_the_logistic_game_scores_patches_as_logits_in_both_losses():
  config, state, batch, fake, keys = _setup("ns_r1")
  d_metrics = _critic_metrics(config, state, batch, fake, keys)
  _, g_metrics = jax.jit(lambda p: losses.generator_loss(
      state.generator.params, p, batch, g_apply=state.generator.apply_fn,
      d_apply=state.critic.apply_fn, config=config))(state.critic.params)
  softplus = lambda x: np.log1p(np.exp(np.asarray(x, np.float64)))
  real_map = state.critic.apply_fn({"params": state.critic.params}, batch["image"])[0]
  fake_map = state.critic.apply_fn({"params": state.critic.params}, fake)[0]
  np.testing.assert_allclose(d_metrics["d_adv"],
                             np.mean(softplus(-real_map)) + np.mean(softplus(fake_map)),
                             rtol=1e-5)
  np.testing.assert_allclose(g_metrics["g_adv"], np.mean(softplus(-fake_map)), rtol=1e-5)
  np.testing.assert_allclose(d_metrics["d_real_minus_fake"],
                             np.mean(real_map) - np.mean(fake_map), rtol=1e-5)


def test_r1_is_each_real_faces_squared_gradient_and_ignores_the_fakes():
  """R1 against each example's own gradient taken one at a time, the same
  whatever the fakes."""
  config, state, batch, fake, keys = _setup("ns_r1")
  penalties = [float(_critic_metrics(config, state, batch, f, keys)["d_gp"])
               for f in (fake, fake[::-1] * 0.5)]
  params = state.critic.params
  score = lambda x: jnp.sum(state.critic.apply_fn({"params": params}, x[None])[0])
  by_hand = np.mean([np.sum(np.asarray(jax.grad(score)(x), np.float64) ** 2)
                     for x in batch["image"]])
  np.testing.assert_allclose(penalties, [by_hand, by_hand], rtol=1e-4)
