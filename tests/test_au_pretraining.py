"""The critic's AU pretraining: what one update does, what a phase leaves,
and that a run takes it once, at its start."""

import shutil

import jax
import numpy as np
import pytest

from configs import tiny
from dftnet_jax import au_pretraining
from dftnet_jax import checkpoints
from dftnet_jax import parallel
from dftnet_jax import states
from dftnet_jax import train


def _config(**fields):
  config = tiny.get_config()
  config.critic_au_pretrain_rate = 1e-3
  config.update_from_flattened_dict(fields)
  return config


def _batches(config, seed):
  """Endless random faces and AUs, split over the test session's 2 devices."""
  rng = np.random.default_rng(seed)
  size, devices = config.model.image_size, jax.device_count()
  per_device = config.batch_size // devices
  while True:
    yield {"image": rng.uniform(-1, 1, (devices, per_device, size, size, 3)).astype(np.float32),
           "aus": rng.uniform(0, 1, (devices, per_device, 17)).astype(np.float32)}


def _au_mse(d_state, batch):
  """The critic's AU error on a [D, B, ...] batch, computed apart from the code
  under test: one forward on all the faces, then numpy."""
  images = np.asarray(batch["image"]).reshape(-1, *batch["image"].shape[2:])
  aus = batch["aus"].reshape(-1, 17)
  _, predicted = d_state.apply_fn({"params": jax.device_get(d_state.params)}, images, aus)
  return float(np.mean((np.asarray(predicted) - aus) ** 2))


@pytest.mark.parametrize("projection", [False, True])
def test_an_update_reports_the_error_of_the_whole_batch_and_lowers_it(projection):
  config = _config(**{"model.d_projection": projection})
  d_state = states.create_train_states(config, jax.random.key(0)).critic
  tx = states.create_optimizer(config, 1e-3)
  state = d_state.replace(tx=tx, opt_state=jax.jit(tx.init)(d_state.params))
  update = parallel.parallelize(au_pretraining.au_update, config, in_axes=(None, 0),
                                out_axes=(None, None))
  batch = next(_batches(config, 0))
  before = _au_mse(state, batch)
  # Averaged over both devices' halves: the whole batch's error.
  state, metrics = update(state, batch)
  np.testing.assert_allclose(float(metrics["au_mse"]), before, rtol=1e-5)
  for _ in range(20):
    state, _ = update(state, batch)
  assert _au_mse(state, batch) < 0.5 * before


def test_a_phase_changes_the_critics_parameters_only():
  config = _config(critic_au_pretrain_steps=30)
  d_state = states.create_train_states(config, jax.random.key(0)).critic
  held_out = next(_batches(config, 99))
  fresh = jax.device_get(d_state)
  pretrained = au_pretraining.pretrain(d_state, _batches(config, 1), config=config)
  assert _au_mse(pretrained, held_out) < _au_mse(d_state, held_out)
  assert int(pretrained.step) == 0
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(pretrained.opt_state),
               fresh.opt_state)
  assert pretrained.tx is d_state.tx
  # None asked for: the state as it was, no batch read.
  assert au_pretraining.pretrain(d_state, iter(()), config=_config()) is d_state


class _Pretrained(Exception):
  """Raised by the stand-in for `au_pretraining.pretrain`: the run got there."""


@pytest.mark.parametrize("resumed", [False, True])
def test_a_run_pretrains_at_its_start_and_not_on_resume(tiny_workdir, tmp_path, monkeypatch,
                                                        resumed):
  def stand_in(d_state, batches, *, config):
    assert {"image", "aus"} <= set(next(batches))
    raise _Pretrained

  monkeypatch.setattr(au_pretraining, "pretrain", stand_in)
  config = _config(critic_au_pretrain_steps=10)
  config.data_dir = checkpoints.load_config(tiny_workdir).data_dir
  workdir = str(tmp_path / "run")
  if resumed:  # The run's 4 steps are done: it restores and stops.
    shutil.copytree(tiny_workdir, workdir)
    train.train_and_evaluate(config, workdir)
  else:
    with pytest.raises(_Pretrained):
      train.train_and_evaluate(config, workdir)
