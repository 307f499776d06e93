"""A tiny model for tests: 16×16 images, 4-channel widths, one residual block,
trained for a few steps on 80 synthetic faces (built on first use)."""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.model.image_size = 16
  config.model.g_width = 4
  config.model.g_res_blocks = 1
  config.model.d_width = 4
  config.model.d_layers = 2
  config.batch_size = 4
  config.dataset = "synthetic_faces"
  config.dataset_config = ml_collections.ConfigDict(
      {"resolution": 16, "num_train": 64, "num_test": 16})
  config.num_train_steps = 4
  config.log_every_steps = 1
  config.image_every_steps = 2
  config.num_grid_images = 4
  config.eval_every_steps = 2
  config.num_eval_batches = 2
  config.checkpoint_every_steps = 2
  config.keep_checkpoints = 2
  return config
