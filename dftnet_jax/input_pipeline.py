"""tf.data input pipeline: TFDS examples to per-device batches.

Batches are dicts of numpy arrays with a leading device axis, ready for the
parallel steps (each device's slice comes from its own shard of the split):
  image       float32 [D, B, H, W, 3] in [-1, 1]
  aus         float32 [D, B, 17], the image's own AUs in [0, 1]
  target_aus  float32 [D, B, 17], another example's AUs (same split) plus
              U(-noise, noise), clipped to [0, 1] (GANimation's targets)
and, asked for on the synthetic faces (`render_targets`),
  target_image float32 [D, B, H, W, 3] in [-1, 1]: the same face drawn with
              the target AUs (mirrored with the image), the edit's ground truth
Training streams repeat forever, shuffled and randomly mirrored; evaluation
streams pass once, in order, unmirrored, with seeded targets. Every random
choice is drawn from `seed`, so the same seed gives the same batches.

The last functions take a training config: its dataset built
(`create_dataset_builder`) and its streams (`split_batches`,
`train_batches`), what the training loop and `evaluation` share.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
import importlib
import os
from typing import Any

import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from dftnet_jax import aus
from dftnet_jax import config_checks
from dftnet_jax import faces

# Our datasets live in dftnet_jax.datasets.<name>, named as TFDS names them.
_DATASETS_PACKAGE = "dftnet_jax.datasets"


def get_builder(name: str, *, data_dir: str | None = None,
                config_fields: Mapping[str, Any] | None = None
                ) -> tfds.core.DatasetBuilder:
  """The TFDS builder for one of our datasets, e.g. "synthetic_faces/res64".

  Importing the dataset's module registers its builder with TFDS.

  Args:
    name: a TFDS name, "dataset[/config][:version]".
    data_dir: where TFDS keeps built datasets; None: TFDS's default.
    config_fields: a config other than the registered ones, e.g. synthetic
      faces of another size: the fields of the dataset module's
      `make_config`. `name` must not name a config then.

  Raises:
    ValueError: no such dataset, or a config both named and given.
  """
  module_name = f"{_DATASETS_PACKAGE}.{name.split('/')[0].split(':')[0]}"
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if e.name != module_name:
      raise
    raise ValueError(
        f"unknown dataset {name!r}: there is no module {module_name}") from None
  if not config_fields:
    return tfds.builder(name, data_dir=data_dir)
  if "/" in name:
    raise ValueError(
        f"dataset {name!r} names a config and config fields"
        f" {dict(config_fields)} make one: give one or the other")
  return tfds.builder(name, data_dir=data_dir,
                      config=module.make_config(**config_fields))


def _seeds(seed: int, shard: int) -> dict[str, int]:
  """Independent seeds for each random choice, different for each shard."""
  names = ("files", "shuffle", "targets", "flip", "noise")
  values = np.random.SeedSequence([seed, shard]).generate_state(
      len(names))
  return dict(zip(names, (int(v) for v in values)))


def _target_aus(builder: tfds.core.DatasetBuilder, split: str, seed: int,
                shuffle_buffer: int) -> tf.data.Dataset:
  """An endless stream of the split's AUs, in an order of their own.

  The AUs are cached in memory (68 bytes per example), so only the first
  epoch reads the records a second time.
  """
  ds = builder.as_dataset(
      split=split, decoders=tfds.decode.PartialDecoding({"aus": True}))
  ds = ds.map(lambda example: example["aus"]).cache()
  return ds.repeat().shuffle(shuffle_buffer, seed=seed)


def _preprocess(index: tf.Tensor, example: dict[str, tf.Tensor],
                target: tf.Tensor, *, image_feature: tfds.features.Image,
                seeds: dict[str, int], train: bool, target_au_noise: float,
                features: Sequence[str], render_targets: bool
                ) -> dict[str, tf.Tensor]:
  """Decodes, mirrors (training), scales, and perturbs the target AUs.

  Random draws are keyed by the element's index, so they do not depend on
  how tf.data schedules the parallel map.
  """
  flip_seed = tf.stack([tf.constant(seeds["flip"], tf.int64), index])
  # Mirroring a face leaves its AU intensities unchanged.
  mirror = lambda x: (tf.image.stateless_random_flip_left_right(x, seed=flip_seed)
                      if train else x)
  noise = tf.random.stateless_uniform(
      [aus.NUM_AUS], seed=tf.stack([tf.constant(seeds["noise"], tf.int64),
                                    index]),
      minval=-target_au_noise, maxval=target_au_noise)
  target_aus = tf.clip_by_value(target + noise, 0.0, 1.0)
  out = {
      # [0, 255] -> [-1, 1]
      "image": _to_model_range(mirror(image_feature.decode_example(example["image"]))),
      "aus": example["aus"],
      "target_aus": target_aus,
      **{name: example[name] for name in features},
  }
  if render_targets:
    # The same seed mirrors the truth exactly as the image.
    out["target_image"] = _to_model_range(mirror(_render(
        example["identity"], target_aus, image_feature.shape)))
  return out


def _to_model_range(image: tf.Tensor) -> tf.Tensor:
  return tf.cast(image, tf.float32) / 127.5 - 1.0


def _render(identity: tf.Tensor, target_aus: tf.Tensor,
            shape: tuple[int, int, int]) -> tf.Tensor:
  """The synthetic face `identity` drawn with `target_aus`, uint8 `shape`."""
  image = tf.numpy_function(
      lambda i, t: faces.render(i, t, shape[0]), [identity, target_aus],
      tf.uint8, stateful=False)
  image.set_shape(shape)
  return image


def _device_dataset(dataset_builder: tfds.core.DatasetBuilder, *,
                    split: str, shard: int, num_shards: int,
                    batch_size: int, train: bool, seed: int,
                    target_au_noise: float, shuffle_buffer: int,
                    features: Sequence[str], render_targets: bool
                    ) -> tf.data.Dataset:
  """One device's stream: shard `shard` of `num_shards` equal parts of the
  split, seeded by (seed, shard), in batches of `batch_size`."""
  seeds = _seeds(seed, shard)
  shard_split = tfds.split_for_jax_process(
      split, process_index=shard, process_count=num_shards,
      drop_remainder=True)
  ds = dataset_builder.as_dataset(
      split=shard_split, shuffle_files=train,
      decoders={"image": tfds.decode.SkipDecoding()},
      read_config=tfds.ReadConfig(shuffle_seed=seeds["files"]))
  if train:
    ds = ds.repeat().shuffle(shuffle_buffer, seed=seeds["shuffle"])
  targets = _target_aus(dataset_builder, shard_split, seeds["targets"],
                        shuffle_buffer)
  image_feature = dataset_builder.info.features["image"]
  ds = tf.data.Dataset.zip(ds, targets).enumerate().map(
      lambda index, pair: _preprocess(
          index, *pair, image_feature=image_feature, seeds=seeds, train=train,
          target_au_noise=target_au_noise, features=features,
          render_targets=render_targets),
      num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=True)


def create_dataset(dataset_builder: tfds.core.DatasetBuilder, *, split: str,
                   batch_size: int, num_local_devices: int, train: bool,
                   seed: int, target_au_noise: float = 0.1,
                   process_index: int | None = None,
                   process_count: int | None = None,
                   shuffle_buffer: int = 10_000,
                   features: Sequence[str] = (),
                   render_targets: bool = False) -> tf.data.Dataset:
  """This process's share of a split as batches of [devices, batch, ...].

  The split is cut into one equal shard per device of the run (all
  processes), and each device's examples come from its own shard, seeded by
  its global index (process_index · num_local_devices + local index): the
  global batch depends on the total device count only, so 2 processes with
  one device each see what one process with two devices sees. A process
  reads only its devices' shards.

  Args:
    dataset_builder: a prepared builder with `image` and `aus` features.
    split: e.g. "train"; each device reads a disjoint, equal part of it.
    batch_size: the global batch, over all processes and devices.
    num_local_devices: devices of this process (the leading batch axis).
    train: shuffle, mirror and repeat forever; otherwise one ordered pass.
    seed: seeds every random choice.
    target_au_noise: half-width of the uniform noise added to target AUs.
    process_index: this process; defaults to `jax.process_index()`.
    process_count: all processes; defaults to `jax.process_count()`.
    shuffle_buffer: examples in each device's shuffle buffers of the
      training images (encoded, ~30 KB each at 128x128) and of the target AUs.
    features: other features of the examples to pass through unchanged,
      e.g. ("identity",) of the synthetic faces for paired evaluation.
    render_targets: add 'target_image', the ground truth of the edit
      (synthetic faces only: drawn from the example's identity).

  Returns:
    The batched dataset (see the module docstring). Incomplete batches are
    dropped, so an evaluation pass may miss up to one batch per device.

  Raises:
    ValueError: `batch_size` does not divide evenly over the devices, or
      `render_targets` on a dataset without identities.
  """
  if render_targets and "identity" not in dataset_builder.info.features:
    raise ValueError(
        f"render_targets needs faces the renderer can draw again (an 'identity'"
        f" feature): {dataset_builder.info.full_name} has none; the paired"
        f" L1 (config.loss.paired_l1) is for the synthetic faces only")
  # tf.data only feeds the host; accelerators belong to JAX.
  tf.config.set_visible_devices([], "GPU")
  process_index = (jax.process_index() if process_index is None
                   else process_index)
  process_count = (jax.process_count() if process_count is None
                   else process_count)
  num_devices = process_count * num_local_devices
  if batch_size < num_devices or batch_size % num_devices:
    raise ValueError(
        f"the global batch size {batch_size} is not divisible by the number"
        f" of devices, {process_count} process(es) x {num_local_devices}"
        f" local device(s) = {num_devices}: it must be a positive multiple")
  first = process_index * num_local_devices
  devices = [
      _device_dataset(dataset_builder, split=split, shard=first + i,
                      num_shards=num_devices,
                      batch_size=batch_size // num_devices, train=train,
                      seed=seed, target_au_noise=target_au_noise,
                      shuffle_buffer=shuffle_buffer, features=features,
                      render_targets=render_targets)
      for i in range(num_local_devices)]
  ds = tf.data.Dataset.zip(tuple(devices)).map(
      lambda *batches: {key: tf.stack([b[key] for b in batches])
                        for key in batches[0]})
  return ds.prefetch(tf.data.AUTOTUNE)


def create_split(dataset_builder: tfds.core.DatasetBuilder, **kwargs
                 ) -> Iterator[dict[str, np.ndarray]]:
  """`create_dataset` as an iterator of numpy batches; same arguments."""
  return iter(tfds.as_numpy(create_dataset(dataset_builder, **kwargs)))


def create_dataset_builder(config: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """The TFDS builder of `config.dataset`, built on first use.

  The synthetic faces render themselves; EmotioNet reads `config.manual_dir`
  (a `ConfigError` says so when it is missing). A dataset already built is
  reused as it is. In a multi-process run process 0 builds first and the
  others wait for it: on a shared `data_dir` they find the dataset built
  instead of racing to build it.
  """
  if jax.process_index() > 0:
    multihost_utils.sync_global_devices("dataset prepared")
  builder = get_builder(config.dataset, data_dir=config.data_dir,
                                       config_fields=config.dataset_config.to_dict())
  manual = config.get("manual_dir")
  if (builder.MANUAL_DOWNLOAD_INSTRUCTIONS and not builder.is_prepared()
      and not (manual and os.path.isdir(manual))):
    raise config_checks.ConfigError(
        f"the dataset {config.dataset} is built from files you prepare and is not built yet"
        f" in {builder.data_dir}: pass their folder as"
        f" --config.manual_dir=<folder> (data/README.md)"
        + (f"; {manual} is not a folder" if manual else ""))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=config.manual_dir))
  if jax.process_index() == 0 and jax.process_count() > 1:
    multihost_utils.sync_global_devices("dataset prepared")
  return builder


def split_batches(builder: tfds.core.DatasetBuilder, config: ml_collections.ConfigDict, *,
                  split: str, seed: int, features: Sequence[str] = ()
                  ) -> Iterator[dict[str, np.ndarray]]:
  """Batches [local devices, per-device batch, ...]: an endless, shuffled,
  mirrored stream of the train split, or one ordered pass over another
  (`features`: more of the examples' features to pass through)."""
  return create_split(
      builder, split=split, batch_size=config.batch_size,
      num_local_devices=jax.local_device_count(), train=split == "train", seed=seed,
      target_au_noise=config.target_au_noise, features=features,
      render_targets=bool(config.loss.get("paired_l1")))


# The stream the critic's AU pretraining reads (`au_pretraining`): seeded
# like a training restart at a step no run reaches, so it is the same in
# every run of a config and none of the training restarts.
PRETRAIN_STREAM = 2**32 - 1


def train_batches(builder: tfds.core.DatasetBuilder, config: ml_collections.ConfigDict,
                  step: int) -> Iterator[dict[str, np.ndarray]]:
  """The training stream for the steps from `step` on, seeded by
  (config.seed, step): restarting it at a step reproduces what it gives."""
  seed = int(np.random.SeedSequence([config.seed, step]).generate_state(1)[0])
  return split_batches(builder, config, split="train", seed=seed)


def is_paired(builder: tfds.core.DatasetBuilder) -> bool:
  """Whether the dataset's faces can be drawn again with other AUs (the
  synthetic faces): then edits have a ground truth."""
  return "identity" in builder.info.features
