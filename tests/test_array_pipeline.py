"""array_pipeline: the synthetic faces as numpy batches, no TensorFlow."""

import os
import subprocess
import sys

import numpy as np
import pytest

from dftnet_jax import array_pipeline
from dftnet_jax import aus
from dftnet_jax import faces
from dftnet_jax import synthetic_examples


@pytest.fixture(scope="module")
def split():
  return array_pipeline.draw_split("train", 12, 16, seed=3)


def test_the_split_holds_the_examples_drawn_one_by_one(split):
  for i in (0, 11):
    example = synthetic_examples.draw(3, "train", i, 16)
    np.testing.assert_array_equal(split.images[i], example["image"])
    np.testing.assert_array_equal(split.aus[i], example["aus"])
    # The identity draws the same face again.
    np.testing.assert_array_equal(faces.render(split.identities[i], split.aus[i], 16),
                                  split.images[i])


def test_batches_have_the_input_pipelines_format_and_ranges(split):
  batch = next(array_pipeline.train_batches(split, batch_size=4, num_devices=2, seed=0,
                                            target_au_noise=0.1))
  assert set(batch) == {"image", "aus", "target_aus"}
  assert batch["image"].shape == (2, 2, 16, 16, 3) and batch["image"].dtype == np.float32
  assert batch["aus"].shape == batch["target_aus"].shape == (2, 2, aus.NUM_AUS)
  assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
  assert 0.0 <= batch["target_aus"].min() and batch["target_aus"].max() <= 1.0


def _find(split, image):
  """(index, mirrored) of the example that `image` shows."""
  sources = split.images.astype(np.float32) / 127.5 - 1.0
  for index, source in enumerate(sources):
    for mirrored in (False, True):
      if np.array_equal(image, source[:, ::-1] if mirrored else source):
        return index, mirrored
  raise AssertionError("the image is no example of the split")


def test_each_image_is_its_example_or_its_mirror_with_its_own_aus(split):
  batches = array_pipeline.train_batches(split, batch_size=6, num_devices=1, seed=1,
                                         target_au_noise=0.0)
  mirrored = 0
  for _ in range(4):  # two epochs
    batch = next(batches)
    for image, au in zip(batch["image"][0], batch["aus"][0]):
      index, flipped = _find(split, image)
      np.testing.assert_array_equal(au, split.aus[index])
      mirrored += flipped
    # Without noise every target is some example's AUs.
    for target in batch["target_aus"][0]:
      assert (split.aus == target).all(axis=1).any()
  assert 0 < mirrored < 24


def test_an_epoch_visits_every_example_once(split):
  batches = array_pipeline.train_batches(split, batch_size=4, num_devices=1, seed=2,
                                         target_au_noise=0.1)
  seen = [_find(split, image)[0] for _ in range(3) for image in next(batches)["image"][0]]
  assert sorted(seen) == list(range(12))


def test_the_same_seed_gives_the_same_batches_and_another_seed_others(split):
  take = lambda seed: next(array_pipeline.train_batches(split, batch_size=4, num_devices=1,
                                                        seed=seed, target_au_noise=0.1))
  first, again, other = take(5), take(5), take(6)
  for name in first:
    np.testing.assert_array_equal(first[name], again[name])
  assert not np.array_equal(first["target_aus"], other["target_aus"])


def test_rendered_targets_are_the_face_with_its_targets_mirrored_with_it(split):
  batches = array_pipeline.train_batches(split, batch_size=6, num_devices=1, seed=4,
                                         target_au_noise=0.1, render_targets=True)
  batch = next(batches)
  for image, target, truth in zip(batch["image"][0], batch["target_aus"][0],
                                  batch["target_image"][0]):
    index, mirrored = _find(split, image)
    drawn = faces.render(split.identities[index], target, 16).astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(truth, drawn[:, ::-1] if mirrored else drawn)


@pytest.mark.parametrize("batch_size, num_devices", [(3, 2), (0, 1), (13, 1)])
def test_a_batch_that_does_not_fit_is_refused(split, batch_size, num_devices):
  with pytest.raises(ValueError, match="batch_size"):
    next(array_pipeline.train_batches(split, batch_size=batch_size, num_devices=num_devices,
                                      seed=0, target_au_noise=0.1))


def test_an_unknown_split_is_refused_by_name():
  with pytest.raises(ValueError, match="'validation'"):
    synthetic_examples.draw(0, "validation", 0, 16)


def test_the_steps_and_the_array_pipeline_import_no_tensorflow():
  """The lent GPU machine has no TensorFlow: this path must not need it."""
  code = ("import sys; import dftnet_jax.steps, dftnet_jax.array_pipeline,"
          " dftnet_jax.edit_suite, experiments.screen;"
          " bad = [m for m in sys.modules if m.split('.')[0] in"
          " ('tensorflow', 'tensorflow_datasets')]; print(bad); sys.exit(bool(bad))")
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, cwd=repo)
  assert result.returncode == 0, result.stdout + result.stderr
