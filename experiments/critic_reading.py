"""Does a trained critic read its generator's edits as their target AUs? A probe.

    python -m experiments.critic_reading --workdir=workdirs/compare8/dftnet_seed0 \\
        [--out=experiments/probe/critic_reading.jsonl]

The generator's only push towards an expression is the critic's AU head:
the generator is trained until that head reads its edits as their targets.
If the head reads an edit as well as the ground truth while the edit's gain
is near 0 (the suite's pixels say it is barely an edit), the head is fooled,
and a better optimiser or a longer run only fools it more. For each edit of
the suite this loads a run's final checkpoint and records the critic's AU
mean squared error against the targets on the ground truth, on the edit and
on the source, the critic's realness score (its map's mean; higher = more
real) of each, and the AU head's squared Frobenius Jacobian norm
‖∂AU/∂x‖²_F on the truth and on the edit (exact: one gradient per AU), the
steepness `loss.au_gp` prices. One JSON line per edit to `--out`.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import os

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from dftnet_jax import aus as aus_lib
from dftnet_jax import checkpoints
from dftnet_jax import edit_suite
from dftnet_jax import evaluation
from dftnet_jax import images as images_lib
from dftnet_jax import models


def jacobian_sq_norms(read_aus, images: jax.Array) -> jax.Array:
  """‖∂AU/∂x‖²_F per image [N]: the sum over AUs of each one's squared
  input-gradient norm (images do not interact in the critic)."""
  def one_au(index: int) -> jax.Array:
    grads = jax.grad(lambda x: jnp.sum(read_aus(x)[:, index]))(images)
    return jnp.sum(grads ** 2, axis=(1, 2, 3))
  return sum(one_au(index) for index in range(aus_lib.NUM_AUS))


def readings(workdir: str, num_faces: int) -> list[dict[str, float | str]]:
  """The records of the module docstring, one per suite edit."""
  config = checkpoints.load_config(workdir)
  restored = evaluation.restore_final(config, workdir)
  generator = models.create_generator(config.model)
  critic = models.create_discriminator(config.model)
  # Every image is judged as showing the edit's targets (a projection
  # critic's realness depends on them; a blind critic ignores them).
  judge = jax.jit(lambda x, t: critic.apply({"params": restored.state.critic.params}, x, t))
  g_params = restored.state.generator.params
  edit = jax.jit(lambda x, t: generator.apply({"params": g_params}, x, t).image)
  suite = edit_suite.suite_faces(config.model.image_size, num_faces)
  source = jnp.asarray(images_lib.from_uint8(suite.sources))
  records = []
  for name, target in suite.targets.items():
    targets = jnp.broadcast_to(target, (num_faces, aus_lib.NUM_AUS))
    read_aus = lambda x, t=targets: judge(x, t)[1]
    images = {"truth": jnp.asarray(images_lib.from_uint8(suite.truths[name])),
              "edit": edit(source, targets)}
    judged = {kind: judge(image, targets) for kind, image in {"source": source, **images}.items()}
    record = {"workdir": workdir, "step": restored.step, "edit": name}
    for kind, (realness, aus) in judged.items():
      record[f"au_mse_{kind}"] = float(jnp.mean((aus - targets) ** 2))
      record[f"realness_{kind}"] = float(jnp.mean(realness))
    for kind, image in images.items():
      record[f"jacobian_sq_{kind}"] = float(jnp.mean(jacobian_sq_norms(read_aus, image)))
    records.append(record)
  return records


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  records = readings(_WORKDIR.value, _FACES.value)
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "a", encoding="utf-8") as f:
    for record in records:
      f.write(json.dumps(record) + "\n")
  for record in records:
    print(json.dumps(record))
  mse = {kind: np.mean([r[f"au_mse_{kind}"] for r in records])
         for kind in ("truth", "edit", "source")}
  print(json.dumps({"workdir": _WORKDIR.value, "mean_au_mse": mse}))


if __name__ == "__main__":
  _WORKDIR = flags.DEFINE_string("workdir", None, "a training run's workdir", required=True)
  _FACES = flags.DEFINE_integer("faces", 16, "suite faces")
  _OUT = flags.DEFINE_string("out", "experiments/probe/critic_reading.jsonl",
                             "records, appended")
  app.run(main)
