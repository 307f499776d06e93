"""A random training batch for loss tests: faces in [-1, 1], AUs and
targets in [0, 1], the shapes a config asks for."""

import ml_collections
import numpy as np


def random_batch(config: ml_collections.ConfigDict, seed: int) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  b, size = config.batch_size, config.model.image_size
  return {"image": rng.uniform(-1, 1, (b, size, size, 3)).astype(np.float32),
          "aus": rng.uniform(0, 1, (b, 17)).astype(np.float32),
          "target_aus": rng.uniform(0, 1, (b, 17)).astype(np.float32)}
