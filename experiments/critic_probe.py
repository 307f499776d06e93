"""How fast does the demo's critic learn to read AUs? A probe.

    python -m experiments.critic_probe --exp=residual_tv_resize [--updates=1000] \\
        [--out=experiments/probe/critic.jsonl]

The generator's only push away from copying its source is the critic's AU
reading of its edits, so a GAN recipe cannot edit before its critic reads
AUs. This trains only the critic of a `learning.EXPERIMENTS` config, on
real synthetic faces and its AU term alone (the AU regression the critic
loss weights by `loss.cond`), with the config's critic optimiser at a
constant rate, and records the AU mean squared error over every 100
updates beside the AUs' variance (what predicting their mean scores). An
update costs a fraction of a GAN step, so a critic recipe is measured in a
minute.
"""

from __future__ import annotations

from collections.abc import Sequence
import time
from typing import Any

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from dftnet_jax import array_pipeline
from dftnet_jax import models
from experiments import screen

_WINDOW = 100


def make_update(critic: models.Discriminator, optimizer: optax.GradientTransformation):
  """One optimiser step on the AU mean squared error of real faces."""
  def loss_fn(params, batch):
    # A projection critic's map needs the AUs; the AU head does not.
    _, predicted = critic.apply({"params": params}, batch["image"], batch["aus"])
    return jnp.mean(jnp.square(predicted - batch["aus"]))

  @jax.jit
  def update(params, opt_state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss
  return update


def probe(name: str, seed: int, num_updates: int, data_path: str, out: str
          ) -> list[dict[str, Any]]:
  """Trains experiment `name`'s critic on the AUs of real faces; its records."""
  started = time.perf_counter()
  config = screen.config_of(name, seed)
  data = screen.load_faces(data_path, config.dataset_config)
  critic = models.create_discriminator(config.model)
  size = config.model.image_size
  params = critic.init(jax.random.key(seed), jnp.zeros((1, size, size, 3)))["params"]
  optimizer = optax.adam(config.get("d_learning_rate") or config.learning_rate,
                         b1=config.adam_b1, b2=config.adam_b2)
  opt_state = optimizer.init(params)
  update = make_update(critic, optimizer)
  batches = array_pipeline.train_batches(data, batch_size=config.batch_size, num_devices=1,
                                         seed=seed, target_au_noise=config.target_au_noise)
  variance = float(np.mean(np.var(data.aus, axis=0)))
  records, window = [], []
  for done in range(1, num_updates + 1):
    batch = {k: v[0] for k, v in next(batches).items()}
    params, opt_state, loss = update(params, opt_state, batch)
    window.append(float(loss))
    if done % _WINDOW == 0:
      record = {"name": name, "seed": seed, "update": done, "au_mse": float(np.mean(window)),
                "au_variance": variance, "wall_s": time.perf_counter() - started}
      window = []
      records.append(record)
      screen.append_record(out, record)
      print(f"{name} update {done}: AU MSE {record['au_mse']:.4f} (variance {variance:.4f})",
            flush=True)
  return records


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  probe(_EXP.value, _SEED.value, _UPDATES.value, _DATA.value, _OUT.value)


if __name__ == "__main__":
  _EXP = flags.DEFINE_string("exp", "residual_tv_resize", "experiment of experiments.learning")
  _SEED = flags.DEFINE_integer("seed", 0, "initialisation and batch order")
  _UPDATES = flags.DEFINE_integer("updates", 1000, "critic updates")
  _DATA = flags.DEFINE_string("data", "/tmp/dftnet_probe_faces.npz",
                              "the training faces, drawn on first use")
  _OUT = flags.DEFINE_string("out", "experiments/probe/critic.jsonl", "records, appended")
  app.run(main)
