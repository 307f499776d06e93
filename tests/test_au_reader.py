"""The independent AU reader: it reads the visible AUs of held-out faces, its
faces are its own, and its cache restores what was fit."""

import os

import numpy as np
import pytest

from dftnet_jax import au_reader
from dftnet_jax import aus
from dftnet_jax.datasets import synthetic_faces

SMALL = au_reader.Recipe(num_fit=800, num_validation=100, num_test=300)


@pytest.fixture(scope="module")
def small_reader(tmp_path_factory):
  """A reader fit on 32-pixel faces with a small recipe, through the cache."""
  cache = str(tmp_path_factory.mktemp("cache"))
  reader, report = au_reader.load_or_train(32, cache, SMALL)
  return reader, report, cache


def test_reader_follows_the_visible_aus_of_held_out_faces(small_reader):
  _, report, _ = small_reader
  # Stated bounds for this small recipe (measured: 0.80, 0.82, 0.73; the
  # cached 64-pixel readers' figures are in the README).
  for name in ("AU12", "AU26", "AU45"):
    assert report["test_per_au"][name]["r"] > 0.6, name
  assert report["test_mae"] < report["baseline_mae"]
  assert report["ridge"] in SMALL.ridge


def test_reader_reads_a_closed_eye_and_an_open_jaw_higher_than_a_neutral_face(small_reader):
  from dftnet_jax import faces  # pylint: disable=g-import-not-at-top
  reader, _, _ = small_reader
  identities = [faces.sample_identity(np.random.default_rng([99, i])) for i in range(20)]
  neutral = np.zeros(aus.NUM_AUS, np.float32)
  edited = aus.from_dict({"AU45": 1.0, "AU26": 1.0})
  draw = lambda a: np.stack([faces.render(i, a, 32) for i in identities]) / 255.0
  before, after = reader(draw(neutral)), reader(draw(edited))
  for name in ("AU45", "AU26"):
    k = aus.index(name)
    assert np.mean(after[:, k] - before[:, k]) > 0.3, name


def test_cached_reader_reads_as_fit(small_reader):
  reader, report, cache = small_reader
  images, _ = au_reader.reader_faces("test", 8, 32)
  again, again_report = au_reader.load_or_train(32, cache, SMALL)
  np.testing.assert_array_equal(reader(images), again(images))
  assert again_report == report
  assert sorted(os.listdir(cache)) == ["au_reader_res32_v1.json", "au_reader_res32_v1.npz"]
  assert au_reader.load_cached(64, cache) is None


def test_reader_refuses_another_size(small_reader):
  reader, _, _ = small_reader
  with pytest.raises(ValueError, match="of 1024 pixels, got shape"):
    reader(np.zeros((1, 16, 16, 3)))


def test_reader_faces_are_none_of_the_datasets():
  _, reader_aus = au_reader.reader_faces("fit", 20, 16)
  config = synthetic_faces.make_config(16, num_train=20, num_test=20)
  dataset_aus = [synthetic_faces.make_example(config, split, i)["aus"]
                 for split in ("train", "test") for i in range(20)]
  nonzero = [a for a in reader_aus if a.any()]
  assert nonzero and not any(np.array_equal(a, b) for a in nonzero for b in dataset_aus)


def test_ridge_recovers_a_linear_map():
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(200, 2, 2, 3))
  weights = rng.normal(size=(12, aus.NUM_AUS)) * 0.05
  targets = 0.5 + (images.reshape(200, -1) - 0.5) @ weights
  [reader] = au_reader.fit_ridge(images, targets, [1e-9])
  np.testing.assert_allclose(reader(images), np.clip(targets, 0, 1), atol=1e-5)


def test_per_au_by_hand():
  predicted = np.zeros((3, aus.NUM_AUS))
  target = np.zeros((3, aus.NUM_AUS))
  target[:, aus.index("AU12")] = [0.2, 0.6, 1.0]
  predicted[:, aus.index("AU12")] = [0.1, 0.3, 0.5]  # half the target: r = 1
  scores = au_reader.per_au(predicted, target)
  assert scores["AU12"]["mae"] == pytest.approx(0.3)
  assert scores["AU12"]["r"] == pytest.approx(1.0)
  assert np.isnan(scores["AU1"]["r"]) and scores["AU1"]["mae"] == 0.0
