"""Editing faces with a trained generator: the library.

    model = dftnet_jax.load_params("workdirs/synthetic")   # latest checkpoint
    happy = dftnet_jax.edit(model, face, "happy")          # or "AU12=1,AU25=0.5",
                                                           # {"AU12": 1.0}, (17,) or (N, 17)

Images follow DESIGN §1 at this boundary: uint8 [0, 255] or float [0, 1], one
(H, W, 3) or a batch (N, H, W, 3), of the model's size; results come back in
the caller's dtype, range and rank, as numpy arrays. Photos (finding the
face, pasting the edit back) and the command line are `photo`'s.
"""

from __future__ import annotations

import functools
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dftnet_jax import aus as aus_lib
from dftnet_jax import checkpoints
from dftnet_jax import images as images_lib
from dftnet_jax import models


class EditModel(NamedTuple):
  """A generator ready to edit: what `load_params` returns and `edit` takes.

  Attributes:
    params: the generator's parameters.
    model_config: the run's `config.model` (variant, widths, image size).
    step: the checkpoint's training step.
  """
  params: Any
  model_config: ml_collections.FrozenConfigDict
  step: int

  @property
  def generator(self) -> models.Generator:
    return models.create_generator(self.model_config)

  @property
  def image_size(self) -> int:
    return self.model_config.image_size


def _locate(path: str, step: int | None) -> tuple[str, int | None]:
  """(workdir, step) from a workdir, its checkpoints/ or a checkpoints/<step>."""
  path = os.path.abspath(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f"{path} is not a directory: expected a training workdir, its"
        f" {checkpoints.CHECKPOINTS_DIR}/ directory or one {checkpoints.CHECKPOINTS_DIR}/<step>")
  parent, name = os.path.split(path)
  if name.isdigit() and os.path.basename(parent) == checkpoints.CHECKPOINTS_DIR:
    if step is not None and step != int(name):
      raise ValueError(f"step={step} contradicts the checkpoint directory {path}")
    return os.path.dirname(parent), int(name)
  if name == checkpoints.CHECKPOINTS_DIR:
    return parent, step
  return path, step


def load_params(path: str, *, step: int | None = None,
                device: jax.Device | None = None) -> EditModel:
  """Restores a trained generator for `edit`.

  Only the generator's parameters are read (no optimiser state, no critic);
  the model is rebuilt from the run's `config.json`, so no config file is
  needed by hand.

  A damaged checkpoint (a file truncated or missing) is skipped with a
  warning for the newest intact one, unless `step` (or `path`) names it.

  Args:
    path: a training workdir, its `checkpoints/` directory, or one
      `checkpoints/<step>` directory.
    step: the checkpoint to restore; default: the one `path` names, else the
      latest.
    device: where the parameters go; default: the first device (any
      checkpoint restores on any device, whatever device count saved it).

  Returns:
    The parameters with the model config and step.

  Raises:
    FileNotFoundError: `path` is not a directory, has no config.json beside
      its checkpoints, or holds no (such) checkpoint.
    ValueError: `step` contradicts the checkpoint directory given, or the
      config.json is broken.
    checkpoints.DamagedCheckpointError: no checkpoint can be read back, or
      the one asked for is damaged.
  """
  workdir, step = _locate(path, step)
  config = checkpoints.load_config(workdir)
  manager = checkpoints.create_manager(workdir, config, read_only=True)
  try:
    generator = models.create_generator(config.model)
    size = config.model.image_size
    shapes = jax.eval_shape(generator.init, jax.random.key(0),
                            jnp.zeros((1, size, size, 3)), jnp.zeros((1, aus_lib.NUM_AUS)))
    sharding = jax.sharding.SingleDeviceSharding(device or jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                            shapes["params"])
    found = checkpoints.newest_intact(
        manager, lambda s: checkpoints.restore_params(manager, s, "g_state", abstract),
        step=step)
  finally:
    manager.close()
  if found is None:
    raise FileNotFoundError(f"no checkpoint in {manager.directory}")
  step, params, _ = found
  return EditModel(params, ml_collections.FrozenConfigDict(config.model), step)


@functools.partial(jax.jit, static_argnums=0)
def _generate(generator: models.Generator, params: Any, images: jax.Array,
              targets: jax.Array) -> models.GeneratorOutput:
  """Compiled once per generator and input shape."""
  return generator.apply({"params": params}, images, targets)


def _model_images(arr: np.ndarray, size: int) -> tuple[np.ndarray, bool]:
  """Checked caller images as float32 [N, size, size, 3] in [-1, 1], and
  whether a single image was given."""
  if arr.ndim not in (3, 4) or arr.shape[-1] != 3:
    raise ValueError(f"img must be one RGB image (H, W, 3) or a batch (N, H, W, 3),"
                     f" got shape {arr.shape}")
  single = arr.ndim == 3
  batch = arr[None] if single else arr
  if not batch.shape[0]:
    raise ValueError("img is an empty batch (0 images)")
  if batch.shape[1:3] != (size, size):
    raise ValueError(
        f"img is {batch.shape[1]}x{batch.shape[2]} but this model edits {size}x{size}"
        " faces: crop and resize the face first (python -m dftnet_jax.photo does so for photos)")
  if arr.dtype == np.uint8:
    return images_lib.from_uint8(batch), single
  if not np.issubdtype(arr.dtype, np.floating):
    raise ValueError(f"img must be uint8 in [0, 255] or float in [0, 1], got dtype {arr.dtype}")
  if not np.all(np.isfinite(batch)):
    raise ValueError("img contains NaN or infinite values")
  lo, hi = float(batch.min()), float(batch.max())
  if lo < 0.0 or hi > 1.0:
    raise ValueError(f"float img must lie in [0, 1] (uint8 for 0-255), got values in"
                     f" [{lo:g}, {hi:g}]")
  return images_lib.from_unit(batch), single


def _target_aus(aus: aus_lib.AuSpec, num_images: int, single: bool) -> np.ndarray:
  """Checked target AUs as float32 [num_images, 17]."""
  targets = aus_lib.as_array(aus)
  if targets.ndim == 1:
    return np.broadcast_to(targets, (num_images, aus_lib.NUM_AUS))
  if targets.shape == (num_images, aus_lib.NUM_AUS) and not single:
    return targets
  wanted = "(17,)" if single else f"(17,) or one row per image ({num_images}, 17)"
  raise ValueError(f"aus must be {wanted} for {'one image' if single else f'{num_images} images'},"
                   f" got shape {targets.shape}")


def edit(params: EditModel, img: Any, aus: aus_lib.AuSpec, *,
         intermediates: bool = False) -> np.ndarray | models.GeneratorOutput:
  """Edits faces towards target AUs.

  Args:
    params: from `load_params`.
    img: uint8 [0, 255] or float [0, 1], (H, W, 3) or (N, H, W, 3), H = W =
      the model's image size.
    aus: the target AUs: an expression name (`aus.EMOTIONS`: "happy", ...),
      a string "AU12=0.8,AU25=0.4", a dict {"AU12": 0.8} (AUs not named are
      0), or an array in [0, 1]: (17,) for every image or (N, 17).
    intermediates: also return the aligned image, texture, attention, flow.

  Returns:
    The edited image(s) in the input's dtype, range and rank; with
    `intermediates`, a `models.GeneratorOutput` of numpy arrays in the
    caller's conventions: image, aligned and texture in the input's dtype,
    range and rank; attention float32 [..., H, W, 1] in [0, 1]; the flow
    float32 [..., H, W, 2], normalised offsets (DESIGN §1); None where the
    variant has none.

  Raises:
    ValueError: a wrong shape or size, a dtype other than uint8 or float,
      NaN, values out of range, or unknown AU or expression names.
  """
  if not isinstance(params, EditModel):
    raise TypeError(f"params must be what load_params returns, got {type(params).__name__}")
  img = np.asarray(img)
  images, single = _model_images(img, params.image_size)
  targets = _target_aus(aus, len(images), single)
  out = jax.device_get(_generate(params.generator, params.params, images, targets))
  unbatch = (lambda x: x[0]) if single else (lambda x: x)

  def to_caller(x: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
      return unbatch(images_lib.to_uint8(x))
    return unbatch(np.clip(images_lib.to_unit(x), 0.0, 1.0).astype(img.dtype))

  if not intermediates:
    return to_caller(out.image)
  optional = lambda f, x: None if x is None else f(x)
  return models.GeneratorOutput(
      to_caller(out.image), to_caller(out.aligned), optional(to_caller, out.texture),
      optional(unbatch, out.attention), optional(unbatch, out.flow))


def edit_series(params: EditModel, img: Any, aus_series: np.ndarray, *,
                intermediates: bool = False) -> np.ndarray | models.GeneratorOutput:
  """`edit` once per row of `aus_series`, stacked on a new leading axis.

  For the paper's experiments: `aus.interpolate(source, target)` (§3.4,
  Fig. 5) and `aus.sweep(base, "AU45")` (§3.3, Fig. 3) make the series.

  Args:
    params: from `load_params`.
    img: as for `edit`.
    aus_series: [L, 17], or [L, N, 17] for a batch of N images.
    intermediates: as for `edit`.

  Returns:
    [L, ...] stacks of what `edit` returns.
  """
  series = aus_lib.validate(aus_series, name="aus_series")
  if series.ndim < 2:
    raise ValueError(f"aus_series must be [L, 17] or [L, N, 17], got shape {series.shape}")
  results = [edit(params, img, aus, intermediates=intermediates) for aus in series]
  return jax.tree.map(lambda *x: np.stack(x), *results)
