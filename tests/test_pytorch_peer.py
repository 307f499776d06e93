"""benchmarks/pytorch_peer.py computes what the Flax model computes.

The speed comparison (`benchmarks.compare_peer`) means something only if the
peer runs the same networks and objective: the same parameter counts at the
shipped configs, and, with the Flax weights copied in, the same outputs,
loss terms and gradients (the critic's through the penalty's double
backward).
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks import pytorch_peer
from dftnet_jax import losses
from dftnet_jax import models
from dftnet_jax import warp

SIZE, BATCH = 32, 2


def _count(tree) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("config_name", ["default", "synthetic", "synthetic128"])
@pytest.mark.parametrize("variant", models.VARIANTS)
def test_parameter_counts_match_the_flax_models(config_name, variant):
  config = importlib.import_module(f"configs.{config_name}").get_config()
  config.model.variant = variant
  size = config.model.image_size
  flax_g = jax.eval_shape(models.create_generator(config.model).init, jax.random.key(0),
                          jnp.zeros((1, size, size, 3)), jnp.zeros((1, 17)))
  flax_d = jax.eval_shape(models.create_discriminator(config.model).init, jax.random.key(0),
                          jnp.zeros((1, size, size, 3)))
  generator, critic = pytorch_peer.create_networks(config)
  assert sum(p.numel() for p in generator.parameters()) == _count(flax_g)
  assert sum(p.numel() for p in critic.parameters()) == _count(flax_d)


def _small_config(base: str, variant: str):
  config = importlib.import_module(f"configs.{base}").get_config()
  config.model.update(variant=variant, image_size=SIZE, g_width=4, g_res_blocks=1, d_width=4,
                      d_layers=2, conv_impl="native")
  config.batch_size = BATCH
  return config


def _jiggled(params, key):
  """Every parameter moved at random, so zero-initialised heads (the flow,
  the residual texture) draw something and the warp moves pixels. Keeps
  the tree's key order (the layers' creation order)."""
  paths = pytorch_peer.flax_paths(params)
  keys = dict(zip(paths, jax.random.split(key, len(paths))))

  def move(tree, prefix=()):
    return {name: move(value, prefix + (name,)) if isinstance(value, dict)
            else value + 0.3 * jax.random.normal(keys[prefix + (name,)], value.shape)
            for name, value in tree.items()}

  return move(params)


def _nchw(x) -> torch.Tensor:
  return torch.from_numpy(np.array(x).transpose(0, 3, 1, 2).copy())


def _setup(base: str, variant: str):
  """The small config, both networks in Flax and PyTorch with the same
  (jiggled) weights, and a batch."""
  config = _small_config(base, variant)
  flax_g, flax_d = models.create_generator(config.model), models.create_discriminator(config.model)
  keys = jax.random.split(jax.random.key(0), 6)
  image = jax.random.uniform(keys[0], (BATCH, SIZE, SIZE, 3), minval=-1, maxval=1)
  batch = {"image": image, "aus": jax.random.uniform(keys[1], (BATCH, 17)),
           "target_aus": jax.random.uniform(keys[2], (BATCH, 17))}
  g_params = _jiggled(flax_g.init(keys[3], image, batch["aus"])["params"], keys[4])
  d_params = _jiggled(flax_d.init(keys[3], image)["params"], keys[5])
  generator, critic = pytorch_peer.create_networks(config)
  pytorch_peer.load_flax_params(generator, g_params)
  pytorch_peer.load_flax_params(critic, d_params)
  return config, (flax_g, g_params, generator), (flax_d, d_params, critic), batch


CASES = [("default", v) for v in models.VARIANTS] + [("synthetic", "dftnet")]


@pytest.mark.parametrize("base,variant", CASES)
def test_outputs_match_with_the_flax_weights(base, variant):
  _, (flax_g, g_params, generator), (flax_d, d_params, critic), batch = _setup(base, variant)
  ours = flax_g.apply({"params": g_params}, batch["image"], batch["target_aus"])
  theirs = generator(_nchw(batch["image"]), torch.from_numpy(np.array(batch["target_aus"])))
  # The warped images amplify float32 noise: a flow 1e-5 off (normalised)
  # samples 1.6e-4 px elsewhere in a random image whose neighbours differ by
  # ~1 (the warps themselves agree to 5e-6: the next test).
  tolerances = {"image": 1e-3, "aligned": 1e-3, "texture": 5e-5, "attention": 5e-5,
                "flow": 5e-5}
  for name, atol in tolerances.items():
    if getattr(ours, name) is None:
      assert getattr(theirs, name) is None, name
      continue
    np.testing.assert_allclose(getattr(theirs, name).detach().numpy().transpose(0, 2, 3, 1),
                               getattr(ours, name), atol=atol, err_msg=name)
  if ours.flow is not None:  # the warp had something to do
    assert float(jnp.max(jnp.abs(ours.image - batch["image"]))) > 0.1
  critic_map, critic_aus = flax_d.apply({"params": d_params}, ours.image)
  their_map, their_aus = critic(_nchw(ours.image))
  np.testing.assert_allclose(their_map.detach().numpy(), critic_map, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(their_aus.detach().numpy(), critic_aus, rtol=1e-4, atol=1e-5)


def test_warp_matches_grid_sample_on_the_same_flow():
  keys = jax.random.split(jax.random.key(3), 2)
  image = jax.random.uniform(keys[0], (2, 12, 20, 3))
  flow = jax.random.uniform(keys[1], (2, 12, 20, 2), minval=-0.6, maxval=0.6)  # past the border
  theirs = pytorch_peer.warp(_nchw(image), _nchw(flow)).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_allclose(theirs, warp.warp(image, flow), atol=5e-6)


def _assert_grads_match(flax_grads, paths, module, rtol):
  """`flax_grads` (sorted keys, as `jax.grad` returns them) against the
  peer's gradients, matched through the creation-order `paths`."""
  for path, parameter in zip(paths, module.parameters(), strict=True):
    grad = flax_grads
    for name in path:
      grad = grad[name]
    expected = pytorch_peer.flax_layout("/".join(path), grad).numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(parameter.grad.numpy(), expected, rtol=rtol, atol=rtol * scale,
                               err_msg="/".join(path))


@pytest.mark.parametrize("base,variant", CASES)
def test_critic_loss_and_its_gradient_match(base, variant):
  config, (flax_g, g_params, _), (flax_d, d_params, critic), batch = _setup(base, variant)
  fake = jax.jit(flax_g.apply)({"params": g_params}, batch["image"], batch["target_aus"]).image
  keys = jax.random.split(jax.random.key(7), BATCH)
  loss = lambda p: losses.critic_loss(p, fake, batch, keys, d_apply=flax_d.apply, config=config)
  # Compiled: op by op, the penalty's double backward takes many seconds.
  (_, metrics), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(d_params)
  # The penalty's interpolation weights, drawn as `losses.gradient_penalty` does.
  alpha = jax.vmap(lambda k: jax.random.uniform(k, (1, 1, 1)))(keys)
  terms = pytorch_peer.critic_loss(critic, _nchw(batch["image"]),
                                   torch.from_numpy(np.array(batch["aus"])), _nchw(fake),
                                   torch.from_numpy(np.array(alpha)), config)
  for name in ("adv", "gp", "cond"):
    np.testing.assert_allclose(float(terms[name].detach()), metrics[f"d_{name}"], rtol=1e-4,
                               err_msg=name)
  terms["total"].backward()
  _assert_grads_match(grads, pytorch_peer.flax_paths(d_params), critic, rtol=1e-3)


@pytest.mark.parametrize("base,variant,g_adv_scale",
                         [(*case, 1.0) for case in CASES] + [("synthetic", "dftnet", 3.0)])
def test_generator_objective_and_its_gradient_match(base, variant, g_adv_scale):
  config, (flax_g, g_params, generator), (flax_d, d_params, critic), batch = _setup(base, variant)
  if g_adv_scale != 1.0:
    # Weighs the realness term in the generator alone: only the total and the
    # gradients see it, where the AU and cycle terms would drown it.
    config.loss.update(g_adv_scale=g_adv_scale, cond=0.0, cycle=0.0)
  loss = lambda p: losses.generator_loss(p, d_params, batch, g_apply=flax_g.apply,
                                         d_apply=flax_d.apply, config=config)
  (_, metrics), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(g_params)
  image, target = _nchw(batch["image"]), torch.from_numpy(np.array(batch["target_aus"]))
  terms = pytorch_peer.generator_objective(generator, critic, image,
                                           torch.from_numpy(np.array(batch["aus"])), target,
                                           generator(image, target), config)
  assert set(terms) - {"total"} == set(metrics) - {"g_loss", "mean_attention", "mean_abs_flow"}
  for name, value in terms.items():
    metric = metrics["g_loss" if name == "total" else name]
    np.testing.assert_allclose(float(value.detach()), metric, rtol=1e-4, err_msg=name)
  terms["total"].backward()
  _assert_grads_match(grads, pytorch_peer.flax_paths(g_params), generator, rtol=1e-3)


@pytest.mark.parametrize("field,value", [
    ("model.au_conditioning", "film"), ("model.d_projection", True),
    ("model.d_spectral_norm", True)])
def test_the_peer_refuses_networks_it_does_not_implement(field, value):
  config = _small_config("default", "dftnet")
  config.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=field.rpartition(".")[2]):
    pytorch_peer.create_networks(config)


@pytest.mark.parametrize("field,value", [
    ("critic_update", "ganimation"), ("loss.gan", "ns_r1"), ("critic_shift", 1.0),
    ("critic_noise", 0.1), ("loss.cond_reference", "source"), ("loss.flow_l1", 0.5),
    ("loss.identity", 5.0), ("loss.cond_fake", 0.1), ("loss.paired_l1", 100.0)])
def test_the_peer_refuses_training_it_does_not_implement(field, value):
  config = _small_config("default", "dftnet")
  config.update_from_flattened_dict({field: value})
  networks = pytorch_peer.create_networks(config)
  with pytest.raises(ValueError, match=f"config.{field} = {value!r} is not implemented"):
    pytorch_peer.Trainer(config, *networks)


def test_a_training_cycle_updates_both_networks():
  config = _small_config("default", "dftnet")
  generator, critic = pytorch_peer.create_networks(config)
  before = [p.detach().clone() for p in (*generator.parameters(), *critic.parameters())]
  trainer = pytorch_peer.Trainer(config, generator, critic)
  trainer.cycle(pytorch_peer._random_batches(config, BATCH, 0))  # pylint: disable=protected-access
  after = list(generator.parameters()) + list(critic.parameters())
  moved = [not torch.equal(a, b) for a, b in zip(before, after)]
  g_count = len(list(generator.parameters()))
  assert any(moved[:g_count]) and any(moved[g_count:])
  assert all(p.requires_grad for p in critic.parameters())
