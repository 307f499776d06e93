"""`python -m dftnet_jax.main` for test_distributed: the same flags, and this
process's final parameters written to --params_out (.npz, one array per
leaf), which a multi-process run's checkpoint, written once, cannot show."""

from absl import app
from absl import flags
import jax
import numpy as np

from dftnet_jax import main
from dftnet_jax import train


def run(argv: list[str]) -> None:
  train_and_evaluate = train.train_and_evaluate

  def train_and_save(config, workdir):
    state = train_and_evaluate(config, workdir)
    leaves = jax.tree.leaves(jax.device_get((state.generator.params, state.critic.params)))
    np.savez(flags.FLAGS.params_out, *leaves)
    return state

  train.train_and_evaluate = train_and_save
  main.main(argv)


if __name__ == "__main__":
  main.define_flags()
  flags.DEFINE_string("params_out", None, "Where to write this process's final parameters.")
  app.run(run)
