"""The paper's comparison on the synthetic faces, with ground truth: one command.

    python -m experiments.compare_variants --config=configs/synthetic.py \
        --out=workdirs/compare [--seeds=3]

Trains each generator variant (DFT-Net, GANimation, warp-only) with the same
budget (`--config`, e.g. the CPU demo; `--config.field=value` overrides as in
`dftnet_jax.main`) for every seed, evaluates the
final checkpoint (`dftnet_jax.evaluation`), and writes:

* `docs/results.json`: every run's metrics and wall time;
* `docs/results.md`: the table (mean ± sample standard deviation over
  seeds), also written into README.md between its results markers;
* `docs/results_<variant>_fig{3,4,5}.png`: the first seed's figures.

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
from dftnet_jax import evaluation
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
  flags.DEFINE_list("variants", list(models.VARIANTS), "Generator variants to compare.")
  flags.DEFINE_string("docs", "docs", "Where the table, JSON and figures go.")
  flags.DEFINE_string("readme", "README.md", "README whose results section is replaced.")
  flags.mark_flags_as_required(["config"])


README_START = "<!-- results:start (written by experiments/compare_variants.py) -->"
README_END = "<!-- results:end -->"
# (column, metric, format): lower is better for L1 and errors, higher for PSNR.
COLUMNS = (
    ("face L1", "edit_l1", "{:.4f}"), ("face PSNR", "edit_psnr", "{:.2f}"),
    ("eyes L1", "edit_eyes_l1", "{:.4f}"), ("eyes PSNR", "edit_eyes_psnr", "{:.2f}"),
    ("mouth L1", "edit_mouth_l1", "{:.4f}"), ("mouth PSNR", "edit_mouth_psnr", "{:.2f}"),
    ("cycle L1", "cycle_l1", "{:.4f}"), ("AU MSE", "edit_au_mse", "{:.4f}"),
    ("mean A", "mean_attention", "{:.3f}"),
)
FIGURES = ("fig3_eyelids", "fig4_intermediates", "fig5_interpolation")


def run(variant: str, seed: int) -> dict[str, float]:
  """Trains (or resumes) one run and evaluates its final checkpoint."""
  config = copy.deepcopy(FLAGS.config)
  config.model.variant = variant
  config.seed = seed
  workdir = os.path.join(FLAGS.out, f"{variant}_seed{seed}")
  # Written when training ends: its presence marks a finished run.
  timing_path = os.path.join(workdir, "train_seconds.json")
  if not os.path.exists(timing_path):
    start = time.perf_counter()
    train.train_and_evaluate(config, workdir)
    _write_atomically(timing_path, json.dumps({"train_s": time.perf_counter() - start}))
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
  header = "| variant | seeds | " + " | ".join(c for c, _, _ in COLUMNS) + " | train min |"
  rule = "|" + "---|" * (len(COLUMNS) + 3)
  rows = [header, rule]
  for variant, results in runs.items():
    cells = [_cell([r[metric] for r in results], fmt) if metric in results[0] else "–"
             for _, metric, fmt in COLUMNS]
    minutes = _cell([r["train_s"] / 60 for r in results], "{:.1f}")
    rows.append(f"| {variant} | {len(results)} | " + " | ".join(cells) + f" | {minutes} |")
  first = next(iter(runs.values()))[0]
  baseline = [fmt.format(first[metric.replace("edit", "copy", 1)])
              if metric.startswith("edit_") and not metric.endswith("_au_mse") else "–"
              for _, metric, fmt in COLUMNS]
  rows.append("| copy the source | – | " + " | ".join(baseline) + " | – |")
  return "\n".join(rows) + "\n"


def replace_section(text: str, section: str, path: str) -> str:
  """`text` with the part between the results markers replaced by `section`."""
  if README_START not in text or README_END not in text:
    raise ValueError(f"{path} has no results markers ({README_START!r} … {README_END!r})")
  head, rest = text.split(README_START, 1)
  _, tail = rest.split(README_END, 1)
  return f"{head}{README_START}\n{section}{README_END}{tail}"


def _write_atomically(path: str, text: str) -> None:
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with open(FLAGS.readme, encoding="utf-8") as f:
    replace_section(f.read(), "", FLAGS.readme)  # no markers: fail before training
  allocator.retain_freed_memory()
  runs = {variant: [run(variant, seed) for seed in range(FLAGS.seeds)]
          for variant in FLAGS.variants}
  os.makedirs(FLAGS.docs, exist_ok=True)
  for variant in FLAGS.variants:
    testdir = os.path.join(FLAGS.out, f"{variant}_seed0", "test")
    step = int(runs[variant][0]["steps"])
    for name in FIGURES:
      shutil.copyfile(os.path.join(testdir, f"{name}_step_{step:06d}.png"),
                      os.path.join(FLAGS.docs, f"results_{variant}_{name}.png"))
  markdown = table(runs)
  _write_atomically(os.path.join(FLAGS.docs, "results.json"), json.dumps(runs, indent=2) + "\n")
  _write_atomically(os.path.join(FLAGS.docs, "results.md"), markdown)
  with open(FLAGS.readme, encoding="utf-8") as f:
    readme = f.read()
  _write_atomically(FLAGS.readme, replace_section(readme, markdown, FLAGS.readme))
  logging.info("results:\n%s", markdown)


if __name__ == "__main__":
  define_flags()
  app.run(main)
