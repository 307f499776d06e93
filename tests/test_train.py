"""The pmap'd training cycle (critic and generator updates) on two host devices."""

import functools

import jax
import numpy as np
import optax
import pytest

from configs import tiny
from dftnet_jax import losses
from dftnet_jax import models
from dftnet_jax import states
from dftnet_jax import steps


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


def _changed_leaves(before, after) -> list[bool]:
  """Per parameter leaf: did the update move it?"""
  return jax.tree.leaves(jax.tree.map(lambda a, b: not np.allclose(a, np.asarray(b)),
                                      before, after))


def _stacked(batches):
  """[D, B, ...] batches → [D, n, B, ...], as `train_cycle` passes them."""
  return {name: np.stack([b[name] for b in batches], axis=1) for name in batches[0]}


def _networks(config):
  """Fresh (generator, critic) states, for the tests of one objective or update."""
  state = states.create_train_states(config, jax.random.key(0))
  return state.generator, state.critic


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_a_cycle_updates_both_networks_and_reports_finite_metrics(variant):
  config = tiny.get_config()
  config.model.variant = variant
  state = states.create_train_states(config, jax.random.key(0))
  g_before = jax.tree.map(np.asarray, state.generator.params)
  d_before = jax.tree.map(np.asarray, state.critic.params)
  batches = _stacked([_batch(config, seed) for seed in range(config.n_critic)])
  state, (d_metrics, g_metrics) = steps.parallel_cycle(config)(state, batches, jax.random.key(1))
  assert int(state.critic.step) == config.n_critic and int(state.generator.step) == 1
  assert all(_changed_leaves(d_before, state.critic.params))
  assert any(_changed_leaves(g_before, state.generator.params))
  assert all(v.shape == (config.n_critic,) for v in jax.tree.leaves(d_metrics))
  assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves((d_metrics, g_metrics)))
  assert ("g_tv" in g_metrics) == (variant != "ganimation")
  # Unweighted (the default), the flow's length is no term.
  assert "g_flow_l1" not in g_metrics
  assert ("g_attention" in g_metrics) == (variant != "warp_only")


def test_the_fused_cycle_equals_separate_steps(monkeypatch):
  """The cycle shares the last batch's generator forward between the last
  critic step and the generator step; written out step by step — every
  critic step with its own forward, the generator step as `jax.grad` of the
  whole `generator_loss` — the parameters and metrics are the same. With
  shifted critic views (the unshifted path is the same code with the views
  the images themselves), the generator's views are drawn from the cycle's
  key folded with n_critic.

  Plain SGD, for the reason `test_one_and_two_devices_give_the_same_parameters`
  gives."""
  monkeypatch.setattr(states, "create_optimizer", lambda config, learning_rate: optax.sgd(1e-3))
  config = tiny.get_config()
  config.n_critic = 3
  config.critic_shift = 1.5
  g_state, d_state = _networks(config)
  batches = [_batch(config, seed) for seed in range(config.n_critic)]
  key = jax.random.key(5)
  plain = jax.device_get((g_state.params, d_state.params))  # donated below

  def separate(g_state, d_state, batches, key):
    d_metrics = []
    for batch, d_key in zip(batches, jax.random.split(key, config.n_critic)):
      d_state, metrics = steps.d_step(d_state, g_state.params, batch, d_key,
                                      g_apply=g_state.apply_fn, config=config)
      d_metrics.append(metrics)
    # pylint: disable-next=protected-access
    g_keys = steps._example_keys(jax.random.fold_in(key, config.n_critic),
                                 batches[-1]["image"].shape[0])
    grads, g_metrics = jax.grad(losses.generator_loss, has_aux=True)(
        g_state.params, d_state.params, batches[-1], g_keys, g_apply=g_state.apply_fn,
        d_apply=d_state.apply_fn, config=config)
    grads, g_metrics = jax.lax.pmean((grads, g_metrics), "batch")
    return g_state.apply_gradients(grads=grads), d_state, d_metrics, g_metrics

  p_separate = jax.pmap(separate, axis_name="batch", in_axes=(None, None, 0, None),
                        out_axes=None)
  g_ref, d_ref, d_metrics_ref, g_metrics_ref = p_separate(g_state, d_state, batches, key)
  state = states.replicate(jax.device_get(states.create_train_states(config, jax.random.key(0))))
  out, (d_metrics, g_metrics) = steps.parallel_cycle(config)(state, _stacked(batches), key)
  assert any(_changed_leaves(plain[0], out.generator.params))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               jax.device_get((out.generator.params, out.critic.params)),
               jax.device_get((g_ref.params, d_ref.params)))
  for i, metrics in enumerate(d_metrics_ref):
    for name, value in metrics.items():
      np.testing.assert_allclose(d_metrics[name][i], value, rtol=1e-5, err_msg=name)
  for name, value in g_metrics_ref.items():
    np.testing.assert_allclose(g_metrics[name], value, rtol=1e-5, err_msg=name)


def _global_batch(config, seed):
  """A global batch [1, B, ...], to be split over devices by `_split`."""
  rng = np.random.default_rng(seed)
  size, b = config.model.image_size, config.batch_size
  return {"image": rng.uniform(-1, 1, (1, b, size, size, 3)).astype(np.float32),
          "aus": rng.uniform(0, 1, (1, b, 17)).astype(np.float32),
          "target_aus": rng.uniform(0, 1, (1, b, 17)).astype(np.float32)}


def _train_on(config, devices, batches):
  """One cycle: critic steps on every batch, a generator step on the last.

  Returns:
    Both networks' parameters and every update's metrics, on the host.
  """
  state = states.replicate(
      jax.device_get(states.create_train_states(config, jax.random.key(0))), devices)
  split = lambda batch: {k: v.reshape(len(devices), -1, *v.shape[2:]) for k, v in batch.items()}
  stream = iter([split(batch) for batch in batches])
  state, metrics = steps.train_cycle(state, stream, jax.random.key(9),
                                     p_cycle=steps.parallel_cycle(config, devices),
                                     n_critic=len(batches))
  return jax.device_get((state.generator.params, state.critic.params, metrics))


@pytest.mark.parametrize("variant,critic_shift", [("ganimation", 1.5), ("dftnet", 0.0)])
def test_one_and_two_devices_give_the_same_parameters(monkeypatch, variant, critic_shift):
  """Per-example keys and global-batch loss scales: the device count changes
  only the float summation order.

  GANimation's variant has the one term summed over the batch (its mask
  smoothness), and here shifted critic views, whose offsets the
  per-example keys draw in both networks' updates; DFT-Net's has the warp,
  the flow TV and the attention paths. Plain SGD, so parameter changes are summed
  gradients: Adam's first steps move every weight by about ±lr whatever its
  gradient's size, and some gradients are rounding noise in any order (e.g.
  the centre taps of the constant AU channels, which instance norm removes).
  """
  monkeypatch.setattr(states, "create_optimizer", lambda config, learning_rate: optax.sgd(1e-3))
  config = tiny.get_config()
  config.model.variant = variant
  config.n_critic = 3
  config.critic_shift = critic_shift
  batches = [_global_batch(config, seed) for seed in range(3)]
  g_init, d_init = _networks(config)
  init = jax.device_get((g_init.params, d_init.params))
  *one, one_metrics = _train_on(config, jax.local_devices()[:1], batches)
  *two, two_metrics = _train_on(config, jax.local_devices()[:2], batches)
  for a, b in zip(one_metrics, two_metrics):
    assert a.keys() == b.keys()
    for name in a:
      # atol: a critic's D(fake) − D(real) near 0 (3e-5 with shifted views)
      # is a difference of means that rounds at ~1e-9 in either order.
      np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-8, err_msg=name)

  def assert_same_change(a, b, start):
    # Relative to the leaf's largest change: float32 resolves p + Δ to
    # about 1e-7·|p|, coarse next to the changes of weights near 1.
    np.testing.assert_allclose(a - start, b - start, rtol=0, atol=1e-3 * np.abs(a - start).max())

  jax.tree.map(assert_same_change, one, two, list(init))


def test_learning_rates_are_constant_then_decay_linearly_to_zero():
  config = tiny.get_config()
  config.learning_rate, config.lr_decay_fraction = 2e-4, 1 / 3
  for num_steps in (30, 150):  # the generator's run and the critic's, 5x longer
    schedule = states.create_learning_rate_fn(config, num_steps)
    t = np.arange(num_steps + 1)
    expected = 2e-4 * np.clip((num_steps - t) / (num_steps / 3), 0.0, 1.0)
    np.testing.assert_allclose([schedule(s) for s in t], expected, rtol=1e-6, atol=1e-12)
  config.lr_decay_fraction = 0.0
  assert float(states.create_learning_rate_fn(config, 30)(29)) == 2e-4
  config.lr_decay_fraction = 1.5
  with pytest.raises(ValueError, match="lr_decay_fraction"):
    states.create_learning_rate_fn(config, 30)


def test_a_critic_head_start_holds_the_generator_then_runs_its_schedule():
  config = tiny.get_config()
  config.learning_rate, config.lr_decay_fraction, config.num_train_steps = 2e-4, 0.5, 30
  config.critic_head_start = 10
  schedule = states.generator_learning_rate_fn(config)
  t = np.arange(31)
  # Frozen for 10 steps; then 2e-4 for 10, decaying to 0 over the last 10.
  expected = np.where(t < 10, 0.0, 2e-4 * np.clip((30 - t) / 10, 0.0, 1.0))
  np.testing.assert_allclose([schedule(s) for s in t], expected, rtol=1e-6, atol=1e-12)
  # The critic's schedule is untouched by it.
  assert float(states.critic_learning_rate_fn(config)(0)) == pytest.approx(2e-4)
  config.critic_head_start = 30
  with pytest.raises(ValueError, match="critic_head_start"):
    states.generator_learning_rate_fn(config)


def test_a_critic_frozen_in_the_head_start_runs_its_schedule_after_it():
  config = tiny.get_config()
  config.learning_rate, config.lr_decay_fraction, config.num_train_steps = 2e-4, 0.5, 30
  config.n_critic, config.critic_head_start = 2, 10
  assert float(states.critic_learning_rate_fn(config)(0)) == pytest.approx(2e-4)
  config.critic_frozen_in_head_start = True
  schedule = states.critic_learning_rate_fn(config)
  t = np.arange(61)  # critic updates: 2 a step
  # Frozen for 20 updates (10 steps); then 2e-4 for 20, decaying to 0 over
  # the last 20, ending with the run as the generator's schedule does.
  expected = np.where(t < 20, 0.0, 2e-4 * np.clip((60 - t) / 20, 0.0, 1.0))
  np.testing.assert_allclose([schedule(s) for s in t], expected, rtol=1e-6, atol=1e-12)


def test_a_generator_warmup_ramps_its_rate_after_the_head_start():
  config = tiny.get_config()
  config.learning_rate, config.lr_decay_fraction, config.num_train_steps = 2e-4, 0.5, 30
  config.critic_head_start, config.generator_warmup_steps = 4, 8
  schedule = states.generator_learning_rate_fn(config)
  t = np.arange(31)
  # 4 frozen steps; then 26 steps: a ramp over 8, 2e-4 until 13 of them have
  # passed, decaying to 0 over the last 13.
  u = t - 4
  expected = np.where(t < 4, 0.0, 2e-4 * np.clip(u / 8, 0.0, 1.0)
                      * np.clip((26 - u) / 13, 0.0, 1.0))
  np.testing.assert_allclose([schedule(s) for s in t], expected, rtol=1e-6, atol=1e-12)
  config.generator_warmup_steps = 27
  with pytest.raises(ValueError, match="generator_warmup_steps"):
    states.generator_learning_rate_fn(config)


def test_the_critic_follows_its_own_rate_when_one_is_set():
  config = tiny.get_config()
  config.learning_rate, config.lr_decay_fraction, config.num_train_steps = 2e-4, 0.5, 10
  assert float(states.critic_learning_rate_fn(config)(0)) == pytest.approx(2e-4)
  config.d_learning_rate = 8e-4
  schedule = states.critic_learning_rate_fn(config)
  # n_critic · steps = 50 updates, the last 25 decaying from 8e-4 to 0.
  assert config.n_critic == 5
  assert float(schedule(0)) == pytest.approx(8e-4)
  assert float(schedule(40)) == pytest.approx(8e-4 * 10 / 25)


def _optional_term(field, weight, term, expected_fn, batch_seed, extra=lambda batch: {}):
  """Adds `loss.<field>` = weight to a fresh tiny model's objective and checks
  that its metric `term` appears only then, equals `expected_fn(edited,
  batch)` computed by hand, and adds weight × that to the total."""
  config = tiny.get_config()
  g_state, d_state = _networks(config)
  batch = jax.tree.map(lambda x: x[0], _batch(config, batch_seed))
  batch.update(extra(batch))
  loss = lambda cfg: losses.generator_loss(g_state.params, d_state.params, batch,
                                           g_apply=g_state.apply_fn, d_apply=d_state.apply_fn,
                                           config=cfg)
  total, metrics = loss(config)
  assert term not in metrics
  config.loss[field] = weight
  weighted_total, weighted = loss(config)
  edited = g_state.apply_fn({"params": g_state.params}, batch["image"], batch["target_aus"])
  expected = expected_fn(edited, batch)
  np.testing.assert_allclose(weighted[term], expected, rtol=1e-5)
  np.testing.assert_allclose(weighted_total, total + weight * expected, rtol=1e-5)


def test_paired_l1_enters_the_generator_objective_only_when_weighted():
  # Against a black truth the paired L1 is the mean |edit|.
  _optional_term("paired_l1", 3.0, "g_paired_l1",
                 lambda edited, batch: np.mean(np.abs(np.asarray(edited.image))), 0,
                 extra=lambda batch: {"target_image": np.zeros_like(batch["image"])})


def test_paired_and_cycle_distances_follow_the_config():
  config = tiny.get_config()
  g_state, d_state = _networks(config)
  batch = jax.tree.map(lambda x: x[0], _batch(config, 2))
  batch["target_image"] = np.zeros_like(batch["image"])
  config.loss.paired_l1 = 1.0
  edited = g_state.apply_fn({"params": g_state.params}, batch["image"], batch["target_aus"])
  cycled = g_state.apply_fn({"params": g_state.params}, edited.image, batch["aus"])
  # δ away from its default, so a δ the objective drops is seen.
  config.loss.huber_delta = delta = 0.01
  huber = lambda e: np.where(np.abs(e) < delta, e ** 2 / (2 * delta), np.abs(e) - delta / 2)
  for distance, by_hand in (("l1", np.abs), ("l2", np.square), ("huber", huber)):
    config.loss.paired_distance = config.loss.cycle_distance = distance
    _, metrics = losses.generator_loss(g_state.params, d_state.params, batch,
                                       g_apply=g_state.apply_fn, d_apply=d_state.apply_fn,
                                       config=config)
    np.testing.assert_allclose(metrics["g_paired_l1"], np.mean(by_hand(edited.image)),
                               rtol=1e-5)
    np.testing.assert_allclose(metrics["g_cycle"],
                               np.mean(by_hand(batch["image"] - cycled.image)), rtol=1e-5)


def test_texture_tv_enters_the_dftnet_objective_only_when_weighted():
  def by_hand(edited, batch):
    # Mean |vertical| + mean |horizontal| differences of B − X.
    change = np.asarray(edited.texture) - batch["image"]
    return np.mean(np.abs(np.diff(change, axis=1))) + np.mean(np.abs(np.diff(change, axis=2)))
  _optional_term("texture_tv", 2.0, "g_texture_tv", by_hand, 1)


def test_g_adv_scale_weighs_the_generators_realness_term_alone():
  config = tiny.get_config()
  config.loss.adv = 2.0
  # Without the AU term (thousands here) the total is small enough that a
  # dropped scale shows in it; a fresh critic scores everything near 0, so
  # its weights are moved to give a realness term of some size.
  config.loss.cond = 0.0
  g_state, d_state = _networks(config)
  d_state = _moved(d_state, 0, 0.3)
  batch = jax.tree.map(lambda x: x[0], _batch(config, 3))
  loss = lambda cfg: losses.generator_loss(g_state.params, d_state.params, batch,
                                           g_apply=g_state.apply_fn, d_apply=d_state.apply_fn,
                                           config=cfg)
  edited = g_state.apply_fn({"params": g_state.params}, batch["image"], batch["target_aus"])
  keys = jax.random.split(jax.random.key(4), batch["image"].shape[0])
  critic_loss = lambda cfg: losses.critic_loss(d_state.params, edited.image, batch, keys,
                                               d_apply=d_state.apply_fn, config=cfg)[0]
  total, metrics = loss(config)
  critic_total = critic_loss(config)
  fake_map, _ = d_state.apply_fn({"params": d_state.params}, edited.image)
  # The realness term by hand: minus the critic's mean score of the edits.
  np.testing.assert_allclose(metrics["g_adv"], -np.mean(fake_map), rtol=1e-5)
  config.loss.g_adv_scale = 3.0
  scaled_total, _ = loss(config)
  # adv × (3 − 1) more of the same term, nothing else moved.
  np.testing.assert_allclose(scaled_total, total + 2.0 * 2.0 * metrics["g_adv"],
                             rtol=1e-5, atol=1e-6)
  # The critic's loss does not see the scale.
  np.testing.assert_array_equal(critic_loss(config), critic_total)


def test_bfloat16_compute_trains_with_finite_losses_and_float32_state():
  config = tiny.get_config()
  config.model.dtype = "bfloat16"
  state = states.create_train_states(config, jax.random.key(0))
  p_cycle = steps.parallel_cycle(config)
  for i in range(2):
    batches = _stacked([_batch(config, 10 * i + k) for k in range(config.n_critic)])
    state, metrics = p_cycle(state, batches, jax.random.key(i))
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(metrics))
  floats = [x for x in jax.tree.leaves(state) if x.dtype != np.int32]
  assert floats and all(x.dtype == np.float32 for x in floats)
  g_state = state.generator
  edited = g_state.apply_fn({"params": g_state.params}, np.zeros((1, 16, 16, 3), np.float32),
                            np.zeros((1, 17), np.float32))
  assert all(x.dtype == np.float32 for x in edited if x is not None)


def _moved(state, seed, scale):
  """`state` with every weight moved by Gaussian noise of sd `scale`."""
  rng = np.random.default_rng(seed)
  return state.replace(params=jax.tree.map(
      lambda x: np.asarray(x) + scale * rng.normal(size=x.shape).astype(np.float32),
      jax.device_get(state.params)))


def _perturbed_states(config, seed=0):
  """Fresh states with every generator weight moved, so that the zero-init
  heads give a flow and an attention that vary."""
  g_state, d_state = _networks(config)
  return _moved(g_state, seed, 0.2), d_state


def _flow_tv_by_hand(flow):
  """Paper eq. 9 in pixels: squared differences summed, averaged over the batch."""
  flow = np.asarray(flow, np.float64) * np.array([flow.shape[2] / 2, flow.shape[1] / 2])
  return (np.sum(np.diff(flow, axis=1) ** 2) + np.sum(np.diff(flow, axis=2) ** 2)) / len(flow)


def _flow_l1_by_hand(flow):
  """Mean |Φx|·W/2 + |Φy|·H/2 over the pixels."""
  flow = np.asarray(flow, np.float64)
  width, height = flow.shape[2], flow.shape[1]
  return np.mean(np.abs(flow[..., 0]) * width / 2 + np.abs(flow[..., 1]) * height / 2)


def _objective_and_passes(config, batch_seed):
  """The generator objective's metrics on a batch, with the edit and the
  cycle pass it is made of (perturbed weights)."""
  g_state, d_state = _perturbed_states(config)
  batch = jax.tree.map(lambda x: x[0], _batch(config, batch_seed))
  _, metrics = losses.generator_loss(g_state.params, d_state.params, batch,
                                     g_apply=g_state.apply_fn, d_apply=d_state.apply_fn,
                                     config=config)
  apply = lambda x, aus: g_state.apply_fn({"params": g_state.params}, x, aus)
  edited = apply(batch["image"], batch["target_aus"])
  return metrics, edited, apply(edited.image, batch["aus"]), batch


def test_the_identity_term_is_the_l1_of_a_face_asked_for_its_own_aus():
  config = tiny.get_config()
  metrics, _, _, batch = _objective_and_passes(config, 4)
  assert "g_identity" not in metrics
  config.loss.identity = 3.0
  weighted, _, _, _ = _objective_and_passes(config, 4)
  g_state, _ = _perturbed_states(config)
  unasked = g_state.apply_fn({"params": g_state.params}, batch["image"], batch["aus"]).image
  by_hand = np.mean(np.abs(np.asarray(unasked, np.float64) - batch["image"]))
  assert by_hand > 1e-3  # the perturbed generator does move its faces
  np.testing.assert_allclose(weighted["g_identity"], by_hand, rtol=1e-5)
  np.testing.assert_allclose(weighted["g_loss"], metrics["g_loss"] + 3.0 * by_hand, rtol=1e-5)


@pytest.mark.parametrize("passes, combine", [
    ("edit", lambda edit, cycle: edit), ("both_mean", lambda edit, cycle: (edit + cycle) / 2),
    ("both_sum", lambda edit, cycle: edit + cycle)])
def test_dftnet_regularisers_apply_to_the_passes_the_config_names(passes, combine):
  config = tiny.get_config()
  config.loss.regulariser_passes = passes
  config.loss.flow_l1 = 0.5
  metrics, edited, cycled, _ = _objective_and_passes(config, 2)
  attention = lambda out: -np.mean(np.asarray(out.attention, np.float64))
  np.testing.assert_allclose(metrics["g_attention"],
                             combine(attention(edited), attention(cycled)), rtol=1e-5)
  np.testing.assert_allclose(metrics["g_tv"],
                             combine(_flow_tv_by_hand(edited.flow), _flow_tv_by_hand(cycled.flow)),
                             rtol=1e-4)
  np.testing.assert_allclose(metrics["g_flow_l1"],
                             combine(_flow_l1_by_hand(edited.flow), _flow_l1_by_hand(cycled.flow)),
                             rtol=1e-5)


def test_ganimation_adds_its_mask_terms_of_both_passes():
  """As GANimation's code: mask_1 + mask_2 (mean and smoothness of each)."""
  config = tiny.get_config()
  config.model.variant = "ganimation"
  metrics, edited, cycled, batch = _objective_and_passes(config, 3)
  # This device's share of the batch sums its own smoothness; the pmean of
  # the shares' gradients divides again (losses.generator_objective).
  shares = config.batch_size / len(batch["image"])

  def mask_terms(out):
    a = np.asarray(out.attention, np.float64)
    smooth = np.abs(np.diff(a, axis=1)).sum() + np.abs(np.diff(a, axis=2)).sum()
    return (config.loss.ganimation_mask * a.mean()
            + shares * config.loss.ganimation_mask_smooth * smooth)

  np.testing.assert_allclose(metrics["g_attention"], mask_terms(edited) + mask_terms(cycled),
                             rtol=1e-5)


def test_an_unknown_regulariser_passes_value_is_named():
  config = tiny.get_config()
  config.loss.regulariser_passes = "cycle"
  g_state, d_state = _networks(config)
  batch = jax.tree.map(lambda x: x[0], _batch(config, 0))
  with pytest.raises(ValueError, match="regulariser_passes.*'cycle'"):
    losses.generator_loss(g_state.params, d_state.params, batch, g_apply=g_state.apply_fn,
                          d_apply=d_state.apply_fn, config=config)


def _critic_update_with_sgd(config, monkeypatch, how):
  """One critic update (one device, SGD 0.1): its parameters and metrics."""
  monkeypatch.setattr(states, "create_optimizer", lambda config, learning_rate: optax.sgd(0.1))
  config.critic_update = how
  g_state, d_state = _networks(config)
  batch = jax.tree.map(lambda x: x[0], _batch(config, 4))
  # Compiled here and in the tests that use it: op by op, the penalty's
  # double backward alone takes tens of seconds.
  fake = np.asarray(jax.jit(g_state.apply_fn)({"params": g_state.params}, batch["image"],
                                              batch["target_aus"]).image)
  update = jax.jit(jax.vmap(
      lambda state, b, f: steps.d_update(state, f, b, jax.random.key(5), config=config),
      in_axes=(None, None, None), out_axes=None, axis_name="batch", axis_size=1))
  new_state, metrics = update(d_state, batch, fake)
  return d_state, new_state, metrics, batch, fake


def test_ganimations_critic_update_takes_the_penalty_in_a_second_step(monkeypatch):
  """By hand with SGD: p1 = p0 − lr·∇(adv + cond)(p0), p2 = p1 − lr·∇gp(p1)."""
  config = tiny.get_config()
  d_state, new_state, metrics, batch, fake = _critic_update_with_sgd(config, monkeypatch,
                                                                     "ganimation")
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(5), i))(np.arange(len(fake)))
  grad = jax.jit(lambda params, terms: jax.grad(lambda p: losses.critic_loss(
      p, fake, batch, keys, d_apply=d_state.apply_fn, config=config, terms=terms)[0])(params),
                 static_argnums=1)
  p1 = jax.tree.map(lambda p, g: p - 0.1 * g, d_state.params, grad(d_state.params, ("adv", "cond")))
  p2 = jax.tree.map(lambda p, g: p - 0.1 * g, p1, grad(p1, ("gp",)))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               jax.device_get(new_state.params), jax.device_get(p2))
  assert int(new_state.step) == 2 and {"d_gp", "d_gp_grad_norm"} <= set(metrics)
  np.testing.assert_allclose(metrics["d_loss"], config.loss.adv * metrics["d_adv"]
                             + config.loss.cond * metrics["d_cond"]
                             + config.loss.gp * metrics["d_gp"], rtol=1e-5)


def test_the_two_critic_updates_differ_and_combined_is_one_step_on_the_sum(monkeypatch):
  config = tiny.get_config()
  d_state, combined, _, batch, fake = _critic_update_with_sgd(config, monkeypatch, "combined")
  _, ganimation, _, _, _ = _critic_update_with_sgd(tiny.get_config(), monkeypatch, "ganimation")
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(5), i))(np.arange(len(fake)))
  total = jax.jit(jax.grad(lambda p: losses.critic_loss(
      p, fake, batch, keys, d_apply=d_state.apply_fn, config=config)[0]))(d_state.params)
  expected = jax.tree.map(lambda p, g: p - 0.1 * g, d_state.params, total)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               jax.device_get(combined.params), jax.device_get(expected))
  assert int(combined.step) == 1
  differ = jax.tree.leaves(jax.tree.map(lambda a, b: not np.allclose(a, b, atol=1e-6),
                                        jax.device_get(combined.params),
                                        jax.device_get(ganimation.params)))
  assert any(differ)


@pytest.mark.parametrize("how", ["combined", "ganimation"])
def test_the_au_heads_penalty_rides_with_the_gradient_penalty(monkeypatch, how):
  """`loss.au_gp` > 0 adds its weighted term to the update that takes the
  realness penalty (and reports it), and nothing to the others."""
  config = tiny.get_config()
  config.loss.au_gp = 3.0
  d_state, _, metrics, batch, fake = _critic_update_with_sgd(config, monkeypatch, how)
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(5), i))(np.arange(len(fake)))
  loss = lambda terms: losses.critic_loss(d_state.params, fake, batch, keys,
                                          d_apply=d_state.apply_fn, config=config, terms=terms)
  penalty = losses.au_jacobian_penalty(
      lambda x: d_state.apply_fn({"params": d_state.params}, x)[1], batch["image"], fake, keys)
  assert penalty > 0
  total, values = loss(("gp",))
  np.testing.assert_allclose(values["d_au_gp"], penalty, rtol=1e-5)
  np.testing.assert_allclose(total, config.loss.gp * values["d_gp"] + 3.0 * penalty, rtol=1e-5)
  assert "d_au_gp" not in loss(("adv", "cond"))[1]
  if how == "combined":
    np.testing.assert_allclose(metrics["d_au_gp"], penalty, rtol=1e-5)
  else:  # taken by the critic the first update has moved
    assert metrics["d_au_gp"] > 0 and not np.isclose(metrics["d_au_gp"], penalty)


def test_cond_fake_regresses_the_critics_reading_of_the_edits_on_their_sources():
  """`loss.cond_fake` = w adds w·cond × MSE(the AU head's reading of the
  fakes, the sources' AUs) to the "cond" terms, by hand; nothing without it."""
  config = tiny.get_config()
  g_state, d_state = _perturbed_states(config)
  d_state = _moved(d_state, 1, 0.3)
  batch = jax.tree.map(lambda x: x[0], _batch(config, 6))
  fake = g_state.apply_fn({"params": g_state.params}, batch["image"], batch["target_aus"]).image
  keys = jax.random.split(jax.random.key(7), len(fake))
  loss = lambda cfg, terms: losses.critic_loss(d_state.params, fake, batch, keys,
                                               d_apply=d_state.apply_fn, config=cfg, terms=terms)
  plain_total, plain = loss(config, ("adv", "cond"))
  realness_alone, _ = loss(config, ("adv",))
  assert "d_cond_fake" not in plain
  config.loss.cond_fake = 0.25
  total, values = loss(config, ("adv", "cond"))
  _, read = d_state.apply_fn({"params": d_state.params}, fake, batch["target_aus"])
  by_hand = np.mean((np.asarray(read, np.float64) - batch["aus"]) ** 2) / config.batch_size
  assert by_hand > 1e-4
  np.testing.assert_allclose(values["d_cond_fake"], by_hand, rtol=1e-5)
  np.testing.assert_allclose(values["d_cond"], plain["d_cond"], rtol=1e-6)
  np.testing.assert_allclose(total, plain_total + 0.25 * config.loss.cond * by_hand, rtol=1e-5)
  # It rides with the AU term: an update of the realness terms alone is
  # unchanged.
  total, values = loss(config, ("adv",))
  assert "d_cond_fake" not in values
  np.testing.assert_array_equal(total, realness_alone)


def test_ganimations_critic_schedule_counts_two_updates_a_step():
  config = tiny.get_config()
  config.num_train_steps, config.n_critic, config.lr_decay_fraction = 30, 5, 1 / 3
  combined = states.critic_learning_rate_fn(config)
  config.critic_update = "ganimation"
  ganimation = states.critic_learning_rate_fn(config)
  # Both decay to 0 at the end of the run, counted in their own updates.
  assert float(combined(150)) == 0.0 and float(ganimation(150)) > 0.0
  assert float(ganimation(300)) == 0.0
  np.testing.assert_allclose(float(ganimation(2 * 120)), float(combined(120)), rtol=1e-6)


def test_an_unknown_critic_update_is_named(monkeypatch):
  with pytest.raises(ValueError, match="critic_update.*'twice'"):
    _critic_update_with_sgd(tiny.get_config(), monkeypatch, "twice")


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_every_generator_module_gets_a_gradient_in_a_generator_step(variant):
  """The objective reaches every submodule and every decoder's head: a
  decoder cut off by a stray stop_gradient (or left out of the output)
  would get none."""
  config = tiny.get_config()
  config.model.variant = variant
  g_state, d_state = _perturbed_states(config)
  batch = jax.tree.map(lambda x: x[0], _batch(config, 5))
  grads = jax.jit(jax.grad(lambda p: losses.generator_loss(
      p, d_state.params, batch, g_apply=g_state.apply_fn, d_apply=d_state.apply_fn,
      config=config)[0]))(g_state.params)
  grads = jax.device_get(grads)
  norm = lambda tree: float(np.sqrt(sum(np.sum(np.square(x)) for x in jax.tree.leaves(tree))))
  for name, module in grads.items():
    assert norm(module) > 0, name
    convs = sorted((k for k in module if k.startswith("Conv_")), key=lambda k: int(k[5:]))
    if name != "encoder":
      assert norm(module[convs[-1]]) > 0, f"{name}'s head"
  expected = {"dftnet": {"encoder", "flow_decoder", "texture_decoder"},
              "ganimation": {"encoder", "decoder"},
              "warp_only": {"encoder", "flow_decoder"}}[variant]
  assert set(grads) == expected


@functools.cache
def _loss_gradients(conv_impl):
  """The whole critic loss's and generator loss's parameter gradients (dftnet,
  tiny, perturbed weights) under `conv_impl`; cached, so native runs once."""
  config = tiny.get_config()
  config.model.conv_impl = conv_impl
  g_state, d_state = _perturbed_states(config)
  batch = jax.tree.map(lambda x: x[0], _batch(config, 6))
  # Compiled, the edit too: op by op, the formulations' many small ops took
  # minutes (the edit alone 15 s under winograd).
  fake = jax.jit(g_state.apply_fn)({"params": g_state.params}, batch["image"],
                                   batch["target_aus"]).image
  keys = jax.random.split(jax.random.key(3), len(fake))
  d_grads = jax.jit(jax.grad(lambda p: losses.critic_loss(
      p, fake, batch, keys, d_apply=d_state.apply_fn, config=config)[0]))(d_state.params)
  g_grads = jax.jit(jax.grad(lambda p: losses.generator_loss(
      p, d_state.params, batch, g_apply=g_state.apply_fn, d_apply=d_state.apply_fn,
      config=config)[0]))(g_state.params)
  return jax.device_get((d_grads, g_grads))


@pytest.mark.parametrize("impl", ["banded", "winograd", "im2col", "s2d"])
def test_both_losses_gradients_do_not_depend_on_the_convolution_formulation(impl):
  """The whole critic loss (the penalty's double backward included) and the
  whole generator loss (the cycle pass included) have the same gradients
  under every formulation as under native convolutions (dftnet, tiny):
  banded and winograd write their backward pass by hand
  (`cpu_conv.im2col.valid_fast_grads`); im2col and s2d are differentiated by JAX
  through their own rearrangements (a `stop_gradient` slipped into either
  fails here, not in the forward tests)."""
  def close(path, a, b):
    # Relative to the leaf's largest gradient: summation order differs.
    np.testing.assert_allclose(a, b, rtol=0, atol=2e-3 * np.abs(b).max() + 1e-7,
                               err_msg=f"{impl} {jax.tree_util.keystr(path)}")

  jax.tree_util.tree_map_with_path(close, _loss_gradients(impl), _loss_gradients("native"))
