"""experiments/screen.py: configs by experiment, a run's record, the gather."""

import json
import subprocess
import sys

import numpy as np
import pytest

from configs import tiny
from dftnet_jax import array_pipeline
from experiments import learning
from experiments import screen


def test_config_of_applies_the_experiments_overrides_seed_and_steps():
  config = screen.config_of("residual_tv_resize_lr_4e-4", 7, num_steps=12)
  for field, value in learning.overrides("residual_tv_resize_lr_4e-4").items():
    if field != "num_train_steps":
      node = config
      for part in field.split("."):
        node = node[part]
      assert node == value, field
  assert config.seed == 7 and config.num_train_steps == 12
  assert screen.config_of("baseline", 0).num_train_steps == 1500


def test_a_shortened_run_keeps_its_head_start_inside_it():
  assert screen.config_of("head_start", 0).critic_head_start == 200
  assert screen.config_of("head_start", 0, num_steps=6).critic_head_start == 3
  assert screen.config_of("head_start", 0, num_steps=1000).critic_head_start == 200


def test_a_screened_run_records_its_curve_and_the_gather_keeps_its_outputs(
    tmp_path, monkeypatch):
  def tiny_config(name, seed, num_steps=None):
    config = tiny.get_config()
    config.seed, config.num_train_steps = seed, num_steps or 4
    config.suite_faces = 2
    config.dataset_config.num_train = 16
    return config

  monkeypatch.setattr(screen, "config_of", tiny_config)
  data = array_pipeline.draw_split("train", 16, 16)
  path = str(tmp_path / "faces.npz")
  np.savez(path, images=data.images, aus=data.aus, identities=data.identities)
  out = tmp_path / "out"
  screen.train_one("tiny", 0, str(out), path, eval_every=2, num_steps=4, ema_decay=0.5)
  records = [json.loads(line) for line in (out / "screen.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records] == [2, 4]
  for record in records:
    assert record["name"] == "tiny" and not record["diverged"]
    assert -5 < record["gain_mean"] < 1 and -5 < record["ema/gain_mean"] < 1
    assert {"g_loss", "d_loss", "mean_attention"} <= set(record["train"])
  screen._gather(str(out), [("tiny", 0), ("never_ran", 0)])
  with np.load(out / "figures.npz") as figures, np.load(out / "params_seed0.npz") as params:
    assert list(figures.files) == ["tiny_seed0"] and figures["tiny_seed0"].ndim == 3
    assert params.files and all(name.startswith("tiny/") for name in params.files)
  assert not (out / "tiny_seed0.npz").exists()
  # Faces drawn for another config are refused, naming the file.
  np.savez(path, images=data.images[:8], aus=data.aus[:8], identities=data.identities[:8])
  with pytest.raises(ValueError, match="faces.npz holds 8 faces"):
    screen.train_one("tiny", 0, str(out), path, eval_every=2, num_steps=4)


# A screened run in a process where TensorFlow and TFDS cannot be imported
# (`None` in sys.modules), as on the lent GPU machine.
_BLOCKED_RUN = """
import sys
for name in ("tensorflow", "tensorflow_datasets"):
  sys.modules[name] = None
import numpy as np
from configs import tiny
from dftnet_jax import array_pipeline
from experiments import screen

def tiny_config(name, seed, num_steps=None):
  config = tiny.get_config()
  config.seed, config.num_train_steps, config.suite_faces = seed, num_steps, 2
  config.dataset_config.num_train = 16
  return config

screen.config_of = tiny_config
data = array_pipeline.draw_split("train", 16, 16)
np.savez(sys.argv[1] + "/faces.npz", images=data.images, aus=data.aus,
         identities=data.identities)
screen.train_one("tiny", 0, sys.argv[1], sys.argv[1] + "/faces.npz", eval_every=2,
                 num_steps=2)
"""


def test_a_screened_run_needs_no_tensorflow(tmp_path):
  done = subprocess.run([sys.executable, "-c", _BLOCKED_RUN, str(tmp_path)],
                        capture_output=True, text=True, check=False, cwd=learning.REPO)
  assert done.returncode == 0, done.stderr[-3000:]
  assert '"step": 2' in (tmp_path / "screen.jsonl").read_text()


def test_the_table_has_a_row_per_run_and_says_where_the_budget_stopped_one(tmp_path):
  point = lambda name, seed, step, gain: {
      "name": name, "seed": seed, "step": step, "gain_mean": gain, "gain_min": gain - 0.1,
      "leak_mean": 0.01, "eyes_closed/gain": 0.3, "jaw_drop/gain": 0.2, "smile/gain": -0.1}
  records = tmp_path / "gpu9.jsonl"
  records.write_text("\n".join(json.dumps(p) for p in [
      point("cond_250", 0, 1500, 0.07), point("baseline", 0, 250, 0.01),
      point("cond_250", 0, 750, 0.05), point("baseline", 1, 1500, 0.02)]) + "\n")
  runs = screen.read_runs([str(records)])
  assert [p["step"] for p in runs[("gpu9", "cond_250", 0)]] == [750, 1500]
  rows = screen.table(runs).splitlines()[2:]
  assert [row.split(" | ")[1:3] for row in rows] == [["baseline", "0"], ["baseline", "1"],
                                                     ["cond_250", "0"]]
  assert "| 250 of 1500 |" in rows[0] and "| 1500 |" in rows[1]
  assert rows[2].endswith("| 0.05 0.07 |")


def test_two_records_files_of_one_name_are_refused_not_merged(tmp_path):
  for folder in ("a", "b"):
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "cpu9.jsonl").write_text("")
  for twice in ([tmp_path / "a" / "cpu9.jsonl", tmp_path / "b" / "cpu9.jsonl"],
                [tmp_path / "a" / "cpu9.jsonl"] * 2):
    with pytest.raises(ValueError, match="share the name 'cpu9'"):
      screen.read_runs([str(path) for path in twice])


def test_the_table_takes_a_runs_planned_length_from_its_record(tmp_path):
  """A run given --steps plans its own length, not its config's."""
  point = {"name": "baseline", "seed": 0, "step": 4000, "planned_steps": 20000,
           "gain_mean": 0.4, "gain_min": 0.2, "leak_mean": 0.01, "eyes_closed/gain": 0.3,
           "jaw_drop/gain": 0.2, "smile/gain": 0.1}
  records = tmp_path / "gpu13.jsonl"
  records.write_text(json.dumps(point) + "\n")
  (row,) = screen.table(screen.read_runs([str(records)])).splitlines()[2:]
  assert "| 4000 of 20000 |" in row
  records.write_text(json.dumps({**point, "planned_steps": 4000}) + "\n")
  (row,) = screen.table(screen.read_runs([str(records)])).splitlines()[2:]
  assert "| 4000 |" in row
