"""Tests of the `synthetic_faces` TFDS builder and the contact sheet."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from dftnet_jax import aus
from dftnet_jax import faces
from dftnet_jax.datasets import contact_sheet
from dftnet_jax.datasets import synthetic_faces

TINY = synthetic_faces.SyntheticFacesConfig(
    name="tiny", resolution=32, num_train=8, num_test=4, seed=3)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build(data_dir):
  builder = synthetic_faces.SyntheticFaces(config=TINY, data_dir=str(data_dir))
  builder.download_and_prepare()
  return {split: list(tfds.as_numpy(builder.as_dataset(split=split)))
          for split in ("train", "test")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  return _build(tmp_path_factory.mktemp("first"))


def test_import_is_light_and_writes_nothing(tmp_path):
  code = ("import sys; from dftnet_jax.datasets import synthetic_faces;"
          "heavy = [m for m in ('jax', 'flax') if m in sys.modules];"
          "assert not heavy, heavy")
  env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=REPO,
             TFDS_DATA_DIR=str(tmp_path))
  subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)
  assert not os.listdir(tmp_path)


def test_builtin_configs():
  configs = {c.name: c for c in synthetic_faces.SyntheticFaces.BUILDER_CONFIGS}
  assert configs["res128"].resolution == 128 and configs["res64"].resolution == 64
  assert synthetic_faces.SyntheticFaces.name == "synthetic_faces"


def test_make_config_names_what_differs_from_the_registered_configs():
  registered = {c.name: c for c in synthetic_faces.SyntheticFaces.BUILDER_CONFIGS}
  assert synthetic_faces.make_config(64) is registered["res64"]
  small = synthetic_faces.make_config(16, num_train=64, num_test=16, seed=2)
  assert small.name == "res16_train64_test16_seed2"
  assert (small.resolution, small.num_train, small.num_test, small.seed) == (16, 64, 16, 2)
  assert synthetic_faces.make_config(16, num_train=64, num_test=16, seed=2) is small


@pytest.mark.parametrize("field, value", [
    ("resolution", 0), ("num_train", 0), ("num_test", -5)])
def test_bad_config_is_named(field, value):
  with pytest.raises(ValueError, match=f"broken: {field}"):
    synthetic_faces.SyntheticFacesConfig(name="broken", **{field: value})


def test_tiny_build_has_the_right_features(built):
  assert len(built["train"]) == TINY.num_train and len(built["test"]) == TINY.num_test
  for example in built["train"] + built["test"]:
    assert example["image"].dtype == np.uint8 and example["image"].shape == (32, 32, 3)
    assert example["aus"].dtype == np.float32 and example["aus"].shape == (aus.NUM_AUS,)
    assert example["identity"].dtype == np.float32
    assert example["identity"].shape == (faces.IDENTITY_DIM,)
    aus.validate(example["aus"])


def test_identity_re_renders_the_stored_image(built):
  for example in built["train"]:
    again = faces.render(example["identity"], example["aus"], TINY.resolution)
    np.testing.assert_array_equal(again, example["image"])


def test_examples_follow_their_seeds(built):
  def key(example):
    return example["identity"].tobytes()
  for split, num in (("train", TINY.num_train), ("test", TINY.num_test)):
    stored = {key(e): e for e in built[split]}
    for index in range(num):
      made = synthetic_faces.make_example(TINY, split, index)
      np.testing.assert_array_equal(stored[key(made)]["aus"], made["aus"])
  assert not {key(e) for e in built["train"]} & {key(e) for e in built["test"]}


def test_two_builds_are_identical(built, tmp_path):
  again = _build(tmp_path)
  for split in ("train", "test"):
    for first, second in zip(built[split], again[split]):
      for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_contact_sheet_command(tmp_path):
  out = tmp_path / "sheet.png"
  subprocess.run(
      [sys.executable, "-m", "dftnet_jax.datasets.contact_sheet", f"--out={out}",
       "--size=32", "--identities=2", "--sweep_steps=3"],
      check=True, cwd=REPO)
  cols = contact_sheet.columns(3)
  assert [label for label, _ in cols[:7]] == ["neutral", *aus.EMOTIONS]
  assert [label for label, _ in cols[7:]] == [
      "AU45 0", "AU45 0.5", "AU45 1", "AU26 0", "AU26 0.5", "AU26 1"]
  with Image.open(out) as sheet:
    # A label row, then 2 rows x 13 columns of 32 px faces with 4 px gaps.
    assert sheet.size == (13 * 36 + 4, 14 + 2 * 36 + 4)
    first_face = np.asarray(sheet)[18:50, 4:36]
  identity = faces.sample_identity(np.random.default_rng([0, 0]))
  np.testing.assert_array_equal(first_face, faces.render(identity, cols[0][1], 32))
