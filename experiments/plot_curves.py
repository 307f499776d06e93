"""The edit suite's gain over training steps, as a PNG, from recorded runs.

    python -m experiments.plot_curves --out=docs/learning_curves.png \
        [--runs=baseline,ceiling,...] [--records=experiments/learning]
    python -m experiments.plot_curves --screen=experiments/screen/gpu2.jsonl \
        --out=docs/screen_curves.png [--runs=steps_4000,...]
    python -m experiments.plot_curves --workdirs=workdirs/long --out=docs/long_curve.png

Reads the records `experiments.learning` writes (`<name>.json`, each with
its curve), or with `--screen` the records of `experiments.screen` (every
seed of each run named), or with `--workdirs` the suite scores a training
run writes as it goes (`<workdir>/eval/suite.jsonl`), and draws the mean gain
over the suite (solid) and the worst edit's gain (dashed) against the
training step, one colour per run.
matplotlib (the `plots` extra) draws it: legible axes and legends are what
it does, and no library code depends on it.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import os

from absl import app
from absl import flags

from experiments import learning
from experiments import screen


def load_records(names: Sequence[str], records_dir: str) -> list[dict]:
  """The records of `names`, in that order.

  Raises:
    FileNotFoundError: naming a run that has no record.
  """
  records = []
  for name in names:
    path = os.path.join(records_dir, f"{name}.json")
    if not os.path.exists(path):
      raise FileNotFoundError(f"no record of run {name!r}: {path} (run"
                              f" `python -m experiments.learning --exp={name}` first)")
    with open(path, encoding="utf-8") as f:
      records.append(json.load(f))
  return records


def screen_records(paths: Sequence[str], names: Sequence[str] | None) -> list[dict]:
  """The screen runs of `names` (default: all) as records `plot` draws,
  named 'experiment, seed s', after their records file's stem when the
  runs come from more than one (the same run on two machines)."""
  runs = screen.read_runs(paths)
  order = names or list(learning.EXPERIMENTS)
  chosen = sorted((run for run in runs if run[1] in order),
                  key=lambda run: (order.index(run[1]), run[2], run[0]))
  several = len({stem for stem, _, _ in chosen}) > 1
  return [{"name": (f"{stem}: " if several else "") + f"{name}, seed {seed}",
           "curve": runs[(stem, name, seed)]} for stem, name, seed in chosen]


def workdir_records(workdirs: Sequence[str]) -> list[dict]:
  """The suite curve each training run wrote, named by its workdir.

  Raises:
    FileNotFoundError: naming a workdir without suite scores.
  """
  records = []
  for workdir in workdirs:
    path = os.path.join(workdir, "eval", "suite.jsonl")
    if not os.path.exists(path):
      raise FileNotFoundError(f"no edit-suite scores in {workdir}: {path} is written at the"
                              f" run's first evaluation")
    with open(path, encoding="utf-8") as f:
      curve = [json.loads(line) for line in f if line.strip()]
    records.append({"name": os.path.basename(os.path.normpath(workdir)), "curve": curve})
  return records


def plot(records: Sequence[dict], out: str) -> None:
  """Writes the gain curves of `records` to the PNG `out`."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(figsize=(7.5, 4.5), dpi=110)
  for k, record in enumerate(records):
    steps = [point["step"] for point in record["curve"]]
    colour = f"C{k % 10}"
    axes.plot(steps, [p["gain_mean"] for p in record["curve"]], "-o", color=colour,
              markersize=3, label=f"{record['name']} (mean)")
    axes.plot(steps, [p["gain_min"] for p in record["curve"]], "--", color=colour,
              linewidth=1, alpha=0.7)
  axes.axhline(0.0, color="grey", linewidth=0.8)
  axes.set_xlabel("training step (generator updates)")
  axes.set_ylabel("gain (0 = copy the source, 1 = ground truth)")
  axes.set_title("Edit suite gain: mean over 11 edits (solid), worst edit (dashed)")
  axes.grid(alpha=0.3)
  axes.legend(fontsize=8, loc="best")
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  figure.savefig(out)
  pyplot.close(figure)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _SCREEN.value:
    plot(screen_records(_SCREEN.value, _RUNS.value), _OUT.value)
    return
  if _WORKDIRS.value:
    plot(workdir_records(_WORKDIRS.value), _OUT.value)
    return
  names = _RUNS.value or [name for name in learning.EXPERIMENTS
                          if os.path.exists(os.path.join(_RECORDS.value, f"{name}.json"))]
  plot(load_records(names, _RECORDS.value), _OUT.value)


if __name__ == "__main__":
  _OUT = flags.DEFINE_string("out", "docs/learning_curves.png", "The PNG to write.")
  _RUNS = flags.DEFINE_list("runs", None, "Runs to draw; default: every recorded experiment.")
  _SCREEN = flags.DEFINE_list("screen", [], "Draw these experiments.screen records instead.")
  _WORKDIRS = flags.DEFINE_list("workdirs", [], "Draw the suite curves these training runs"
                                " wrote instead.")
  _RECORDS = flags.DEFINE_string("records", learning.RECORDS, "Where the run records are.")
  app.run(main)
