"""Crops the largest face of every photo in a folder to a centred square.

    python -m dftnet_jax.data_tools.crop_faces --input_dir photos/ \\
        --output_dir prepared/imgs --size 128

Each crop is written as `<photo name>.jpg`. Photos without a face, with
several faces (the largest is kept) or that cannot be read are reported.
Needs OpenCV: pip install 'dftnet_jax[data]'.
"""

from __future__ import annotations

from collections.abc import Sequence
import pathlib

from absl import app
from absl import flags
import tqdm

from dftnet_jax import cli
from dftnet_jax import files
from dftnet_jax.data_tools import face_crop
from dftnet_jax.datasets import layout


def crop_folder(input_dir: pathlib.Path, output_dir: pathlib.Path, *,
                size: int, margin: float) -> dict[str, list[str]]:
  """Crops every photo; returns the photo names by outcome.

  The outcomes are "cropped", "several faces" (also cropped, largest face),
  "no face" and "unreadable". The crops appear in `output_dir` together,
  at the end (`files.output_folder`).

  Raises:
    NotADirectoryError: `input_dir` is not a folder.
    FileExistsError: `output_dir` holds files already.
  """
  photos_found = layout.list_images(input_dir)
  with files.output_folder(output_dir) as partial:
    return _crop_all(photos_found, partial, size=size, margin=margin)


def _crop_all(photos_found: Sequence[tuple[str, pathlib.Path]], output_dir: pathlib.Path, *,
              size: int, margin: float) -> dict[str, list[str]]:
  outcomes: dict[str, list[str]] = {
      "cropped": [], "several faces": [], "no face": [], "unreadable": []}
  for photo_id, path in tqdm.tqdm(photos_found, desc="crop_faces", unit="photo"):
    try:
      image = face_crop.read_photo(path)
    except OSError as e:
      outcomes["unreadable"].append(path.name)
      tqdm.tqdm.write(f"unreadable: {path}: {e}")
      continue
    boxes = face_crop.detect_faces(image, margin=margin)
    if not boxes:
      outcomes["no face"].append(path.name)
      tqdm.tqdm.write(f"no face: {path}")
      continue
    if len(boxes) > 1:
      outcomes["several faces"].append(path.name)
      tqdm.tqdm.write(f"{len(boxes)} faces in {path}: kept the largest")
    crop = face_crop.crop_face(image, boxes[0], size)
    files.atomic_write(output_dir / f"{photo_id}{layout.IMAGE_SUFFIX}",
                       files.encode_jpeg(crop))
    outcomes["cropped"].append(path.name)
  return outcomes


@cli.report_errors
def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  output_dir = pathlib.Path(_OUTPUT_DIR.value)
  outcomes = crop_folder(pathlib.Path(_INPUT_DIR.value), output_dir, size=_SIZE.value,
                         margin=_MARGIN.value)
  total = sum(len(outcomes[k]) for k in ("cropped", "no face", "unreadable"))
  print(f"cropped {len(outcomes['cropped'])} of {total} photos into"
        f" {output_dir}; no face: {len(outcomes['no face'])},"
        f" unreadable: {len(outcomes['unreadable'])}, several faces (largest"
        f" kept): {len(outcomes['several faces'])}")


if __name__ == "__main__":
  _INPUT_DIR = flags.DEFINE_string("input_dir", None, "Folder of photos (jpg, png, bmp, webp).",
                                   required=True)
  _OUTPUT_DIR = flags.DEFINE_string("output_dir", None,
                                    "Where the crops go, e.g. prepared/imgs.", required=True)
  _SIZE = flags.DEFINE_integer("size", 128, "Side of the square crops in pixels.")
  _MARGIN = flags.DEFINE_float("margin", face_crop.DEFAULT_MARGIN,
                               "Extra room around the detected face, as a fraction of its"
                               " side, on every side.")
  app.run(main)
