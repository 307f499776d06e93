"""The paper's comparison on the synthetic faces, with ground truth: one command.

    python -m experiments.compare_variants --config=configs/synthetic.py \
        --out=workdirs/compare [--seeds=3]

Trains each generator variant (DFT-Net, GANimation, warp-only, and the
ceiling: DFT-Net with the paired L1 to the ground truth) with the same
budget (`--config`, e.g. the CPU demo; `--config.field=value` overrides as in
`dftnet_jax.main`) for every seed, evaluates the final checkpoint
(`dftnet_jax.evaluation`: the edit suite's gain and leak, in the eyes and the
mouth, and the AU error of the edits through the independent AU reader,
fit first and cached), and writes:

* `docs/results.json`: every run's metrics and wall time;
* `docs/results.md`: the table (mean ± sample standard deviation over
  seeds), also written into README.md between its results markers;
* `docs/results_<variant>_{fig3,fig4,fig5,suite}.png`: the first seed's figures.

Runs already finished in `--out` are evaluated again, not retrained (a killed
command resumes where it stopped; a resumed run's time is its last part's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import copy
import json
import os
import shutil
import statistics
import time

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from dftnet_jax import allocator
from dftnet_jax import au_reader
from dftnet_jax import evaluation
from dftnet_jax import files
from dftnet_jax import models
from dftnet_jax import train

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line; defined on use, so importing the module (tests) claims
  no flag names."""
  config_flags.DEFINE_config_file("config", None,
                                  "Config every run starts from (configs/*.py).",
                                  lock_config=True)
  flags.DEFINE_string("out", "workdirs/compare", "Folder for the runs' workdirs.")
  flags.DEFINE_integer("seeds", 1, "Seeds per variant (0, 1, ...).")
  flags.DEFINE_list("variants", list(models.VARIANTS) + [CEILING],
                    "Generator variants to compare; 'ceiling' is DFT-Net with the paired L1.")
  flags.DEFINE_bool("au_reader", True,
                    "Fit the independent AU reader first (once; cached) for the AU error.")
  flags.DEFINE_string("docs", "docs", "Where the table, JSON and figures go.")
  flags.DEFINE_string("readme", "README.md", "README whose results section is replaced.")
  flags.mark_flags_as_required(["config"])


README_START = "<!-- results:start (written by experiments/compare_variants.py) -->"
README_END = "<!-- results:end -->"
# The ceiling's row: DFT-Net with the paired L1 to the ground truth
# (`config.loss.paired_l1`), what the generator reaches with supervision.
CEILING = "ceiling"
CEILING_PAIRED_L1 = 100.0
# (column, metric, format, the copy-the-source row's value: a metric, a
# number, or None for no value). Gains: higher is better; the rest lower.
COLUMNS = (
    ("suite gain", "suite/gain_mean", "{:.3f}", 0.0),
    ("worst edit", "suite/gain_min", "{:.3f}", 0.0),
    ("eyes closed", "suite/eyes_closed/gain", "{:.3f}", 0.0),
    ("jaw drop", "suite/jaw_drop/gain", "{:.3f}", 0.0),
    ("smile", "suite/smile/gain", "{:.3f}", 0.0),
    ("eyes gain", "suite/gain_eyes", "{:.3f}", 0.0),
    ("mouth gain", "suite/gain_mouth", "{:.3f}", 0.0),
    ("suite leak", "suite/leak_mean", "{:.4f}", 0.0),
    ("test gain", "gain", "{:.3f}", 0.0),
    ("AU error", "suite/au_error_mean", "{:.3f}", "suite/au_error_copy_mean"),
    ("face L1", "edit_l1", "{:.4f}", "copy_l1"),
    ("cycle L1", "cycle_l1", "{:.4f}", None),
    ("mean A", "mean_attention", "{:.3f}", None),
)
FIGURES = ("fig3_eyelids", "fig4_intermediates", "fig5_interpolation", "suite")


def run(variant: str, seed: int) -> dict[str, float]:
  """Trains (or resumes) one run and evaluates its final checkpoint; the
  `CEILING` row is DFT-Net with the paired L1."""
  config = copy.deepcopy(FLAGS.config)
  config.model.variant = "dftnet" if variant == CEILING else variant
  if variant == CEILING:
    config.loss.paired_l1 = CEILING_PAIRED_L1
  config.seed = seed
  workdir = os.path.join(FLAGS.out, f"{variant}_seed{seed}")
  # Written when training ends: its presence marks a finished run.
  timing_path = os.path.join(workdir, "train_seconds.json")
  if not os.path.exists(timing_path):
    start = time.perf_counter()
    train.train_and_evaluate(config, workdir)
    files.atomic_write(timing_path, json.dumps({"train_s": time.perf_counter() - start}).encode())
  results = evaluation.evaluate(config, workdir)
  with open(timing_path, encoding="utf-8") as f:
    results["train_s"] = json.load(f)["train_s"]
  results["steps"] = config.num_train_steps
  return results


def _cell(values: Sequence[float], fmt: str) -> str:
  if len(values) == 1:
    return fmt.format(values[0])
  return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


def table(runs: Mapping[str, Sequence[Mapping[str, float]]]) -> str:
  """Markdown: one row per variant, then the copy-the-source baseline."""
  header = "| variant | seeds | " + " | ".join(c for c, _, _, _ in COLUMNS) + " | train min |"
  rule = "|" + "---|" * (len(COLUMNS) + 3)
  rows = [header, rule]
  for variant, results in runs.items():
    cells = [_cell([r[metric] for r in results], fmt) if metric in results[0] else "–"
             for _, metric, fmt, _ in COLUMNS]
    minutes = _cell([r["train_s"] / 60 for r in results], "{:.1f}")
    rows.append(f"| {variant} | {len(results)} | " + " | ".join(cells) + f" | {minutes} |")
  first = next(iter(runs.values()))[0]
  copy_cells = []
  for _, _, fmt, copy_value in COLUMNS:
    if isinstance(copy_value, str):
      copy_value = first.get(copy_value)
    copy_cells.append("–" if copy_value is None else fmt.format(copy_value))
  rows.append("| copy the source | – | " + " | ".join(copy_cells) + " | – |")
  return "\n".join(rows) + "\n"


def replace_section(text: str, section: str, path: str) -> str:
  """`text` with the part between the results markers replaced by `section`."""
  if README_START not in text or README_END not in text:
    raise ValueError(f"{path} has no results markers ({README_START!r} … {README_END!r})")
  head, rest = text.split(README_START, 1)
  _, tail = rest.split(README_END, 1)
  return f"{head}{README_START}\n{section}{README_END}{tail}"


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with open(FLAGS.readme, encoding="utf-8") as f:
    replace_section(f.read(), "", FLAGS.readme)  # no markers: fail before training
  allocator.retain_freed_memory()
  if FLAGS.au_reader:
    # Fit (or load) the independent AU reader before any evaluation uses it.
    au_reader.load_or_train(FLAGS.config.model.image_size)
  # Seed-major: a command stopped part way leaves every variant with the
  # same seeds finished, a comparable table so far.
  runs = {variant: [] for variant in FLAGS.variants}
  for seed in range(FLAGS.seeds):
    for variant in FLAGS.variants:
      runs[variant].append(run(variant, seed))
  os.makedirs(FLAGS.docs, exist_ok=True)
  for variant in FLAGS.variants:
    testdir = os.path.join(FLAGS.out, f"{variant}_seed0", "test")
    step = int(runs[variant][0]["steps"])
    for name in FIGURES:
      shutil.copyfile(os.path.join(testdir, f"{name}_step_{step:06d}.png"),
                      os.path.join(FLAGS.docs, f"results_{variant}_{name}.png"))
  markdown = table(runs)
  files.atomic_write(os.path.join(FLAGS.docs, "results.json"),
                     (json.dumps(runs, indent=2) + "\n").encode())
  files.atomic_write(os.path.join(FLAGS.docs, "results.md"), markdown.encode())
  with open(FLAGS.readme, encoding="utf-8") as f:
    readme = f.read()
  files.atomic_write(FLAGS.readme, replace_section(readme, markdown, FLAGS.readme).encode())
  logging.info("results:\n%s", markdown)


if __name__ == "__main__":
  define_flags()
  app.run(main)
