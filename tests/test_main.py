"""The command line: train and evaluate through main."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from dftnet_jax import checkpoints

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
  return result.stderr


def test_main_trains_then_evaluates(tmp_path, data_dir):
  workdir = str(tmp_path)
  log = _run_main(f"--config={TINY}", f"--workdir={workdir}", f"--config.data_dir={data_dir}",
                  "--config.num_train_steps=2")
  # The project's lines, not Orbax's or TFDS's (`logs`; --verbosity=1 shows them).
  assert f"saving step 2 in {workdir}" in log and "step 2/2:" in log
  assert "_NonBlockingMetadataStore" not in log and "Constructing tf.data" not in log, log
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
    assert 0.0 < metrics[f"{name}_l1"] < 1.0 and np.isfinite(metrics[f"{name}_psnr"])
  # Two steps leave the paper's generator blending its untrained texture
  # into about half of every pixel (A ≈ 0.5): farther from the ground truth
  # than copying the source, in the face and in each region, by L1 and PSNR
  # alike, and a negative gain inside the changed pixels.
  for region in ("", "_eyes", "_mouth"):
    assert metrics[f"edit{region}_l1"] > metrics[f"copy{region}_l1"], region
    assert metrics[f"edit{region}_psnr"] < metrics[f"copy{region}_psnr"], region
  assert metrics["gain"] < 0.0 and metrics["leak"] > 0.0
  assert metrics["edit_au_mse"] > 0.0 and metrics["real_au_mse"] > 0.0
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


def test_a_config_run_outside_the_repository_says_where_configs_are_found(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run(
      _main_command(f"--config={os.path.join(REPO, 'configs', 'synthetic.py')}",
                    f"--workdir={tmp_path / 'run'}"),
      cwd=tmp_path, env=env, capture_output=True, text=True)
  assert result.returncode == 1
  assert ("error: the config file imports configs, which Python finds only from the"
          " repository root") in result.stderr, result.stderr[-3000:]
  assert not (tmp_path / "run").exists()
