"""Bad input, class by class (issue "Robustness"): each gets one error that
names the problem and the file or field, and a failed start leaves a run's
files exactly as they were."""

import hashlib
import logging
import os
import pathlib
import pickle
import re
import shutil
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

import emotionet_testdata as td
from configs import tiny
from dftnet_jax import checkpoints
from dftnet_jax import cli
from dftnet_jax import config_checks
from dftnet_jax import editing
from dftnet_jax import evaluation
from dftnet_jax import files
from dftnet_jax import input_pipeline
from dftnet_jax import photo
from dftnet_jax import states
from dftnet_jax import train
from dftnet_jax.data_tools import openface_to_ganimation
from dftnet_jax.datasets import layout
from dftnet_jax.datasets import safe_pickle

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _hashes(folder):
  """Every file under `folder` by relative path → SHA-256 of its bytes."""
  found = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
  return found


@pytest.fixture
def run_copy(tiny_workdir, tmp_path):
  """A copy of the trained tiny run (checkpoints 2 and 4), free to damage."""
  workdir = str(tmp_path / "run")
  shutil.copytree(tiny_workdir, workdir)
  return workdir


def _tiny(run, **fields):
  config = tiny.get_config()
  config.data_dir = checkpoints.load_config(run).data_dir
  config.update_from_flattened_dict(fields)
  return config


# (overrides of the tiny config, words the error must contain). The tests
# run on two host devices (conftest.py).
BAD_STARTS = [
    ({"model.g_width": 8}, "config.model.g_width: saved 4, now 8"),
    ({"model.image_size": 32}, "config.model.image_size: saved 16, now 32"),
    ({"model.upsampling": "resize"}, "config.model.upsampling: saved 'transpose', now 'resize'"),
    ({"batch_size": 3}, "config.batch_size = 3 must be a multiple of the 2 devices"),
    ({"num_train_steps": -5}, "config.num_train_steps must be a positive integer, got -5"),
    ({"checkpoint_every_steps": 0}, "config.checkpoint_every_steps must be a positive"),
    ({"learning_rate": 0.0}, "config.learning_rate must be a number > 0"),
    ({"loss.cycle": -1.0}, "config.loss.cycle is a loss weight and must be ≥ 0"),
    ({"model.variant": "stylegan"}, "config.model.variant must be one of"),
    ({"loss.paired_distance": "l3"}, "config.loss.paired_distance must be one of"),
    ({"loss.cond_reference": "target"}, "config.loss.cond_reference must be one of"),
    ({"loss.huber_delta": 0.0}, "config.loss.huber_delta must be a number > 0"),
    ({"critic_noise": -0.1}, "config.critic_noise must be a number ≥ 0"),
    ({"critic_head_start": 4}, "config.critic_head_start must be in [0, num_train_steps = 4)"),
    ({"lr_decay_fraction": 1.5}, "config.lr_decay_fraction must be in [0, 1]"),
    ({"model.d_layers": 5}, "2**config.model.d_layers = 32"),
    ({"model.flow_grid": 3}, "config.model.flow_grid = 3 must divide config.model.image_size"),
    ({"loss.mismatch": 0.5}, "set config.model.d_projection = True"),
    ({"loss.gan": "hinge"}, "config.loss.gan must be one of ('wgan_gp', 'ns_r1'), got 'hinge'"),
    ({"loss.mismatch": 1.0}, "config.loss.mismatch is a share of the critic's fakes and must be"
                             " in [0, 1), got 1.0"),
]


@pytest.mark.parametrize("fields, words", BAD_STARTS, ids=[str(f) for f, _ in BAD_STARTS])
def test_a_failed_start_names_the_field_and_leaves_the_run_as_it_was(run_copy, fields, words):
  before = _hashes(run_copy)
  with pytest.raises(config_checks.ConfigError) as error:
    train.train_and_evaluate(_tiny(run_copy, **fields), run_copy)
  assert words in str(error.value)
  assert _hashes(run_copy) == before


@pytest.mark.parametrize("fields, words", [
    ({"model.g_width": 8}, "refusing to evaluate the run of .* \\(config.model.g_width: saved 4,"),
    ({"batch_size": 3}, "config.batch_size = 3 must be a multiple of the 2 devices"),
])
def test_evaluating_with_a_config_the_run_cannot_take_is_refused(run_copy, fields, words):
  before = _hashes(run_copy)
  with pytest.raises(config_checks.ConfigError, match=words):
    evaluation.evaluate(_tiny(run_copy, **fields), run_copy)
  assert _hashes(run_copy) == before


def test_a_model_size_other_than_the_data_fails_before_the_workdir_exists(tiny_workdir,
                                                                          tmp_path):
  # A fresh run of 32-pixel models on the 16-pixel faces.
  config = _tiny(tiny_workdir, **{"model.image_size": 32})
  with pytest.raises(config_checks.ConfigError, match=r"image_size = 32 but the dataset"
                     r" synthetic_faces/res16_train64_test16.* holds 16×16 images"):
    train.train_and_evaluate(config, str(tmp_path / "new"))
  assert not (tmp_path / "new").exists()


def test_a_config_json_is_written_whole(tmp_path, monkeypatch):
  config = tiny.get_config()
  checkpoints.write_config(str(tmp_path), config)
  saved = (tmp_path / "config.json").read_text()
  # A write that fails half-way leaves the old file, and no temporary one.
  monkeypatch.setattr(ml_collections.ConfigDict, "to_json",
                      lambda self, **_: (_ for _ in ()).throw(OSError("disk full")))
  with pytest.raises(OSError, match="disk full"):
    checkpoints.write_config(str(tmp_path), config)
  assert (tmp_path / "config.json").read_text() == saved
  assert sorted(os.listdir(tmp_path)) == ["config.json"]


@pytest.mark.parametrize("content, words", [
    ("{\"model\": {", "is not valid JSON"),
    ("[1, 2]", "holds no model config"),
    ("{\"seed\": 0}", "holds no model config"),
])
def test_a_broken_config_json_is_named(tmp_path, content, words):
  (tmp_path / "config.json").write_text(content)
  with pytest.raises(ValueError, match=f"{tmp_path}/config.json.*{words}"):
    checkpoints.load_config(str(tmp_path))


# Damaged checkpoints: what a full disk or an interrupted copy leaves.
def _data_files(step):
  """The generator state's array data files of a checkpoint step."""
  return [p for p in (step / "g_state").rglob("*") if p.is_file() and p.parent.name == "d"]


def _truncate(path):
  with open(path, "r+b") as f:
    f.truncate(path.stat().st_size // 2)


DAMAGES = {
    "data files truncated": lambda step: [_truncate(p) for p in _data_files(step)],
    "data files missing": lambda step: [p.unlink() for p in _data_files(step)],
    "an item missing": lambda step: shutil.rmtree(step / "loop"),
    "the tree metadata missing": lambda step: (step / "g_state" / "_METADATA").unlink(),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_restoring_a_run_falls_back_from_a_damaged_newest_checkpoint(run_copy, damage, caplog):
  DAMAGES[damage](pathlib.Path(run_copy, "checkpoints", "4"))
  config = checkpoints.load_config(run_copy)
  state = states.create_train_states(config, jax.random.key(0))
  manager = checkpoints.create_manager(run_copy, config, read_only=True)
  with caplog.at_level(logging.WARNING):
    restored = checkpoints.restore_latest(manager, state, jax.random.key(0))
  manager.close()
  assert restored.step == 2
  assert re.search(r"checkpoint 4 in .*checkpoints is damaged: ", caplog.text), caplog.text


@pytest.mark.parametrize("damage", ["data files truncated", "data files missing"])
def test_editing_falls_back_from_damaged_parameters(run_copy, damage, caplog):
  DAMAGES[damage](pathlib.Path(run_copy, "checkpoints", "4"))
  with caplog.at_level(logging.WARNING):
    assert editing.load_params(run_copy).step == 2
  # TensorStore's own words name the array and the file it could not read.
  assert re.search(r"checkpoint 4 in .* is damaged: .*params\..* at local file"
                   r" \"?" + re.escape(run_copy), caplog.text), caplog.text
  # Asked for by name, the damaged step is refused, naming the intact one.
  with pytest.raises(checkpoints.DamagedCheckpointError,
                     match=r"checkpoint 4 in .* is damaged \(.*\); step 2 is intact"):
    editing.load_params(run_copy, step=4)


def test_a_resume_skips_a_damaged_checkpoint_and_takes_same_shape_changes(run_copy):
  step_4 = pathlib.Path(run_copy, "checkpoints", "4")
  DAMAGES["data files truncated"](step_4)
  damaged = _hashes(step_4)
  # Other steps and rate, the same shapes: taken, and saved with the run.
  train.train_and_evaluate(_tiny(run_copy, num_train_steps=6, learning_rate=2e-4), run_copy)
  # Resumed at 2, saved 4 and 6 again; the damaged 4 is kept, out of the way.
  assert checkpoints.saved_steps(run_copy) == [4, 6]
  assert _hashes(os.path.join(run_copy, checkpoints.DAMAGED_DIR, "4")) == damaged
  assert editing.load_params(run_copy).step == 6
  assert checkpoints.load_config(run_copy).learning_rate == 2e-4


def test_no_readable_checkpoint_is_an_error_naming_each(run_copy, monkeypatch):
  """Editing, resuming and evaluating each raise it, and each closes the
  checkpoint manager it opened (Orbax's threads would outlive the error)."""
  for step in (2, 4):
    DAMAGES["data files missing"](pathlib.Path(run_copy, "checkpoints", str(step)))
  before = _hashes(run_copy)
  closed = []
  create_manager = checkpoints.create_manager

  def tracked_manager(*args, **kwargs):
    manager = create_manager(*args, **kwargs)
    close = manager.close
    closed.append(False)
    index = len(closed) - 1

    def tracked_close():
      closed[index] = True
      close()

    manager.close = tracked_close
    return manager

  monkeypatch.setattr(checkpoints, "create_manager", tracked_manager)
  with pytest.raises(checkpoints.DamagedCheckpointError,
                     match=r"no checkpoint in .* can be read back: step 2: .*; step 4: "):
    editing.load_params(run_copy)
  config = _tiny(run_copy, num_train_steps=6)
  with pytest.raises(checkpoints.DamagedCheckpointError):
    train.train_and_evaluate(config, run_copy)
  with pytest.raises(checkpoints.DamagedCheckpointError):
    evaluation.evaluate(config, run_copy)
  assert closed == [True, True, True]
  assert _hashes(run_copy) == before


# The dataset: EmotioNet is built from a folder the user prepares.
def test_emotionet_without_its_folder_names_the_flag(tmp_path):
  config = tiny.get_config()
  config.dataset, config.dataset_config = "emotionet", ml_collections.ConfigDict()
  config.data_dir = str(tmp_path / "data")
  for manual_dir, words in ((None, "--config.manual_dir=<folder>"),
                            (str(tmp_path / "absent"), "absent is not a folder")):
    config.manual_dir = manual_dir
    with pytest.raises(config_checks.ConfigError, match=words):
      input_pipeline.create_dataset_builder(config)


def test_emotionet_with_no_training_ids_is_refused(tmp_path):
  td.write_ganimation(tmp_path / "manual", num_train=4, num_test=2)
  td.write_ids(tmp_path / "manual", "train", [])
  with pytest.raises(ValueError, match="train_ids.csv lists no image"):
    td.build(tmp_path / "manual", tmp_path / "data")


@pytest.mark.parametrize("content, words", [
    (None, "not a readable pickle .pickle data was truncated"),  # half a real one
    (b"", "the pickle ends early .a truncated file"),
    (b"\x80\x04garbage", "not a readable pickle"),
])
def test_a_broken_pickle_is_named(tmp_path, content, words):
  path = tmp_path / layout.AUS_FILE
  whole = pickle.dumps({"a": np.zeros(17)}, protocol=4)
  path.write_bytes(whole[:len(whole) // 2] if content is None else content)
  with pytest.raises(pickle.UnpicklingError, match=f"{path}: {words}"):
    safe_pickle.load(path)


# The data tools.
def test_a_data_tool_given_no_input_folder_says_so_in_one_line(tmp_path):
  result = subprocess.run([sys.executable, "-m", "dftnet_jax.data_tools.crop_faces",
                           f"--input_dir={tmp_path / 'nowhere'}",
                           f"--output_dir={tmp_path / 'out'}"],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip() == (f"error: {tmp_path}/nowhere is not a folder of images"
                                   f" ({cli.TRACEBACK_ENV}=1 shows the traceback)")
  assert not (tmp_path / "out").exists()


def test_a_conversion_that_stops_leaves_no_output_folder(tmp_path):
  td.write_openface(tmp_path / "manual", num=4)
  (tmp_path / "manual" / "openface" / "img002.csv").unlink()
  with pytest.raises(layout.DataError, match="img002"):
    openface_to_ganimation.convert(
        tmp_path / "manual" / "imgs", tmp_path / "manual" / "openface",
        tmp_path / "prepared", image_size=td.SIZE, test_fraction=0.25, seed=0,
        skip_bad=False)
  assert sorted(os.listdir(tmp_path)) == ["manual"]


def test_an_output_folder_holding_files_is_refused_before_any_work(tmp_path):
  (tmp_path / "prepared").mkdir()
  (tmp_path / "prepared" / "old.txt").write_text("keep me")
  with pytest.raises(FileExistsError, match="prepared already exists"):
    with files.output_folder(tmp_path / "prepared"):
      pytest.fail("the block ran")
  assert sorted(os.listdir(tmp_path / "prepared")) == ["old.txt"]
  # An empty one is taken, and filled only at the end.
  (tmp_path / "empty").mkdir()
  with files.output_folder(tmp_path / "empty") as partial:
    (partial / "a.txt").write_text("a")
    assert not any((tmp_path / "empty").iterdir())
  assert sorted(os.listdir(tmp_path / "empty")) == ["a.txt"]
  assert sorted(os.listdir(tmp_path)) == ["empty", "prepared"]


# The command lines: one line, exit status 1; the traceback on request.
def test_report_errors_prints_one_line_for_the_users_mistakes(monkeypatch):
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)

  @cli.report_errors
  def failing(error):
    raise error

  with pytest.raises(SystemExit) as exit_:
    failing(ValueError("config.x must be\n  positive, got -1"))
  assert exit_.value.code.startswith("error: config.x must be positive, got -1 (")
  with pytest.raises(KeyError):  # A bug keeps its traceback.
    failing(KeyError("x"))
  monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
  with pytest.raises(ValueError):
    failing(ValueError("shown whole"))


def test_edit_refuses_an_output_name_without_an_image_extension():
  with pytest.raises(ValueError, match=r"--out=edited: the file name needs an image extension"):
    photo._check_image_path("out", "edited")  # pylint: disable=protected-access
  photo._check_image_path("out", "edited.PNG")  # pylint: disable=protected-access


@pytest.mark.parametrize("args, words", [
    (["--config=configs/tiny.py", "--config.num_train_step=3"],
     'names no field of the config: .*Did you mean "num_train_steps"'),
    (["--config=configs/absent.py"], "configs/absent.py"),
])
def test_the_training_command_prints_one_line_and_exits_1(tmp_path, args, words):
  env = {k: v for k, v in os.environ.items() if k != cli.TRACEBACK_ENV}
  result = subprocess.run([sys.executable, "-m", "dftnet_jax.main", *args,
                           f"--workdir={tmp_path / 'run'}"], cwd=REPO, capture_output=True,
                          text=True, env=env)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "Traceback" not in result.stderr, result.stderr[-3000:]
  assert re.search(words, last), last
  assert not (tmp_path / "run").exists()


def test_the_training_command_without_a_workdir_names_the_flag():
  result = subprocess.run([sys.executable, "-m", "dftnet_jax.main", "--config=configs/tiny.py"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert "Flag --workdir must have a value" in result.stderr
