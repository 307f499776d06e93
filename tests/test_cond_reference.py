"""What the critic must read an edit as in the generator's AU term
(`loss.cond_reference`): the targets (the paper), or the critic's reading
of the source plus the requested change."""

import jax
import numpy as np
import pytest

from configs import tiny
from dftnet_jax import losses
from dftnet_jax import states
import random_batches


def test_the_relative_target_is_the_source_reading_plus_the_change():
  rng = np.random.default_rng(0)
  targets, source_aus, reading = (rng.uniform(0, 1, (3, 17)).astype(np.float32)
                                  for _ in range(3))
  np.testing.assert_array_equal(losses.generator_au_targets(targets, source_aus, None), targets)
  np.testing.assert_allclose(losses.generator_au_targets(targets, source_aus, reading),
                             reading + targets - source_aus, rtol=1e-6)
  # A head that reads every face with a bias b asks for targets + b: an
  # edit it reads with that bias meets its targets exactly.
  bias = rng.normal(0, 0.2, 17).astype(np.float32)
  wanted = losses.generator_au_targets(targets, source_aus, source_aus + bias)
  np.testing.assert_allclose(losses.au_regression(targets + bias, wanted), 0.0, atol=1e-12)


@pytest.mark.parametrize("critic_noise", [0.0, 0.1])
def test_the_generator_term_reads_the_source_through_the_edits_view(critic_noise):
  """g_cond with `cond_reference` 'source', against the critic applied by
  hand to the edit and the source (viewed, with noise, through the same
  draws); the other generator terms are the absolute objective's."""
  config = tiny.get_config()
  config.critic_noise = critic_noise
  state = states.create_train_states(config, jax.random.key(0))
  batch = random_batches.random_batch(config, 4)
  keys = jax.random.split(jax.random.key(1), config.batch_size)

  def metrics(reference):
    config.loss.cond_reference = reference
    return jax.device_get(jax.jit(lambda g, d: losses.generator_loss(
        g, d, batch, keys, g_apply=state.generator.apply_fn, d_apply=state.critic.apply_fn,
        config=config)[1])(state.generator.params, state.critic.params))

  absolute, relative = metrics("absolute"), metrics("source")
  edit = losses.edit_batch(state.generator.apply_fn, state.generator.params, batch).image
  noise = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1), edit.shape[1:]))(keys)
  read = lambda x, aus: np.asarray(state.critic.apply_fn(
      {"params": state.critic.params}, x + critic_noise * noise, aus)[1], np.float64)
  edit_aus = read(edit, batch["target_aus"])
  source_aus = read(batch["image"], batch["aus"])
  wanted = source_aus + batch["target_aus"] - batch["aus"]
  np.testing.assert_allclose(relative["g_cond"],
                             np.mean((edit_aus - wanted) ** 2) / config.batch_size, rtol=1e-4)
  np.testing.assert_allclose(absolute["g_cond"],
                             np.mean((edit_aus - batch["target_aus"]) ** 2) / config.batch_size,
                             rtol=1e-4)
  assert not np.isclose(relative["g_cond"], absolute["g_cond"], rtol=1e-3)
  for name in ("g_adv", "g_cycle"):
    np.testing.assert_allclose(relative[name], absolute[name], rtol=1e-6)


def test_an_unknown_reference_is_refused():
  config = tiny.get_config()
  config.loss.cond_reference = "target"
  state = states.create_train_states(config, jax.random.key(0))
  batch = random_batches.random_batch(config, 4)
  with pytest.raises(ValueError, match="cond_reference must be one of"):
    losses.generator_loss(state.generator.params, state.critic.params, batch,
                          g_apply=state.generator.apply_fn, d_apply=state.critic.apply_fn,
                          config=config)
