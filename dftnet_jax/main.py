"""Trains or evaluates DFT-Net: the command-line entry point.

    python -m dftnet_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic
    python -m dftnet_jax.main --workdir=workdirs/synthetic --mode=evaluate

Any config field can be overridden: `--config.num_train_steps=100`. In
evaluate mode the config defaults to the one the run saved in its workdir.
"""

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
import tensorflow as tf

from dftnet_jax import allocator
from dftnet_jax import checkpoints
from dftnet_jax import evaluation
from dftnet_jax import train

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Directory for checkpoints, summaries and images.")
flags.DEFINE_enum("mode", "train", ["train", "evaluate"],
                  "train: train (resuming from the workdir); evaluate: score the latest"
                  " checkpoint over the test split (losses, edit metrics, figures).")
config_flags.DEFINE_config_file(
    "config", None, "Training configuration file (configs/*.py); in evaluate mode, default:"
    " the workdir's config.json.", lock_config=True)
flags.DEFINE_bool("retain_freed_memory", True,
                  "Keep freed memory mapped (glibc) rather than page-faulting every step's"
                  " buffers in again; the process then holds its peak memory.")
flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.retain_freed_memory and not allocator.retain_freed_memory():
    logging.warning("--retain_freed_memory: not glibc malloc here; left as it is")
  # tf.data only feeds the host; accelerators belong to JAX.
  tf.config.set_visible_devices([], "GPU")
  logging.info("JAX process %d of %d; local devices: %r", jax.process_index(),
               jax.process_count(), jax.local_devices())
  if FLAGS.mode == "train":
    if FLAGS.config is None:
      raise app.UsageError("--config is required to train")
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  else:
    evaluation.evaluate(FLAGS.config or checkpoints.load_config(FLAGS.workdir), FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
