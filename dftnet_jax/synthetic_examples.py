"""The synthetic faces' examples, one seed each, with no TFDS around them.

Example `index` of a split is drawn from the seed (dataset seed, split,
index) alone, so any example can be made on its own, in any order, by the
TFDS builder (`datasets/synthetic_faces`) and by the TensorFlow-free array
pipeline (`array_pipeline`) alike: both hold the same faces.
"""

from __future__ import annotations

import numpy as np

from dftnet_jax import expressions
from dftnet_jax import faces

# Split name -> its stream in the example seeds.
SPLIT_IDS: dict[str, int] = {"train": 0, "test": 1}


def draw(seed: int, split: str, index: int, resolution: int) -> dict[str, np.ndarray]:
  """Example `index` of `split`: 'image' uint8 [H, W, 3], its 'aus' (17,)
  and the 'identity' that draws the face again with other AUs."""
  if split not in SPLIT_IDS:
    raise ValueError(f"unknown split {split!r}: the synthetic faces have {sorted(SPLIT_IDS)}")
  rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
  identity = faces.sample_identity(rng)
  target = expressions.sample_aus(rng)
  return {"image": faces.render(identity, target, resolution), "aus": target,
          "identity": identity}
