"""Crash safety: SIGKILL at random moments (also mid-save) and SIGTERM
(preemption) leave a resumable workdir; a workdir that cannot take a
checkpoint is refused before training."""

import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from configs import tiny
from dftnet_jax import checkpoints
from dftnet_jax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "tiny.py")
TIMEOUT_S = 300


def _listing(directory):
  return os.listdir(directory) if os.path.isdir(directory) else []


def _partial_saves(directory):
  """Checkpoint directories Orbax is still writing (renamed when complete)."""
  return [name for name in _listing(directory) if ".orbax-checkpoint-tmp" in name]


def _complete_steps(directory):
  return sorted(int(name) for name in _listing(directory) if name.isdigit())


def _wait_for(condition, process, what):
  deadline = time.monotonic() + TIMEOUT_S
  while not condition():
    assert process.poll() is None, f"the run ended before {what}"
    assert time.monotonic() < deadline, f"no {what} within {TIMEOUT_S} s"
    time.sleep(0.002)


def test_killed_at_random_moments_and_preempted_a_run_resumes_each_time(tmp_path):
  """SIGKILL while a save is in flight, then at a seeded random moment after
  a restart, then SIGTERM: every restart resumes from the newest complete
  checkpoint, and SIGTERM saves the step it was in and exits 0."""
  workdir = str(tmp_path / "run")
  directory = os.path.join(workdir, "checkpoints")
  log_path = tmp_path / "log.txt"
  rng = random.Random(0)
  overrides = [f"--config.data_dir={tmp_path / 'tfds'}", "--config.checkpoint_every_steps=1",
               "--config.keep_checkpoints=3", "--config.log_every_steps=1000",
               "--config.eval_every_steps=1000", "--config.image_every_steps=1000"]

  def start():
    with open(log_path, "w") as log:
      return subprocess.Popen(
          [sys.executable, "-m", "dftnet_jax.main", f"--config={TINY}", f"--workdir={workdir}",
           "--config.num_train_steps=1000", *overrides],
          cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

  def log():
    return log_path.read_text(encoding="utf-8")

  def resumed_from():
    found = re.findall(r"Resumed from the checkpoint of step (\d+)", log())
    return int(found[0]) if found else None

  for kill in range(3):
    expected = _complete_steps(directory)
    process = start()
    try:
      if expected:
        _wait_for(lambda: resumed_from() is not None, process, "resume")
        assert resumed_from() == expected[-1]
      if kill == 0:
        # A save in flight while an earlier one is complete.
        _wait_for(lambda: _partial_saves(directory) and _complete_steps(directory), process,
                  "second checkpoint")
      else:
        _wait_for(lambda: _complete_steps(directory)[-1] > expected[-1], process, "new checkpoint")
        time.sleep(rng.uniform(0.0, 1.0))
      if kill == 2:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT_S) == 0, log()[-5000:]
    finally:
      if process.poll() is None:
        process.send_signal(signal.SIGKILL)
      process.wait()
  preempted = int(re.search(r"Preempted \(SIGTERM\): saved step (\d+)", log()).group(1))
  assert _complete_steps(directory)[-1] == preempted
  assert not _partial_saves(directory)
  # The saved run finishes its last step in this process.
  config = tiny.get_config()
  config.data_dir = str(tmp_path / "tfds")
  config.checkpoint_every_steps = 1
  config.num_train_steps = preempted + 1
  state = train.train_and_evaluate(config, workdir)
  assert int(state.generator.step) == preempted + 1


def test_sigterm_while_a_run_is_set_up_stops_it_after_one_saved_step(tmp_path, monkeypatch):
  """The handler is installed before the restore and the compilations: a
  preemption notice then is kept, not fatal, and SIGTERM's handler is given
  back when the run returns."""
  write_config = checkpoints.write_config

  def write_then_signal(*args):
    write_config(*args)
    os.kill(os.getpid(), signal.SIGTERM)

  monkeypatch.setattr(checkpoints, "write_config", write_then_signal)
  before = signal.getsignal(signal.SIGTERM)
  config = tiny.get_config()
  config.data_dir = str(tmp_path / "tfds")
  state = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert int(state.generator.step) == 1
  assert _complete_steps(tmp_path / "run" / "checkpoints") == [1]
  assert signal.getsignal(signal.SIGTERM) == before


def test_an_unwritable_workdir_is_refused_before_training(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("")
  workdir = str(blocker / "workdir")
  with pytest.raises(PermissionError, match=f"the workdir {re.escape(workdir)} is not writable"):
    checkpoints.check_workdir(workdir, {"w": np.zeros(4)})


def test_a_disk_too_full_for_a_checkpoint_is_refused_before_training(tmp_path, monkeypatch):
  states = {"w": np.zeros(2**20, np.float32)}  # 4 MiB: a checkpoint pair needs 8
  checkpoints.check_workdir(str(tmp_path), states)
  usage = checkpoints.shutil.disk_usage(tmp_path)
  monkeypatch.setattr(checkpoints.shutil, "disk_usage",
                      lambda path: usage._replace(free=6 * 2**20))
  with pytest.raises(OSError, match=f"workdir {re.escape(str(tmp_path))} has 6.0 MiB free;"
                                   " its checkpoints need 8.0 MiB"):
    checkpoints.check_workdir(str(tmp_path), states)
