"""The input pipeline on a tiny EmotioNet build."""

from __future__ import annotations

import itertools

import emotionet_testdata as td
import numpy as np
import pytest

from dftnet_jax import input_pipeline
from dftnet_jax.datasets import emotionet

NUM_TRAIN, NUM_TEST = 32, 8


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
  root = tmp_path_factory.mktemp("emotionet")
  td.write_ganimation(root / "manual", num_train=NUM_TRAIN, num_test=NUM_TEST)
  return td.build(root / "manual", root / "data")


@pytest.fixture(scope="module")
def records(builder):
  """split -> id -> (uint8 image, aus)."""
  return {split: td.read_split(builder, split) for split in ("train", "test")}


def batches(builder, num: int | None = None, **overrides):
  """`num` batches (all of a finite stream when None), as a list."""
  kwargs = dict(split="train", batch_size=8, num_local_devices=2, train=True,
                seed=0, target_au_noise=0.1, process_index=0,
                process_count=1, shuffle_buffer=64)
  kwargs.update(overrides)
  return list(itertools.islice(
      input_pipeline.create_split(builder, **kwargs), num))


def to_uint8(images: np.ndarray) -> np.ndarray:
  return np.round((images + 1.0) * 127.5).astype(np.uint8)


def flat(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """[D, B, ...] -> [D * B, ...]."""
  return {k: v.reshape(-1, *v.shape[2:]) for k, v in batch.items()}


def match(image: np.ndarray, split_records) -> tuple[str, bool]:
  """The id whose record `image` is, and whether it was mirrored."""
  for example_id, (record, _) in split_records.items():
    if np.array_equal(image, record):
      return example_id, False
    if np.array_equal(image, record[:, ::-1]):
      return example_id, True
  raise AssertionError("the image matches no record")


def test_batch_shapes_and_ranges(builder):
  [batch] = batches(builder, 1)
  assert batch["image"].shape == (2, 4, td.SIZE, td.SIZE, 3)
  assert batch["aus"].shape == batch["target_aus"].shape == (2, 4, 17)
  for value in batch.values():
    assert value.dtype == np.float32
  assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
  assert batch["image"].min() < -0.9 and batch["image"].max() == 1.0
  for key in ("aus", "target_aus"):
    assert 0.0 <= batch[key].min() and batch[key].max() <= 1.0


def test_targets_are_other_examples_aus(builder, records):
  train_aus = np.stack([au for _, au in records["train"].values()])
  batch = flat(batches(builder, 1, target_au_noise=0.0)[0])
  for target in batch["target_aus"]:
    assert np.any(np.all(train_aus == target, axis=1))
  assert np.mean(np.any(batch["target_aus"] != batch["aus"], axis=1)) > 0.5
  noisy = flat(batches(builder, 1)[0])
  assert np.all(noisy["target_aus"] != batch["target_aus"])


def test_flips_mirror_images_and_keep_aus(builder, records):
  mirrored = []
  for batch in batches(builder, 4):
    batch = flat(batch)
    for image, au in zip(to_uint8(batch["image"]), batch["aus"]):
      example_id, flipped = match(image, records["train"])
      np.testing.assert_array_equal(au, records["train"][example_id][1])
      mirrored.append(flipped)
  assert 0 < sum(mirrored) < len(mirrored)


def test_eval_is_one_ordered_unmirrored_pass_with_seeded_targets(builder,
                                                                 records):
  kwargs = dict(split="test", batch_size=4, num_local_devices=1, train=False)
  first, again = batches(builder, **kwargs), batches(builder, **kwargs)
  assert len(first) == NUM_TEST // 4
  seen = []
  for batch, same in zip(first, again):
    for key in batch:
      np.testing.assert_array_equal(batch[key], same[key])
    for image in to_uint8(flat(batch)["image"]):
      example_id, flipped = match(image, records["test"])
      assert not flipped
      seen.append(example_id)
  assert sorted(seen) == sorted(records["test"])


def test_processes_read_disjoint_parts_that_cover_the_split(builder,
                                                            records):
  parts = []
  for process_index in range(2):
    ids = [match(image, records["test"])[0]
           for batch in batches(builder, split="test", batch_size=4,
                                num_local_devices=1, train=False,
                                process_index=process_index, process_count=2)
           for image in to_uint8(flat(batch)["image"])]
    assert len(ids) == NUM_TEST // 2
    parts.append(set(ids))
  assert not parts[0] & parts[1]
  assert parts[0] | parts[1] == set(records["test"])


def test_same_seed_same_batches_other_seed_other_batches(builder):
  a, b = batches(builder, 3, seed=7), batches(builder, 3, seed=7)
  c = batches(builder, 3, seed=8)
  for key in a[0]:
    np.testing.assert_array_equal(np.stack([x[key] for x in a]),
                                  np.stack([x[key] for x in b]))
    assert not np.array_equal(np.stack([x[key] for x in a]),
                              np.stack([x[key] for x in c]))


@pytest.mark.parametrize("batch_size", [8, 0])
def test_indivisible_batch_is_refused(builder, batch_size):
  with pytest.raises(ValueError,
                     match="not divisible.*2 process.*3 local"):
    batches(builder, 1, batch_size=batch_size, num_local_devices=3,
            process_count=2)


def test_get_builder_imports_our_datasets(tmp_path):
  builder = input_pipeline.get_builder("emotionet/openface",
                                       data_dir=str(tmp_path))
  assert isinstance(builder, emotionet.Emotionet)
  assert builder.builder_config.source == "openface"
  with pytest.raises(ValueError, match="unknown dataset 'celeba'"):
    input_pipeline.get_builder("celeba")


def test_get_builder_makes_configs_from_fields(tmp_path):
  builder = input_pipeline.get_builder(
      "synthetic_faces", data_dir=str(tmp_path),
      config_fields={"resolution": 16, "num_train": 8, "num_test": 0})
  assert builder.builder_config.name == "res16_train8_test0"
  with pytest.raises(ValueError, match="names a config and config fields"):
    input_pipeline.get_builder("synthetic_faces/res64", config_fields={"resolution": 16})


@pytest.fixture(scope="module")
def synthetic_builder(tmp_path_factory):
  builder = input_pipeline.get_builder(
      "synthetic_faces", data_dir=str(tmp_path_factory.mktemp("synthetic")),
      config_fields={"resolution": 16, "num_train": 16, "num_test": 0})
  builder.download_and_prepare()
  return builder


def test_rendered_targets_are_the_face_with_the_target_aus_mirrored_with_it(
    synthetic_builder):
  from dftnet_jax import faces  # pylint: disable=g-import-not-at-top
  mirrored = []
  for batch in batches(synthetic_builder, 3, render_targets=True, features=("identity",)):
    batch = flat(batch)
    for image, aus, target, truth, identity in zip(
        batch["image"], batch["aus"], batch["target_aus"], batch["target_image"],
        batch["identity"]):
      source_drawn = faces.render(identity, aus, 16)
      flipped = not np.array_equal(to_uint8(image), source_drawn)
      if flipped:
        np.testing.assert_array_equal(to_uint8(image), source_drawn[:, ::-1])
      target_drawn = faces.render(identity, target, 16)
      np.testing.assert_array_equal(to_uint8(truth),
                                    target_drawn[:, ::-1] if flipped else target_drawn)
      mirrored.append(flipped)
  assert any(mirrored) and not all(mirrored)


def test_rendered_targets_need_identities(builder):
  with pytest.raises(ValueError, match="an 'identity' feature.*has none.*paired_l1"):
    batches(builder, 1, render_targets=True)
