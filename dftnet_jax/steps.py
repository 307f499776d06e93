"""The training steps: the critic and generator updates and GANimation's
cycle of them, compiled for every device (the objectives they descend are
`losses`', the states they update `states`').

Each update is written once as a per-device body (`lax.pmean` over the
'batch' axis); `cycle_step` chains GANimation's cycle of n_critic critic
updates and one generator update into one program, shipped under `jax.pmap`
or `jax.jit(jax.shard_map(...))` (`parallel.parallelize`,
`config.parallelism`) with the state unstacked: parameters go in and come
out as one copy, only the batches are split over devices, of one process or
of many. Randomness is drawn per example from the example's global index, so
a run's results do not depend on how many devices share its batch.

Nothing here reads data or writes files, and nothing imports TensorFlow: the
loop in `train` feeds these steps from tf.data, and a machine without
TensorFlow feeds them numpy batches (`array_pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
import functools
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
from dftnet_jax import parallel
from dftnet_jax import states

# How a critic step applies the critic's terms (`losses.CRITIC_TERMS`):
# 'combined' (one Adam step on their sum, as the WGAN-GP paper and the
# paper's objective write it) or 'ganimation' (one step on the adversarial
# and AU terms, then one on the penalty alone, taken by the updated critic,
# as GANimation's code does).
CRITIC_UPDATES: tuple[str, ...] = ("combined", "ganimation")


def _example_keys(key: jax.Array, batch_size: int) -> jax.Array:
  """One key per example of this device's share, [batch_size], folded from
  `key` with the example's global index (device index × share + position).

  Folding in the device index alone would tie each example's draw to the
  device count: one device with 4 examples and two with 2 would differ.
  """
  first = lax.axis_index("batch") * batch_size
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(first + jnp.arange(batch_size))


def _critic_update(d_state: train_state.TrainState, fake: jax.Array, batch: losses.Batch,
                   keys: jax.Array, *, config: ml_collections.ConfigDict,
                   terms: Sequence[str]
                   ) -> tuple[train_state.TrainState, losses.Metrics, jax.Array]:
  """One optimiser step on `terms` of the critic loss; also the global
  gradient norm."""
  grads, metrics = jax.grad(losses.critic_loss, has_aux=True)(
      d_state.params, fake, batch, keys, d_apply=d_state.apply_fn, config=config, terms=terms)
  grads, metrics = lax.pmean((grads, metrics), "batch")
  return d_state.apply_gradients(grads=grads), metrics, optax.tree.norm(grads)


def d_update(d_state: train_state.TrainState, fake: jax.Array, batch: losses.Batch,
             key: jax.Array, *, config: ml_collections.ConfigDict
             ) -> tuple[train_state.TrainState, losses.Metrics]:
  """`d_step` given the generator's edit (`fake`, no gradient) of the batch,
  as `config.critic_update` says (`CRITIC_UPDATES`)."""
  keys = _example_keys(key, batch["image"].shape[0])
  update = functools.partial(_critic_update, fake=fake, batch=batch, keys=keys, config=config)
  how = config.get("critic_update", "combined")
  if how == "combined":
    d_state, metrics, norm = update(d_state, terms=losses.CRITIC_TERMS)
    return d_state, {**metrics, "d_grad_norm": norm}
  if how == "ganimation":
    d_state, metrics, norm = update(d_state, terms=("adv", "cond"))
    d_state, gp_metrics, gp_norm = update(d_state, terms=("gp",))
    penalties = {name: gp_metrics[name] for name in ("d_gp", "d_au_gp") if name in gp_metrics}
    return d_state, {**metrics, **penalties,
                     "d_loss": metrics["d_loss"] + gp_metrics["d_loss"],
                     "d_grad_norm": norm, "d_gp_grad_norm": gp_norm}
  raise ValueError(f"config.critic_update must be one of {CRITIC_UPDATES}, got {how!r}")


def d_step(d_state: train_state.TrainState, g_params: Any, batch: losses.Batch, key: jax.Array, *,
           g_apply: losses.ApplyFn, config: ml_collections.ConfigDict
           ) -> tuple[train_state.TrainState, losses.Metrics]:
  """One critic update (per-device body; collectives over 'batch').

  Args:
    d_state: critic state, the same on every device.
    g_params: generator parameters (not updated).
    batch: this device's share of the batch.
    key: PRNG key, the same on every device. Each example's penalty
      interpolate is drawn from it folded with the example's global index,
      so the update does not depend on the device count.
    g_apply: the generator's apply function.
    config: the training config.

  Returns:
    The updated critic state and device-averaged metrics, with the global
    gradient norm (`d_grad_norm`: finite loss and gradients keep the state
    finite).
  """
  fake = lax.stop_gradient(losses.edit_batch(g_apply, g_params, batch).image)
  return d_update(d_state, fake, batch, key, config=config)


def edit_with_vjp(g_state: train_state.TrainState, batch: losses.Batch
                  ) -> tuple[models.GeneratorOutput, Callable]:
  """The generator's edit of the batch and its VJP in the parameters."""
  return jax.vjp(lambda p: losses.edit_batch(g_state.apply_fn, p, batch), g_state.params)


def g_step(g_state: train_state.TrainState, d_params: Any, batch: losses.Batch,
           edit: tuple[models.GeneratorOutput, Callable], key: jax.Array, *,
           d_apply: losses.ApplyFn, config: ml_collections.ConfigDict
           ) -> tuple[train_state.TrainState, losses.Metrics]:
  """One generator update (per-device body; collectives over 'batch').

  The objective's gradient through the edit is pulled back by the edit's VJP
  and added to the rest, so the edit's forward can be shared.

  Args:
    g_state: generator state, the same on every device.
    d_params: critic parameters (not updated).
    batch: this device's share of the batch.
    edit: `edit_with_vjp(g_state, batch)`.
    key: PRNG key, the same on every device, folded per example as in
      `d_step`; it draws the critic's views of the edit (`critic_views`),
      used only with `config.critic_shift` or `config.critic_noise` > 0.
    d_apply: the critic's apply function.
    config: the training config.

  Returns:
    The updated generator state and device-averaged metrics, with the global
    gradient norm (`g_grad_norm`).
  """
  edited, edit_vjp = edit
  grad_fn = jax.grad(losses.generator_objective, argnums=(0, 1), has_aux=True)
  (edited_grads, direct_grads), metrics = grad_fn(
      edited, g_state.params, d_params, batch, _example_keys(key, batch["image"].shape[0]),
      g_apply=g_state.apply_fn, d_apply=d_apply, config=config)
  grads = jax.tree.map(jnp.add, direct_grads, edit_vjp(edited_grads)[0])
  grads, metrics = lax.pmean((grads, metrics), "batch")
  metrics["g_grad_norm"] = optax.tree.norm(grads)
  return g_state.apply_gradients(grads=grads), metrics


def cycle_step(state: states.GanState, batches: losses.Batch, key: jax.Array, *,
               config: ml_collections.ConfigDict
               ) -> tuple[states.GanState, tuple[losses.Metrics, losses.Metrics]]:
  """One training step as GANimation takes it (per-device body; run by
  `parallel_cycle`): n_critic critic updates, each on its own batch, then a
  generator update on the last batch.

  One compiled program for the whole cycle, and the generator's edit of the
  last batch is computed once: the last critic update takes it as its fake,
  the generator update differentiates it (one of the cycle's 7 generator
  forwards saved at n_critic = 5).

  Args:
    state: both networks' states, the same on every device.
    batches: this device's share of n_critic batches, [n_critic, B, ...].
    key: PRNG key, the same on every device; split over the critic updates
      (`d_step`), and folded with n_critic for the generator update
      (`g_step`), which leaves the critic's keys as they were before the
      generator drew any.
    config: the training config.

  Returns:
    The updated state, the critic updates' metrics stacked [n_critic] and
    the generator update's metrics.
  """
  g_state = state.generator
  d_keys = jax.random.split(key, config.n_critic)
  first = jax.tree.map(lambda x: x[:-1], batches)
  last = jax.tree.map(lambda x: x[-1], batches)

  def critic_step(d_state, inputs):
    batch, d_key = inputs
    return d_step(d_state, g_state.params, batch, d_key, g_apply=g_state.apply_fn,
                  config=config)

  d_state, d_metrics = lax.scan(critic_step, state.critic, (first, d_keys[:-1]))
  edit = edit_with_vjp(g_state, last)
  d_state, last_metrics = d_update(d_state, lax.stop_gradient(edit[0].image), last,
                                   d_keys[-1], config=config)
  d_metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), d_metrics, last_metrics)
  g_state, g_metrics = g_step(g_state, d_state.params, last, edit,
                              jax.random.fold_in(key, config.n_critic),
                              d_apply=d_state.apply_fn, config=config)
  return states.GanState(generator=g_state, critic=d_state), (d_metrics, g_metrics)


def eval_step(g_params: Any, d_params: Any, batch: losses.Batch, key: jax.Array, *,
              g_apply: losses.ApplyFn, d_apply: losses.ApplyFn, config: ml_collections.ConfigDict
              ) -> losses.Metrics:
  """Both objectives' terms on a batch, nothing updated (per-device body).

  Args:
    g_params: generator parameters.
    d_params: critic parameters.
    batch: this device's share of the batch.
    key: PRNG key for the penalty interpolates (and, with
      `config.critic_shift` or `config.critic_noise` > 0, the critic's views),
      folded per example as in `d_step`; a fixed key makes evaluations at
      different steps comparable.
    g_apply: the generator's apply function.
    d_apply: the critic's apply function.
    config: the training config.

  Returns:
    Device-averaged metrics of both networks.
  """
  keys = _example_keys(key, batch["image"].shape[0])
  fake = losses.edit_batch(g_apply, g_params, batch).image
  _, d_metrics = losses.critic_loss(d_params, fake, batch, keys, d_apply=d_apply, config=config)
  # The generator's views from the key folded apart, as `cycle_step` draws them.
  g_keys = _example_keys(jax.random.fold_in(key, 1), batch["image"].shape[0])
  _, g_metrics = losses.generator_loss(g_params, d_params, batch, g_keys, g_apply=g_apply,
                                       d_apply=d_apply, config=config)
  return lax.pmean({**d_metrics, **g_metrics}, "batch")


def sample_step(g_params: Any, batch: losses.Batch, *, g_apply: losses.ApplyFn
                ) -> tuple[models.GeneratorOutput, jax.Array]:
  """The edit towards the target AUs and its cycle back to the source AUs.

  Returns:
    Every generator output of the edit and the reconstructed source
    [B, H, W, 3], for image summaries.
  """
  edited = losses.edit_batch(g_apply, g_params, batch)
  return edited, g_apply({"params": g_params}, edited.image, batch["aus"]).image


def parallel_cycle(config: ml_collections.ConfigDict,
                   devices: Sequence[jax.Device] | None = None) -> Callable:
  """Parallel `cycle_step` (`parallel.parallelize`: pmap or shard_map): the
  state unstacked in and out and donated, batches split.

  Args:
    config: the training config.
    devices: the devices to split the batches over; default: all of them.

  Returns:
    cycle(state, batches [D, n_critic, B, ...], key) →
    (state, (critic metrics [n_critic], generator metrics)).
  """
  return parallel.parallelize(functools.partial(cycle_step, config=config), config,
                              in_axes=(None, 0, None), out_axes=(None, None),
                              donate_argnums=(0,), devices=devices)


def parallel_eval_steps(config: ml_collections.ConfigDict, state: states.GanState
                        ) -> tuple[Callable, Callable]:
  """Parallel (eval_step, sample_step) over all devices.

  Returns:
    eval_step(g_params, d_params, batch [D, B, ...], key) → metrics and
    sample_step(g_params, batch) → outputs [D, B, ...].
  """
  g_apply = state.generator.apply_fn
  p_eval_step = parallel.parallelize(
      functools.partial(eval_step, g_apply=g_apply, d_apply=state.critic.apply_fn,
                        config=config),
      config, in_axes=(None, None, 0, None), out_axes=None)
  p_sample_step = parallel.parallelize(functools.partial(sample_step, g_apply=g_apply),
                                       config, in_axes=(None, 0), out_axes=0)
  return p_eval_step, p_sample_step


def train_cycle(state: states.GanState, batches: Iterator[losses.Batch], key: jax.Array, *,
                p_cycle: Callable, n_critic: int
                ) -> tuple[states.GanState, list[losses.Metrics]]:
  """One training step: the next n_critic batches through `p_cycle`.

  Args:
    state: both networks' states (donated).
    batches: the training stream, [D, B, ...] batches.
    key: this step's PRNG key.
    p_cycle: the parallel `cycle_step` (`parallel_cycle`).
    n_critic: critic steps per generator step.

  Returns:
    The updated state and each update's metrics on the host, critic steps
    first.
  """
  taken = [next(batches) for _ in range(n_critic)]
  stacked = {name: np.stack([b[name] for b in taken], axis=1) for name in taken[0]}
  state, (d_metrics, g_metrics) = p_cycle(state, stacked, key)
  d_metrics, g_metrics = jax.device_get((d_metrics, g_metrics))
  d_metrics = [{name: value[i] for name, value in d_metrics.items()} for i in range(n_critic)]
  return state, d_metrics + [g_metrics]
