"""Image grids: the training summaries' and the paper's figures, as uint8.

Pure numpy, so the editing CLI draws them without TensorFlow. Every function
takes float images in `value_range` ([-1, 1], the model's, by default) and
returns uint8 [rows·H, columns·W, 3]; attention maps are drawn in grey, white
where the (aligned) source is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dftnet_jax import images as images_lib
from dftnet_jax.images import MODEL_RANGE, Range


def grid(columns: Sequence[np.ndarray], value_range: Range = MODEL_RANGE) -> np.ndarray:
  """Columns side by side, each a stack of images [N, H, W, 3] read downwards."""
  stacked = [np.concatenate(list(np.asarray(column)), axis=0) for column in columns]
  return images_lib.to_uint8(np.concatenate(stacked, axis=1), value_range)


def _attention_image(attention: np.ndarray, value_range: Range) -> np.ndarray:
  """Attention in [0, 1], [..., 1], as a grey image in `value_range`."""
  lo, hi = value_range
  return np.repeat(lo + np.asarray(attention) * (hi - lo), 3, axis=-1)


def image_grid(source: np.ndarray, edited: Any, reconstruction: np.ndarray | None = None,
               value_range: Range = MODEL_RANGE) -> np.ndarray:
  """One row per example: source | aligned | texture | attention | result
  [| cycle reconstruction], leaving out what the variant lacks (paper Fig. 4).

  The aligned column appears only with a flow: without one it is the source
  (GANimation).

  Args:
    source: [N, H, W, 3].
    edited: the generator's outputs for `source` (`models.GeneratorOutput`,
      as the generator or `editing.edit` returns it), [N, ...].
    reconstruction: the edit taken back to the source AUs, [N, H, W, 3].
    value_range: the range of the images (attention is always [0, 1]).
  """
  columns = [source]
  if edited.flow is not None:
    columns.append(edited.aligned)
  if edited.texture is not None:
    columns.append(edited.texture)
  if edited.attention is not None:
    columns.append(_attention_image(edited.attention, value_range))
  columns.append(edited.image)
  if reconstruction is not None:
    columns.append(reconstruction)
  return grid(columns, value_range)


def sweep_figure(source: np.ndarray, series: Any,
                 value_range: Range = MODEL_RANGE) -> np.ndarray:
  """One row per face: source | aligned at each level | result at each level
  (paper Fig. 3, the eyelids under an AU45 sweep).

  Args:
    source: [N, H, W, 3].
    series: generator outputs with a leading level axis, [L, N, ...]; the
      aligned columns appear only with a flow.
    value_range: the range of the images.
  """
  aligned = list(series.aligned) if series.flow is not None else []
  return grid([source, *aligned, *series.image], value_range)


def interpolation_figure(source: np.ndarray, results: np.ndarray,
                         target: np.ndarray | None = None,
                         value_range: Range = MODEL_RANGE) -> np.ndarray:
  """One row per face: source | result at each level [| target] (paper Fig. 5).

  Args:
    source: [N, H, W, 3].
    results: [L, N, H, W, 3], the edits at increasing levels.
    target: [N, H, W, 3]: what the last level should look like, if known.
    value_range: the range of the images.
  """
  return grid([source, *results, *([] if target is None else [target])], value_range)
