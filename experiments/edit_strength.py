"""Does a screened generator's edit depend on its target? A probe.

    python -m experiments.edit_strength --params=workdirs/screen24f/params_seed1.npz \\
        --exp=head_start_passes_edit --seed=1 [--strengths=0,0.1,0.5,1,2] \\
        [--out=experiments/probe/strength.jsonl]

The suite's sources are neutral (every AU 0), so asking for strength s of a
suite edit is asking for s × its target AUs, clipped to the AUs' range
[0, 1]. An editor that reads its targets scores a gain that grows from 0 at
s = 0 towards its gain at s = 1; one that ignores them scores the same gain
at every s, however small the ask. `edit_suite`'s unasked gain is the s = 0
point of this curve, scored at every evaluation; this probe draws the rest
of it from the parameters a screen run leaves (`experiments.screen`:
`out/params_seed<seed>.npz`, keys `<experiment>/<parameter path>`). One JSON
line per strength: the suite's scores with `strength` and the run's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
import jax
import numpy as np

from dftnet_jax import edit_suite
from dftnet_jax import states
from experiments import screen


def load_generator_params(path: str, name: str, template: Any) -> Any:
  """The generator parameters of experiment `name` in a screen's params file,
  in the structure of `template` (a freshly initialised generator's).

  Raises:
    ValueError: the file lacks a parameter of the template or holds one of
      another shape (another experiment's network), naming both.
  """
  with np.load(path) as arrays:
    stored = {key[len(name) + 1:]: arrays[key] for key in arrays.files
              if key.startswith(f"{name}/")}
  leaves = []
  for key, leaf in screen.flat_params(template).items():
    if key not in stored:
      raise ValueError(f"{path} holds no parameter {name}/{key}"
                       f" ({len(stored)} parameters of {name!r})")
    if stored[key].shape != leaf.shape:
      raise ValueError(f"{path}: {name}/{key} has shape {stored[key].shape}, the config's"
                       f" generator {leaf.shape}")
    leaves.append(stored[key])
  return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)


def at_strength(edit: edit_suite.EditFn, strength: float) -> edit_suite.EditFn:
  """`edit` asked for `strength` × each target, clipped to [0, 1]: from a
  neutral source, that much of the expression."""
  return lambda sources, targets: edit(sources, np.clip(strength * targets, 0.0, 1.0))


def strength_curve(name: str, seed: int, params_path: str,
                   strengths: Sequence[float]) -> list[dict[str, Any]]:
  """The suite's scores of a screened run's generator at each strength."""
  config = screen.config_of(name, seed)
  init_key, _, _ = states.run_keys(config)
  generator = states.create_train_states(config, init_key).generator
  params = load_generator_params(params_path, name, jax.device_get(generator.params))
  generate = jax.jit(lambda p, x, t: generator.apply_fn({"params": p}, x, t).image)
  edit = edit_suite.generator_edit_fn(generate, params)
  suite = edit_suite.suite_faces(config.model.image_size, config.suite_faces)
  return [{"name": name, "seed": seed, "strength": s,
           **edit_suite.score_suite(at_strength(edit, s), suite)} for s in strengths]


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  for record in strength_curve(_EXP.value, _SEED.value, _PARAMS.value,
                               [float(s) for s in _STRENGTHS.value]):
    print(f"{record['name']} seed {record['seed']} strength {record['strength']:g}:"
          f" gain {record['gain_mean']:.3f} min {record['gain_min']:.3f}"
          f" leak {record['leak_mean']:.4f} eyes closed {record['eyes_closed/gain']:.2f}",
          flush=True)
    if _OUT.value:
      screen.append_record(_OUT.value, record)


if __name__ == "__main__":
  _PARAMS = flags.DEFINE_string("params", None, "A screen's out/params_seed<seed>.npz.",
                                required=True)
  _EXP = flags.DEFINE_string("exp", None, "The experiment whose generator to read.",
                             required=True)
  _SEED = flags.DEFINE_integer("seed", 0, "Its seed (the config's; the file's name says it).")
  _STRENGTHS = flags.DEFINE_list("strengths", ["0", "0.1", "0.5", "1", "2"],
                                 "Fractions of each suite edit's target AUs to ask for.")
  _OUT = flags.DEFINE_string("out", None, "Append the records (JSON lines) here.")
  app.run(main)
