"""Checks of a training config, made before a run writes or compiles anything.

A mistake in a config should cost the user one line of error, naming the
field and its value, not a library's traceback half a minute into a run, and
never the run's files: `train.train_and_evaluate` calls `check_config` (and,
on resume, `check_same_shapes`; once the data is known, `check_resolution`)
before it touches the workdir.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import ml_collections
import tensorflow_datasets as tfds

from dftnet_jax import aus as aus_lib
from dftnet_jax import losses
from dftnet_jax import models
from dftnet_jax import parallel
from dftnet_jax import states
from dftnet_jax import steps
from dftnet_jax.cpu_conv import policy


class ConfigError(ValueError):
  """A config field's value that no run can use."""


# Fields a run cannot do without at least one of.
_POSITIVE_INTS = (
    "num_train_steps", "batch_size", "n_critic", "log_every_steps", "image_every_steps",
    "eval_every_steps", "num_eval_batches", "num_grid_images", "checkpoint_every_steps",
    "keep_checkpoints", "model.image_size", "model.g_width", "model.d_width",
    "model.d_layers", "model.flow_grid")
_NON_NEGATIVE_INTS = ("model.g_res_blocks", "suite_faces", "critic_head_start",
                      "generator_warmup_steps", "critic_au_pretrain_steps")
_POSITIVE_FLOATS = ("learning_rate", "d_learning_rate", "critic_au_pretrain_rate",
                    "loss.huber_delta")
_NON_NEGATIVE_FLOATS = ("target_au_noise", "critic_shift", "critic_noise")
# Adam's betas are decay rates. (The schedules check their own fields:
# `lr_decay_fraction`, `critic_head_start`, `generator_warmup_steps`.)
_UNIT_INTERVAL = ("adam_b1", "adam_b2")

# Fields with a closed set of values, and that set.
_CHOICES: Mapping[str, Sequence[str]] = {
    "model.variant": models.VARIANTS,
    "model.upsampling": models.UPSAMPLINGS,
    "model.au_conditioning": models.AU_CONDITIONINGS,
    "model.d_kernel_init": tuple(models.CRITIC_INITS),
    "model.conv_impl": policy.IMPLS,
    "model.dtype": ("float32", "bfloat16"),
    "loss.au_mse": losses.AU_MSES,
    "loss.gan": losses.GANS,
    "loss.gp_reduction": losses.REDUCTIONS,
    "loss.tv_reduction": losses.REDUCTIONS,
    "loss.tv_units": losses.FLOW_UNITS,
    "loss.regulariser_passes": losses.REGULARISER_PASSES,
    "loss.cycle_distance": losses.PIXEL_DISTANCES,
    "loss.cond_reference": losses.COND_REFERENCES,
    "loss.paired_distance": losses.PIXEL_DISTANCES,
    "critic_update": steps.CRITIC_UPDATES,
    "parallelism": parallel.PARALLELISMS,
}


def _get(config: ml_collections.ConfigDict, field: str) -> Any:
  """The value of a dotted field; None where the config (an old one) lacks it."""
  value = config
  for name in field.split("."):
    if name not in value:
      return None
    value = value[name]
  return value


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _range_errors(config: ml_collections.ConfigDict) -> list[str]:
  errors = []
  for fields, test, wanted in (
      (_POSITIVE_INTS, lambda v: isinstance(v, int) and v > 0, "a positive integer"),
      (_NON_NEGATIVE_INTS, lambda v: isinstance(v, int) and v >= 0, "an integer ≥ 0"),
      (_POSITIVE_FLOATS, lambda v: _is_number(v) and v > 0, "a number > 0"),
      (_NON_NEGATIVE_FLOATS, lambda v: _is_number(v) and v >= 0, "a number ≥ 0"),
      (_UNIT_INTERVAL, lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]")):
    for field in fields:
      value = _get(config, field)
      if value is not None and (isinstance(value, bool) or not test(value)):
        errors.append(f"config.{field} must be {wanted}, got {value!r}")
  weights = config.get("loss", {})
  for name, value in weights.items():
    # A loss field with a range of its own above (a scale) is not a weight.
    if f"loss.{name}" not in _POSITIVE_FLOATS and _is_number(value) and value < 0:
      errors.append(f"config.loss.{name} is a loss weight and must be ≥ 0, got {value!r}")
  return errors


def _choice_errors(config: ml_collections.ConfigDict) -> list[str]:
  errors = []
  for field, choices in _CHOICES.items():
    value = _get(config, field)
    if value is not None and value not in choices:
      errors.append(f"config.{field} must be one of {tuple(choices)}, got {value!r}")
  return errors


def _shape_errors(config: ml_collections.ConfigDict, num_devices: int) -> list[str]:
  errors = []
  size, layers = config.model.image_size, config.model.d_layers
  if size % max(4, 2 ** layers):
    errors.append(
        f"config.model.image_size = {size} must be a multiple of 4 (the generator's two"
        f" downsamplings) and of 2**config.model.d_layers = {2 ** layers} (the critic's)")
  flow_grid = config.model.get("flow_grid", 1)
  if isinstance(flow_grid, int) and flow_grid > 0 and size % flow_grid:
    errors.append(f"config.model.flow_grid = {flow_grid} must divide config.model.image_size ="
                  f" {size} (the flow's blocks tile the image)")
  if config.batch_size % num_devices:
    errors.append(
        f"config.batch_size = {config.batch_size} must be a multiple of the {num_devices}"
        f" devices it is split over")
  try:
    states.generator_learning_rate_fn(config)
    states.critic_learning_rate_fn(config)
  except ValueError as e:
    errors.append(str(e))
  return errors


def _projection_errors(config: ml_collections.ConfigDict) -> list[str]:
  mismatch = config.loss.get("mismatch", 0.0)
  if not (_is_number(mismatch) and 0 <= mismatch < 1):
    return [f"config.loss.mismatch is a share of the critic's fakes and must be in [0, 1),"
            f" got {mismatch!r}"]
  if mismatch and not config.model.get("d_projection", False):
    return [f"config.loss.mismatch = {mismatch!r} pairs real faces with other faces' AUs,"
            " which only a critic that reads AUs can reject: set config.model.d_projection"
            " = True"]
  return []


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Every field that can be checked without the data or the workdir.

  Args:
    config: a training config (configs/default.py documents its fields).
    num_devices: the devices the global batch is split over.

  Raises:
    ConfigError: naming every bad field with its value (one line, the
      fields separated by semicolons).
  """
  errors = _range_errors(config) + _choice_errors(config)
  if not errors:  # The shapes' arithmetic needs sane numbers.
    errors = _shape_errors(config, num_devices) + _projection_errors(config)
  if errors:
    raise ConfigError("; ".join(errors))


def check_resolution(config: ml_collections.ConfigDict, dataset: str, resolution: int) -> None:
  """The model's image size against the images the dataset holds.

  Raises:
    ConfigError: they differ.
  """
  if config.model.image_size != resolution:
    raise ConfigError(
        f"config.model.image_size = {config.model.image_size} but the dataset {dataset}"
        f" holds {resolution}×{resolution} images: set one to the other")


def _parameter_shapes(model: ml_collections.ConfigDict) -> Any:
  """The shapes of both networks' parameters under a model config."""
  size = model.image_size
  image = jax.ShapeDtypeStruct((1, size, size, 3), "float32")
  aus = jax.ShapeDtypeStruct((1, aus_lib.NUM_AUS), "float32")
  key = jax.random.key(0)
  generator = jax.eval_shape(models.create_generator(model).init, key, image, aus)
  critic = jax.eval_shape(models.create_discriminator(model).init, key, image, aus)
  return jax.tree.map(lambda x: x.shape, (generator, critic))


def check_same_shapes(saved: ml_collections.ConfigDict, config: ml_collections.ConfigDict,
                      path: str, doing: str = "resume") -> None:
  """Refuses a config whose parameters have other shapes than a run's.

  Args:
    saved: the config the run saved (its config.json).
    config: the config of the command that would resume (or evaluate) it.
    path: the saved config's file, for the message.
    doing: what the command would do with the run, for the message.

  Raises:
    ConfigError: the parameters' shapes differ; names each model field that
      differs, with the saved and the new value.
  """
  if _parameter_shapes(saved.model) == _parameter_shapes(config.model):
    return
  changed = [f"config.model.{name}: saved {saved.model.get(name)!r}, now {value!r}"
             for name, value in config.model.items() if saved.model.get(name) != value]
  raise ConfigError(
      f"refusing to {doing} the run of {path} with parameters of other shapes ("
      f"{'; '.join(changed) or 'the model fields are equal but the shapes differ'});"
      f" keep the saved values or train in another --workdir")


def check_data(config: ml_collections.ConfigDict, builder: tfds.core.DatasetBuilder) -> None:
  """The model's image size against the dataset's, and a training split
  that holds at least one global batch."""
  check_resolution(config, builder.info.full_name,
                                 builder.info.features["image"].shape[0])
  train_size = builder.info.splits["train"].num_examples if "train" in builder.info.splits else 0
  if train_size < config.batch_size:
    raise ConfigError(
        f"the dataset {builder.info.full_name} holds {train_size} training examples, fewer"
        f" than one batch (config.batch_size = {config.batch_size})")
