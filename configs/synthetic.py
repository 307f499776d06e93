"""The CPU demo: DFT-Net at 64×64 with half widths, on the synthetic faces.

The embedded default, so the main job runs on a fresh machine with no data.
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.model.image_size = 64
  config.model.g_width = 32
  config.model.g_res_blocks = 4
  config.model.d_width = 32
  # 64 / 2**5 = a 2×2 critic map, as the paper model's 128 / 2**6.
  config.model.d_layers = 5
  config.batch_size = 16
  return config
