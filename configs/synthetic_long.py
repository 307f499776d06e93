"""The CPU demo's recipe for about 3 hours on 2 cores: ten times the steps.

Everything as `configs/synthetic.py` (the recipe the experiments in
experiments/LEARNING.md chose), trained for 15,000 generator steps instead of
1,500, with the edit suite every 1,000 steps. On the 2-core machine it runs
at 1.3–1.7 steps/s alone, about three hours; run to the end over sessions
10 and 11, it ends at an edit-suite gain of 0.157, every edit above copying
(experiments/LEARNING.md, "Session 11").
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
