"""`synthetic_faces`: procedural faces with known AUs, made on the spot.

EmotioNet needs a licence; these faces need nothing. Each example stores the
identity vector next to the image and its AUs, so any example can be drawn
again with other AUs (`faces.render(identity, aus)`): an edit's ground truth.

    from dftnet_jax.datasets import synthetic_faces  # registers the builder
    ds = tfds.load("synthetic_faces/res64", split="train")
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from dftnet_jax import aus as aus_lib
from dftnet_jax import faces
from dftnet_jax import synthetic_examples

# The registered configs' split sizes; `make_config` names leave them out.
DEFAULT_NUM_TRAIN, DEFAULT_NUM_TEST = 20_000, 2_000


@dataclasses.dataclass(eq=False)
class SyntheticFacesConfig(tfds.core.BuilderConfig):
  """A size and a seed of the synthetic faces.

  Attributes:
    resolution: image height and width in pixels.
    num_train: examples in the train split.
    num_test: examples in the test split; 0 leaves the split out.
    seed: with the split and the index, seeds every example.
  """
  resolution: int = 128
  num_train: int = DEFAULT_NUM_TRAIN
  num_test: int = DEFAULT_NUM_TEST
  seed: int = 0

  def __post_init__(self):
    for field, least in (("resolution", 1), ("num_train", 1), ("num_test", 0)):
      if getattr(self, field) < least:
        raise ValueError(f"{self.name}: {field} must be at least {least},"
                         f" got {getattr(self, field)}")


# name -> config; seeded with the registered configs below the builder.
_CONFIGS: dict[str, SyntheticFacesConfig] = {}


def make_config(resolution: int = 128, num_train: int = DEFAULT_NUM_TRAIN,
                num_test: int = DEFAULT_NUM_TEST, seed: int = 0
                ) -> SyntheticFacesConfig:
  """The config named after its fields, e.g. `res64_train4000_test200`.

  TFDS stores each build under the config's name, so the name changes with
  anything that changes the data; fields equal to the registered configs'
  are left out, so `make_config(64)` is `res64`. One instance per name,
  since TFDS refuses a second object under a registered config's name.
  """
  parts = [f"res{resolution}"] + [
      f"{label}{value}" for label, value, default in (
          ("train", num_train, DEFAULT_NUM_TRAIN), ("test", num_test, DEFAULT_NUM_TEST),
          ("seed", seed, 0)) if value != default]
  name = "_".join(parts)
  if name not in _CONFIGS:
    _CONFIGS[name] = SyntheticFacesConfig(
        name=name, description=f"{resolution}x{resolution}, {num_train} train and"
        f" {num_test} test faces, seed {seed}.", resolution=resolution,
        num_train=num_train, num_test=num_test, seed=seed)
  return _CONFIGS[name]


def make_example(config: SyntheticFacesConfig, split: str,
                 index: int) -> dict[str, np.ndarray]:
  """Example `index` of `split`, drawn from its own seed (no order effects)."""
  return synthetic_examples.draw(config.seed, split, index, config.resolution)


class SyntheticFaces(tfds.core.GeneratorBasedBuilder):
  """Cartoon faces with known AUs, identity and pose; see `dftnet_jax.faces`."""

  # Stored identities re-render their images only with the same renderer:
  # bump the version when `faces` draws differently or its fields change.
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
      SyntheticFacesConfig(name="res128", description="128x128, DFT-Net's size.",
                           resolution=128),
      SyntheticFacesConfig(name="res64", description="64x64, for CPU runs.",
                           resolution=64),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.resolution
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__.split("\n\n")[1],
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(size, size, 3)),
            "aus": tfds.features.Tensor(
                shape=(aus_lib.NUM_AUS,), dtype=np.float32,
                doc=f"intensities in [0, 1]: {', '.join(aus_lib.AU_NAMES)}"),
            "identity": tfds.features.Tensor(
                shape=(faces.IDENTITY_DIM,), dtype=np.float32,
                doc="dftnet_jax.faces identity vector"),
        }),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # nothing to download
    sizes = {"train": self.builder_config.num_train,
             "test": self.builder_config.num_test}
    # TFDS refuses empty splits.
    return {split: self._generate_examples(split, num)
            for split, num in sizes.items() if num}

  def _generate_examples(self, split: str, num: int):
    for index in range(num):
      example = make_example(self.builder_config, split, index)
      yield index, {**example, "image": _png(example["image"])}


_CONFIGS.update((config.name, config) for config in SyntheticFaces.BUILDER_CONFIGS)


def _png(image: np.ndarray) -> bytes:
  """PNG bytes; PIL at a low level is ~3x faster than TFDS' encoder (TF's)."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="png", compress_level=3)
  return buffer.getvalue()
