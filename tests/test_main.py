"""The command line: train and evaluate through main; a run killed mid-save."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from configs import tiny
from dftnet_jax import checkpoints
from dftnet_jax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "tiny.py")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def _main_command(*args):
  return [sys.executable, "-m", "dftnet_jax.main", *args]


def _run_main(*args):
  """`python -m dftnet_jax.main *args` from the repository root; a process of
  its own, as absl's flags are global."""
  result = subprocess.run(_main_command(*args), cwd=REPO, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-5000:]


def test_main_trains_then_evaluates(tmp_path, data_dir):
  workdir = str(tmp_path)
  _run_main(f"--config={TINY}", f"--workdir={workdir}", f"--config.data_dir={data_dir}",
            "--config.num_train_steps=2")
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2"]
  assert checkpoints.load_config(workdir).num_train_steps == 2
  tags = set()
  for path in glob.glob(os.path.join(workdir, "train", "events.out.tfevents.*")):
    tags |= {v.tag for e in tf.compat.v1.train.summary_iterator(path) for v in e.summary.value}
  assert {"d_loss", "d_gp", "g_loss", "g_cycle", "g_attention", "samples"} <= tags

  # No --config: evaluation rebuilds the model from the workdir's config.json.
  _run_main(f"--workdir={workdir}", "--mode=evaluate")
  with open(os.path.join(workdir, "test", "metrics_step_000002.json"), encoding="utf-8") as f:
    metrics = json.load(f)
  assert {"d_loss", "g_loss", "g_cycle", "mean_attention"} <= set(metrics)
  # Paired with the renderer's ground truth: the edit and the copy baseline.
  for name in ("edit", "copy", "edit_eyes", "copy_eyes", "edit_mouth", "copy_mouth", "cycle"):
    assert 0.0 < metrics[f"{name}_l1"] < 1.0 and metrics[f"{name}_psnr"] > 0.0
  assert metrics["edit_au_mse"] >= 0.0 and metrics["real_au_mse"] >= 0.0
  assert os.path.exists(os.path.join(workdir, "images", "test_step_000002.png"))
  # The paper's figures, 4 faces (num_grid_images) of 16×16: Fig. 3 source |
  # aligned and result at 5 AU45 levels, Fig. 4 source | aligned | texture |
  # attention | result, Fig. 5 source | 3 levels | ground truth.
  for name, columns in (("fig3_eyelids", 11), ("fig4_intermediates", 5),
                        ("fig5_interpolation", 5)):
    figure = _read_png(os.path.join(workdir, "test", f"{name}_step_000002.png"))
    assert figure.shape == (4 * 16, columns * 16, 3), name


def _read_png(path):
  with Image.open(path) as image:
    return np.asarray(image)


def _listing(directory):
  return os.listdir(directory) if os.path.isdir(directory) else []


def _partial_saves(directory):
  """Checkpoint directories Orbax is still writing (renamed when complete)."""
  return [name for name in _listing(directory) if ".orbax-checkpoint-tmp" in name]


def _complete_steps(directory):
  return sorted(int(name) for name in _listing(directory) if name.isdigit())


def test_a_run_killed_mid_save_resumes_from_its_last_complete_checkpoint(
    tmp_path, data_dir, monkeypatch):
  """SIGKILL while an asynchronous save is being written (a checkpoint every
  step), then a restart: it resumes from the newest complete checkpoint."""
  workdir = str(tmp_path)
  directory = os.path.join(workdir, "checkpoints")
  overrides = [f"--config.data_dir={data_dir}", "--config.checkpoint_every_steps=1",
               "--config.keep_checkpoints=3", "--config.log_every_steps=1000",
               "--config.eval_every_steps=1000", "--config.image_every_steps=1000"]
  process = subprocess.Popen(
      _main_command(f"--config={TINY}", f"--workdir={workdir}", "--config.num_train_steps=1000",
                    *overrides),
      cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 240
  try:
    # Wait for a save in flight while an earlier one is complete.
    while not (_partial_saves(directory) and _complete_steps(directory)):
      assert process.poll() is None, "the run ended before it was killed"
      assert time.monotonic() < deadline, "no second checkpoint within the time limit"
      time.sleep(0.002)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  complete = _complete_steps(directory)

  restore_latest, restored = checkpoints.restore_latest, []

  def recording_restore(*args):
    restored.append(restore_latest(*args))
    return restored[-1]

  monkeypatch.setattr(checkpoints, "restore_latest", recording_restore)
  config = tiny.get_config()
  config.data_dir = data_dir
  config.checkpoint_every_steps = 1
  config.num_train_steps = complete[-1] + 1
  g_state, _ = train.train_and_evaluate(config, workdir)
  assert restored[0].step == complete[-1]
  assert int(g_state.step) == complete[-1] + 1
  assert not _partial_saves(directory)

