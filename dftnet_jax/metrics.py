"""Paired image metrics: L1, MSE and PSNR over whole images or face regions.

Errors are pooled: `Errors` sums |a − b| and (a − b)² over every value it has
seen, batch after batch, so a split's L1 is the mean absolute error over all
its pixels (of the region), and its PSNR is 10·log10(peak² / pooled MSE),
i.e. the split's images scored as one image. Pooling keeps the PSNR finite
when some images match exactly, where a mean of per-image PSNRs would not be.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


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
