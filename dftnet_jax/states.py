"""Train states: the optimisers, their learning-rate schedules and the
initialised, replicated generator and critic states a run starts from.

Built once per run from the config (`create_train_states`, one `GanState`);
the steps (`steps`) update it, the loop (`train`) checkpoints it, and
`evaluation` restores it. Each optimiser's schedule is indexed by its own
update count: the critic makes n_critic updates a step (two each under
GANimation's `critic_update`), the generator one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flax import struct
from flax.training import train_state
import jax
import jax.numpy as jnp
import ml_collections
import optax

from dftnet_jax import aus as aus_lib
from dftnet_jax import models
from dftnet_jax import parallel


class GanState(struct.PyTreeNode):
  """The generator's and the critic's train states: what every training step
  updates and every checkpoint holds (the loop's PRNG key stays a separate,
  explicit argument). A pytree, so the parallel steps take and donate it
  whole."""
  generator: train_state.TrainState
  critic: train_state.TrainState


def create_learning_rate_fn(config: ml_collections.ConfigDict, steps: int,
                            base_rate: float | None = None) -> optax.Schedule:
  """`base_rate`, then a linear decay to 0 over the last
  `config.lr_decay_fraction` of the run (paper §3.1: the last 10 of 30 epochs).

  Args:
    config: the training config.
    steps: the updates this optimiser makes in the whole run. The generator
      makes `num_train_steps`, the critic n_critic times as many; indexing
      each schedule by its own update count makes both decay over the same
      part of the run.
    base_rate: the rate before the decay; default `config.learning_rate`.

  Returns:
    The schedule: update count → learning rate.

  Raises:
    ValueError: the decay fraction is outside [0, 1].
  """
  if not 0.0 <= config.lr_decay_fraction <= 1.0:
    raise ValueError(f"config.lr_decay_fraction must be in [0, 1], got {config.lr_decay_fraction}")
  rate = config.learning_rate if base_rate is None else base_rate
  decay_steps = round(config.lr_decay_fraction * steps)
  constant = optax.constant_schedule(rate)
  if not decay_steps:
    return constant
  decay = optax.linear_schedule(rate, 0.0, decay_steps)
  return optax.join_schedules([constant, decay], [steps - decay_steps])


def generator_learning_rate_fn(config: ml_collections.ConfigDict) -> optax.Schedule:
  """The generator's schedule: 0 for the first `config.critic_head_start`
  steps, then `create_learning_rate_fn` over the rest of the run, its first
  `config.generator_warmup_steps` scaled by a ramp from 0 to 1.

  Why: the generator's only push away from copying its source is the
  critic's AU reading of its edits, and a fresh critic reads next to
  nothing (alone on real faces, the demo's explains ~1% of the AUs'
  variance after 1,000 updates: experiments/critic_probe.py). Measured on
  the demo (experiments/LEARNING.md, sessions 6 and 7): 200 frozen steps
  raise the edit suite's gain on three seeds (0.124 ± 0.018 against 0.050
  ± 0.009), though the critic's AU error follows the same curve as without
  them. The warm-up tests the other candidate, the generator's first Adam
  updates (about ±rate per parameter whatever the gradient, until the
  second moment has seen a few hundred gradients): ramped over the same
  200 steps it matched the head start on one seed of two; freezing the
  critic through the head start as well (session 12) lost the gain on four
  seeds of five: it is the critic's updates against the generator's
  copies (`critic_learning_rate_fn`).
  """
  head_start = config.get("critic_head_start", 0)
  if not 0 <= head_start < config.num_train_steps:
    raise ValueError(f"config.critic_head_start must be in [0, num_train_steps ="
                     f" {config.num_train_steps}), got {head_start}")
  warmup = config.get("generator_warmup_steps", 0)
  if not 0 <= warmup <= config.num_train_steps - head_start:
    raise ValueError(f"config.generator_warmup_steps must be in [0, num_train_steps -"
                     f" critic_head_start = {config.num_train_steps - head_start}], got {warmup}")
  schedule = create_learning_rate_fn(config, config.num_train_steps - head_start)
  if warmup:
    ramp, decaying = optax.linear_schedule(0.0, 1.0, warmup), schedule
    schedule = lambda step: ramp(step) * decaying(step)
  if not head_start:
    return schedule
  return optax.join_schedules([optax.constant_schedule(0.0), schedule], [head_start])


def critic_learning_rate_fn(config: ml_collections.ConfigDict) -> optax.Schedule:
  """The critic's schedule: `config.d_learning_rate` (default
  `config.learning_rate`) over its n_critic updates a step, two each under
  GANimation's `critic_update`.

  With `config.critic_frozen_in_head_start` the critic's rate is 0 through
  the head start too, and its schedule runs over the rest, as the
  generator's does: both networks then only gather Adam's moments during
  the head start. Why: the head start helps (`generator_learning_rate_fn`)
  either through the generator's optimiser state or through a critic that
  settles against the untouched generator's copies first; freezing the
  critic too keeps the first and removes the second (experiments/
  LEARNING.md, session 12: it is the second).
  """
  updates = critic_updates_per_step(config)
  frozen = (config.get("critic_head_start", 0) * updates
            if config.get("critic_frozen_in_head_start", False) else 0)
  schedule = create_learning_rate_fn(config, config.num_train_steps * updates - frozen,
                                     config.get("d_learning_rate"))
  if not frozen:
    return schedule
  return optax.join_schedules([optax.constant_schedule(0.0), schedule], [frozen])


def critic_updates_per_step(config: ml_collections.ConfigDict) -> int:
  """The critic optimiser's updates in one training step."""
  return config.n_critic * (2 if config.get("critic_update", "combined") == "ganimation" else 1)


def create_optimizer(config: ml_collections.ConfigDict, learning_rate: optax.ScalarOrSchedule
                     ) -> optax.GradientTransformation:
  """Adam with the paper's betas."""
  return optax.adam(learning_rate, b1=config.adam_b1, b2=config.adam_b2)


def create_train_states(config: ml_collections.ConfigDict, key: jax.Array,
                        devices: Sequence[jax.Device] | None = None) -> GanState:
  """Initialised generator and critic states (params and Adam moments),
  replicated over `devices` (default: all, every process) for the steps.

  Initialised by one jit whose results are laid out replicated, so every
  process of a multi-host run holds the same global arrays from the start.
  Each optimiser follows its own learning-rate schedule, counted in its own
  updates (`create_learning_rate_fn`).
  """
  size = config.model.image_size
  image = jnp.zeros((1, size, size, 3), jnp.float32)
  aus = jnp.zeros((1, aus_lib.NUM_AUS), jnp.float32)
  generator = models.create_generator(config.model)
  discriminator = models.create_discriminator(config.model)
  g_tx = create_optimizer(config, generator_learning_rate_fn(config))
  d_tx = create_optimizer(config, critic_learning_rate_fn(config))

  def make(**fields: Any) -> train_state.TrainState:
    # A strongly typed step: the steps return one, and a weakly typed one
    # going in would compile each step twice.
    return train_state.TrainState.create(**fields).replace(step=jnp.zeros((), jnp.int32))

  def init(key: jax.Array) -> GanState:
    g_key, d_key = jax.random.split(key)
    return GanState(
        generator=make(apply_fn=generator.apply,
                       params=generator.init(g_key, image, aus)["params"], tx=g_tx),
        critic=make(apply_fn=discriminator.apply,
                    params=discriminator.init(d_key, image, aus)["params"], tx=d_tx))

  return jax.jit(init, out_shardings=parallel.replicated(devices))(key)


def replicate(tree: Any, devices: Sequence[jax.Device] | None = None) -> Any:
  """One copy on every device (default: all, every process), laid out as the
  parallel steps return it.

  Feeding the steps state in any other layout (e.g. fresh from `init`, on one
  device) compiles them a second time when their own output comes back in.
  """
  return jax.device_put(tree, parallel.replicated(devices))


def run_keys(config: ml_collections.ConfigDict) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(init, host, eval) keys of a run, from `config.seed`."""
  return tuple(jax.random.split(jax.random.key(config.seed), 3))
