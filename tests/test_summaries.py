"""Summaries as TensorBoard itself reads them (its event accumulator)."""

import io
import os

import jax
import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.util import tensor_util

from dftnet_jax import summaries


def _read(logdir):
  """plugin -> tag -> [(step, value)], as TensorBoard's plugins load them."""
  events = plugin_event_accumulator.EventAccumulator(logdir, size_guidance={"tensors": 0})
  events.Reload()
  return {plugin: {tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto))
                         for e in events.Tensors(tag)]
                   for tag in events.PluginTagToContent(plugin)}
          for plugin in events.ActivePlugins()}


def test_scalars_and_images_reach_tensorboards_plugins(tmp_path):
  writer = summaries.Writer(str(tmp_path / "logs"))
  writer.scalars(3, {"g_loss": 1.25, "suite/gain": -0.5})
  writer.scalars(7, {"g_loss": 0.75})
  image = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
  png_path = str(tmp_path / "images" / "step_000007.png")
  writer.image(7, "samples", image, png_path)

  read = _read(str(tmp_path / "logs"))
  assert sorted(read) == ["images", "scalars"]
  assert read["scalars"] == {"g_loss": [(3, 1.25), (7, 0.75)], "suite/gain": [(3, -0.5)]}
  ((step, (width, height, png)),) = read["images"]["samples"]
  assert (step, width, height) == (7, b"10", b"6")
  np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), image)
  np.testing.assert_array_equal(np.asarray(Image.open(png_path)), image)


def test_only_process_zero_writes(tmp_path, monkeypatch):
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  writer = summaries.Writer(str(tmp_path / "logs"))
  writer.scalars(1, {"g_loss": 1.0})
  writer.image(1, "samples", np.zeros((2, 2, 3), np.uint8), str(tmp_path / "images" / "a.png"))
  assert not os.path.exists(tmp_path / "logs")
  assert not os.path.exists(tmp_path / "images")
