"""TensorBoard summaries: scalars and images; only process 0 writes.

Scalars and images go to TensorBoard event files through `tf.summary.write`
with the metadata TensorBoard's scalar and image plugins read (TensorFlow
ships without TensorBoard, whose `tf.summary.scalar` needs it installed).
Each image is also saved as a PNG, for a look without TensorBoard; the
grids themselves are drawn by `figures`.
"""

from __future__ import annotations

from collections.abc import Mapping
import io
import os

import jax
import numpy as np
from PIL import Image
import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _plugin_metadata(plugin: str, data_class: int) -> summary_pb2.SummaryMetadata:
  # Empty content is version 0 of the plugins' data protos.
  return summary_pb2.SummaryMetadata(
      plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin),
      data_class=data_class)


_SCALAR = _plugin_metadata("scalars", summary_pb2.DATA_CLASS_SCALAR)
_IMAGE = _plugin_metadata("images", summary_pb2.DATA_CLASS_BLOB_SEQUENCE)


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
        tf.summary.write(name, tf.constant(value, tf.float32), metadata=_SCALAR)
    self._writer.flush()

  def image(self, step: int, name: str, image: np.ndarray, png_path: str) -> None:
    """Writes uint8 `image` [H, W, 3] as a PNG to TensorBoard and `png_path`."""
    if self._writer is None:
      return
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png")
    png = buffer.getvalue()
    height, width = image.shape[:2]
    with self._writer.as_default(step=step):
      # The image plugin's tensor: width, height, then the encoded images.
      tf.summary.write(name, tf.constant([str(width), str(height), png]), metadata=_IMAGE)
    self._writer.flush()
    os.makedirs(os.path.dirname(png_path), exist_ok=True)
    with open(png_path, "wb") as f:
      f.write(png)
