"""Training: the loop that feeds `steps` and records what they do.

`train_and_evaluate` runs it: one cycle a step (`steps.train_cycle`) on
batches from the TFDS input pipeline, host-side checks for non-finite
losses, TensorBoard summaries, evaluation (losses and the edit suite) and
asynchronous checkpoints (`checkpoints`), resuming from the workdir.
`evaluation` scores a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
import datetime
import itertools
import json
import os
import time
from typing import Any

from absl import logging
from flax.training import train_state
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from dftnet_jax import au_pretraining
from dftnet_jax import checkpoints
from dftnet_jax import config_checks
from dftnet_jax import edit_suite
from dftnet_jax import figures
from dftnet_jax import input_pipeline
from dftnet_jax import parallel
from dftnet_jax import steps
from dftnet_jax import summaries

def check_run(config: ml_collections.ConfigDict, workdir: str) -> None:
  """The config's fields, and on resume its parameters' shapes against the
  run's saved config (`config_checks`); reads the workdir, writes nothing."""
  config_checks.check_config(config, jax.device_count())
  if checkpoints.saved_steps(workdir):
    path = os.path.join(workdir, checkpoints.CONFIG_FILE)
    if os.path.exists(path):
      config_checks.check_same_shapes(checkpoints.load_config(workdir), config, path)


def check_data(config: ml_collections.ConfigDict, builder: tfds.core.DatasetBuilder) -> None:
  """The model's image size against the dataset's, and a training split
  that holds at least one global batch."""
  config_checks.check_resolution(config, builder.info.full_name,
                                 builder.info.features["image"].shape[0])
  train_size = builder.info.splits["train"].num_examples if "train" in builder.info.splits else 0
  if train_size < config.batch_size:
    raise config_checks.ConfigError(
        f"the dataset {builder.info.full_name} holds {train_size} training examples, fewer"
        f" than one batch (config.batch_size = {config.batch_size})")


def create_dataset_builder(config: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """The TFDS builder of `config.dataset`, built on first use.

  The synthetic faces render themselves; EmotioNet reads `config.manual_dir`
  (a `ConfigError` says so when it is missing). A dataset already built is
  reused as it is. In a multi-process run process 0 builds first and the
  others wait for it: on a shared `data_dir` they find the dataset built
  instead of racing to build it.
  """
  if jax.process_index() > 0:
    multihost_utils.sync_global_devices("dataset prepared")
  builder = input_pipeline.get_builder(config.dataset, data_dir=config.data_dir,
                                       config_fields=config.dataset_config.to_dict())
  manual = config.get("manual_dir")
  if (builder.MANUAL_DOWNLOAD_INSTRUCTIONS and not builder.is_prepared()
      and not (manual and os.path.isdir(manual))):
    raise config_checks.ConfigError(
        f"the dataset {config.dataset} is built from files you prepare and is not built yet"
        f" in {builder.data_dir}: pass their folder as"
        f" --config.manual_dir=<folder> (data/README.md)"
        + (f"; {manual} is not a folder" if manual else ""))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=config.manual_dir))
  if jax.process_index() == 0 and jax.process_count() > 1:
    multihost_utils.sync_global_devices("dataset prepared")
  return builder


def split_batches(builder: tfds.core.DatasetBuilder, config: ml_collections.ConfigDict, *,
                  split: str, seed: int, features: Sequence[str] = ()
                  ) -> Iterator[dict[str, np.ndarray]]:
  """Batches [local devices, per-device batch, ...]: an endless, shuffled,
  mirrored stream of the train split, or one ordered pass over another
  (`features`: more of the examples' features to pass through)."""
  return input_pipeline.create_split(
      builder, split=split, batch_size=config.batch_size,
      num_local_devices=jax.local_device_count(), train=split == "train", seed=seed,
      target_au_noise=config.target_au_noise, features=features,
      render_targets=bool(config.loss.get("paired_l1")))


# The stream the critic's AU pretraining reads (`au_pretraining`): seeded
# like a training restart at a step no run reaches, so it is the same in
# every run of a config and none of the training restarts.
PRETRAIN_STREAM = 2**32 - 1


def train_batches(builder: tfds.core.DatasetBuilder, config: ml_collections.ConfigDict,
                  step: int) -> Iterator[dict[str, np.ndarray]]:
  """The training stream for the steps from `step` on, seeded by
  (config.seed, step): restarting it at a step reproduces what it gives."""
  seed = int(np.random.SeedSequence([config.seed, step]).generate_state(1)[0])
  return split_batches(builder, config, split="train", seed=seed)


def check_finite(metrics: Sequence[Mapping[str, np.ndarray]], step: int) -> None:
  """Stops the run if a loss term or gradient norm of `step` is not finite.

  Finite losses and gradient norms keep the parameters finite, so checking
  every step before anything is saved keeps NaN out of checkpoints.

  Args:
    metrics: the step's metrics as `train_cycle` returns them: each critic
      step's, then the generator step's.
    step: the training step they come from (1 for the first).

  Raises:
    FloatingPointError: naming every non-finite metric, its value, and the
      update of the step that gave it.
  """
  n_critic = len(metrics) - 1
  updates = [f"critic step {i + 1} of {n_critic}" for i in range(n_critic)] + ["generator step"]
  bad = [f"{name}={float(value)} ({update})" for update, values in zip(updates, metrics)
         for name, value in values.items() if not np.isfinite(value)]
  if bad:
    raise FloatingPointError(
        f"non-finite loss at step {step}: {', '.join(bad)}. Stopped without saving step"
        f" {step}; the latest checkpoint holds finite parameters.")


def mean_metrics(metrics: Sequence[Mapping[str, np.ndarray]]) -> dict[str, float]:
  """Each metric's mean over the updates that report it."""
  names = {name for update in metrics for name in update}
  return {name: float(np.mean([update[name] for update in metrics if name in update]))
          for name in sorted(names)}


def evaluate_losses(p_eval_step: Callable, g_state: train_state.TrainState,
                    d_state: train_state.TrainState, batches: Iterable[steps.Batch],
                    key: jax.Array) -> dict[str, float]:
  """Both objectives' terms averaged over `batches`.

  Raises:
    ValueError: `batches` is empty (a split smaller than one global batch).
  """
  metrics = [jax.device_get(p_eval_step(g_state.params, d_state.params, batch, key))
             for batch in batches]
  if not metrics:
    raise ValueError("no evaluation batch: the test split holds fewer examples than"
                     " one global batch")
  return mean_metrics(metrics)


def write_samples(writer: summaries.Writer, p_sample_step: Callable,
                  g_state: train_state.TrainState, batch: steps.Batch, *, step: int,
                  num_images: int, png_path: str) -> None:
  """The image grid (`figures.image_grid`) of the first `num_images`
  examples of `batch`, to TensorBoard and `png_path`."""
  # Every process takes part in the gather; only process 0's writer writes.
  images, outputs = parallel.gather((batch["image"], p_sample_step(g_state.params, batch)))
  first = lambda x: x.reshape(-1, *x.shape[2:])[:num_images]
  edited, reconstruction = jax.tree.map(first, outputs)
  grid = figures.image_grid(first(images), edited, reconstruction)
  writer.image(step, "samples", grid, png_path)


class Progress:
  """Steps/s, images/s and time left, over the steps since the last report.

  The clock starts at the first `tick`, after the first step has compiled
  the steps, so compilation does not count as training time.
  """

  def __init__(self, num_steps: int, images_per_step: int):
    self._num_steps = num_steps
    self._images_per_step = images_per_step
    self._step = 0
    self._mark: tuple[int, float] | None = None

  def tick(self, step: int) -> None:
    """Records that `step` steps are done."""
    self._step = step
    if self._mark is None:
      self._mark = (step, time.perf_counter())

  def report(self) -> dict[str, float]:
    """Rates since the previous report (empty if no step was timed)."""
    marked_step, marked_time = self._mark
    now = time.perf_counter()
    self._mark = (self._step, now)
    if self._step == marked_step:
      return {}
    steps_per_s = (self._step - marked_step) / (now - marked_time)
    return {"steps_per_s": steps_per_s, "images_per_s": steps_per_s * self._images_per_step,
            "eta_s": (self._num_steps - self._step) / steps_per_s}


def log_line(step: int, num_steps: int, scalars: Mapping[str, float]) -> str:
  """A log line: the rates (when timed) and the loss totals at `step`."""
  rates = ""
  if "steps_per_s" in scalars:
    eta = datetime.timedelta(seconds=round(scalars["eta_s"]))
    rates = (f" {scalars['steps_per_s']:.3g} steps/s, {scalars['images_per_s']:.3g} images/s,"
             f" ETA {eta};")
  losses_text = ", ".join(f"{k}={v:.4g}" for k, v in scalars.items() if k.endswith("_loss"))
  return f"step {step}/{num_steps}:{rates} {losses_text}"


def is_paired(builder: tfds.core.DatasetBuilder) -> bool:
  """Whether the dataset's faces can be drawn again with other AUs (the
  synthetic faces): then edits have a ground truth."""
  return "identity" in builder.info.features


def local_copy(tree: Any) -> Any:
  """This process's copy of replicated arrays, on one device: what a jitted
  function of one device (the edit suite's generator) takes."""
  return jax.tree.map(lambda x: x.addressable_data(0), tree)


def generator_editor(g_state: train_state.TrainState) -> Callable[[Any], edit_suite.EditFn]:
  """params → the generator as an `edit_suite.EditFn` (on this process's
  copy of the parameters), compiled once for all of them."""
  generate = jax.jit(lambda p, x, t: g_state.apply_fn({"params": p}, x, t).image)
  return lambda params: edit_suite.generator_edit_fn(generate, local_copy(params))


def suite_line(step: int, scores: Mapping[str, float]) -> str:
  """A log line: the suite's mean and worst gain, mean leak, and each edit's gain."""
  edits = ", ".join(f"{name}={scores[f'{name}/gain']:.2f}" for name in edit_suite.SUITE)
  return (f"edit suite at step {step}: gain_mean={scores['gain_mean']:.3f}"
          f" gain_min={scores['gain_min']:.3f} leak_mean={scores['leak_mean']:.4f}; {edits}")


def append_json_line(path: str, record: Mapping[str, Any]) -> None:
  """Appends `record` as one JSON line (process 0 only): a curve a script reads
  without TensorBoard."""
  if jax.process_index() != 0:
    return
  with open(path, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str
                       ) -> tuple[train_state.TrainState, train_state.TrainState]:
  """Trains as `config` says, resuming from the latest checkpoint in `workdir`.

  A fresh run first gives the critic `config.critic_au_pretrain_steps` updates
  on real faces' AUs alone (`au_pretraining`; none by default). A training
  step is `steps.train_cycle`: n_critic critic steps, then a generator
  step; `config.num_train_steps` counts generator steps. Every step's metrics
  are checked on the host (`check_finite`) before anything is written.
  Periodically: scalars to `workdir/train` (TensorBoard) and the log, image
  grids of a fixed test batch to TensorBoard and `workdir/images/`, mean
  losses over test batches to `workdir/eval`, with the edit suite's gain and
  leak on synthetic faces (`edit_suite`: TensorBoard, the log,
  `workdir/eval/suite.jsonl` and `workdir/images/suite_step_<step>.png`), and
  checkpoints (async).

  The training stream restarts at the first step and at every checkpoint
  step, seeded by (config.seed, step), and the host key is checkpointed: a
  resumed run takes exactly the steps the unbroken run takes.

  SIGTERM (preemption) makes the loop save at the end of the step it is in
  and return early; rerunning resumes there (the stream restarts at that
  step, so from then on the batches differ from an unbroken run's).

  Args:
    config: the training config (configs/default.py documents it).
    workdir: where checkpoints, config.json, summaries and images go.

  Returns:
    The final generator and critic states.

  Raises:
    config_checks.ConfigError: a config field no run can use, a model size
      other than the data's, or (resuming) parameters of other shapes than
      the run's; raised before anything is written.
    checkpoints.DamagedCheckpointError: no checkpoint of the run can be read
      back (one that can is resumed from, the damaged newer ones moved to
      `workdir/damaged_checkpoints/`).
    FloatingPointError: a loss or gradient norm was not finite; that step is
      not saved.
    PermissionError, OSError: `workdir` is not writable or its disk is too
      full for a checkpoint (before training starts).
  """
  started = time.perf_counter()
  # Everything that can fail on the user's input fails before the workdir is
  # touched: a failed start leaves a run's files as they were.
  check_run(config, workdir)
  builder = create_dataset_builder(config)
  check_data(config, builder)
  init_key, key, eval_key = steps.run_keys(config)
  g_state, d_state = steps.create_train_states(config, init_key)
  checkpoints.check_workdir(workdir, (g_state, d_state))
  manager = checkpoints.create_manager(workdir, config)
  start = 0
  restored = checkpoints.restore_latest(manager, g_state, d_state, key, set_aside_damaged=True)
  if restored:
    start, g_state, d_state, key = restored
    logging.info("Resumed from the checkpoint of step %d in %s.", start, manager.directory)
  checkpoints.write_config(workdir, config)
  if not start and config.get("critic_au_pretrain_steps", 0):
    d_state = au_pretraining.pretrain(d_state, train_batches(builder, config, PRETRAIN_STREAM),
                                      config=config)
  p_cycle = steps.parallel_cycle(config)
  p_eval_step, p_sample_step = steps.parallel_eval_steps(config, g_state, d_state)
  sample_batch = next(split_batches(builder, config, split="test", seed=config.seed))
  suite = None
  if is_paired(builder) and config.suite_faces:
    suite = edit_suite.suite_faces(config.model.image_size, config.suite_faces)
    editor = generator_editor(g_state)
  train_writer = summaries.Writer(os.path.join(workdir, "train"))
  eval_writer = summaries.Writer(os.path.join(workdir, "eval"))
  g_learning_rate = steps.generator_learning_rate_fn(config)
  d_learning_rate = steps.critic_learning_rate_fn(config)
  progress = Progress(config.num_train_steps, config.n_critic * config.batch_size)
  history = []
  preemption = checkpoints.Preemption()
  try:
    for step in range(start, config.num_train_steps):
      if step == start or step % config.checkpoint_every_steps == 0:
        batches = train_batches(builder, config, step)
      key, step_key = jax.random.split(key)
      g_state, d_state, metrics = steps.train_cycle(g_state, d_state, batches, step_key,
                                              p_cycle=p_cycle, n_critic=config.n_critic)
      done = step + 1
      check_finite(metrics, done)
      history += metrics
      progress.tick(done)
      last = done == config.num_train_steps
      if done % config.log_every_steps == 0 or last:
        scalars = {**mean_metrics(history), **progress.report(),
                   "g_learning_rate": float(g_learning_rate(done - 1)),
                   "d_learning_rate": float(d_learning_rate(
                       done * steps.critic_updates_per_step(config) - 1))}
        train_writer.scalars(done, scalars)
        logging.info("%s", log_line(done, config.num_train_steps, scalars))
        history = []
      if done % config.image_every_steps == 0 or last:
        write_samples(train_writer, p_sample_step, g_state, sample_batch, step=done,
                      num_images=config.num_grid_images,
                      png_path=os.path.join(workdir, "images", f"step_{done:06d}.png"))
      if done % config.eval_every_steps == 0 or last:
        eval_batches = itertools.islice(
            split_batches(builder, config, split="test", seed=config.seed), config.num_eval_batches)
        eval_metrics = evaluate_losses(p_eval_step, g_state, d_state, eval_batches, eval_key)
        eval_writer.scalars(done, eval_metrics)
        logging.info("eval %s", log_line(done, config.num_train_steps, eval_metrics))
        if suite is not None:
          edit = editor(g_state.params)
          scores = edit_suite.score_suite(edit, suite)
          eval_writer.scalars(done, {f"suite/{name}": value for name, value in scores.items()})
          eval_writer.image(done, "suite", edit_suite.suite_figure(edit, suite),
                            os.path.join(workdir, "images", f"suite_step_{done:06d}.png"))
          append_json_line(os.path.join(workdir, "eval", "suite.jsonl"),
                           {"step": done, "wall_s": time.perf_counter() - started, **scores})
          logging.info("%s", suite_line(done, scores))
      preempted = preemption.reached(done)
      if done % config.checkpoint_every_steps == 0 or last or preempted:
        checkpoints.save(manager, done, g_state, d_state, key)
      if preempted:
        logging.info("Preempted (SIGTERM): saved step %d in %s and stopped; run the same"
                     " command to resume.", done, manager.directory)
        break
  finally:
    preemption.close()
    manager.wait_until_finished()
    manager.close()
  return g_state, d_state
