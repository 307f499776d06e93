"""The CPU demo: DFT-Net at 64×64 on 4,000 synthetic faces, ~15 minutes.

The embedded default, so the main job runs on a fresh machine with no data:
on the 2-core development machine it builds the faces, compiles and trains
in about 15 minutes (README, Training). Narrower networks, a smaller batch
and a short run than the paper's; the optimiser and losses are the paper's.
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.model.image_size = 64
  # The generator step dominates on CPU; quarter widths keep a step < 1 s.
  config.model.g_width = 16
  config.model.g_res_blocks = 2
  config.model.d_width = 16
  # 64 / 2**5 = a 2×2 critic map, as the paper model's 128 / 2**6.
  config.model.d_layers = 5
  config.batch_size = 8
  # Rendered on first use in about 10 s.
  config.dataset = "synthetic_faces"
  config.dataset_config = ml_collections.ConfigDict(
      {"resolution": 64, "num_train": 4_000, "num_test": 200})
  config.num_train_steps = 1_500
  config.log_every_steps = 20
  config.image_every_steps = 100
  config.eval_every_steps = 250
  config.num_eval_batches = 5
  config.checkpoint_every_steps = 250
  config.keep_checkpoints = 2
  return config
