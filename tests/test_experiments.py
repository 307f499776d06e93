"""experiments/compare_variants.py: train, evaluate and tabulate, end to end."""

import json
import os
import subprocess
import sys

import pytest

from dftnet_jax import au_reader
from experiments import compare_variants

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_compare_variants_writes_table_figures_and_readme_section(tmp_path):
  readme = tmp_path / "README.md"
  readme.write_text(f"# Title\n\n{compare_variants.README_START}\nold\n"
                    f"{compare_variants.README_END}\n\nafter\n", encoding="utf-8")
  docs = tmp_path / "docs"
  # A small AU reader in a cache of the test's own, so the run finds it fit.
  cache = tmp_path / "cache"
  au_reader.load_or_train(16, str(cache), au_reader.Recipe(num_fit=200, num_validation=50,
                                                          num_test=50))
  env = {**os.environ, "DFTNET_JAX_CACHE": str(cache)}
  command = [sys.executable, "-m", "experiments.compare_variants",
             f"--config={os.path.join(REPO, 'configs', 'tiny.py')}",
             f"--config.data_dir={tmp_path / 'tfds'}", "--config.num_train_steps=2",
             "--variants=dftnet,ceiling", f"--out={tmp_path / 'runs'}", f"--docs={docs}",
             f"--readme={readme}"]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
  assert result.returncode == 0, result.stderr[-5000:]

  text = readme.read_text(encoding="utf-8")
  assert "old" not in text and text.startswith("# Title") and text.endswith("after\n")
  rows = [line for line in text.splitlines() if line.startswith("| ")]
  assert [row.split(" | ")[0] for row in rows] == ["| variant", "| dftnet", "| ceiling",
                                                   "| copy the source"]
  runs = json.loads((docs / "results.json").read_text(encoding="utf-8"))
  assert set(runs) == {"dftnet", "ceiling"}
  dftnet = runs["dftnet"][0]
  # The table shows the run's numbers.
  cells = rows[1].split(" | ")
  assert cells[2] == f"{dftnet['suite/gain_mean']:.3f}"
  assert f"{dftnet['suite/au_error_mean']:.3f}" in cells
  copy_cells = rows[3].split(" | ")
  assert copy_cells[2] == "0.000" and f"{dftnet['copy_l1']:.4f}" in copy_cells
  assert f"{dftnet['suite/au_error_copy_mean']:.3f}" in copy_cells
  assert "mean_attention" in dftnet
  # The ceiling trained with the paired L1: its loss has the term.
  assert "g_paired_l1" in runs["ceiling"][0] and "g_paired_l1" not in dftnet
  for variant in runs:
    for name in compare_variants.FIGURES:
      assert (docs / f"results_{variant}_{name}.png").stat().st_size > 0

  # Run again (one variant, to save evaluations): a finished run is
  # evaluated, not retrained.
  timing = tmp_path / "runs" / "dftnet_seed0" / "train_seconds.json"
  before = timing.read_text(encoding="utf-8")
  again = [arg for arg in command if not arg.startswith("--variants=")] + ["--variants=dftnet"]
  result = subprocess.run(again, cwd=REPO, capture_output=True, text=True, env=env)
  assert result.returncode == 0, result.stderr[-5000:]
  assert timing.read_text(encoding="utf-8") == before


def test_readme_without_markers_is_refused():
  with pytest.raises(ValueError, match="notes.md has no results markers"):
    compare_variants.replace_section("# no markers\n", "table", "notes.md")


def _run(gain, train_s, **extra):
  return {"suite/gain_mean": gain, "train_s": train_s, "copy_l1": 0.05, **extra}


def test_the_table_gives_mean_and_sd_over_seeds_and_a_dash_for_a_missing_metric():
  # (The end-to-end run above trains two variants only, to save CI time.)
  runs = {"dftnet": [_run(0.2, 60, mean_attention=0.5), _run(0.4, 120, mean_attention=0.7)],
          "warp_only": [_run(0.1, 30)]}
  rows = [row.split(" | ") for row in compare_variants.table(runs).splitlines()]
  column = {name: i + 2 for i, (name, _, _, _) in enumerate(compare_variants.COLUMNS)}
  dftnet, warp_only = rows[2], rows[3]
  assert dftnet[1] == "2" and dftnet[column["suite gain"]] == "0.300 ± 0.141"
  assert dftnet[column["mean A"]] == "0.600 ± 0.141" and dftnet[-1] == "1.5 ± 0.7 |"
  assert warp_only[column["suite gain"]] == "0.100" and warp_only[column["mean A"]] == "–"
  assert rows[4][0] == "| copy the source"
