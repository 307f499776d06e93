"""Images/s that the training input pipeline delivers at 128x128.

Writes a GANimation-layout folder of random-texture JPEGs in a temporary
directory, builds `emotionet` from it, then times the training pipeline (one
local device) at each global batch size. Prints one JSON line per figure: the
build rate, then the pipeline rate per batch size (median, min and max over
repeats, after a warm-up that fills the shuffle buffer).

    python -m benchmarks.input_pipeline [--num_images 2000] [--repeats 5]
"""

from __future__ import annotations

from collections.abc import Sequence
import os
import pathlib
import pickle
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from benchmarks import common
from benchmarks import int_lists
from dftnet_jax import aus
from dftnet_jax import files
from dftnet_jax import input_pipeline
from dftnet_jax.datasets import emotionet
from dftnet_jax.datasets import layout

IMAGE_SIZE = 128


def random_texture(rng: np.random.Generator) -> np.ndarray:
  """Smooth colour blobs plus grain: compresses about as well as a face."""
  coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
  smooth = np.asarray(Image.fromarray(coarse).resize(
      (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC), np.float32)
  grain = rng.normal(0.0, 8.0, smooth.shape)
  return np.clip(smooth + grain, 0, 255).astype(np.uint8)


def write_folder(root: pathlib.Path, num_images: int, seed: int) -> None:
  """GANimation's layout: imgs/, aus_openface.pkl, 90/10 id lists."""
  rng = np.random.default_rng(seed)
  (root / layout.IMAGES_DIR).mkdir(parents=True)
  ids = [f"{k:06d}" for k in range(num_images)]
  for example_id in ids:
    (root / layout.IMAGES_DIR / f"{example_id}.jpg").write_bytes(
        files.encode_jpeg(random_texture(rng)))
  table = {i: rng.uniform(0, aus.OPENFACE_MAX_INTENSITY, aus.NUM_AUS)
           for i in ids}
  (root / layout.AUS_FILE).write_bytes(pickle.dumps(table))
  for split, split_ids in layout.split_ids(ids, 0.1, seed).items():
    (root / layout.ID_FILES[split]).write_text(layout.format_ids(split_ids))


def measure(builder: tfds.core.DatasetBuilder, batch_size: int, *,
            warmup: int, batches: int, repeats: int) -> dict[str, float]:
  """Images/s (from the median, fastest and slowest run of `batches`)."""
  stream = input_pipeline.create_split(
      builder, split="train", batch_size=batch_size, num_local_devices=1,
      train=True, seed=0)
  times = common.time_fn(lambda: [next(stream) for _ in range(batches)], repeats=repeats,
                         warm_up_fn=lambda: [next(stream) for _ in range(warmup)])
  return {"images_per_s": batches * batch_size / times["median"],
          "images_per_s_best": batches * batch_size / times["min"],
          "images_per_s_worst": batches * batch_size / times["max"]}


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  tfds.disable_progress_bar()
  num_images = _NUM_IMAGES.value
  fields = {"image_size": IMAGE_SIZE, "num_images": num_images,
            "cpu_count": os.cpu_count()}
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    write_folder(root / "manual", num_images, _SEED.value)
    builder = emotionet.Emotionet(
        config=emotionet.make_config(image_size=IMAGE_SIZE),
        data_dir=str(root / "data"))
    start = time.perf_counter()
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(root / "manual")))
    common.emit(benchmark="emotionet_build", **fields,
                images_per_s=num_images / (time.perf_counter() - start))
    for batch_size in map(int, _BATCH_SIZES.value):
      rates = measure(builder, batch_size, warmup=_WARMUP.value,
                      batches=_BATCHES.value, repeats=_REPEATS.value)
      common.emit(benchmark="input_pipeline_train", **fields,
                  global_batch=batch_size, num_local_devices=1,
                  warmup_batches=_WARMUP.value, batches_per_repeat=_BATCHES.value,
                  repeats=_REPEATS.value, **rates)


if __name__ == "__main__":
  _NUM_IMAGES = flags.DEFINE_integer(
      "num_images", 2000, "Images in the folder (90% train, 10% test).")
  _BATCH_SIZES = int_lists.positive(
      flags.DEFINE_list("batch_sizes", ["25", "16"], "Global batch sizes to time."))
  _WARMUP = flags.DEFINE_integer("warmup", 20, "Untimed batches first.")
  _BATCHES = flags.DEFINE_integer("batches", 40, "Batches per timed repeat.")
  _REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats.")
  _SEED = flags.DEFINE_integer("seed", 0, "Seeds the textures and AUs.")
  app.run(main)
