"""The critic's AU reading, trained alone on real faces before the GAN starts.

Why: the generator's only push towards its target expression is the
critic's AU reading of its edits, and a fresh critic reads next to nothing.
Alone on real faces, on the AU term only, the demo's critic explains ~1% of
the AUs' variance after 1,000 updates at the paper's rate and 17% after
1,500; at 4e-4, 32% after 1,500 and 78% after 6,000
(`experiments/critic_probe.py`, experiments/LEARNING.md, session 7). Such an
update costs a few percent of a GAN step on the CPU (no generator, no
gradient penalty), so thousands of them cost about as much as a hundred GAN
steps. `config.critic_au_pretrain_steps` of them, at
`config.critic_au_pretrain_rate`, with an Adam of their own (the critic's
optimiser then starts fresh), run before the first training step of a run;
a resumed run has them in its checkpoint. 0 (the paper): none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from absl import logging
from flax.training import train_state
import jax
from jax import lax
import ml_collections
import numpy as np

from dftnet_jax import losses
from dftnet_jax import parallel
from dftnet_jax import reporting
from dftnet_jax import states


def au_update(d_state: train_state.TrainState, batch: losses.Batch
              ) -> tuple[train_state.TrainState, dict[str, jax.Array]]:
  """One optimiser step on the AU error of the batch's real faces
  (per-device body; gradients averaged over 'batch')."""
  def au_error(params: Any) -> jax.Array:
    # A projection critic's map needs the AUs; the AU head does not.
    _, predicted = d_state.apply_fn({"params": params}, batch["image"], batch["aus"])
    return losses.au_regression(predicted, batch["aus"])

  error, grads = jax.value_and_grad(au_error)(d_state.params)
  error, grads = lax.pmean((error, grads), parallel.AXIS)
  return d_state.apply_gradients(grads=grads), {"au_mse": error}


def pretrain(d_state: train_state.TrainState, batches: Iterator[losses.Batch], *,
             config: ml_collections.ConfigDict, log_every: int = 500
             ) -> train_state.TrainState:
  """`config.critic_au_pretrain_steps` AU updates of the critic (module doc).

  Args:
    d_state: the fresh critic state, replicated as `states.create_train_states`
      lays it out.
    batches: real faces and their AUs, [D, B, ...] batches.
    config: the training config.
    log_every: updates between log lines of the AU error.

  Returns:
    `d_state` with the pretrained parameters; its step and optimiser state
    as they were.
  """
  num_updates = config.get("critic_au_pretrain_steps", 0)
  if not num_updates:
    return d_state
  tx = states.create_optimizer(config, config.critic_au_pretrain_rate)
  opt_state = jax.jit(tx.init, out_shardings=parallel.replicated())(d_state.params)
  state = d_state.replace(tx=tx, opt_state=opt_state)
  update = parallel.parallelize(au_update, config, in_axes=(None, 0), out_axes=(None, None))
  errors = []
  for done in range(1, num_updates + 1):
    state, metrics = update(state, next(batches))
    errors.append(metrics["au_mse"])
    if reporting.is_due(done, log_every, num_updates):
      logging.info("critic AU pretraining %d/%d: au_mse=%.4g", done, num_updates,
                   float(np.mean(jax.device_get(errors))))
      errors = []
  return d_state.replace(params=state.params)

