"""How fast can the demo's generator learn an edit it is shown? A probe.

    python -m experiments.ceiling_probe --exp=supervised_fast_l2 [--steps=1500] \\
        [--eval_every=250] [--out=experiments/probe/records.jsonl] [--decay]
    python -m experiments.ceiling_probe --table=experiments/probe/records.jsonl  # LEARNING.md

Trains only the generator of a `learning.EXPERIMENTS` config, on the paired
term alone (the edit against the same synthetic face drawn with the target
AUs, in the config's `loss.paired_distance`), with the config's optimiser,
at its constant rate (`--decay`: the config's schedule over the probe's
steps, the linear decay of its last `lr_decay_fraction`), and scores the edit
suite as it goes. No critic, no cycle pass: a step costs about a quarter of a
GAN step on the 2-core CPU, so the ceiling of an architecture or a distance is
measured in minutes, before a GAN run is spent on it. The GAN recipe cannot be
expected to edit better than its generator does here at the same number of
steps.

Each evaluation appends a line to `--out`: experiment, seed, step, wall
seconds, the suite's scores, the step's loss and mean attention and |flow|.
At the end the suite figure (source, then edit | truth for eyes closed,
smile, jaw drop, surprised) goes beside it as `<out stem>_<exp>_seed<seed>.png`;
keep probes with and without `--decay` in different `--out` files, so the
table's first column tells them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
import time
from typing import Any

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import optax
from PIL import Image

from dftnet_jax import array_pipeline
from dftnet_jax import edit_suite
from dftnet_jax import losses
from dftnet_jax import models
from dftnet_jax import reporting
from dftnet_jax import states
from experiments import learning
from experiments import screen

PROBE_TABLE_START = "<!-- probe table:start -->"
PROBE_TABLE_END = "<!-- probe table:end -->"


def make_step(generator: models.Generator, optimizer: optax.GradientTransformation,
              distance: str, huber_delta: float):
  """One optimiser step of the paired term; returns params, state, metrics."""
  def loss_fn(params, batch):
    out = generator.apply({"params": params}, batch["image"], batch["target_aus"])
    metrics = {}
    if out.attention is not None:
      metrics["mean_attention"] = jnp.mean(out.attention)
    if out.flow is not None:
      metrics["mean_abs_flow"] = jnp.mean(jnp.abs(out.flow))
    loss = losses.paired_loss(out.image, batch["target_image"], distance,
                              huber_delta=huber_delta)
    return loss, {"loss": loss, **metrics}

  @jax.jit
  def step(params, opt_state, batch):
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, batch)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, metrics
  return step


def probe(name: str, seed: int, num_steps: int, eval_every: int, data_path: str,
          out: str, decay: bool = False) -> list[dict[str, Any]]:
  """Trains experiment `name`'s generator on the paired term; its records."""
  started = time.perf_counter()
  config = screen.config_of(name, seed)
  data = screen.load_faces(data_path, config.dataset_config)
  generator = models.create_generator(config.model)
  size = config.model.image_size
  params = generator.init(jax.random.key(seed), jnp.zeros((1, size, size, 3)),
                          jnp.zeros((1, 17)))["params"]
  rate = states.create_learning_rate_fn(config, num_steps) if decay else config.learning_rate
  optimizer = states.create_optimizer(config, rate)
  opt_state = optimizer.init(params)
  step = make_step(generator, optimizer, config.loss.get("paired_distance", "l1"),
                   config.loss.get("huber_delta", losses.HUBER_DELTA))
  batches = array_pipeline.train_batches(data, batch_size=config.batch_size, num_devices=1,
                                         seed=seed, target_au_noise=config.target_au_noise,
                                         render_targets=True)
  generate = jax.jit(lambda p, x, t: generator.apply({"params": p}, x, t).image)
  suite = edit_suite.suite_faces(size, config.suite_faces)
  records = []
  for done in range(1, num_steps + 1):
    batch = {k: v[0] for k, v in next(batches).items()}
    params, opt_state, metrics = step(params, opt_state, batch)
    if reporting.is_due(done, eval_every, num_steps):
      scores = edit_suite.score_suite(edit_suite.generator_edit_fn(generate, params), suite)
      record = {"name": name, "seed": seed, "step": done, "planned_steps": num_steps,
                "wall_s": time.perf_counter() - started,
                "train": {k: float(v) for k, v in metrics.items()}, **scores}
      records.append(record)
      screen.append_record(out, record)
      print(f"{name} seed {seed} step {done}: gain {scores['gain_mean']:.3f}"
            f" min {scores['gain_min']:.3f} leak {scores['leak_mean']:.4f}"
            f" ({record['wall_s']:.0f} s)", flush=True)
  figure = edit_suite.suite_figure(edit_suite.generator_edit_fn(generate, params), suite)
  stem = os.path.splitext(os.path.basename(out))[0]
  Image.fromarray(figure).save(os.path.join(os.path.dirname(out) or ".",
                                            f"{stem}_{name}_seed{seed}.png"))
  return records


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _TABLE.value:
    learning.write_between_markers(learning.LOG, PROBE_TABLE_START, PROBE_TABLE_END,
                                   screen.table(screen.read_runs(_TABLE.value)))
    return
  probe(_EXP.value, _SEED.value, _STEPS.value, _EVAL_EVERY.value, _DATA.value, _OUT.value,
        _DECAY.value)


if __name__ == "__main__":
  _EXP = flags.DEFINE_string("exp", "supervised_fast_l2", "experiment of experiments.learning")
  _SEED = flags.DEFINE_integer("seed", 0, "initialisation and batch order")
  _STEPS = flags.DEFINE_integer("steps", 1500, "generator steps")
  _EVAL_EVERY = flags.DEFINE_integer("eval_every", 250, "steps between suite scores")
  _DATA = flags.DEFINE_string("data", "/tmp/dftnet_probe_faces.npz",
                              "the training faces, drawn on first use")
  _OUT = flags.DEFINE_string("out", "experiments/probe/records.jsonl", "records, appended")
  _DECAY = flags.DEFINE_bool("decay", False, "the config's rate schedule over --steps, not"
                             " its constant rate")
  _TABLE = flags.DEFINE_list("table", [], "Write the table of these probe records into"
                             " experiments/LEARNING.md instead of training.")
  app.run(main)
