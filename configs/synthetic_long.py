"""The CPU demo's recipe for about 3 hours on 2 cores: ten times the steps.

Everything as `configs/synthetic.py` (the recipe the experiments in
experiments/LEARNING.md chose), trained for 15,000 generator steps instead of
1,500, with the edit suite every 1,000 steps. On the 2-core machine it runs
at ~1.3 steps/s alone (session 10); not yet run to the end (see LEARNING.md
for what is measured).
"""

import ml_collections

from configs import synthetic


def get_config() -> ml_collections.ConfigDict:
  config = synthetic.get_config()
  config.num_train_steps = 15_000
  config.image_every_steps = 1_000
  config.eval_every_steps = 1_000
  config.checkpoint_every_steps = 1_000
  return config
