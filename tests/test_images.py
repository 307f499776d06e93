"""Tests for dftnet_jax.images: each conversion against values worked by hand."""

import numpy as np

from dftnet_jax import images


def test_uint8_to_the_model_range_and_back():
  pixels = np.array([0, 51, 127, 128, 255], np.uint8)
  model = images.from_uint8(pixels)
  assert model.dtype == np.float32
  np.testing.assert_allclose(model, [-1.0, -0.6, -1 / 255, 1 / 255, 1.0], atol=1e-7)
  np.testing.assert_array_equal(images.to_uint8(model), pixels)


def test_unit_range_to_the_model_range_and_back():
  unit = np.array([0.0, 0.25, 0.5, 1.0])
  model = images.from_unit(unit)
  assert model.dtype == np.float32
  np.testing.assert_array_equal(model, [-1.0, -0.5, 0.0, 1.0])
  np.testing.assert_array_equal(images.to_unit(model), unit)
  assert images.to_unit(model, np.float64).dtype == np.float64
  # Not clipped: a value out of range stays visible to the caller.
  np.testing.assert_array_equal(images.to_unit(np.array([-2.0, 3.0])), [-0.5, 2.0])


def test_uint8_to_the_unit_range():
  scored = images.uint8_to_unit(np.array([0, 51, 255], np.uint8))
  assert scored.dtype == np.float64
  np.testing.assert_array_equal(scored, [0.0, 0.2, 1.0])
  assert images.uint8_to_unit(np.zeros(2, np.uint8), np.float32).dtype == np.float32


def test_to_uint8_clips_and_rounds():
  np.testing.assert_array_equal(images.to_uint8(np.array([-2.0, -1.0, 0.0, 0.5, 1.0])),
                                [0, 0, 128, 191, 255])
  np.testing.assert_array_equal(images.to_uint8(np.array([0.0, 127.0]), (0, 255)), [0, 127])
  np.testing.assert_array_equal(images.to_uint8(np.array([0.2, 1.5]), (0.0, 1.0)), [51, 255])
