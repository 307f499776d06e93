r"""Speed of the synthetic faces: renderer images/s and TFDS build time.

Prints one JSON line per figure (after a warm-up; median, min and max over
repetitions), all on one CPU core:

  python -m benchmarks.renderer [--build_examples 20000] [--repeats 5]
"""

from __future__ import annotations

from collections.abc import Sequence
import os
import tempfile

from absl import app
from absl import flags

from benchmarks import int_lists


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cpu = _CPU.value if _CPU.value is not None else min(os.sched_getaffinity(0))
  os.sched_setaffinity(0, {cpu})
  # Imported after pinning so that TensorFlow's thread pools see one core.
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  from dftnet_jax import expressions  # pylint: disable=g-import-not-at-top
  from dftnet_jax import faces  # pylint: disable=g-import-not-at-top
  from dftnet_jax.datasets import synthetic_faces  # pylint: disable=g-import-not-at-top

  tfds.disable_progress_bar()
  rng = np.random.default_rng(0)
  inputs = [(faces.sample_identity(rng), expressions.sample_aus(rng))
            for _ in range(_RENDER_IMAGES.value)]
  for size in map(int, _SIZES.value):
    def render_all(size=size):
      for identity, target in inputs:
        faces.render(identity, target, size)
    times = common.time_fn(render_all, repeats=_REPEATS.value)
    common.emit(benchmark="render", size=size, images=len(inputs), cpu=cpu,
                images_per_s=len(inputs) / times["median"],
                images_per_s_best=len(inputs) / times["min"])

  num = _BUILD_EXAMPLES.value
  for size in map(int, _SIZES.value) if num else ():
    def build(num=num, size=size):
      config = synthetic_faces.SyntheticFacesConfig(
          name=f"bench{size}", resolution=size, num_train=num - num // 10,
          num_test=num // 10)
      with tempfile.TemporaryDirectory() as data_dir:
        builder = synthetic_faces.SyntheticFaces(config=config, data_dir=data_dir)
        builder.download_and_prepare()
    times = common.time_fn(build, repeats=_BUILD_REPEATS.value, warm_up_fn=lambda: build(num=20))
    common.emit(benchmark="tfds_build", size=size, images=num, cpu=cpu,
                **{f"{k}_s": t for k, t in times.items()},
                images_per_s=num / times["median"])


if __name__ == "__main__":
  _SIZES = int_lists.positive(flags.DEFINE_list("sizes", ["64", "128"], "Image sizes to measure."))
  _RENDER_IMAGES = flags.DEFINE_integer(
      "render_images", 200, "Images per render repetition.")
  _REPEATS = flags.DEFINE_integer("repeats", 5, "Repetitions of the render timing.")
  _BUILD_EXAMPLES = flags.DEFINE_integer(
      "build_examples", 20_000, "Images per TFDS build (90% train, 10% test); 0 skips.")
  _BUILD_REPEATS = flags.DEFINE_integer("build_repeats", 1, "Repetitions of each build.")
  _CPU = flags.DEFINE_integer("cpu", None, "Core to pin to; default: the first allowed.")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  app.run(main)
