"""Editing a face in a photo: finding the face, pasting the edit back, and
the command line.

    python -m dftnet_jax.photo --workdir=workdirs/synthetic --image=photo.jpg \\
        --expression=happy --out=out.png [--interpolate=0.5,0.75,1] [--grid=grid.png]

The largest face is found (`data_tools.face_crop`, OpenCV: the `data`
extra), cropped to the model's input, edited (`editing.edit`) and pasted
back with a feathered edge; pixels outside the face box are left as they
were.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from typing import NamedTuple

from absl import app
from absl import flags
import jax
import numpy as np

from dftnet_jax import aus as aus_lib
from dftnet_jax import cli
from dftnet_jax import editing
from dftnet_jax import figures
from dftnet_jax import files
from dftnet_jax import logs
from dftnet_jax import models
from dftnet_jax.data_tools import face_crop

# How far into the face box the pasted edit fades in, as a fraction of its side.
FEATHER = 0.125


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
  edited: models.GeneratorOutput


def edit_photo(params: editing.EditModel, photo: np.ndarray, box: face_crop.Box,
               aus_series: np.ndarray) -> PhotoEdit:
  """Edits the face in `box` (e.g. `face_crop.detect_face(photo)`) of a photo
  once per row of `aus_series` [L, 17] and pastes each edit back (`paste`)."""
  crop = face_crop.crop_face(photo, box, params.image_size)
  edited = editing.edit(params, np.broadcast_to(crop, (len(aus_series),) + crop.shape),
                        aus_series, intermediates=True)
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
  """Before any work: the output's format comes from its extension."""
  try:
    files.image_format(path)
  except ValueError as e:
    raise ValueError(f"--{flag}={e}") from None


def _run() -> None:
  for flag in ("out", "grid"):
    if FLAGS[flag].value:
      _check_image_path(flag, FLAGS[flag].value)
  photo = face_crop.read_photo(FLAGS.image)
  boxes = face_crop.detect_faces(photo)
  if not boxes:
    raise ValueError(f"no face found in {FLAGS.image}")
  if len(boxes) > 1:
    print(f"{len(boxes)} faces in {FLAGS.image}: editing the largest, {boxes[0]}")
  series, levels = _targets()
  model = editing.load_params(FLAGS.workdir, step=FLAGS.step)
  result = edit_photo(model, photo, boxes[0], series)
  paths = [FLAGS.out] if levels is None else [_level_path(FLAGS.out, x) for x in levels]
  for path, edited in zip(paths, result.photos):
    files.write_image(path, edited)
    print(f"wrote {path}")
  if FLAGS.grid:
    crops = np.broadcast_to(result.crop, result.edited.image.shape)
    files.write_image(FLAGS.grid, figures.image_grid(crops, result.edited, value_range=(0, 255)))
    print(f"wrote {FLAGS.grid}")


@cli.report_errors
def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logs.quiet_libraries()
  _run()


if __name__ == "__main__":
  _define_flags()
  app.run(main)
