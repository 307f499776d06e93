"""Training: train states and the critic and generator steps.

Each step is written once as a per-device body (`lax.pmean` over the 'batch'
axis, per-device randomness from `fold_in(key, axis_index)`) and shipped
under `jax.pmap` with the state unstacked: parameters go in and come out as
one copy, only the batch is split over devices.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flax.training import train_state
import jax
from jax import lax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from dftnet_jax import losses
from dftnet_jax import models

# 'image' [B, H, W, 3] in [-1, 1]; 'aus' and 'target_aus' [B, 17] in [0, 1]
# (the input pipeline draws targets from other examples).
Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
ApplyFn = Callable[..., Any]


def create_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam with the paper's learning rate and betas."""
  return optax.adam(config.learning_rate, b1=config.adam_b1, b2=config.adam_b2)


def create_train_states(config: ml_collections.ConfigDict, key: jax.Array
                        ) -> tuple[train_state.TrainState, train_state.TrainState]:
  """Initialised generator and critic states (params and Adam moments),
  replicated for the pmap'd steps."""
  size = config.model.image_size
  image = jnp.zeros((1, size, size, 3), jnp.float32)
  aus = jnp.zeros((1, models.aus_lib.NUM_AUS), jnp.float32)
  g_key, d_key = jax.random.split(key)
  generator = models.create_generator(config.model)
  discriminator = models.create_discriminator(config.model)
  g_params = jax.jit(generator.init)(g_key, image, aus)["params"]
  d_params = jax.jit(discriminator.init)(d_key, image)["params"]
  make = functools.partial(train_state.TrainState.create, tx=create_optimizer(config))
  return replicate((make(apply_fn=generator.apply, params=g_params),
                    make(apply_fn=discriminator.apply, params=d_params)))


def replicate(tree: Any) -> Any:
  """One copy on every local device, laid out as the pmap'd steps return it.

  Feeding the steps state in any other layout (e.g. fresh from `init`, on one
  device) compiles them a second time when their own output comes back in.
  """
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("batch",))
  return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def _au_divisor(config: ml_collections.ConfigDict) -> float:
  if config.loss.au_mse == "ganimation":
    return float(config.batch_size)
  if config.loss.au_mse == "mean":
    return 1.0
  raise ValueError(f"config.loss.au_mse must be 'ganimation' or 'mean', got {config.loss.au_mse!r}")


def critic_loss(d_params: Any, fake: jax.Array, batch: Batch, key: jax.Array, *,
                d_apply: ApplyFn, config: ml_collections.ConfigDict
                ) -> tuple[jax.Array, Metrics]:
  """WGAN critic loss with gradient penalty and AU regression on real images."""
  critic = lambda x: d_apply({"params": d_params}, x)
  # One critic pass over real and fake together: larger, fewer convolutions.
  maps, predicted_aus = critic(jnp.concatenate([batch["image"], fake]))
  real_map, fake_map = jnp.split(maps, 2)
  real_aus = predicted_aus[:fake.shape[0]]
  adv = losses.critic_wgan(real_map, fake_map)
  gp = losses.gradient_penalty(lambda x: critic(x)[0], batch["image"], fake, key,
                               reduction=config.loss.gp_reduction)
  cond = losses.au_regression(real_aus, batch["aus"], batch_divisor=_au_divisor(config))
  total = config.loss.adv * adv + config.loss.gp * gp + config.loss.cond * cond
  return total, {"d_loss": total, "d_adv": adv, "d_gp": gp, "d_cond": cond,
                 "d_real_minus_fake": -adv}


def generator_loss(g_params: Any, d_params: Any, batch: Batch, *,
                   g_apply: ApplyFn, d_apply: ApplyFn, config: ml_collections.ConfigDict
                   ) -> tuple[jax.Array, Metrics]:
  """Adversarial + AU + cycle + the variant's flow/attention regularisers.

  Metrics hold each term unweighted (GANimation's mask terms come weighted,
  as one term) and the weighted total.
  """
  generate = lambda x, y: g_apply({"params": g_params}, x, y)
  targets = batch["target_aus"]
  edited = generate(batch["image"], targets)
  cycled = generate(edited.image, batch["aus"])
  fake_map, fake_aus = d_apply({"params": d_params}, edited.image)
  cfg = config.loss
  divisor = _au_divisor(config)
  terms = {
      "g_adv": (cfg.adv, losses.generator_wgan(fake_map)),
      "g_cond": (cfg.cond, losses.au_regression(fake_aus, targets, batch_divisor=divisor)),
      "g_cycle": (cfg.cycle, losses.cycle_l1(batch["image"], cycled.image)),
  }
  passes = (edited, cycled)
  if edited.flow is not None:
    terms["g_tv"] = (cfg.tv, sum(losses.flow_tv(o.flow, reduction=cfg.tv_reduction)
                                 for o in passes) / 2)
  if edited.attention is not None:
    if config.model.variant == "ganimation":
      attention = functools.partial(losses.attention_ganimation, mean_weight=cfg.ganimation_mask,
                                    smooth_weight=cfg.ganimation_mask_smooth)
      terms["g_attention"] = (1.0, sum(attention(o.attention) for o in passes) / 2)
    else:
      terms["g_attention"] = (cfg.attention, sum(losses.attention_dftnet(o.attention)
                                                 for o in passes) / 2)
  total = sum(weight * value for weight, value in terms.values())
  metrics = {"g_loss": total, **{name: value for name, (_, value) in terms.items()}}
  if edited.attention is not None:
    metrics["mean_attention"] = jnp.mean(edited.attention)
  if edited.flow is not None:
    metrics["mean_abs_flow"] = jnp.mean(jnp.abs(edited.flow))
  return total, metrics


def _device_key(key: jax.Array) -> jax.Array:
  return jax.random.fold_in(key, lax.axis_index("batch"))


def d_step(d_state: train_state.TrainState, g_params: Any, batch: Batch, key: jax.Array, *,
           g_apply: ApplyFn, config: ml_collections.ConfigDict
           ) -> tuple[train_state.TrainState, Metrics]:
  """One critic update (per-device body; run under pmap over 'batch').

  Args:
    d_state: critic state, the same on every device.
    g_params: generator parameters (not updated).
    batch: this device's share of the batch.
    key: PRNG key, the same on every device; folded with the device index.
    g_apply: the generator's apply function.
    config: the training config.

  Returns:
    The updated critic state and device-averaged metrics.
  """
  fake = lax.stop_gradient(g_apply({"params": g_params}, batch["image"], batch["target_aus"]).image)
  grad_fn = jax.grad(critic_loss, has_aux=True)
  grads, metrics = grad_fn(d_state.params, fake, batch, _device_key(key), d_apply=d_state.apply_fn,
                           config=config)
  grads, metrics = lax.pmean((grads, metrics), "batch")
  return d_state.apply_gradients(grads=grads), metrics


def g_step(g_state: train_state.TrainState, d_params: Any, batch: Batch, key: jax.Array, *,
           d_apply: ApplyFn, config: ml_collections.ConfigDict
           ) -> tuple[train_state.TrainState, Metrics]:
  """One generator update (per-device body; run under pmap over 'batch').

  Args:
    g_state: generator state, the same on every device.
    d_params: critic parameters (not updated).
    batch: this device's share of the batch.
    key: PRNG key, the same on every device; folded with the device index.
    d_apply: the critic's apply function.
    config: the training config.

  Returns:
    The updated generator state and device-averaged metrics.
  """
  grad_fn = jax.grad(generator_loss, has_aux=True)
  grads, metrics = grad_fn(g_state.params, d_params, batch, g_apply=g_state.apply_fn,
                           d_apply=d_apply, config=config)
  grads, metrics = lax.pmean((grads, metrics), "batch")
  return g_state.apply_gradients(grads=grads), metrics


def parallel_steps(config: ml_collections.ConfigDict, g_state: train_state.TrainState,
                   d_state: train_state.TrainState):
  """pmap'd (d_step, g_step): state unstacked in and out, batch split, state donated."""
  pmap = functools.partial(jax.pmap, axis_name="batch", in_axes=(None, None, 0, None),
                           out_axes=(None, None), donate_argnums=(0,))
  p_d_step = pmap(functools.partial(d_step, g_apply=g_state.apply_fn, config=config))
  p_g_step = pmap(functools.partial(g_step, d_apply=d_state.apply_fn, config=config))
  return p_d_step, p_g_step
