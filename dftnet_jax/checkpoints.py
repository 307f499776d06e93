"""Checkpoints: Orbax saves of both train states and the loop's RNG key.

Layout of a workdir:

    config.json              the run's config (`load_config` rebuilds it)
    checkpoints/<step>/      one checkpoint per saved generator step:
      g_state/, d_state/     the GanState's generator and critic TrainStates:
                             step, params, opt_state
      loop/                  {"rng": the host PRNG key's data, uint32 [2]}

Saves are asynchronous: Orbax writes into a temporary directory and renames
it when complete, so a run killed mid-save leaves the previous checkpoint as
the latest, and the next run deletes the leftover. In a multi-process run
every process calls `save` and `restore_latest` (the states are global
arrays; the primary process writes what is replicated). `Preemption` turns
SIGTERM into a save at the next step, and `check_workdir` fails before
training when a checkpoint could not be written.

A checkpoint that cannot be read back (a file truncated or missing, as a
full disk or an interrupted copy leaves it) is skipped with a warning naming
its step and file, and the newest intact one is used (`newest_intact`); a
resumed run moves the damaged ones to `damaged_checkpoints/` first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import json
import os
import shutil
import signal
import tempfile
import threading
from typing import Any, NamedTuple, TypeVar

from absl import logging
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from dftnet_jax import files
from dftnet_jax import states as states_lib

# The manager's directory inside a workdir.
CHECKPOINTS_DIR = "checkpoints"
# Where a resumed run moves checkpoints it cannot read back.
DAMAGED_DIR = "damaged_checkpoints"
# The config a run saves beside its checkpoints.
CONFIG_FILE = "config.json"

T = TypeVar("T")

class Restored(NamedTuple):
  """What a checkpoint brings back to the training loop."""
  step: int
  state: states_lib.GanState
  key: jax.Array


def create_manager(workdir: str, config: ml_collections.ConfigDict, *,
                   read_only: bool = False) -> ocp.CheckpointManager:
  """The manager of `workdir/checkpoints`.

  Args:
    workdir: the run's directory.
    config: the training config (`keep_checkpoints`).
    read_only: for evaluation: touches nothing, so it cannot delete the
      temporary directory of a save the training run is writing.

  Returns:
    A manager that saves asynchronously, keeps the newest
    `config.keep_checkpoints` checkpoints and, unless read-only, removes the
    leftovers of interrupted saves.
  """
  options = ocp.CheckpointManagerOptions(
      enable_async_checkpointing=True, cleanup_tmp_directories=not read_only,
      read_only=read_only,
      preservation_policy=ocp.checkpoint_managers.LatestN(config.keep_checkpoints))
  return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR),
                               options=options)


def save(manager: ocp.CheckpointManager, step: int, state: states_lib.GanState,
         key: jax.Array) -> None:
  """Starts saving both states and the host key as checkpoint `step` (the
  generator step); returns once the arrays are copied, before the write."""
  manager.save(step, args=ocp.args.Composite(
      g_state=ocp.args.StandardSave(state.generator),
      d_state=ocp.args.StandardSave(state.critic),
      loop=ocp.args.StandardSave(_loop_state(key))))


def _loop_state(key: jax.Array) -> dict[str, np.ndarray]:
  # On the host: the same on every process, written once by the primary.
  return {"rng": np.asarray(jax.random.key_data(key))}


def _abstract(tree: Any) -> Any:
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class DamagedCheckpointError(OSError):
  """A checkpoint whose files cannot be read back (truncated or missing, as
  a full disk or an interrupted copy leaves them)."""


def _innermost(error: BaseException) -> str:
  """The first line of the innermost cause: where TensorStore names the
  array and the file it could not read (Orbax's wrapper dumps a spec)."""
  while error.__cause__ is not None or error.__context__ is not None:
    error = error.__cause__ or error.__context__
  return (str(error).strip().splitlines() or [type(error).__name__])[0]


def newest_intact(manager: ocp.CheckpointManager, read: Callable[[int], T], *,
                  step: int | None = None) -> tuple[int, T, list[int]] | None:
  """The newest checkpoint `read` can read back, trying newer ones first.

  Each damaged one is logged as a warning naming its step and the file.

  Args:
    manager: from `create_manager`.
    read: step → what the checkpoint holds (`manager.restore` of it).
    step: read this checkpoint and no other.

  Returns:
    (step, what `read` returned, the damaged steps newer than it), or None
    if the manager holds no checkpoint.

  Raises:
    DamagedCheckpointError: no checkpoint can be read back, or `step` is
      damaged (naming the newest intact one, if any).
    FileNotFoundError: the manager holds no checkpoint of `step`.
  """
  held = sorted(manager.all_steps(), reverse=True)
  if step is not None and step not in held:
    raise FileNotFoundError(f"no checkpoint of step {step} in {manager.directory}; it holds"
                            f" steps {sorted(held)}")
  if step is not None:  # It first; older ones only to name an intact one.
    held = [step] + [s for s in held if s < step]
  damaged: dict[int, str] = {}
  for candidate in held:
    try:
      restored = read(candidate)
    except Exception as e:  # pylint: disable=broad-except
      # A reader raises whatever its storage layer does (TensorStore's
      # ValueError, Orbax's bare Exception, a KeyError for a missing item).
      damaged[candidate] = _innermost(e)
      logging.warning("checkpoint %d in %s is damaged: %s", candidate, manager.directory,
                      damaged[candidate])
      continue
    if step is not None and step != candidate:
      raise DamagedCheckpointError(
          f"checkpoint {step} in {manager.directory} is damaged ({damaged[step]}); step"
          f" {candidate} is intact: pass it instead")
    if damaged:
      logging.warning("restored checkpoint %d in %s, the newest intact one", candidate,
                      manager.directory)
    return candidate, restored, sorted(damaged)
  if damaged:
    raise DamagedCheckpointError(
        f"no checkpoint in {manager.directory} can be read back: "
        + "; ".join(f"step {s}: {why}" for s, why in sorted(damaged.items())))
  return None


def set_aside(manager: ocp.CheckpointManager, damaged: Sequence[int]) -> None:
  """Moves damaged checkpoints to `<workdir>/damaged_checkpoints/<step>`
  (process 0), out of the way of the steps a resumed run saves again, and
  kept for whoever wants to inspect them."""
  if not damaged:
    return
  if jax.process_index() == 0:
    aside = os.path.join(os.path.dirname(str(manager.directory)), DAMAGED_DIR)
    os.makedirs(aside, exist_ok=True)
    for step in damaged:
      target = os.path.join(aside, str(step))
      suffix = 1
      while os.path.exists(target):
        target, suffix = os.path.join(aside, f"{step}.{suffix}"), suffix + 1
      os.replace(os.path.join(str(manager.directory), str(step)), target)
      logging.warning("moved the damaged checkpoint %d to %s", step, target)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("damaged checkpoints set aside")
  manager.reload()


def restore_latest(manager: ocp.CheckpointManager, state: states_lib.GanState, key: jax.Array,
                   *, set_aside_damaged: bool = False) -> Restored | None:
  """The newest intact checkpoint (`newest_intact`), or None if there is none.

  Args:
    manager: from `create_manager`.
    state: a state of the run's shapes and layout (e.g. fresh from
      `states.create_train_states`); its arrays are not read.
    key: a host key of the run's key type.
    set_aside_damaged: move damaged checkpoints newer than the one restored
      out of the manager's directory (`set_aside`): for a run that resumes
      and will save those steps again.

  Returns:
    The state laid out as `state` is (so the parallel steps do not compile
    again, whatever device count saved it), and the key.

  Raises:
    DamagedCheckpointError: no checkpoint can be read back.
  """
  args = ocp.args.Composite(
      g_state=ocp.args.StandardRestore(_abstract(state.generator)),
      d_state=ocp.args.StandardRestore(_abstract(state.critic)),
      loop=ocp.args.StandardRestore(_loop_state(key)))
  found = newest_intact(manager, lambda step: manager.restore(step, args=args))
  if found is None:
    return None
  step, restored, damaged = found
  if set_aside_damaged:
    set_aside(manager, damaged)
  return Restored(step, states_lib.GanState(generator=restored.g_state, critic=restored.d_state),
                  jax.random.wrap_key_data(restored.loop["rng"]))


def restore_params(manager: ocp.CheckpointManager, step: int, item: str,
                   abstract_params: Any) -> Any:
  """Only the parameters of one train state of checkpoint `step`.

  The optimiser's moments (twice the parameters' size) are not read.

  Args:
    manager: from `create_manager`.
    step: a step the manager holds.
    item: 'g_state' or 'd_state'.
    abstract_params: the parameters' tree of `jax.ShapeDtypeStruct`s; their
      shardings say where the arrays go (any device, whatever saved them).

  Returns:
    The parameters, laid out as `abstract_params`.
  """
  target = {"params": abstract_params}
  restored = manager.restore(step, args=ocp.args.Composite(**{item: ocp.args.PyTreeRestore(
      item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
      partial_restore=True)}))
  return restored[item]["params"]


def check_workdir(workdir: str, state: Any) -> None:
  """Fails before training if `workdir` cannot take a checkpoint of `state`.

  Args:
    workdir: the run's directory (created if missing).
    state: what a checkpoint holds (a `GanState`, or any pytree of arrays).

  Raises:
    PermissionError: `workdir` cannot be created or written.
    OSError: its disk has less free space than two checkpoints (a save
      writes the new one before the oldest is deleted).
  """
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write_test_"):
      pass
  except OSError as e:
    raise PermissionError(f"the workdir {workdir} is not writable: {e}") from e
  needed = 2 * sum(x.nbytes for x in jax.tree.leaves(state))
  free = shutil.disk_usage(workdir).free
  if free < needed:
    raise OSError(f"the disk of the workdir {workdir} has {free / 2**20:.1f} MiB free; its"
                  f" checkpoints need {needed / 2**20:.1f} MiB (two of"
                  f" {needed / 2**21:.1f} MiB): free space or choose another --workdir")


class Preemption:
  """SIGTERM (a scheduler's preemption notice) as a flag the training loop
  polls at step boundaries, so it can save and exit cleanly.

  One process: a Python handler sets the flag. Several: JAX's preemption
  service (started by `jax.distributed.initialize`) catches the signal on
  any process and has all of them agree on the step to stop at, as a
  collective save needs.
  """

  def __init__(self):
    self._multi_process = jax.process_count() > 1
    self._signalled = threading.Event()
    self._previous = (None if self._multi_process else
                      signal.signal(signal.SIGTERM, lambda *_: self._signalled.set()))

  def reached(self, step: int) -> bool:
    """Whether to save at `step` and stop; call at every step, on every process."""
    if self._multi_process:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._signalled.is_set()

  def close(self) -> None:
    """Gives SIGTERM back to the handler that had it before."""
    if not self._multi_process:
      signal.signal(signal.SIGTERM, self._previous)


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """`workdir/config.json`, so evaluation and editing can rebuild the
  model without the config file (process 0 only). Written to a temporary
  file first and renamed over the old one: never half a file."""
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    files.atomic_write(os.path.join(workdir, CONFIG_FILE), config.to_json(indent=2).encode())


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config `write_config` saved in `workdir`.

  Raises:
    FileNotFoundError: `workdir` holds no config.json (no run trained there).
    ValueError: its config.json is not a JSON object with a model config.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist: no training run wrote to {workdir}")
  with open(path, encoding="utf-8") as f:
    try:
      fields = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise ValueError(f"{path} is not valid JSON ({e}): restore it from the run's"
                       f" copy or pass --config") from None
  if not isinstance(fields, dict) or not isinstance(fields.get("model"), dict):
    raise ValueError(f"{path} holds no model config (a 'model' object)")
  return ml_collections.ConfigDict(fields)


def saved_steps(workdir: str) -> list[int]:
  """The checkpoint steps `workdir` holds, without opening a manager (which
  would create and clean directories)."""
  directory = os.path.join(workdir, CHECKPOINTS_DIR)
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())
