"""What a run reports: the host-side checks, logs, summaries and curves.

The training loop (`train`) and the evaluation of a checkpoint
(`evaluation`) report the same way: non-finite losses stop a run
(`check_finite`), losses are averaged over updates or test batches, a step's
image grid and the edit suite's scores go to TensorBoard, the log and
`workdir/eval/suite.jsonl`. Both import it; it imports neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
import datetime
import json
import time
from typing import Any, TYPE_CHECKING

from flax.training import train_state
import jax
import numpy as np

from dftnet_jax import edit_suite
from dftnet_jax import figures
from dftnet_jax import losses
from dftnet_jax import parallel
from dftnet_jax import states

if TYPE_CHECKING:
  # For the annotations only: `summaries` imports TensorFlow, which the
  # screen's TensorFlow-free path (experiments/screen.py) must not need.
  from dftnet_jax import summaries  # pylint: disable=g-bad-import-order


def is_due(done: int, every: int, num_steps: int) -> bool:
  """Whether a periodic action (log, images, evaluation, checkpoint) is due
  once `done` steps are done: every `every` steps, and after the last."""
  return done % every == 0 or done == num_steps


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


def evaluate_losses(p_eval_step: Callable, state: states.GanState,
                    batches: Iterable[losses.Batch], key: jax.Array) -> dict[str, float]:
  """Both objectives' terms averaged over `batches`.

  Raises:
    ValueError: `batches` is empty (a split smaller than one global batch).
  """
  metrics = [jax.device_get(p_eval_step(state.generator.params, state.critic.params, batch, key))
             for batch in batches]
  if not metrics:
    raise ValueError("no evaluation batch: the test split holds fewer examples than"
                     " one global batch")
  return mean_metrics(metrics)


def write_samples(writer: summaries.Writer, p_sample_step: Callable,
                  g_state: train_state.TrainState, batch: losses.Batch, *, step: int,
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


def suite_line(step: int, scores: Mapping[str, float]) -> str:
  """A log line: the suite's mean and worst gain, mean leak, the mean gain
  when asked for no change, and each edit's gain."""
  edits = ", ".join(f"{name}={scores[f'{name}/gain']:.2f}" for name in edit_suite.SUITE)
  return (f"edit suite at step {step}: gain_mean={scores['gain_mean']:.3f}"
          f" gain_min={scores['gain_min']:.3f} leak_mean={scores['leak_mean']:.4f}"
          f" gain_unasked_mean={scores['gain_unasked_mean']:.3f}; {edits}")


def local_copy(tree: Any) -> Any:
  """This process's copy of replicated arrays, on one device: what a jitted
  function of one device (the edit suite's generator) takes."""
  return jax.tree.map(lambda x: x.addressable_data(0), tree)


def generator_editor(g_state: train_state.TrainState) -> Callable[[Any], edit_suite.EditFn]:
  """params → the generator as an `edit_suite.EditFn` (on this process's
  copy of the parameters), compiled once for all of them."""
  generate = jax.jit(lambda p, x, t: g_state.apply_fn({"params": p}, x, t).image)
  return lambda params: edit_suite.generator_edit_fn(generate, local_copy(params))


def append_json_line(path: str, record: Mapping[str, Any]) -> None:
  """Appends `record` as one JSON line (process 0 only): a curve a script reads
  without TensorBoard."""
  if jax.process_index() != 0:
    return
  with open(path, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")
