"""experiments/compare_variants.py: train, evaluate and tabulate, end to end."""

import json
import os
import subprocess
import sys

import pytest

from experiments import compare_variants

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_compare_variants_writes_table_figures_and_readme_section(tmp_path):
  readme = tmp_path / "README.md"
  readme.write_text(f"# Title\n\n{compare_variants.README_START}\nold\n"
                    f"{compare_variants.README_END}\n\nafter\n", encoding="utf-8")
  docs = tmp_path / "docs"
  command = [sys.executable, "-m", "experiments.compare_variants",
             f"--config={os.path.join(REPO, 'configs', 'tiny.py')}",
             f"--config.data_dir={tmp_path / 'tfds'}", "--config.num_train_steps=2",
             "--variants=dftnet,warp_only", f"--out={tmp_path / 'runs'}", f"--docs={docs}",
             f"--readme={readme}"]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-5000:]

  text = readme.read_text(encoding="utf-8")
  assert "old" not in text and text.startswith("# Title") and text.endswith("after\n")
  rows = [line for line in text.splitlines() if line.startswith("| ")]
  assert [row.split(" | ")[0] for row in rows] == ["| variant", "| dftnet", "| warp_only",
                                                   "| copy the source"]
  runs = json.loads((docs / "results.json").read_text(encoding="utf-8"))
  assert set(runs) == {"dftnet", "warp_only"}
  dftnet = runs["dftnet"][0]
  # The table shows the run's numbers; warp-only has no attention.
  assert f"{dftnet['edit_l1']:.4f}" in rows[1] and f"{dftnet['copy_l1']:.4f}" in rows[3]
  assert "mean_attention" in dftnet and "mean_attention" not in runs["warp_only"][0]
  assert rows[2].split(" | ")[-2] == "–"
  for variant in runs:
    for name in compare_variants.FIGURES:
      assert (docs / f"results_{variant}_{name}.png").stat().st_size > 0

  # Run again: finished runs are evaluated, not retrained.
  timing = tmp_path / "runs" / "dftnet_seed0" / "train_seconds.json"
  before = timing.read_text(encoding="utf-8")
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-5000:]
  assert timing.read_text(encoding="utf-8") == before


def test_readme_without_markers_is_refused():
  with pytest.raises(ValueError, match="notes.md has no results markers"):
    compare_variants.replace_section("# no markers\n", "table", "notes.md")
