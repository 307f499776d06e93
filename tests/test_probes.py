"""experiments/ceiling_probe.py and critic_probe.py (each network alone), and
critic_reading.py (a trained critic's reading of its generator's edits)."""

import json

import jax
import numpy as np
import optax
import pytest
from PIL import Image

from configs import tiny
from dftnet_jax import checkpoints
from dftnet_jax import edit_suite
from dftnet_jax import losses
from dftnet_jax import models
from dftnet_jax import states
from experiments import ceiling_probe
from experiments import critic_probe
from experiments import critic_reading
from experiments import screen


def test_a_probe_step_descends_the_paired_distance_it_is_given():
  config = tiny.get_config()
  generator = models.create_generator(config.model)
  rng = np.random.default_rng(0)
  batch = {"image": rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32),
           "target_aus": rng.uniform(0, 1, (4, 17)).astype(np.float32),
           "target_image": rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)}
  params = generator.init(jax.random.key(0), batch["image"], batch["target_aus"])["params"]
  optimizer = optax.adam(1e-3)
  initial = np.asarray(generator.apply({"params": params}, batch["image"],
                                       batch["target_aus"]).image) - batch["target_image"]
  for distance, by_hand in (("l1", np.abs), ("l2", np.square)):
    step = ceiling_probe.make_step(generator, optimizer, distance, losses.HUBER_DELTA)
    p, state = params, optimizer.init(params)
    p, state, first = step(p, state, batch)
    # The first step reports the distance asked for, before its update.
    np.testing.assert_allclose(first["loss"], np.mean(by_hand(initial)), rtol=1e-5)
    for _ in range(20):
      p, state, metrics = step(p, state, batch)
    assert float(metrics["loss"]) < float(first["loss"]), distance
    assert 0 <= float(metrics["mean_attention"]) <= 1


def test_a_probe_records_its_suite_curve(tmp_path, monkeypatch):
  def tiny_config(name, seed, num_steps=None):
    config = tiny.get_config()
    config.seed, config.suite_faces = seed, 2
    config.loss.paired_distance = "l2"
    return config

  monkeypatch.setattr(screen, "config_of", tiny_config)
  out = tmp_path / "records.jsonl"
  records = ceiling_probe.probe("tiny", 0, num_steps=5, eval_every=2,
                                data_path=str(tmp_path / "faces.npz"), out=str(out))
  written = [json.loads(line) for line in out.read_text().splitlines()]
  assert [r["step"] for r in written] == [2, 4, 5] == [r["step"] for r in records]
  for record in written:
    assert record["name"] == "tiny" and -5 < record["gain_mean"] < 1
    assert {"loss", "mean_attention", "mean_abs_flow"} == set(record["train"])
  with Image.open(tmp_path / "records_tiny_seed0.png") as figure:
    assert figure.size == (9 * 16, 2 * 16)


@pytest.mark.parametrize("decay", [False, True])
def test_a_probe_decays_its_rate_only_when_asked(tmp_path, monkeypatch, decay):
  monkeypatch.setattr(screen, "config_of", lambda name, seed, num_steps=None: tiny.get_config())
  asked = []
  schedule = states.create_learning_rate_fn
  monkeypatch.setattr(states, "create_learning_rate_fn",
                      lambda config, num: asked.append(num) or schedule(config, num))
  ceiling_probe.probe("tiny", 0, num_steps=3, eval_every=3, data_path=str(tmp_path / "f.npz"),
                      out=str(tmp_path / "decay.jsonl"), decay=decay)
  assert asked == ([3] if decay else [])
  assert (tmp_path / "decay_tiny_seed0.png").exists()


def test_a_critic_probe_update_descends_the_au_error_of_real_faces():
  config = tiny.get_config()
  critic = models.create_discriminator(config.model)
  rng = np.random.default_rng(1)
  batch = {"image": rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32),
           "aus": rng.uniform(0, 1, (4, 17)).astype(np.float32)}
  params = critic.init(jax.random.key(0), batch["image"])["params"]
  optimizer = optax.adam(1e-3)
  update = critic_probe.make_update(critic, optimizer)
  _, predicted = critic.apply({"params": params}, batch["image"])
  state = optimizer.init(params)
  params, state, first = update(params, state, batch)
  np.testing.assert_allclose(first, np.mean((np.asarray(predicted) - batch["aus"]) ** 2),
                             rtol=1e-5)
  for _ in range(30):
    params, state, loss = update(params, state, batch)
  assert float(loss) < float(first)


def test_a_critic_probe_records_its_error_beside_the_variance(tmp_path, monkeypatch):
  monkeypatch.setattr(screen, "config_of", lambda name, seed, num_steps=None: tiny.get_config())
  out = tmp_path / "critic.jsonl"
  records = critic_probe.probe("tiny", 0, num_updates=200, data_path=str(tmp_path / "f.npz"),
                               out=str(out))
  written = [json.loads(line) for line in out.read_text().splitlines()]
  assert written == records and [r["update"] for r in records] == [100, 200]
  with np.load(tmp_path / "f.npz") as faces:
    variance = np.mean(np.var(faces["aus"], axis=0))
  for record in records:
    assert record["au_variance"] == pytest.approx(variance)
    assert 0 < record["au_mse"] < 10


def test_the_jacobian_norm_of_a_linear_au_head_is_its_frobenius_norm():
  """x ↦ Wᵀx has Jacobian Wᵀ at every image: ‖W‖²_F for each."""
  weights = np.random.default_rng(0).normal(size=(12, 17)).astype(np.float32)
  read = lambda x: x.reshape(x.shape[0], -1) @ weights
  images = np.random.default_rng(1).normal(size=(3, 2, 2, 3)).astype(np.float32)
  np.testing.assert_allclose(critic_reading.jacobian_sq_norms(read, images),
                             np.full(3, np.sum(weights.astype(np.float64) ** 2)), rtol=1e-5)


def test_critic_reading_records_every_suite_edit_of_a_saved_run(tmp_path):
  config = tiny.get_config()
  key = jax.random.key(0)
  checkpoints.write_config(str(tmp_path), config)
  manager = checkpoints.create_manager(str(tmp_path), config)
  checkpoints.save(manager, 7, states.create_train_states(config, key), key)
  manager.wait_until_finished()
  manager.close()
  records = critic_reading.readings(str(tmp_path), num_faces=2)
  assert [r["edit"] for r in records] == list(edit_suite.suite_targets())
  for record in records:
    assert record["step"] == 7
    values = [v for k, v in record.items() if k.startswith(("au_mse", "realness", "jacobian"))]
    assert len(values) == 8 and all(np.isfinite(values)) and record["jacobian_sq_edit"] > 0
  empty = str(tmp_path / "empty")
  checkpoints.write_config(empty, config)
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    critic_reading.readings(empty, num_faces=2)
