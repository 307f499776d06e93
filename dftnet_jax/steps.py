"""The training steps: both objectives, the critic and generator updates and
GANimation's cycle of them, compiled for every device (the states they
update are `states`').

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

# 'image' [B, H, W, 3] in [-1, 1]; 'aus' and 'target_aus' [B, 17] in [0, 1]
# (the input pipeline draws targets from other examples); numpy on the host,
# with a leading device axis [D, B, ...] before a parallel step splits it.
Batch = dict[str, jax.typing.ArrayLike]
Metrics = dict[str, jax.Array]
ApplyFn = Callable[..., Any]


# How the AU regression's squared error is normalised (`_au_divisor`).
AU_MSES: tuple[str, ...] = ("ganimation", "mean")


def _au_divisor(config: ml_collections.ConfigDict) -> float:
  if config.loss.au_mse == "ganimation":
    return float(config.batch_size)
  if config.loss.au_mse == "mean":
    return 1.0
  raise ValueError(f"config.loss.au_mse must be one of {AU_MSES}, got {config.loss.au_mse!r}")


# The critic's weighted terms: adversarial, gradient penalty, AU regression.
CRITIC_TERMS: tuple[str, ...] = ("adv", "gp", "cond")
# How a critic step applies them: 'combined' (one Adam step on their sum, as
# the WGAN-GP paper and the paper's objective write it) or 'ganimation' (one
# step on the adversarial and AU terms, then one on the penalty alone, taken
# by the updated critic, as GANimation's code does).
CRITIC_UPDATES: tuple[str, ...] = ("combined", "ganimation")


def critic_loss(d_params: Any, fake: jax.Array, batch: Batch, keys: jax.Array, *,
                d_apply: ApplyFn, config: ml_collections.ConfigDict,
                terms: Sequence[str] = CRITIC_TERMS) -> tuple[jax.Array, Metrics]:
  """WGAN critic loss with gradient penalty and AU regression on real images.

  `keys` [B] hold one PRNG key per example, for its penalty interpolate;
  `terms` (of `CRITIC_TERMS`) are those the total adds, each weighted. With
  `loss.au_gp` > 0 the AU head's Jacobian penalty
  (`losses.au_jacobian_penalty`) is added wherever "gp" is.
  """
  critic = lambda x: d_apply({"params": d_params}, x)
  values, metrics = {}, {}
  if "adv" in terms or "cond" in terms:
    # One critic pass over real and fake together: larger, fewer convolutions.
    maps, predicted_aus = critic(jnp.concatenate([batch["image"], fake]))
    real_map, fake_map = jnp.split(maps, 2)
    values["adv"] = losses.critic_wgan(real_map, fake_map)
    values["cond"] = losses.au_regression(predicted_aus[:fake.shape[0]], batch["aus"],
                                          batch_divisor=_au_divisor(config))
    metrics["d_real_minus_fake"] = -values["adv"]
  if "gp" in terms:
    values["gp"] = losses.gradient_penalty(lambda x: critic(x)[0], batch["image"], fake, keys,
                                           reduction=config.loss.gp_reduction)
    if config.loss.get("au_gp"):
      # The AU head's smoothness rides with the realness penalty: both are
      # taken on interpolates, in whichever update applies the penalty.
      values["au_gp"] = losses.au_jacobian_penalty(lambda x: critic(x)[1], batch["image"],
                                                   fake, keys)
  weighted = (*terms, "au_gp") if "au_gp" in values else terms
  total = sum(config.loss[term] * values[term] for term in weighted)
  return total, {"d_loss": total, **{f"d_{name}": value for name, value in values.items()},
                 **metrics}


# Which generator passes DFT-Net's flow TV and attention term apply to:
# the edit only (the paper's eqs. 9–10), or the edit and the cycle pass,
# averaged or summed.
REGULARISER_PASSES: tuple[str, ...] = ("edit", "both_mean", "both_sum")


def _over_passes(term: Callable[[models.GeneratorOutput], jax.Array],
                 edited: models.GeneratorOutput, cycled: models.GeneratorOutput,
                 passes: str) -> jax.Array:
  """`term` of the edit, or of both passes averaged or summed (`passes`)."""
  if passes == "edit":
    return term(edited)
  if passes == "both_mean":
    return (term(edited) + term(cycled)) / 2
  if passes == "both_sum":
    return term(edited) + term(cycled)
  raise ValueError(f"config.loss.regulariser_passes must be one of {REGULARISER_PASSES},"
                   f" got {passes!r}")


def generator_objective(edited: models.GeneratorOutput, g_params: Any, d_params: Any,
                        batch: Batch, *, g_apply: ApplyFn, d_apply: ApplyFn,
                        config: ml_collections.ConfigDict) -> tuple[jax.Array, Metrics]:
  """Adversarial + AU + cycle + the variant's flow/attention regularisers,
  given the generator's edit of the batch towards its target AUs.

  Taking the edit as an argument lets a training cycle share one generator
  forward between its last critic step and its generator step. Metrics hold
  each term unweighted (GANimation's mask terms come weighted, as one term)
  and the weighted total.
  """
  targets = batch["target_aus"]
  cycled = g_apply({"params": g_params}, edited.image, batch["aus"])
  fake_map, fake_aus = d_apply({"params": d_params}, edited.image)
  cfg = config.loss
  divisor = _au_divisor(config)
  terms = {
      "g_adv": (cfg.adv, losses.generator_wgan(fake_map)),
      "g_cond": (cfg.cond, losses.au_regression(fake_aus, targets, batch_divisor=divisor)),
      "g_cycle": (cfg.cycle, losses.cycle_loss(batch["image"], cycled.image,
                                               cfg.get("cycle_distance", "l1"))),
  }
  if cfg.get("paired_l1"):
    terms["g_paired_l1"] = (cfg.paired_l1, losses.paired_loss(
        edited.image, batch["target_image"], cfg.get("paired_distance", "l1")))
  # Configs saved before the field existed ran both passes, averaged.
  over_passes = functools.partial(_over_passes, edited=edited, cycled=cycled,
                                  passes=cfg.get("regulariser_passes", "both_mean"))
  if edited.flow is not None:
    terms["g_tv"] = (cfg.tv, over_passes(lambda o: losses.flow_tv(
        o.flow, reduction=cfg.tv_reduction, units=cfg.tv_units)))
  if cfg.get("texture_tv") and config.model.variant == "dftnet":
    terms["g_texture_tv"] = (cfg.texture_tv,
                             losses.texture_change_tv(edited.texture, batch["image"]))
  if edited.attention is not None:
    if config.model.variant == "ganimation":
      # GANimation sums the mask's smoothness over the whole batch; this device
      # sums its share, and the pmean of the gradients divides by the shares.
      shares = config.batch_size / batch["image"].shape[0]
      attention = functools.partial(losses.attention_ganimation, mean_weight=cfg.ganimation_mask,
                                    smooth_weight=shares * cfg.ganimation_mask_smooth)
      # GANimation adds its mask terms of the edit and of the cycle.
      terms["g_attention"] = (1.0, _over_passes(lambda o: attention(o.attention), edited,
                                                cycled, "both_sum"))
    else:
      terms["g_attention"] = (cfg.attention,
                              over_passes(lambda o: losses.attention_dftnet(o.attention)))
  total = sum(weight * value for weight, value in terms.values())
  metrics = {"g_loss": total, **{name: value for name, (_, value) in terms.items()}}
  if edited.attention is not None:
    metrics["mean_attention"] = jnp.mean(edited.attention)
  if edited.flow is not None:
    metrics["mean_abs_flow"] = jnp.mean(jnp.abs(edited.flow))
  return total, metrics


def generator_loss(g_params: Any, d_params: Any, batch: Batch, *,
                   g_apply: ApplyFn, d_apply: ApplyFn, config: ml_collections.ConfigDict
                   ) -> tuple[jax.Array, Metrics]:
  """`generator_objective` of the generator's own edit of the batch."""
  edited = g_apply({"params": g_params}, batch["image"], batch["target_aus"])
  return generator_objective(edited, g_params, d_params, batch, g_apply=g_apply,
                             d_apply=d_apply, config=config)


def _example_keys(key: jax.Array, batch_size: int) -> jax.Array:
  """One key per example of this device's share, [batch_size], folded from
  `key` with the example's global index (device index × share + position).

  Folding in the device index alone would tie each example's draw to the
  device count: one device with 4 examples and two with 2 would differ.
  """
  first = lax.axis_index("batch") * batch_size
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(first + jnp.arange(batch_size))


def _fake(g_apply: ApplyFn, g_params: Any, batch: Batch) -> jax.Array:
  """The generator's edit of the batch towards its target AUs."""
  return g_apply({"params": g_params}, batch["image"], batch["target_aus"]).image


def _critic_update(d_state: train_state.TrainState, fake: jax.Array, batch: Batch,
                   keys: jax.Array, *, config: ml_collections.ConfigDict,
                   terms: Sequence[str]) -> tuple[train_state.TrainState, Metrics, jax.Array]:
  """One optimiser step on `terms` of the critic loss; also the global
  gradient norm."""
  grads, metrics = jax.grad(critic_loss, has_aux=True)(
      d_state.params, fake, batch, keys, d_apply=d_state.apply_fn, config=config, terms=terms)
  grads, metrics = lax.pmean((grads, metrics), "batch")
  return d_state.apply_gradients(grads=grads), metrics, optax.tree.norm(grads)


def d_update(d_state: train_state.TrainState, fake: jax.Array, batch: Batch,
             key: jax.Array, *, config: ml_collections.ConfigDict
             ) -> tuple[train_state.TrainState, Metrics]:
  """`d_step` given the generator's edit (`fake`, no gradient) of the batch,
  as `config.critic_update` says (`CRITIC_UPDATES`)."""
  keys = _example_keys(key, batch["image"].shape[0])
  update = functools.partial(_critic_update, fake=fake, batch=batch, keys=keys, config=config)
  how = config.get("critic_update", "combined")
  if how == "combined":
    d_state, metrics, norm = update(d_state, terms=CRITIC_TERMS)
    return d_state, {**metrics, "d_grad_norm": norm}
  if how == "ganimation":
    d_state, metrics, norm = update(d_state, terms=("adv", "cond"))
    d_state, gp_metrics, gp_norm = update(d_state, terms=("gp",))
    penalties = {name: gp_metrics[name] for name in ("d_gp", "d_au_gp") if name in gp_metrics}
    return d_state, {**metrics, **penalties,
                     "d_loss": metrics["d_loss"] + gp_metrics["d_loss"],
                     "d_grad_norm": norm, "d_gp_grad_norm": gp_norm}
  raise ValueError(f"config.critic_update must be one of {CRITIC_UPDATES}, got {how!r}")


def d_step(d_state: train_state.TrainState, g_params: Any, batch: Batch, key: jax.Array, *,
           g_apply: ApplyFn, config: ml_collections.ConfigDict
           ) -> tuple[train_state.TrainState, Metrics]:
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
  fake = lax.stop_gradient(_fake(g_apply, g_params, batch))
  return d_update(d_state, fake, batch, key, config=config)


def edit_with_vjp(g_state: train_state.TrainState, batch: Batch
                   ) -> tuple[models.GeneratorOutput, Callable]:
  """The generator's edit of the batch and its VJP in the parameters."""
  return jax.vjp(lambda p: g_state.apply_fn({"params": p}, batch["image"], batch["target_aus"]),
                 g_state.params)


def g_step(g_state: train_state.TrainState, d_params: Any, batch: Batch,
           edit: tuple[models.GeneratorOutput, Callable], *, d_apply: ApplyFn,
           config: ml_collections.ConfigDict) -> tuple[train_state.TrainState, Metrics]:
  """One generator update (per-device body; collectives over 'batch').

  The objective's gradient through the edit is pulled back by the edit's VJP
  and added to the rest, so the edit's forward can be shared.

  Args:
    g_state: generator state, the same on every device.
    d_params: critic parameters (not updated).
    batch: this device's share of the batch.
    edit: `edit_with_vjp(g_state, batch)`.
    d_apply: the critic's apply function.
    config: the training config.

  Returns:
    The updated generator state and device-averaged metrics, with the global
    gradient norm (`g_grad_norm`).
  """
  edited, edit_vjp = edit
  grad_fn = jax.grad(generator_objective, argnums=(0, 1), has_aux=True)
  (edited_grads, direct_grads), metrics = grad_fn(
      edited, g_state.params, d_params, batch, g_apply=g_state.apply_fn, d_apply=d_apply,
      config=config)
  grads = jax.tree.map(jnp.add, direct_grads, edit_vjp(edited_grads)[0])
  grads, metrics = lax.pmean((grads, metrics), "batch")
  metrics["g_grad_norm"] = optax.tree.norm(grads)
  return g_state.apply_gradients(grads=grads), metrics


def cycle_step(g_state: train_state.TrainState, d_state: train_state.TrainState,
               batches: Batch, key: jax.Array, *, config: ml_collections.ConfigDict
               ) -> tuple[train_state.TrainState, train_state.TrainState,
                          tuple[Metrics, Metrics]]:
  """One training step as GANimation takes it (per-device body; run by
  `parallel_cycle`): n_critic critic updates, each on its own batch, then a
  generator update on the last batch.

  One compiled program for the whole cycle, and the generator's edit of the
  last batch is computed once: the last critic update takes it as its fake,
  the generator update differentiates it (one of the cycle's 7 generator
  forwards saved at n_critic = 5).

  Args:
    g_state: generator state, the same on every device.
    d_state: critic state, the same on every device.
    batches: this device's share of n_critic batches, [n_critic, B, ...].
    key: PRNG key, the same on every device; split over the critic updates
      (`d_step`). The generator's objective draws nothing at random.
    config: the training config.

  Returns:
    The updated states, the critic updates' metrics stacked [n_critic] and
    the generator update's metrics.
  """
  d_keys = jax.random.split(key, config.n_critic)
  first = jax.tree.map(lambda x: x[:-1], batches)
  last = jax.tree.map(lambda x: x[-1], batches)

  def critic_step(d_state, inputs):
    batch, d_key = inputs
    return d_step(d_state, g_state.params, batch, d_key, g_apply=g_state.apply_fn,
                  config=config)

  d_state, d_metrics = lax.scan(critic_step, d_state, (first, d_keys[:-1]))
  edit = edit_with_vjp(g_state, last)
  d_state, last_metrics = d_update(d_state, lax.stop_gradient(edit[0].image), last,
                                   d_keys[-1], config=config)
  d_metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), d_metrics, last_metrics)
  g_state, g_metrics = g_step(g_state, d_state.params, last, edit, d_apply=d_state.apply_fn,
                              config=config)
  return g_state, d_state, (d_metrics, g_metrics)


def eval_step(g_params: Any, d_params: Any, batch: Batch, key: jax.Array, *,
              g_apply: ApplyFn, d_apply: ApplyFn, config: ml_collections.ConfigDict
              ) -> Metrics:
  """Both objectives' terms on a batch, nothing updated (per-device body).

  Args:
    g_params: generator parameters.
    d_params: critic parameters.
    batch: this device's share of the batch.
    key: PRNG key for the penalty interpolates, folded per example as in
      `d_step`; a fixed key makes evaluations at different steps comparable.
    g_apply: the generator's apply function.
    d_apply: the critic's apply function.
    config: the training config.

  Returns:
    Device-averaged metrics of both networks.
  """
  keys = _example_keys(key, batch["image"].shape[0])
  _, d_metrics = critic_loss(d_params, _fake(g_apply, g_params, batch), batch, keys,
                             d_apply=d_apply, config=config)
  _, g_metrics = generator_loss(g_params, d_params, batch, g_apply=g_apply, d_apply=d_apply,
                                config=config)
  return lax.pmean({**d_metrics, **g_metrics}, "batch")


def sample_step(g_params: Any, batch: Batch, *, g_apply: ApplyFn
                ) -> tuple[models.GeneratorOutput, jax.Array]:
  """The edit towards the target AUs and its cycle back to the source AUs.

  Returns:
    Every generator output of the edit and the reconstructed source
    [B, H, W, 3], for image summaries.
  """
  edited = g_apply({"params": g_params}, batch["image"], batch["target_aus"])
  return edited, g_apply({"params": g_params}, edited.image, batch["aus"]).image


def parallel_cycle(config: ml_collections.ConfigDict,
                   devices: Sequence[jax.Device] | None = None) -> Callable:
  """Parallel `cycle_step` (`parallel.parallelize`: pmap or shard_map): states
  unstacked in and out and donated, batches split.

  Args:
    config: the training config.
    devices: the devices to split the batches over; default: all of them.

  Returns:
    cycle(g_state, d_state, batches [D, n_critic, B, ...], key) →
    (g_state, d_state, (critic metrics [n_critic], generator metrics)).
  """
  return parallel.parallelize(functools.partial(cycle_step, config=config), config,
                              in_axes=(None, None, 0, None), out_axes=(None, None, None),
                              donate_argnums=(0, 1), devices=devices)


def parallel_eval_steps(config: ml_collections.ConfigDict, g_state: train_state.TrainState,
                        d_state: train_state.TrainState):
  """Parallel (eval_step, sample_step) over all devices.

  Returns:
    eval_step(g_params, d_params, batch [D, B, ...], key) → metrics and
    sample_step(g_params, batch) → outputs [D, B, ...].
  """
  p_eval_step = parallel.parallelize(
      functools.partial(eval_step, g_apply=g_state.apply_fn, d_apply=d_state.apply_fn,
                        config=config),
      config, in_axes=(None, None, 0, None), out_axes=None)
  p_sample_step = parallel.parallelize(functools.partial(sample_step, g_apply=g_state.apply_fn),
                                       config, in_axes=(None, 0), out_axes=0)
  return p_eval_step, p_sample_step


def train_cycle(g_state: train_state.TrainState, d_state: train_state.TrainState,
                batches: Iterator[Batch], key: jax.Array, *, p_cycle: Callable, n_critic: int
                ) -> tuple[train_state.TrainState, train_state.TrainState, list[Metrics]]:
  """One training step: the next n_critic batches through `p_cycle`.

  Args:
    g_state: the generator state (donated).
    d_state: the critic state (donated).
    batches: the training stream, [D, B, ...] batches.
    key: this step's PRNG key.
    p_cycle: the parallel `cycle_step` (`parallel_cycle`).
    n_critic: critic steps per generator step.

  Returns:
    The updated states and each update's metrics on the host, critic steps
    first.
  """
  taken = [next(batches) for _ in range(n_critic)]
  stacked = {name: np.stack([b[name] for b in taken], axis=1) for name in taken[0]}
  g_state, d_state, (d_metrics, g_metrics) = p_cycle(g_state, d_state, stacked, key)
  d_metrics, g_metrics = jax.device_get((d_metrics, g_metrics))
  d_metrics = [{name: value[i] for name, value in d_metrics.items()} for i in range(n_critic)]
  return g_state, d_state, d_metrics + [g_metrics]
