"""EmotioNet as a TFDS dataset, built from a folder the user prepared.

EmotioNet is licensed and distributed on request, so the builder never
downloads: it reads `manual_dir` in one of two layouts (the config's
`source`): GANimation's prepared folder, or face crops with OpenFace 2 CSVs.
Every example is checked (`layout.iter_examples`); bad data raises an error
naming the file and the id, or with `skip_bad` is skipped and counted.
"""

from __future__ import annotations

import dataclasses

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from dftnet_jax import aus
from dftnet_jax.datasets import layout
from dftnet_jax.datasets import openface

SOURCES = ("ganimation", "openface")
DEFAULT_IMAGE_SIZE = 128
DEFAULT_TEST_FRACTION = 0.1
DEFAULT_SPLIT_SEED = 0
# The OpenFace source: one CSV per image in this folder, or one CSV for all.
OPENFACE_CSV_DIR = "openface"
OPENFACE_CSV_FILE = "openface.csv"

_INSTRUCTIONS = """\
EmotioNet is licensed for research and distributed on request: ask its
authors (A. M. Martinez's lab, The Ohio State University, via
http://cbcsl.ece.ohio-state.edu/EmotionNetChallenge/) and accept the licence;
it cannot be downloaded automatically. Then put one of these layouts in
`manual_dir` (see data/README.md for the tools that make them):

config "ganimation" (GANimation's prepared folder, as its users have it):
  imgs/<id>.jpg          face crops, 128x128 RGB (or the config's image_size)
  aus_openface.pkl       dict id -> 17 OpenFace intensities (0-5), AU1..AU45
  train_ids.csv          one "<id>.jpg" per line
  test_ids.csv           likewise

config "openface" (face crops plus OpenFace 2 output, no conversion):
  imgs/<id>.jpg|.png     face crops of the config's image_size
  openface/<id>.csv      one OpenFace CSV per image (FaceLandmarkImg -aus)
  or openface.csv        one CSV for all, with a `filename` column
  The split is seeded (test_fraction, split_seed), as openface_to_ganimation
  splits.

From raw photos: python -m dftnet_jax.data_tools.crop_faces, run OpenFace on
the crops, then python -m dftnet_jax.data_tools.openface_to_ganimation.
"""

_CITATION = """\
@inproceedings{benitez2016emotionet,
  title={EmotioNet: An accurate, real-time algorithm for the automatic
         annotation of a million facial expressions in the wild},
  author={Benitez-Quiroz, C. Fabian and Srinivasan, Ramprakash and
          Martinez, Aleix M.},
  booktitle={CVPR},
  year={2016}
}
"""


@dataclasses.dataclass(eq=False)
class EmotionetConfig(tfds.core.BuilderConfig):
  """What to read and how strictly; build configs with `make_config`.

  Attributes:
    source: "ganimation" (imgs/, aus_openface.pkl, train/test id lists) or
      "openface" (imgs/ and OpenFace CSVs, split by `split_ids`).
    image_size: the side of every image; images of another size are bad data
      (the builder never resizes: crop_faces makes crops of this size).
    skip_bad: skip bad examples, counted in one warning per split, instead of
      stopping at the first.
    test_fraction: the "openface" source's test share.
    split_seed: the "openface" source's split seed.
  """

  source: str = "ganimation"
  image_size: int = DEFAULT_IMAGE_SIZE
  skip_bad: bool = False
  test_fraction: float = DEFAULT_TEST_FRACTION
  split_seed: int = DEFAULT_SPLIT_SEED

  def __post_init__(self):
    if self.source not in SOURCES:
      raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
    if self.image_size < 1:
      raise ValueError(f"image_size must be positive, got {self.image_size}")


_CONFIGS: dict[str, EmotionetConfig] = {}


def make_config(source: str = "ganimation", *,
                image_size: int = DEFAULT_IMAGE_SIZE, skip_bad: bool = False,
                test_fraction: float = DEFAULT_TEST_FRACTION,
                split_seed: int = DEFAULT_SPLIT_SEED) -> EmotionetConfig:
  """The config named after its non-default options.

  TFDS stores each build under the config's name, so the name must change
  with anything that changes the data: e.g. `ganimation_res64_skip_bad`.
  One instance per name, since TFDS refuses a second object under the name
  of one of `Emotionet.BUILDER_CONFIGS`.
  """
  parts = [source]
  if image_size != DEFAULT_IMAGE_SIZE:
    parts.append(f"res{image_size}")
  if skip_bad:
    parts.append("skip_bad")
  if source == "openface" and (test_fraction, split_seed) != (
      DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED):
    parts.append(f"test{test_fraction:g}_seed{split_seed}".replace(".", "p"))
  name = "_".join(parts)
  if name not in _CONFIGS:
    _CONFIGS[name] = EmotionetConfig(
        name=name,
        description=f"{source} layout, {image_size}x{image_size} crops"
        + (", bad examples skipped" if skip_bad else ""),
        source=source, image_size=image_size, skip_bad=skip_bad,
        test_fraction=test_fraction, split_seed=split_seed)
  return _CONFIGS[name]


Entries = dict[str, list[tuple[str, epath.Path]]]  # split -> (id, image)


def _raise_if_missing(root: epath.Path, missing: list[str]) -> None:
  if missing:
    raise FileNotFoundError(
        f"{root} lacks {', '.join(missing)}:\n{_INSTRUCTIONS}")


def _ganimation_source(root: epath.Path
                       ) -> tuple[Entries, layout.AusLookup]:
  """GANimation's layout: id lists, `imgs/<id>.jpg`, the AU pickle."""
  _raise_if_missing(root, [
      name for name in (layout.IMAGES_DIR, layout.AUS_FILE,
                        *layout.ID_FILES.values())
      if not (root / name).exists()])
  images = root / layout.IMAGES_DIR
  entries = {
      split: [(i, images / f"{i}{layout.IMAGE_SUFFIX}")
              for i in layout.read_ids(root / name)]
      for split, name in layout.ID_FILES.items()}
  return entries, layout.pickle_lookup(root / layout.AUS_FILE)


def _openface_source(root: epath.Path, config: EmotionetConfig
                     ) -> tuple[Entries, layout.AusLookup]:
  """Crops in `imgs/`, OpenFace CSVs, and a seeded split."""
  csv_dir, csv_file = root / OPENFACE_CSV_DIR, root / OPENFACE_CSV_FILE
  missing = []
  if not (root / layout.IMAGES_DIR).exists():
    missing.append(layout.IMAGES_DIR)
  if not csv_dir.is_dir() and not csv_file.exists():
    missing.append(f"{OPENFACE_CSV_DIR}/ or {OPENFACE_CSV_FILE}")
  _raise_if_missing(root, missing)
  paths = dict(layout.list_images(root / layout.IMAGES_DIR))
  entries = {
      split: [(i, paths[i]) for i in ids]
      for split, ids in layout.split_ids(
          paths, config.test_fraction, config.split_seed).items()}
  return entries, openface.aus_lookup(
      csv_dir if csv_dir.is_dir() else csv_file)


class Emotionet(tfds.core.GeneratorBasedBuilder):
  """EmotioNet face crops with their 17 OpenFace AU intensities."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [make_config("ganimation"), make_config("openface")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            "EmotioNet face crops with OpenFace AU intensities divided by"
            f" {aus.OPENFACE_MAX_INTENSITY:g}, in the order"
            f" {', '.join(aus.AU_NAMES)}."),
        features=tfds.features.FeaturesDict({
            # PNG stores exactly the pixels PIL decoded; re-encoding as JPEG
            # would lose detail and decoders disagree on JPEG by +-1.
            "image": tfds.features.Image(
                shape=(size, size, 3), encoding_format="png"),
            "aus": tfds.features.Tensor(shape=(aus.NUM_AUS,),
                                        dtype=np.float32),
            "id": tfds.features.Text(),
        }),
        homepage="http://cbcsl.ece.ohio-state.edu/EmotionNetChallenge/",
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = dl_manager.manual_dir
    if self.builder_config.source == "ganimation":
      entries, lookup = _ganimation_source(root)
    else:
      entries, lookup = _openface_source(root, self.builder_config)
    if not entries["train"]:
      listed = (f"{layout.ID_FILES['train']} lists no image" if self.builder_config.source ==
                "ganimation" else f"{layout.IMAGES_DIR}/ gives no training image")
      raise ValueError(f"{root}: {listed}; the dataset would have no training split")
    # TFDS refuses empty splits: a test_fraction of 0 leaves only "train".
    return {split: self._generate_examples(split, split_entries, lookup)
            for split, split_entries in entries.items() if split_entries}

  def _generate_examples(self, split: str,
                         entries: list[tuple[str, epath.Path]],
                         lookup: layout.AusLookup):
    for example in layout.iter_examples(
        entries, lookup, image_size=self.builder_config.image_size,
        skip_bad=self.builder_config.skip_bad,
        what=f"{self.name}/{self.builder_config.name} {split}"):
      yield example.id, {"image": example.image, "aus": example.aus,
                         "id": example.id}
