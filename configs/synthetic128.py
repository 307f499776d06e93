"""The paper's model and recipe on the synthetic faces at 128×128, for
accelerators (20,000 faces, built on first use in about 80 s)."""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.dataset = "synthetic_faces/res128"
  # 125 passes over the 20,000 faces (2.5M images; the paper's run sees 6M
  # EmotioNet images): the synthetic faces vary less. A choice, not tuned.
  config.num_train_steps = 20_000
  config.image_every_steps = 500
  config.eval_every_steps = 1_000
  return config
