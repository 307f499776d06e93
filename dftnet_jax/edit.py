"""Editing faces with a trained generator: the library and the photo CLI.

    model = dftnet_jax.load_params("workdirs/synthetic")   # latest checkpoint
    happy = dftnet_jax.edit(model, face, "happy")          # or "AU12=1,AU25=0.5",
                                                           # {"AU12": 1.0}, (17,) or (N, 17)

Images follow DESIGN §1 at this boundary: uint8 [0, 255] or float [0, 1], one
(H, W, 3) or a batch (N, H, W, 3), of the model's size; results come back in
the caller's dtype, range and rank, as numpy arrays.

From the command line, on a photo (the largest face is found, cropped to the
model's input, edited, and pasted back):

    python -m dftnet_jax.edit --workdir=workdirs/synthetic --image=photo.jpg \\
        --expression=happy --out=out.png [--interpolate=0.5,0.75,1] [--grid=grid.png]

This module is callable: `dftnet_jax.edit(...)` is `dftnet_jax.edit.edit(...)`
whichever way it was imported (see the end of the file).
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import os
import sys
import types
from typing import Any, NamedTuple

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from dftnet_jax import aus as aus_lib
from dftnet_jax import checkpoints
from dftnet_jax import cli
from dftnet_jax import figures
from dftnet_jax import images as images_lib
from dftnet_jax import logs
from dftnet_jax import models
from dftnet_jax import photos
from dftnet_jax.data_tools import face_crop

# How far into the face box the pasted edit fades in, as a fraction of its side.
FEATHER = 0.125


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


class Edited(NamedTuple):
  """An edit with its intermediates, in the caller's conventions.

  Attributes:
    image: the result, the input's dtype, range and rank.
    aligned: the source warped by the flow (the source itself in GANimation),
      as `image`.
    texture: the synthesised texture (GANimation: its colour mask), as
      `image`; None in the warp-only ablation.
    attention: float32 [..., H, W, 1] in [0, 1]; 1 keeps the aligned source.
      None in the warp-only ablation.
    flow: float32 [..., H, W, 2], normalised (x, y) offsets (DESIGN §1);
      None in GANimation.
  """
  image: np.ndarray
  aligned: np.ndarray
  texture: np.ndarray | None
  attention: np.ndarray | None
  flow: np.ndarray | None


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
        " faces: crop and resize the face first (python -m dftnet_jax.edit does so for photos)")
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
         intermediates: bool = False) -> np.ndarray | Edited:
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
    `intermediates`, an `Edited`.

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
  return Edited(to_caller(out.image), to_caller(out.aligned), optional(to_caller, out.texture),
                optional(unbatch, out.attention), optional(unbatch, out.flow))


def edit_series(params: EditModel, img: Any, aus_series: np.ndarray, *,
                intermediates: bool = False) -> np.ndarray | Edited:
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


def feather_mask(size: int, feather: float = FEATHER) -> np.ndarray:
  """float32 [size, size]: 1 inside, easing to 0 at the border over
  `feather * size` pixels (smoothstep), so a pasted edit has no seam."""
  centres = np.arange(size) + 0.5
  ramp = np.clip(np.minimum(centres, size - centres) / max(feather * size, 1.0), 0.0, 1.0)
  ramp = ramp * ramp * (3.0 - 2.0 * ramp)
  return np.minimum.outer(ramp, ramp).astype(np.float32)


def paste(photo: np.ndarray, box: face_crop.Box, crop: np.ndarray,
          edited: np.ndarray) -> np.ndarray:
  """The photo with the edit of its face crop pasted into `box`.

  What is pasted is the change the edit made (edited − crop), resized to the
  box and faded in by `feather_mask`: where the model changed nothing the
  photo keeps its own resolution, instead of the model's upsampled one.

  Args:
    photo: uint8 [H, W, 3].
    box: the crop's box in the photo; it may reach past the edges.
    crop: uint8 [S, S, 3], `face_crop.crop_face(photo, box, S)`.
    edited: uint8 [S, S, 3], the edited crop.

  Returns:
    uint8 [H, W, 3]; pixels outside `box` are the photo's, unchanged.
  """
  change = edited.astype(np.float32) - crop.astype(np.float32)
  change = (np.asarray(jax.image.resize(change, (box.size, box.size, 3), "linear"))
            * feather_mask(box.size)[..., None])
  height, width = photo.shape[:2]
  y0, y1 = max(box.top, 0), min(box.top + box.size, height)
  x0, x1 = max(box.left, 0), min(box.left + box.size, width)
  out = photo.copy()
  inside = change[y0 - box.top:y1 - box.top, x0 - box.left:x1 - box.left]
  out[y0:y1, x0:x1] = np.clip(np.round(photo[y0:y1, x0:x1] + inside), 0, 255).astype(np.uint8)
  return out


class PhotoEdit(NamedTuple):
  """`edit_photo`'s result.

  Attributes:
    photos: uint8 [L, H, W, 3], the photo with each edit pasted in.
    crop: uint8 [S, S, 3], the face as the model saw it.
    edited: the crop's edits with intermediates, [L, S, S, ...].
  """
  photos: np.ndarray
  crop: np.ndarray
  edited: Edited


def edit_photo(params: EditModel, photo: np.ndarray, box: face_crop.Box,
               aus_series: np.ndarray) -> PhotoEdit:
  """Edits the face in `box` (e.g. `face_crop.detect_face(photo)`) of a photo
  once per row of `aus_series` [L, 17] and pastes each edit back (`paste`)."""
  crop = face_crop.crop_face(photo, box, params.image_size)
  edited = edit(params, np.broadcast_to(crop, (len(aus_series),) + crop.shape), aus_series,
                intermediates=True)
  photos = np.stack([paste(photo, box, crop, image) for image in edited.image])
  return PhotoEdit(photos, crop, edited)


FLAGS = flags.FLAGS


def _define_flags() -> None:
  """The CLI's flags, defined only when it runs: importing the library must
  not claim flag names (such as --workdir) in the importer's absl flags."""
  flags.DEFINE_string("workdir", None, "A training workdir, its checkpoints/ directory or"
                      " one checkpoints/<step> directory.")
  flags.DEFINE_integer("step", None, "The checkpoint step; default: the latest.")
  flags.DEFINE_string("image", None, "The photo to edit.")
  flags.DEFINE_enum("expression", None, list(aus_lib.EMOTIONS), "Target: a discrete emotion.")
  flags.DEFINE_string("aus", None, 'Target AUs, e.g. "AU12=1,AU25=0.5" (others are 0).')
  flags.DEFINE_string("source_aus", "", "The photo's own AUs, where --interpolate starts;"
                      " default: neutral (the paper's §3.4 scaling of the target).")
  flags.DEFINE_list("interpolate", None, "Levels from the source AUs (0) to the target"
                    " (1), e.g. 0.5,0.75,1: one photo per level, OUT_<level>.png.")
  flags.DEFINE_string("out", None, "Where the edited photo goes.")
  flags.DEFINE_string("grid", None, "Also write source | aligned | texture | attention |"
                      " result of the face crop here (one row per level).")
  flags.mark_flags_as_required(["workdir", "image", "out"])
  flags.mark_flags_as_mutual_exclusive(["expression", "aus"], required=True)


def _level_path(out: str, level: float) -> str:
  root, extension = os.path.splitext(out)
  return f"{root}_{level:g}{extension}"


def _targets() -> tuple[np.ndarray, list[float] | None]:
  """The AU series the flags ask for, [L, 17], and the levels if any."""
  target = (aus_lib.emotion(FLAGS.expression) if FLAGS.expression
            else aus_lib.parse(FLAGS.aus, name="--aus"))
  if FLAGS.interpolate is None:
    return target[None], None
  try:
    levels = [float(level) for level in FLAGS.interpolate]
  except ValueError:
    raise ValueError(f"--interpolate takes numbers, got {','.join(FLAGS.interpolate)}") from None
  source = aus_lib.parse(FLAGS.source_aus, name="--source_aus")
  return aus_lib.interpolate(source, target, levels), levels


def _check_image_path(flag: str, path: str) -> None:
  """Before any work: PIL picks the format by the extension, and its error
  for a missing one names neither the flag nor the path."""
  extension = os.path.splitext(path)[1].lower()
  if extension not in Image.registered_extensions():
    raise ValueError(f"--{flag}={path}: the file name needs an image extension such as"
                     f" .png or .jpg (got {extension or 'none'!r})")


def _run() -> None:
  for flag in ("out", "grid"):
    if FLAGS[flag].value:
      _check_image_path(flag, FLAGS[flag].value)
  photo = photos.read_photo(FLAGS.image)
  boxes = face_crop.detect_faces(photo)
  if not boxes:
    raise ValueError(f"no face found in {FLAGS.image}")
  if len(boxes) > 1:
    print(f"{len(boxes)} faces in {FLAGS.image}: editing the largest, {boxes[0]}")
  series, levels = _targets()
  result = edit_photo(load_params(FLAGS.workdir, step=FLAGS.step), photo, boxes[0], series)
  paths = [FLAGS.out] if levels is None else [_level_path(FLAGS.out, x) for x in levels]
  for path, edited in zip(paths, result.photos):
    Image.fromarray(edited).save(path)
    print(f"wrote {path}")
  if FLAGS.grid:
    crops = np.broadcast_to(result.crop, result.edited.image.shape)
    Image.fromarray(figures.image_grid(crops, result.edited, value_range=(0, 255))).save(
        FLAGS.grid)
    print(f"wrote {FLAGS.grid}")


@cli.report_errors
def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logs.quiet_libraries()
  _run()


class _CallableModule(types.ModuleType):
  """`dftnet_jax.edit` is both this module and the function `edit` (the
  package's public name for it): importing the submodule binds the package
  attribute to the module, so the module itself answers calls."""

  def __call__(self, *args, **kwargs):
    return edit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
  _define_flags()
  app.run(main)
