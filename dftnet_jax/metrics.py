"""Paired image metrics: L1, MSE and PSNR over whole images or face regions.

Errors are pooled: `Errors` sums |a − b| and (a − b)² over every value it has
seen, batch after batch, so a split's L1 is the mean absolute error over all
its pixels (of the region), and its PSNR is 10·log10(peak² / pooled MSE),
i.e. the split's images scored as one image. Pooling keeps the PSNR finite
when some images match exactly, where a mean of per-image PSNRs would not be.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import math

import numpy as np

from dftnet_jax import faces

# Region name -> the `faces.regions` boxes it joins.
FACE_REGIONS: dict[str, tuple[str, ...]] = {
    "eyes": ("left_eye", "right_eye"),
    "mouth": ("mouth",),
}


@dataclasses.dataclass(frozen=True)
class Errors:
  """Sums of absolute and squared differences, and how many values they cover."""
  abs_sum: float = 0.0
  sq_sum: float = 0.0
  count: float = 0.0

  @classmethod
  def of(cls, prediction: np.ndarray, target: np.ndarray,
         mask: np.ndarray | None = None) -> Errors:
    """The errors of `prediction` against `target` (broadcast together).

    Args:
      prediction: e.g. images [N, H, W, C].
      target: the same shape, or broadcastable to it.
      mask: None (every value counts) or weights in [0, 1] broadcastable to
        the shape without its last (channel) axis, e.g. [N, H, W] or [H, W]
        for images: each pixel counts for all its channels.
    """
    diff = np.asarray(prediction, np.float64) - np.asarray(target, np.float64)
    if mask is None:
      return cls(float(np.sum(np.abs(diff))), float(np.sum(diff ** 2)), float(diff.size))
    weights = np.broadcast_to(np.asarray(mask, np.float64)[..., None], diff.shape)
    return cls(float(np.sum(weights * np.abs(diff))), float(np.sum(weights * diff ** 2)),
               float(np.sum(weights)))

  def __add__(self, other: Errors) -> Errors:
    return Errors(self.abs_sum + other.abs_sum, self.sq_sum + other.sq_sum,
                  self.count + other.count)

  @property
  def l1(self) -> float:
    """Mean absolute error (NaN when nothing was counted)."""
    return self.abs_sum / self.count if self.count else math.nan

  @property
  def mse(self) -> float:
    """Mean squared error (NaN when nothing was counted)."""
    return self.sq_sum / self.count if self.count else math.nan

  def psnr(self, peak: float = 1.0) -> float:
    """10·log10(peak² / MSE) in dB; infinite for a perfect match."""
    mse = self.mse
    if mse == 0.0:
      return math.inf
    return 10.0 * math.log10(peak ** 2 / mse)


def box_mask(boxes: Sequence[tuple[int, int, int, int]], size: int) -> np.ndarray:
  """bool [size, size], True inside any of the half-open (y0, y1, x0, x1) boxes."""
  mask = np.zeros((size, size), bool)
  for y0, y1, x0, x1 in boxes:
    mask[y0:y1, x0:x1] = True
  return mask


def region_masks(identities: np.ndarray, size: int) -> dict[str, np.ndarray]:
  """Masks of `FACE_REGIONS` for synthetic faces.

  Args:
    identities: `faces` identity vectors, [N, faces.IDENTITY_DIM].
    size: the images' side in pixels.

  Returns:
    Region name -> bool [N, size, size]: where the renderer draws the eyes
    (both, at any lid AUs) and the mouth (at any mouth AUs) of each face.
  """
  boxes = [faces.regions(identity, size) for identity in identities]
  return {region: np.stack([box_mask([face[part] for part in parts], size) for face in boxes])
          for region, parts in FACE_REGIONS.items()}
