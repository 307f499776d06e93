"""The pmap'd critic and generator steps on two host devices."""

import jax
import numpy as np
import pytest

from configs import tiny
from dftnet_jax import models
from dftnet_jax import train


def _batch(config, seed):
  devices = jax.local_device_count()
  per_device = config.batch_size // devices
  rng = np.random.default_rng(seed)
  size = config.model.image_size
  return {"image": rng.uniform(-1, 1, (devices, per_device, size, size, 3)).astype(np.float32),
          "aus": rng.uniform(0, 1, (devices, per_device, 17)).astype(np.float32),
          "target_aus": rng.uniform(0, 1, (devices, per_device, 17)).astype(np.float32)}


def test_two_devices_are_visible():
  """The suite runs the multi-device paths (tests/conftest.py sets XLA_FLAGS)."""
  assert jax.local_device_count() == 2


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_steps_update_only_their_network_and_report_finite_metrics(variant):
  config = tiny.get_config()
  config.model.variant = variant
  g_state, d_state = train.create_train_states(config, jax.random.key(0))
  g_before = jax.tree.map(np.asarray, g_state.params)
  d_before = jax.tree.map(np.asarray, d_state.params)
  p_d_step, p_g_step = train.parallel_steps(config, g_state, d_state)

  d_state, d_metrics = p_d_step(d_state, g_state.params, _batch(config, 1), jax.random.key(1))
  assert int(d_state.step) == 1
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), d_before,
                         jax.tree.map(np.asarray, d_state.params))
  assert all(jax.tree.leaves(changed))
  assert all(np.isfinite(v) for v in jax.tree.leaves(d_metrics))

  g_state, g_metrics = p_g_step(g_state, d_state.params, _batch(config, 2), jax.random.key(2))
  assert int(g_state.step) == 1
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), g_before,
                         jax.tree.map(np.asarray, g_state.params))
  assert any(jax.tree.leaves(changed))
  assert all(np.isfinite(v) for v in jax.tree.leaves(g_metrics))
  assert ("g_tv" in g_metrics) == (variant != "ganimation")
  assert ("g_attention" in g_metrics) == (variant != "warp_only")
