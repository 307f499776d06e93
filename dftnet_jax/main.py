"""Trains or evaluates DFT-Net: the command-line entry point.

    python -m dftnet_jax.main --config=configs/synthetic.py --workdir=workdirs/synthetic
    python -m dftnet_jax.main --workdir=workdirs/synthetic --mode=evaluate

Any config field can be overridden: `--config.num_train_steps=100`. In
evaluate mode the config defaults to the one the run saved in its workdir.

A mistake (a bad field, path or file) is one line on stderr and exit status
1 (a missing or malformed flag: absl's line and a pointer to --help);
`DFTNET_TRACEBACK=1` shows the traceback (`cli`). Orbax's, TFDS's and
JAX's INFO and WARNING records show with `--verbosity=1` (`logs`).

Multi-host: start the same command on every host with
`--coordinator_address=HOST:PORT --num_processes=N --process_id=I`, or with
`--distributed` where JAX finds them itself (Slurm, Open MPI, Cloud TPU,
Kubernetes; `JAX_COORDINATOR_ADDRESS`). README, "Scaling out".
"""

import logging as py_logging
import os

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
import tensorflow as tf

from dftnet_jax import allocator
from dftnet_jax import checkpoints
from dftnet_jax import cli
from dftnet_jax import config_checks
from dftnet_jax import evaluation
from dftnet_jax import logs
from dftnet_jax import train

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags, defined when it runs: importing the module (as
  tests/distributed_worker.py does) must not claim flag names such as
  --workdir in the importer's absl flags."""
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
  flags.DEFINE_bool("distributed", False,
                    "Join a multi-process run (jax.distributed.initialize); implied by the"
                    " three flags below or $JAX_COORDINATOR_ADDRESS. Values not given are"
                    " detected from the cluster's environment (Slurm, Open MPI, TPU, k8s).")
  flags.DEFINE_string("coordinator_address", None,
                      "HOST:PORT of process 0's coordinator, the same on every process.")
  flags.DEFINE_integer("num_processes", None, "Processes in the run.")
  flags.DEFINE_integer("process_id", None, "This process, 0 … num_processes − 1.")
  flags.mark_flags_as_required(["workdir"])


class _ProcessFormatter(logging.PythonFormatter):
  """absl's log lines, each prefixed with the process that speaks."""

  def __init__(self, prefix: str):
    # Fixed at creation: asking JAX while formatting could deadlock, as JAX
    # logs while it starts its backends.
    super().__init__()
    self._prefix = prefix

  def format(self, record: py_logging.LogRecord) -> str:
    return f"{self._prefix} {super().format(record)}"


def initialize_distributed() -> None:
  """`jax.distributed.initialize` when the flags or environment ask for it.

  Must run before JAX touches a device. Afterwards every log line names its
  process.
  """
  given = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  if not (FLAGS.distributed or any(v is not None for v in given)
          or os.environ.get("JAX_COORDINATOR_ADDRESS")):
    return
  jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                             num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  logging.get_absl_handler().setFormatter(
      _ProcessFormatter(f"[process {jax.process_index()}/{jax.process_count()}]"))


@cli.report_errors
def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing of the flags, where ml_collections loads the config file
  and applies the --config.<field> overrides: a misspelt field is a
  `ConfigError` naming it (ml_collections raises an AttributeError, which
  absl would let through as a traceback), and so is a config file whose
  import of the `configs` package fails outside the repository root."""
  try:
    # Its usage errors (a required flag missing, a bad value) print absl's
    # message and a pointer to --help, and exit with status 1.
    return app.parse_flags_with_usage(argv)
  except ModuleNotFoundError as e:
    if e.name != "configs" and not (e.name or "").startswith("configs."):
      raise
    raise config_checks.ConfigError(
        f"the config file imports {e.name}, which Python finds only from the repository"
        f" root: run the command there, or put the repository on PYTHONPATH") from e
  except AttributeError as e:
    # Its message is the repr of the KeyError it was raised from.
    cause = e.__context__ if isinstance(e.__context__, KeyError) else e
    raise config_checks.ConfigError(
        f"a --config.<field> override names no field of the config:"
        f" {cause.args[0] if cause.args else cause}") from e


@cli.report_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logs.quiet_libraries()
  config = FLAGS.config
  if FLAGS.retain_freed_memory and not allocator.retain_freed_memory():
    logging.warning("--retain_freed_memory: not glibc malloc here; left as it is")
  # tf.data only feeds the host; accelerators belong to JAX.
  tf.config.set_visible_devices([], "GPU")
  initialize_distributed()
  logging.info("JAX process %d of %d; local devices: %r", jax.process_index(),
               jax.process_count(), jax.local_devices())
  if FLAGS.mode == "train":
    if config is None:
      raise app.UsageError("--config is required to train")
    train.train_and_evaluate(config, FLAGS.workdir)
  else:
    evaluation.evaluate(config or checkpoints.load_config(FLAGS.workdir), FLAGS.workdir)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=parse_flags)
