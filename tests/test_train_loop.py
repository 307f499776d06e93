"""The training loop on the tiny config: resume, non-finite stop, summaries."""

import glob
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from configs import tiny
from dftnet_jax import checkpoints
from dftnet_jax import edit_suite
from dftnet_jax import losses
from dftnet_jax import states
from dftnet_jax import steps
from dftnet_jax import train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def _config(data_dir, **overrides):
  """The tiny config: 4 steps, checkpoints (and data restarts) every 2."""
  config = tiny.get_config()
  config.data_dir = data_dir
  config.update(overrides)
  return config


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data_dir):
  """An uninterrupted run: its workdir and final (generator, critic) params."""
  workdir = str(tmp_path_factory.mktemp("straight"))
  state = train.train_and_evaluate(_config(data_dir), workdir)
  return workdir, jax.device_get((state.generator.params, state.critic.params))


def _steps(workdir):
  return sorted(int(name) for name in os.listdir(os.path.join(workdir, "checkpoints"))
                if name.isdigit())


def test_a_resumed_run_ends_where_an_unbroken_one_does(straight, data_dir, tmp_path,
                                                       monkeypatch):
  """Stopped after the step-2 checkpoint, restarted: the same parameters."""
  cycle, calls = steps.train_cycle, []

  def stop_at_step_3(*args, **kwargs):
    calls.append(None)
    if len(calls) == 3:
      raise KeyboardInterrupt
    return cycle(*args, **kwargs)

  monkeypatch.setattr(steps, "train_cycle", stop_at_step_3)
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(_config(data_dir), str(tmp_path))
  assert _steps(tmp_path) == [2]
  monkeypatch.setattr(steps, "train_cycle", cycle)
  state = train.train_and_evaluate(_config(data_dir), str(tmp_path))
  assert int(state.generator.step) == 4
  assert int(state.critic.step) == 4 * tiny.get_config().n_critic
  resumed = jax.device_get((state.generator.params, state.critic.params))
  jax.tree.map(np.testing.assert_array_equal, resumed, straight[1])


@pytest.mark.parametrize("num_devices", [2, 1])
def test_restored_states_come_back_laid_out_like_fresh_ones(straight, data_dir, num_devices):
  """Also on another device count than the run that saved them (2)."""
  config = _config(data_dir)
  init_key, key, _ = states.run_keys(config)
  fresh = states.replicate(jax.device_get(states.create_train_states(config, init_key)),
                          jax.local_devices()[:num_devices])
  manager = checkpoints.create_manager(straight[0], config, read_only=True)
  restored = checkpoints.restore_latest(manager, fresh, key)
  manager.close()
  assert restored.step == 4
  jax.tree.map(lambda a, b: np.testing.assert_equal(a.sharding, b.sharding), fresh,
               restored.state)
  jax.tree.map(np.testing.assert_array_equal, straight[1],
               jax.device_get((restored.state.generator.params, restored.state.critic.params)))


def test_a_non_finite_loss_stops_the_run_and_is_not_saved(straight, data_dir, tmp_path,
                                                          monkeypatch):
  workdir = str(tmp_path / "run")
  shutil.copytree(straight[0], workdir)
  monkeypatch.setattr(losses, "cycle_loss",
                      lambda source, reconstruction, distance, **_: jnp.float32(np.nan))
  with pytest.raises(FloatingPointError, match=r"at step 5: .*g_cycle=nan \(generator step\)"):
    train.train_and_evaluate(_config(data_dir, num_train_steps=6, checkpoint_every_steps=1),
                             workdir)
  assert _steps(workdir) == [2, 4]


def _scalars(logdir):
  """tag -> {step: value} from the event files in `logdir`."""
  values = {}
  for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "scalars":
          values.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
  return values


def test_summaries_images_and_config_are_written(straight, data_dir):
  workdir, _ = straight
  config = _config(data_dir)
  scalars = _scalars(os.path.join(workdir, "train"))
  terms = ["d_loss", "d_adv", "d_gp", "d_cond", "d_real_minus_fake", "d_grad_norm", "g_loss",
           "g_adv", "g_cond", "g_cycle", "g_tv", "g_attention", "g_grad_norm", "mean_attention",
           "mean_abs_flow"]
  for tag in terms + ["g_learning_rate", "d_learning_rate"]:
    assert sorted(scalars[tag]) == [1, 2, 3, 4], tag
  assert sorted(scalars["steps_per_s"]) == [2, 3, 4]  # the clock starts after step 1
  g_learning_rate = states.generator_learning_rate_fn(config)
  assert np.isclose(scalars["g_learning_rate"][4], g_learning_rate(3))
  eval_scalars = _scalars(os.path.join(workdir, "eval"))
  for tag in (t for t in terms if not t.endswith("grad_norm")):
    assert sorted(eval_scalars[tag]) == [2, 4], tag
  grid = np.asarray(Image.open(os.path.join(workdir, "images", "step_000004.png")))
  size = config.model.image_size
  # source | aligned | texture | attention | result | reconstruction
  assert grid.shape == (config.num_grid_images * size, 6 * size, 3)
  assert checkpoints.load_config(workdir).to_dict() == config.to_dict()


def test_the_edit_suite_is_scored_at_every_evaluation(straight, data_dir):
  workdir, _ = straight
  config = _config(data_dir)
  with open(os.path.join(workdir, "eval", "suite.jsonl"), encoding="utf-8") as f:
    curve = [json.loads(line) for line in f]
  assert [point["step"] for point in curve] == [2, 4]
  for point in curve:
    assert point["wall_s"] > 0
    assert {f"{name}/gain" for name in edit_suite.SUITE} <= set(point)
    assert point["gain_mean"] == pytest.approx(
        np.mean([point[f"{name}/gain"] for name in edit_suite.SUITE]))
  eval_scalars = _scalars(os.path.join(workdir, "eval"))
  assert eval_scalars["suite/gain_mean"][4] == pytest.approx(curve[1]["gain_mean"], rel=1e-6)
  figure = np.asarray(Image.open(os.path.join(workdir, "images", "suite_step_000004.png")))
  size = config.model.image_size
  assert figure.shape == (4 * size, (1 + 2 * len(edit_suite.FIGURE_EDITS)) * size, 3)

