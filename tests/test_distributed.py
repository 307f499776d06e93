"""Multi-process training (2 processes on 127.0.0.1, gloo collectives),
restoring on other device counts, and the shard_map path."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import tiny
from dftnet_jax import evaluation
from dftnet_jax import states
from dftnet_jax import steps
from dftnet_jax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "tiny.py")
TIMEOUT_S = 400


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def _env(num_devices):
  """A child's environment: `num_devices` host devices, the suite's other
  XLA flags, this checkout first."""
  count = "--xla_force_host_platform_device_count"
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(count)]
  return {**os.environ, "XLA_FLAGS": " ".join([*flags, f"{count}={num_devices}"]),
          "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(args, num_devices, log_path):
  with open(log_path, "w") as log:
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=_env(num_devices),
                            stdout=log, stderr=subprocess.STDOUT)


def _finish(processes):
  """Waits for every (process, log path); returns the logs, asserting success."""
  logs = []
  for process, log_path in processes:
    process.wait(timeout=TIMEOUT_S)
    with open(log_path, encoding="utf-8") as f:
      logs.append(f.read())
    assert process.returncode == 0, logs[-1][-5000:]
  return logs


def _flat_params(state):
  return jax.tree.leaves(jax.device_get((state.generator.params, state.critic.params)))


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, data_dir):
  """Two processes with one device each train the tiny config for 2 steps
  into one workdir; each saves its final parameters."""
  root = tmp_path_factory.mktemp("two_processes")
  workdir = str(root / "workdir")
  address = f"127.0.0.1:{_free_port()}"
  processes = []
  for i in range(2):
    args = [os.path.join("tests", "distributed_worker.py"), f"--config={TINY}",
            f"--workdir={workdir}", f"--config.data_dir={data_dir}",
            "--config.num_train_steps=2", f"--coordinator_address={address}",
            "--num_processes=2", f"--process_id={i}", f"--params_out={root / f'params_{i}.npz'}"]
    processes.append((_start(args, 1, root / f"log_{i}.txt"), root / f"log_{i}.txt"))
  logs = _finish(processes)
  params = []
  for i in range(2):
    with np.load(root / f"params_{i}.npz") as f:
      params.append([f[f"arr_{k}"] for k in range(len(f.files))])
  return workdir, params, logs


def test_two_processes_train_as_one_process_with_two_devices(two_process_run, data_dir, tmp_path):
  """The same global batches (one data shard per device) and collectives:
  the parameters match a one-process run on two devices."""
  workdir, (params_0, params_1), logs = two_process_run
  for a, b in zip(params_0, params_1):
    np.testing.assert_array_equal(a, b)
  config = tiny.get_config()
  config.data_dir = data_dir
  config.num_train_steps = 2
  one_process = _flat_params(train.train_and_evaluate(config, str(tmp_path)))
  assert len(one_process) == len(params_0)
  for a, b in zip(params_0, one_process):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  # Only process 0 writes summaries and images; every process logs as itself.
  for logdir in ("train", "eval"):
    assert len(glob.glob(os.path.join(workdir, logdir, "events.out.tfevents.*"))) == 1
  assert sorted(os.listdir(os.path.join(workdir, "images"))) == ["step_000002.png",
                                                                  "suite_step_000002.png"]
  # The edit suite: one curve, one line per evaluation, from process 0.
  with open(os.path.join(workdir, "eval", "suite.jsonl"), encoding="utf-8") as f:
    assert [json.loads(line)["step"] for line in f] == [2]
  assert "[process 1/2]" in logs[1] and "[process 0/2]" not in logs[1]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2"]
  # The items every checkpoint of this project holds (editing and old runs read them).
  items = set(os.listdir(os.path.join(workdir, "checkpoints", "2")))
  assert {"g_state", "d_state", "loop"} <= items


def test_a_two_process_checkpoint_resumes_on_one_and_on_four_devices(two_process_run, data_dir,
                                                                     tmp_path):
  workdir = two_process_run[0]
  processes = []
  for num_devices in (1, 4):
    copy = str(tmp_path / f"on_{num_devices}")
    shutil.copytree(workdir, copy)
    args = ["-m", "dftnet_jax.main", f"--config={TINY}", f"--workdir={copy}",
            f"--config.data_dir={data_dir}", "--config.num_train_steps=3"]
    log_path = tmp_path / f"log_{num_devices}.txt"
    processes.append((_start(args, num_devices, log_path), log_path))
  for num_devices, log in zip((1, 4), _finish(processes)):
    assert f"local devices: [{', '.join(f'CpuDevice(id={i})' for i in range(num_devices))}]" in log
    assert "Resumed from the checkpoint of step 2" in log
    assert "step 3/3:" in log
    assert sorted(os.listdir(tmp_path / f"on_{num_devices}" / "checkpoints")) == ["2", "3"]


def test_two_processes_evaluate_under_shard_map_as_one_process_does(two_process_run, data_dir,
                                                                    tmp_path):
  """Each process scores its own slices of the test batches (shard_map hands
  them back host-local) and the sums over processes match one process's."""
  copy = str(tmp_path / "run")
  shutil.copytree(two_process_run[0], copy)
  address = f"127.0.0.1:{_free_port()}"
  processes = []
  for i in range(2):
    args = ["-m", "dftnet_jax.main", "--mode=evaluate", f"--config={TINY}", f"--workdir={copy}",
            f"--config.data_dir={data_dir}", "--config.num_train_steps=2",
            "--config.parallelism=shard_map", f"--coordinator_address={address}",
            "--num_processes=2", f"--process_id={i}"]
    processes.append((_start(args, 1, tmp_path / f"log_{i}.txt"), tmp_path / f"log_{i}.txt"))
  _finish(processes)
  with open(os.path.join(copy, "test", "metrics_step_000002.json"), encoding="utf-8") as f:
    two_processes = json.load(f)
  config = tiny.get_config()
  config.data_dir, config.num_train_steps = data_dir, 2
  one_process = evaluation.evaluate(config, copy)
  assert {"edit_l1", "cycle_l1", "gain", "g_loss"} <= set(one_process)
  assert two_processes.keys() == one_process.keys()
  for name, value in one_process.items():
    np.testing.assert_allclose(two_processes[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def _batches(config, num):
  rng = np.random.default_rng(0)
  size, per_device = config.model.image_size, config.batch_size // 2
  return [{"image": rng.uniform(-1, 1, (2, per_device, size, size, 3)).astype(np.float32),
           "aus": rng.uniform(0, 1, (2, per_device, 17)).astype(np.float32),
           "target_aus": rng.uniform(0, 1, (2, per_device, 17)).astype(np.float32)}
          for _ in range(num)]


def test_pmap_and_shard_map_give_the_same_parameters():
  results = {}
  batches = _batches(tiny.get_config(), 2)
  for parallelism in ("pmap", "shard_map"):
    config = tiny.get_config()
    config.parallelism = parallelism
    config.n_critic = len(batches)
    state, metrics = steps.train_cycle(
        states.create_train_states(config, jax.random.key(0)), iter(batches), jax.random.key(9),
        p_cycle=steps.parallel_cycle(config), n_critic=config.n_critic)
    assert state.generator.params["encoder"]["Conv_0"]["kernel"].sharding.is_fully_replicated
    results[parallelism] = _flat_params(state) + [jax.device_get(metrics)]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               results["pmap"], results["shard_map"])


def test_evaluations_edit_metrics_agree_under_pmap_and_shard_map(monkeypatch):
  results = {}
  for parallelism in ("pmap", "shard_map"):
    if parallelism == "shard_map":  # the config's parallelism, not a pmap of its own
      monkeypatch.setattr(jax, "pmap", lambda *args, **kwargs: pytest.fail("pmap called"))
    config = tiny.get_config()
    config.parallelism = parallelism
    state = states.create_train_states(config, jax.random.key(0))
    p_edit_step = evaluation.parallel_edit_step(config, state.generator.apply_fn,
                                                state.critic.apply_fn)
    results[parallelism] = evaluation.edit_metrics(
        p_edit_step, state.generator.params, state.critic.params, _batches(config, 2),
        paired=False)
  assert {"cycle_l1", "cycle_psnr", "edit_au_mse", "real_au_mse"} <= set(results["pmap"])
  for name, value in results["pmap"].items():
    np.testing.assert_allclose(results["shard_map"][name], value, rtol=1e-5, err_msg=name)


def test_an_unknown_parallelism_is_refused():
  config = tiny.get_config()
  config.parallelism = "xmap"
  with pytest.raises(ValueError, match="config.parallelism must be one of.*'xmap'"):
    steps.parallel_cycle(config)
