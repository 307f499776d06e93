"""Scores a checkpoint: losses, edit metrics, and the paper's figures.

`python -m dftnet_jax.main --mode=evaluate` runs `evaluate`. Every test face
is edited towards the input pipeline's target AUs for it (another test face's
AUs plus noise, seeded by `config.seed`: the training distribution) and
scored, besides both networks' losses (`steps.eval_step`, with the mean
attention):

* unpaired, on any data: the cycle reconstruction's L1 to the source
  (identity preservation), the critic's AU-regression MSE on the edits (does
  the edit show the target AUs?) and on the real faces (the critic's own
  accuracy, for reference);
* paired, on the synthetic faces: the renderer draws the same identity with
  the target AUs, the edit's ground truth. L1 and PSNR to it over the whole
  image and over the eyes and the mouth (`faces.SCORED_REGIONS`), and the
  same for the "copy the source" baseline (the unedited source against the
  same ground truth), which any useful edit must beat.

Images are scored in [0, 1]; errors are pooled over the split (`metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import functools
import itertools
import json
import os
from typing import Any

from absl import logging
from flax.training import train_state
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from dftnet_jax import au_reader
from dftnet_jax import aus as aus_lib
from dftnet_jax import checkpoints
from dftnet_jax import config_checks
from dftnet_jax import edit_suite
from dftnet_jax import faces
from dftnet_jax import figures
from dftnet_jax import files
from dftnet_jax import images as images_lib
from dftnet_jax import input_pipeline
from dftnet_jax import losses
from dftnet_jax import metrics
from dftnet_jax import parallel
from dftnet_jax import reporting
from dftnet_jax import states
from dftnet_jax import steps
from dftnet_jax import summaries

def edit_step(g_params: Any, d_params: Any, batch: losses.Batch, *, g_apply: losses.ApplyFn,
              d_apply: losses.ApplyFn) -> dict[str, jax.Array]:
  """The edit, its cycle back, and the critic's AU estimates (per-device body).

  Returns:
    'edited' and 'cycled' [B, H, W, 3] in [-1, 1]; the critic's AUs of the
    edits 'edit_aus' and of the sources 'real_aus' [B, 17].
  """
  edited, cycled = steps.sample_step(g_params, batch, g_apply=g_apply)
  _, predicted = d_apply({"params": d_params}, jnp.concatenate([edited.image, batch["image"]]),
                         jnp.concatenate([batch["target_aus"], batch["aus"]]))
  edit_aus, real_aus = jnp.split(predicted, 2)
  return {"edited": edited.image, "cycled": cycled, "edit_aus": edit_aus, "real_aus": real_aus}


def parallel_edit_step(config: ml_collections.ConfigDict, g_apply: losses.ApplyFn,
                       d_apply: losses.ApplyFn) -> Callable:
  """`edit_step` on every device, as `config.parallelism` says
  (`parallel.parallelize`): edit(g_params, d_params, batch [D, B, ...]) →
  outputs [D, B, ...]."""
  return parallel.parallelize(functools.partial(edit_step, g_apply=g_apply, d_apply=d_apply),
                              config, in_axes=(None, None, 0), out_axes=0)


def _flat(x: np.ndarray) -> np.ndarray:
  """[D, B, ...] device-split arrays as [D·B, ...]."""
  return np.asarray(x).reshape(-1, *np.shape(x)[2:])


def ground_truth(identities: np.ndarray, target_aus: np.ndarray, size: int) -> np.ndarray:
  """The synthetic faces drawn with the target AUs: uint8 [N, size, size, 3]."""
  return np.stack([faces.render(identity, target, size)
                   for identity, target in zip(identities, target_aus)])


def batch_errors(batch: losses.Batch, outputs: Mapping[str, np.ndarray], *,
                 paired: bool) -> dict[str, metrics.Errors]:
  """One batch's errors (see the module docstring).

  Args:
    batch: 'image', 'aus', 'target_aus' and, if `paired`, 'identity', [N, ...].
    outputs: `edit_step`'s outputs for the batch, [N, ...].
    paired: score against the renderer's ground truth too.

  Returns:
    Name -> errors: 'cycle', 'edit_au', 'real_au', and if paired 'edit',
    'copy', 'edit_eyes', 'copy_eyes', 'edit_mouth', 'copy_mouth', and
    the sums behind gain and leak (`edit_suite`): 'edit_changed' and
    'copy_changed' (to the truth, inside each face's changed pixels) and
    'leak' (the edit to the source, outside them).
  """
  source = images_lib.to_unit(batch["image"])
  errors = {
      "cycle": metrics.Errors.of(images_lib.to_unit(outputs["cycled"]), source),
      "edit_au": metrics.Errors.of(outputs["edit_aus"], batch["target_aus"]),
      "real_au": metrics.Errors.of(outputs["real_aus"], batch["aus"]),
  }
  if paired:
    size = source.shape[1]
    truth = images_lib.uint8_to_unit(ground_truth(batch["identity"], batch["target_aus"], size))
    edited = images_lib.to_unit(outputs["edited"])
    regions = {"": None, **{f"_{name}": mask for name, mask
                            in faces.region_masks(batch["identity"], size).items()}}
    for suffix, mask in regions.items():
      errors[f"edit{suffix}"] = metrics.Errors.of(edited, truth, mask)
      errors[f"copy{suffix}"] = metrics.Errors.of(source, truth, mask)
    changed = edit_suite.changed_mask(source, truth)
    errors["edit_changed"] = metrics.Errors.of(edited, truth, changed)
    errors["copy_changed"] = metrics.Errors.of(source, truth, changed)
    errors["leak"] = metrics.Errors.of(edited, source, ~changed)
  return errors


def summarise(errors: Mapping[str, metrics.Errors]) -> dict[str, float]:
  """Errors as named metrics: `<name>_l1` and `<name>_psnr` for images,
  `<name>_mse` for AUs; with the changed-pixel sums, 'gain' and 'leak' of
  the split's edits (`edit_suite`)."""
  errors = dict(errors)
  out = {}
  if "edit_changed" in errors:
    edit, copy = errors.pop("edit_changed"), errors.pop("copy_changed")
    out["gain"] = 1.0 - edit.abs_sum / copy.abs_sum if copy.abs_sum else float("nan")
    out["leak"] = errors.pop("leak").l1
  for name, error in errors.items():
    if name.endswith("_au"):
      out[f"{name}_mse"] = error.mse
    else:
      out[f"{name}_l1"] = error.l1
      out[f"{name}_psnr"] = error.psnr()
  return out


def _sum_over_processes(errors: Mapping[str, metrics.Errors]) -> dict[str, metrics.Errors]:
  """Each process scored its share of the split; every process gets the sums."""
  names = sorted(errors)
  local = np.array([[errors[n].abs_sum, errors[n].sq_sum, errors[n].count] for n in names])
  total = np.sum(multihost_utils.process_allgather(local), axis=0)
  return {name: metrics.Errors(*map(float, row)) for name, row in zip(names, total)}


def edit_metrics(p_edit_step: Callable, g_params: Any, d_params: Any,
                 batches: Iterable[losses.Batch], *, paired: bool) -> dict[str, float]:
  """The edit metrics over `batches` ([D, B, ...], e.g. the test split).

  Raises:
    ValueError: `batches` is empty.
  """
  totals: dict[str, metrics.Errors] = {}
  for batch in batches:
    outputs = jax.device_get(p_edit_step(g_params, d_params, batch))
    errors = batch_errors(jax.tree.map(_flat, batch), jax.tree.map(_flat, outputs),
                          paired=paired)
    totals = {name: totals.get(name, metrics.Errors()) + error for name, error in errors.items()}
  if not totals:
    raise ValueError("no evaluation batch: the test split holds fewer examples than"
                     " one global batch")
  return summarise(_sum_over_processes(totals))


def paper_figures(generate: Callable, g_params: Any, batch: losses.Batch, *, num_images: int,
                  paired: bool) -> dict[str, np.ndarray]:
  """The paper's Figs. 3-5 on the first faces of a batch, as uint8 images.

  Args:
    generate: the generator's apply function (jitted).
    g_params: its parameters.
    batch: [N, ...] with 'image', 'aus', 'target_aus' (and 'identity' if
      `paired`).
    num_images: faces (rows) per figure.
    paired: add the ground truth to the interpolation figure.

  Returns:
    'fig3_eyelids': source | aligned | result at AU45 = `aus.EYELID_LEVELS`
    (over the source's other AUs); 'fig4_intermediates': each face towards
    one of `aus.EMOTIONS` in turn, source | aligned | texture | attention |
    result; 'fig5_interpolation': source | result at
    `aus.INTERPOLATION_LEVELS` from the source AUs to the target AUs
    [| ground truth].
  """
  batch = {name: value[:num_images] for name, value in batch.items()}
  source = batch["image"]
  edit = lambda targets: jax.device_get(generate({"params": g_params}, source, targets))
  series = lambda all_targets: jax.tree.map(lambda *x: np.stack(x),
                                            *[edit(targets) for targets in all_targets])
  emotions = np.stack([aus_lib.emotion(name) for name in
                       itertools.islice(itertools.cycle(aus_lib.EMOTIONS), len(source))])
  truth = None
  if paired:
    truth = images_lib.from_uint8(
        ground_truth(batch["identity"], batch["target_aus"], source.shape[1]))
  return {
      "fig3_eyelids": figures.sweep_figure(source, series(aus_lib.sweep(batch["aus"], "AU45"))),
      "fig4_intermediates": figures.image_grid(source, edit(emotions)),
      "fig5_interpolation": figures.interpolation_figure(
          source, series(aus_lib.interpolate(batch["aus"], batch["target_aus"])).image, truth),
  }


# Suite faces when the run's config predates `config.suite_faces` or set it to 0.
DEFAULT_SUITE_FACES = 16


def suite_results(g_state: train_state.TrainState, size: int, *, num_faces: int,
                  read_aus: edit_suite.ReadFn | None = None
                  ) -> tuple[dict[str, float], np.ndarray]:
  """The edit suite (`edit_suite`) at `size` pixels: gain and leak per edit,
  inside the eyes and the mouth too, and the AU error of the edits if an AU
  reader is given; and its figure."""
  suite = edit_suite.suite_faces(size, num_faces)
  edit = reporting.generator_editor(g_state)(g_state.params)
  scores = edit_suite.score_suite(edit, suite,
                                  regions=faces.region_masks(suite.identities, size),
                                  read_aus=read_aus)
  return scores, edit_suite.suite_figure(edit, suite)


def restore_final(config: ml_collections.ConfigDict, workdir: str) -> checkpoints.Restored:
  """Both networks' states of the run's newest intact checkpoint, read-only.

  Raises:
    FileNotFoundError: `workdir` holds no checkpoint.
    checkpoints.DamagedCheckpointError: no checkpoint can be read back.
  """
  init_key, key, _ = states.run_keys(config)
  manager = checkpoints.create_manager(workdir, config, read_only=True)
  try:
    restored = checkpoints.restore_latest(manager, states.create_train_states(config, init_key),
                                          key)
  finally:
    manager.close()
  if restored is None:
    raise FileNotFoundError(f"no checkpoint in {manager.directory} to evaluate")
  return restored


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Scores the latest checkpoint over the whole test split.

  Writes to `workdir/test/`: TensorBoard scalars and images,
  `metrics_step_<step>.json` (the mean losses of both networks and the edit
  metrics) and, next to it, `fig3_eyelids_step_<step>.png`,
  `fig4_intermediates_step_<step>.png` and `fig5_interpolation_step_<step>.png`;
  and the training grid of the first test batch to
  `workdir/images/test_step_<step>.png`. On the synthetic faces also the
  edit suite (`edit_suite`: gain and leak per edit, in the eyes and mouth,
  and the AU error of the edits through the cached AU reader, `au_reader`,
  if one was trained for this size) as `suite/...` metrics, logged, with its
  figure `suite_step_<step>.png`; and the gain and leak of the test split's
  own edits ('gain', 'leak').

  Returns:
    Every metric.

  A damaged newest checkpoint is skipped with a warning for the newest
  intact one (`checkpoints.newest_intact`).

  Raises:
    FileNotFoundError: `workdir` holds no checkpoint.
    config_checks.ConfigError: a field no run can use, parameters of other
      shapes than the run's saved config, or an image size not the data's.
    checkpoints.DamagedCheckpointError: no checkpoint can be read back.
  """
  config_checks.check_config(config, jax.device_count())
  saved = os.path.join(workdir, checkpoints.CONFIG_FILE)
  if os.path.exists(saved):
    config_checks.check_same_shapes(checkpoints.load_config(workdir), config, saved, "evaluate")
  builder = input_pipeline.create_dataset_builder(config)
  config_checks.check_data(config, builder)
  restored = restore_final(config, workdir)
  step, state = restored.step, restored.state
  g_state = state.generator
  eval_key = states.run_keys(config)[2]
  paired = input_pipeline.is_paired(builder)
  test_batches = functools.partial(input_pipeline.split_batches, builder, config, split="test",
                                   seed=config.seed, features=("identity",) if paired else ())
  p_eval_step, p_sample_step = steps.parallel_eval_steps(config, state)
  p_edit_step = parallel_edit_step(config, g_state.apply_fn, state.critic.apply_fn)
  results = reporting.evaluate_losses(p_eval_step, state, test_batches(), eval_key)
  results.update(edit_metrics(p_edit_step, g_state.params, state.critic.params, test_batches(),
                              paired=paired))
  logdir = os.path.join(workdir, "test")
  writer = summaries.Writer(logdir)
  if paired:
    read_aus = au_reader.load_cached(config.model.image_size)
    if read_aus is None:
      logging.info("No AU reader for %d-pixel faces yet: `python -m dftnet_jax.au_reader"
                   " --size=%d` trains one (minutes, once) and adds the AU error of the"
                   " edits here.", config.model.image_size, config.model.image_size)
    suite, figure = suite_results(
        g_state, config.model.image_size, read_aus=read_aus,
        num_faces=config.get("suite_faces") or DEFAULT_SUITE_FACES)
    results.update({f"suite/{name}": value for name, value in suite.items()})
    writer.image(step, "suite", figure, os.path.join(logdir, f"suite_step_{step:06d}.png"))
    logging.info("test %s", reporting.suite_line(step, suite))
  writer.scalars(step, results)
  first = next(test_batches())
  reporting.write_samples(writer, p_sample_step, g_state, first, step=step,
                          num_images=config.num_grid_images,
                          png_path=os.path.join(workdir, "images", f"test_step_{step:06d}.png"))
  generate = jax.jit(g_state.apply_fn)
  for name, image in paper_figures(generate, jax.device_get(g_state.params),
                                   jax.tree.map(_flat, first),
                                   num_images=config.num_grid_images, paired=paired).items():
    writer.image(step, name, image, os.path.join(logdir, f"{name}_step_{step:06d}.png"))
  if jax.process_index() == 0:
    files.atomic_write(os.path.join(logdir, f"metrics_step_{step:06d}.json"),
                       json.dumps(results, indent=2, sort_keys=True).encode())
  logging.info("test %s", reporting.log_line(step, step, results))
  return results
