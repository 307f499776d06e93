"""Converts face crops and their OpenFace 2 CSVs into GANimation's layout.

    python -m dftnet_jax.data_tools.openface_to_ganimation \\
        --images_dir crops/ --csv_dir openface/ --output_dir prepared/

writes prepared/imgs/<id>.jpg, prepared/aus_openface.pkl (id -> float64 [17]
raw intensities) and prepared/train_ids.csv, prepared/test_ids.csv, the
folder the `emotionet` builder (config "ganimation") reads. The split is the
same seeded split the builder's "openface" config makes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import pathlib
import pickle
import sys

import tqdm

from dftnet_jax import cli
from dftnet_jax import files
from dftnet_jax.datasets import layout
from dftnet_jax.datasets import openface

# Protocol 4 is read by every Python 3 that GANimation's tools run on.
PICKLE_PROTOCOL = 4


def convert(images_dir: pathlib.Path, csv_path: pathlib.Path,
            output_dir: pathlib.Path, *, image_size: int, test_fraction: float,
            seed: int, skip_bad: bool) -> dict[str, list[str]]:
  """Checks every image and its AUs, then writes GANimation's layout.

  Args:
    images_dir: face crops, `<id>.<jpg|png|...>`.
    csv_path: a folder of `<id>.csv` OpenFace files, or one CSV with a
      `filename` column.
    output_dir: the folder to write.
    image_size: the side every crop must have.
    test_fraction: share of the ids in the test split.
    seed: seeds the split.
    skip_bad: leave out bad examples (counted in one warning) instead of
      stopping at the first.

  Returns:
    The ids written per split.

  The layout appears in `output_dir` whole, at the end; a run that stops
  leaves nothing there (`files.output_folder`).

  Raises:
    layout.DataError: a bad example, naming the file and the id.
    NotADirectoryError: `images_dir` is not a folder.
    FileExistsError: `output_dir` holds files already.
  """
  images = layout.list_images(images_dir)
  lookup = openface.aus_lookup(csv_path)
  with files.output_folder(output_dir) as partial:
    return _write_layout(images, lookup, partial, image_size=image_size,
                         test_fraction=test_fraction, seed=seed, skip_bad=skip_bad,
                         what=str(images_dir))


def _write_layout(images: Sequence[tuple[str, pathlib.Path]], lookup: layout.AusLookup,
                  output_dir: pathlib.Path, *, image_size: int, test_fraction: float,
                  seed: int, skip_bad: bool, what: str) -> dict[str, list[str]]:
  (output_dir / layout.IMAGES_DIR).mkdir()
  table = {}
  for example in layout.iter_examples(
      tqdm.tqdm(images, desc="openface_to_ganimation", unit="image"), lookup,
      image_size=image_size, skip_bad=skip_bad, what=what):
    # JPEGs are copied as they are; re-encoding would lose detail again.
    data = (example.image_path.read_bytes() if example.image_format == "JPEG"
            else files.encode_jpeg(example.image))
    files.atomic_write(
        output_dir / layout.IMAGES_DIR / f"{example.id}{layout.IMAGE_SUFFIX}",
        data)
    table[example.id] = example.raw_aus
  # Split all ids, good or bad, so the split matches the builder's.
  splits = {
      split: [i for i in ids if i in table]
      for split, ids in layout.split_ids(
          [i for i, _ in images], test_fraction, seed).items()}
  for split, ids in splits.items():
    files.atomic_write(output_dir / layout.ID_FILES[split],
                       layout.format_ids(ids).encode())
  files.atomic_write(output_dir / layout.AUS_FILE,
                     pickle.dumps(table, protocol=PICKLE_PROTOCOL))
  return splits


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog="python -m dftnet_jax.data_tools.openface_to_ganimation",
      description=__doc__.split("\n\n")[0])
  parser.add_argument("--images_dir", type=pathlib.Path, required=True,
                      help="face crops, e.g. from crop_faces")
  csv = parser.add_mutually_exclusive_group(required=True)
  csv.add_argument("--csv_dir", type=pathlib.Path,
                   help="one OpenFace CSV per image, named <id>.csv")
  csv.add_argument("--csv_file", type=pathlib.Path,
                   help="one OpenFace CSV for all images, with a 'filename'"
                   " column naming each row's image")
  parser.add_argument("--output_dir", type=pathlib.Path, required=True)
  parser.add_argument("--image_size", type=int, default=128,
                      help="side every crop must have")
  parser.add_argument("--test_fraction", type=float, default=0.1)
  parser.add_argument("--seed", type=int, default=0, help="seeds the split")
  parser.add_argument("--skip_bad", action="store_true",
                      help="leave out bad examples instead of stopping")
  return parser.parse_args(argv)


@cli.report_errors
def main(argv: Sequence[str] | None = None) -> int:
  args = parse_args(argv)
  try:
    splits = convert(args.images_dir, args.csv_dir or args.csv_file,
                     args.output_dir, image_size=args.image_size,
                     test_fraction=args.test_fraction, seed=args.seed,
                     skip_bad=args.skip_bad)
  except layout.DataError as e:
    print(f"error: {e}\n(--skip_bad leaves such examples out)",
          file=sys.stderr)
    return 1
  print(f"wrote {len(splits['train'])} train and {len(splits['test'])} test"
        f" examples to {args.output_dir}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
