"""A tiny model for tests: 16×16 images, 4-channel widths, one residual block."""

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
  return config
