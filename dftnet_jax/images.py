"""The three image ranges of the project and the conversions between them.

Files, renders and what `edit` returns for uint8 input are uint8 in
[0, 255]; the networks take and give float32 in [-1, 1] (GANimation's tanh
range, `MODEL_RANGE`); metrics, the edit suite and float input to `edit` are
in [0, 1]. Every conversion lives here, so a reader checks each once and a
change of range is one edit. (The tf.data pipeline converts inside its
graph, `input_pipeline._to_model_range`, the same arithmetic in TensorFlow.)
"""

from __future__ import annotations

import numpy as np

Range = tuple[float, float]
MODEL_RANGE: Range = (-1.0, 1.0)


def from_uint8(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] → float32 in the model's [-1, 1]."""
  return np.asarray(images).astype(np.float32) / 127.5 - 1.0


def from_unit(images: np.ndarray) -> np.ndarray:
  """[0, 1] → float32 in the model's [-1, 1]."""
  return np.asarray(images).astype(np.float32) * 2.0 - 1.0


def to_unit(images: np.ndarray, dtype: type = np.float32) -> np.ndarray:
  """The model's [-1, 1] → [0, 1] in `dtype` (not clipped)."""
  return (np.asarray(images, dtype) + 1.0) / 2.0


def uint8_to_unit(images: np.ndarray, dtype: type = np.float64) -> np.ndarray:
  """uint8 [0, 255] → [0, 1] in `dtype`: the range pixels are scored in."""
  return np.asarray(images, dtype) / 255.0


def to_uint8(images: np.ndarray, value_range: Range = MODEL_RANGE) -> np.ndarray:
  """Images in `value_range` as uint8 [0, 255] (clipped, rounded)."""
  lo, hi = value_range
  scaled = (np.asarray(images, np.float32) - lo) / (hi - lo)
  return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)
