"""Converts face crops and their OpenFace 2 CSVs into GANimation's layout.

    python -m dftnet_jax.data_tools.openface_to_ganimation \\
        --images_dir crops/ --csv_dir openface/ --output_dir prepared/

writes prepared/imgs/<id>.jpg, prepared/aus_openface.pkl (id -> float64 [17]
raw intensities) and prepared/train_ids.csv, prepared/test_ids.csv, the
folder the `emotionet` builder (config "ganimation") reads. The split is the
same seeded split the builder's "openface" config makes.
"""

from __future__ import annotations

from collections.abc import Sequence
import pathlib
import pickle
import sys

from absl import app
from absl import flags
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


@cli.report_errors
def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  output_dir = pathlib.Path(_OUTPUT_DIR.value)
  try:
    splits = convert(pathlib.Path(_IMAGES_DIR.value),
                     pathlib.Path(_CSV_DIR.value or _CSV_FILE.value), output_dir,
                     image_size=_IMAGE_SIZE.value, test_fraction=_TEST_FRACTION.value,
                     seed=_SEED.value, skip_bad=_SKIP_BAD.value)
  except layout.DataError as e:
    sys.exit(f"error: {e}\n(--skip_bad leaves such examples out)")
  print(f"wrote {len(splits['train'])} train and {len(splits['test'])} test"
        f" examples to {output_dir}")


if __name__ == "__main__":
  _IMAGES_DIR = flags.DEFINE_string("images_dir", None, "Face crops, e.g. from crop_faces.",
                                    required=True)
  _CSV_DIR = flags.DEFINE_string("csv_dir", None, "One OpenFace CSV per image, named <id>.csv.")
  _CSV_FILE = flags.DEFINE_string("csv_file", None, "One OpenFace CSV for all images, with a"
                                  " 'filename' column naming each row's image.")
  flags.mark_flags_as_mutual_exclusive(["csv_dir", "csv_file"], required=True)
  _OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "The prepared folder.", required=True)
  _IMAGE_SIZE = flags.DEFINE_integer("image_size", 128, "Side every crop must have.")
  _TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.1, "Share of the examples in the"
                                      " test split.")
  _SEED = flags.DEFINE_integer("seed", 0, "Seeds the split.")
  _SKIP_BAD = flags.DEFINE_bool("skip_bad", False, "Leave out bad examples instead of"
                                " stopping.")
  app.run(main)
