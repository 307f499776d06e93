"""The synthetic faces as numpy batches, with no TensorFlow.

For machines that have JAX but not TensorFlow (the lent GPU machine has
none, and reaches no registry to install it): the faces are drawn into
memory (`synthetic_examples`, the same faces the TFDS builder stores) and
batched here in the input pipeline's format (`input_pipeline`'s module
docstring): 'image' [D, B, H, W, 3] in [-1, 1], 'aus', 'target_aus' (another
example's AUs plus U(-noise, noise), clipped) and, asked for, the edit's
ground truth 'target_image'. Training batches are shuffled each epoch and
mirrored at random, every draw from one seed. The order is this module's
own: a run fed from here sees other batches than a tf.data run of the same
seed, so the two compare in distribution, not step by step.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses

import numpy as np

from dftnet_jax import aus as aus_lib
from dftnet_jax import faces
from dftnet_jax import images as images_lib
from dftnet_jax import synthetic_examples


@dataclasses.dataclass(frozen=True)
class Split:
  """A split in memory.

  Attributes:
    images: uint8 [N, H, W, 3].
    aus: float32 [N, 17], each image's AUs.
    identities: [N, faces.IDENTITY_DIM], to draw each face with other AUs.
  """
  images: np.ndarray
  aus: np.ndarray
  identities: np.ndarray


def draw_split(split: str, num: int, resolution: int, seed: int = 0) -> Split:
  """The first `num` examples of the synthetic faces' `split` (seed `seed`):
  those of `dataset_config` {resolution, num_train or num_test, seed}."""
  examples = [synthetic_examples.draw(seed, split, i, resolution) for i in range(num)]
  return Split(*(np.stack([e[name] for e in examples]) for name in ("image", "aus", "identity")))


def train_batches(data: Split, *, batch_size: int, num_devices: int, seed: int,
                  target_au_noise: float, render_targets: bool = False
                  ) -> Iterator[dict[str, np.ndarray]]:
  """An endless training stream of `data`, [num_devices, batch_size / num_devices, ...].

  Args:
    data: the training split.
    batch_size: the global batch.
    num_devices: devices the batch is split over (the leading axis).
    seed: seeds the order, the mirroring and the targets.
    target_au_noise: half-width of the uniform noise on the target AUs.
    render_targets: add 'target_image', the face drawn with its target AUs
      (mirrored with the image): the paired L1's ground truth.

  Raises:
    ValueError: the batch does not split evenly over the devices, or is
      larger than the split.
  """
  num = len(data.images)
  if batch_size % num_devices or not 0 < batch_size <= num:
    raise ValueError(f"batch_size {batch_size} must be a positive multiple of the"
                     f" {num_devices} device(s) and at most the split's {num} examples")
  rng = np.random.default_rng(seed)
  size = data.images.shape[1]
  while True:
    order = rng.permutation(num)
    for start in range(0, num - batch_size + 1, batch_size):
      chosen = order[start:start + batch_size]
      noise = rng.uniform(-target_au_noise, target_au_noise, (batch_size, aus_lib.NUM_AUS))
      targets = np.clip(data.aus[rng.integers(0, num, batch_size)] + noise, 0.0, 1.0)
      mirrored = rng.random(batch_size) < 0.5
      mirror = lambda images: np.where(mirrored[:, None, None, None], images[:, :, ::-1], images)
      batch = {"image": images_lib.from_uint8(mirror(data.images[chosen])),
               "aus": data.aus[chosen].astype(np.float32),
               "target_aus": targets.astype(np.float32)}
      if render_targets:
        truths = np.stack([faces.render(identity, target, size)
                           for identity, target in zip(data.identities[chosen], targets)])
        batch["target_image"] = images_lib.from_uint8(mirror(truths))
      yield {name: value.reshape(num_devices, batch_size // num_devices, *value.shape[1:])
             for name, value in batch.items()}
