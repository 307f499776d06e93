"""experiments/learning.py: overrides by ancestry, commands, the log's table."""

import json

import pytest

from configs import synthetic
from experiments import learning


def test_every_experiment_overrides_only_existing_fields_and_knows_its_parent():
  config = synthetic.get_config()
  for name, experiment in learning.EXPERIMENTS.items():
    assert experiment.parent is None or experiment.parent in learning.EXPERIMENTS, name
    for field in learning.overrides(name):
      node = config
      for part in field.split("."):
        assert part in node, f"{name}: no config field {field}"
        node = node[part]


def test_a_child_inherits_its_ancestry_and_overrides_last(monkeypatch):
  experiments = {
      "a": learning.Experiment(None, {"x": 1, "y": 2}, "root"),
      "b": learning.Experiment("a", {"y": 3}, "change y"),
      "c": learning.Experiment("b", {"z": None}, "add z"),
  }
  monkeypatch.setattr(learning, "EXPERIMENTS", experiments)
  assert learning.overrides("c") == {"x": 1, "y": 3, "z": None}
  assert learning.command("c", "/w")[-3:] == ["--config.x=1", "--config.y=3", "--config.z=None"]


def test_table_is_written_between_the_markers(tmp_path):
  records = tmp_path / "records"
  records.mkdir()
  curve = [{"step": 250, "gain_mean": 0.1, "gain_min": -0.2, "leak_mean": 0.02,
            "smile/gain": -0.2, "frown/gain": 0.4},
           {"step": 500, "gain_mean": 0.3, "gain_min": 0.1, "leak_mean": 0.01,
            "smile/gain": 0.1, "frown/gain": 0.5}]
  (records / "baseline.json").write_text(json.dumps(
      {"name": "baseline", "parent": None, "change": {"lr": 1}, "wall_min": 12.5,
       "curve": curve}))
  log = tmp_path / "LOG.md"
  log.write_text(f"intro\n{learning.TABLE_START}\nold\n{learning.TABLE_END}\nend\n")
  learning.write_table(str(log), str(records))
  text = log.read_text()
  assert "old" not in text and text.startswith("intro") and text.endswith("end\n")
  [row] = [line for line in text.splitlines() if line.startswith("| baseline")]
  assert row == ("| baseline | – | (the demo recipe) | 0.300 | 0.100 | 0.0100 | smile |"
                 " 0.10 0.30 | 12.5 |")
  log.write_text("no markers\n")
  with pytest.raises(ValueError, match="no table markers"):
    learning.write_table(str(log), str(records))


def test_plot_curves_draws_a_png_and_names_missing_runs(tmp_path):
  from experiments import plot_curves  # pylint: disable=g-import-not-at-top
  record = {"name": "a", "curve": [{"step": 250, "gain_mean": 0.1, "gain_min": -0.1},
                                   {"step": 500, "gain_mean": 0.4, "gain_min": 0.2}]}
  (tmp_path / "a.json").write_text(json.dumps(record))
  out = tmp_path / "figs" / "curves.png"
  plot_curves.plot(plot_curves.load_records(["a"], str(tmp_path)), str(out))
  assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(FileNotFoundError, match="no record of run 'b'"):
    plot_curves.load_records(["a", "b"], str(tmp_path))


def test_plot_curves_reads_a_training_runs_suite_scores(tmp_path):
  from experiments import plot_curves  # pylint: disable=g-import-not-at-top
  (tmp_path / "run" / "eval").mkdir(parents=True)
  points = [{"step": 1000, "gain_mean": 0.1, "gain_min": -0.2, "wall_s": 5.0},
            {"step": 2000, "gain_mean": 0.3, "gain_min": 0.1, "wall_s": 9.0}]
  (tmp_path / "run" / "eval" / "suite.jsonl").write_text(
      "".join(json.dumps(p) + "\n" for p in points))
  (record,) = plot_curves.workdir_records([str(tmp_path / "run") + "/"])
  assert record == {"name": "run", "curve": points}
  with pytest.raises(FileNotFoundError, match="no edit-suite scores in .*empty"):
    plot_curves.workdir_records([str(tmp_path / "empty")])


def test_plot_curves_names_the_records_file_when_screens_are_mixed(tmp_path):
  from experiments import plot_curves  # pylint: disable=g-import-not-at-top
  point = {"name": "paper_widths", "seed": 0, "step": 250, "gain_mean": 0.1, "gain_min": 0.0}
  for stem in ("gpu11", "gpu13"):
    (tmp_path / f"{stem}.jsonl").write_text(json.dumps(point) + "\n")
  one = plot_curves.screen_records([str(tmp_path / "gpu11.jsonl")], None)
  assert [r["name"] for r in one] == ["paper_widths, seed 0"]
  both = plot_curves.screen_records([str(tmp_path / f"{s}.jsonl") for s in ("gpu11", "gpu13")],
                                    ["paper_widths"])
  assert [r["name"] for r in both] == ["gpu11: paper_widths, seed 0",
                                       "gpu13: paper_widths, seed 0"]
