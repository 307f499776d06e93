"""Training: the loop that feeds `steps` and records what they do.

`train_and_evaluate` runs it: one cycle a step (`steps.train_cycle`) on
batches from the TFDS input pipeline (`input_pipeline`), with what
`reporting` checks and writes (non-finite losses, TensorBoard summaries,
evaluation losses and the edit suite) and asynchronous checkpoints
(`checkpoints`), resuming from the workdir. `evaluation` scores a checkpoint
without it.
"""

from __future__ import annotations

import functools
import itertools
import os
import time

from absl import logging
import jax
import ml_collections

from dftnet_jax import au_pretraining
from dftnet_jax import checkpoints
from dftnet_jax import config_checks
from dftnet_jax import edit_suite
from dftnet_jax import input_pipeline
from dftnet_jax import reporting
from dftnet_jax import states
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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> states.GanState:
  """Trains as `config` says, resuming from the latest checkpoint in `workdir`.

  A fresh run first gives the critic `config.critic_au_pretrain_steps` updates
  on real faces' AUs alone (`au_pretraining`; none by default). A training
  step is `steps.train_cycle`: n_critic critic steps, then a generator
  step; `config.num_train_steps` counts generator steps. Every step's metrics
  are checked on the host (`reporting.check_finite`) before anything is written.
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
  (the first, if it comes while the run is being set up) and return early;
  rerunning resumes there (the stream restarts at that step, so from then
  on the batches differ from an unbroken run's).

  Args:
    config: the training config (configs/default.py documents it).
    workdir: where checkpoints, config.json, summaries and images go.

  Returns:
    The final state of both networks.

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
  builder = input_pipeline.create_dataset_builder(config)
  config_checks.check_data(config, builder)
  init_key, key, eval_key = states.run_keys(config)
  state = states.create_train_states(config, init_key)
  checkpoints.check_workdir(workdir, state)
  manager = checkpoints.create_manager(workdir, config)
  preemption = checkpoints.Preemption()
  # Both released whatever fails from here on (a failed restore included):
  # the manager runs threads of its own, and the handler holds SIGTERM.
  try:
    start = 0
    restored = checkpoints.restore_latest(manager, state, key, set_aside_damaged=True)
    if restored:
      start, state, key = restored
      logging.info("Resumed from the checkpoint of step %d in %s.", start, manager.directory)
    checkpoints.write_config(workdir, config)
    if not start and config.get("critic_au_pretrain_steps", 0):
      pretrain_batches = input_pipeline.train_batches(builder, config,
                                                      input_pipeline.PRETRAIN_STREAM)
      state = state.replace(critic=au_pretraining.pretrain(state.critic, pretrain_batches,
                                                           config=config))
    p_cycle = steps.parallel_cycle(config)
    p_eval_step, p_sample_step = steps.parallel_eval_steps(config, state)
    sample_batch = next(input_pipeline.split_batches(builder, config, split="test",
                                                     seed=config.seed))
    suite = None
    if input_pipeline.is_paired(builder) and config.suite_faces:
      suite = edit_suite.suite_faces(config.model.image_size, config.suite_faces)
      editor = reporting.generator_editor(state.generator)
    train_writer = summaries.Writer(os.path.join(workdir, "train"))
    eval_writer = summaries.Writer(os.path.join(workdir, "eval"))
    g_learning_rate = states.generator_learning_rate_fn(config)
    d_learning_rate = states.critic_learning_rate_fn(config)
    progress = reporting.Progress(config.num_train_steps, config.n_critic * config.batch_size)
    history = []
    for step in range(start, config.num_train_steps):
      if step == start or step % config.checkpoint_every_steps == 0:
        batches = input_pipeline.train_batches(builder, config, step)
      key, step_key = jax.random.split(key)
      state, metrics = steps.train_cycle(state, batches, step_key, p_cycle=p_cycle,
                                         n_critic=config.n_critic)
      done = step + 1
      reporting.check_finite(metrics, done)
      history += metrics
      progress.tick(done)
      due = functools.partial(reporting.is_due, done, num_steps=config.num_train_steps)
      if due(config.log_every_steps):
        scalars = {**reporting.mean_metrics(history), **progress.report(),
                   "g_learning_rate": float(g_learning_rate(done - 1)),
                   "d_learning_rate": float(d_learning_rate(
                       done * states.critic_updates_per_step(config) - 1))}
        train_writer.scalars(done, scalars)
        logging.info("%s", reporting.log_line(done, config.num_train_steps, scalars))
        history = []
      if due(config.image_every_steps):
        reporting.write_samples(train_writer, p_sample_step, state.generator, sample_batch,
                                step=done, num_images=config.num_grid_images,
                                png_path=os.path.join(workdir, "images", f"step_{done:06d}.png"))
      if due(config.eval_every_steps):
        eval_batches = itertools.islice(
            input_pipeline.split_batches(builder, config, split="test", seed=config.seed),
            config.num_eval_batches)
        eval_metrics = reporting.evaluate_losses(p_eval_step, state, eval_batches, eval_key)
        eval_writer.scalars(done, eval_metrics)
        logging.info("eval %s", reporting.log_line(done, config.num_train_steps, eval_metrics))
        if suite is not None:
          edit = editor(state.generator.params)
          scores = edit_suite.score_suite(edit, suite)
          eval_writer.scalars(done, {f"suite/{name}": value for name, value in scores.items()})
          eval_writer.image(done, "suite", edit_suite.suite_figure(edit, suite),
                            os.path.join(workdir, "images", f"suite_step_{done:06d}.png"))
          reporting.append_json_line(
              os.path.join(workdir, "eval", "suite.jsonl"),
              {"step": done, "wall_s": time.perf_counter() - started, **scores})
          logging.info("%s", reporting.suite_line(done, scores))
      preempted = preemption.reached(done)
      if due(config.checkpoint_every_steps) or preempted:
        checkpoints.save(manager, done, state, key)
        logging.info("saving step %d in %s", done, manager.directory)
      if preempted:
        logging.info("Preempted (SIGTERM): saved step %d in %s and stopped; run the same"
                     " command to resume.", done, manager.directory)
        break
  finally:
    preemption.close()
    manager.wait_until_finished()
    manager.close()
  return state
