"""TensorBoard summaries: scalars and images; only process 0 writes.

Written by TensorBoard's own summary ops (`tf.summary.scalar`/`image`, which
TensorFlow forwards to the `tensorboard` package), so the event files carry
the metadata its plugins read. Each image is also saved as a PNG, for a look
without TensorBoard; the grids themselves are drawn by `figures`.
"""

from __future__ import annotations

from collections.abc import Mapping
import os

import jax
import numpy as np
import tensorflow as tf

from dftnet_jax import files


class Writer:
  """A TensorBoard event writer for one log directory, silent except on
  process 0, so a multi-host run writes one copy."""

  def __init__(self, logdir: str):
    self._writer = (tf.summary.create_file_writer(logdir) if jax.process_index() == 0
                    else None)

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    """One float32 scalar per name at `step`."""
    if self._writer is None:
      return
    with self._writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(name, np.float32(value))
    self._writer.flush()

  def image(self, step: int, name: str, image: np.ndarray, png_path: str) -> None:
    """Writes uint8 `image` [H, W, 3] to TensorBoard, and to `png_path` (in
    the format its extension names) whole or not at all."""
    if self._writer is None:
      return
    with self._writer.as_default(step=step):
      tf.summary.image(name, image[None])
    self._writer.flush()
    os.makedirs(os.path.dirname(png_path), exist_ok=True)
    files.write_image(png_path, image)
