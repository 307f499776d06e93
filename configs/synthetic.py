"""The CPU demo: DFT-Net at 64×64 on 4,000 synthetic faces, ~18 minutes.

The embedded default, so the main job runs on a fresh machine with no data:
on the 2-core development machine it builds the faces, compiles and trains
in about 18 minutes (README, Training). Narrower networks, a smaller batch
and a short run than the paper's; the optimiser and the paper's loss terms
are the paper's. Four deviations, each chosen by a controlled experiment in
experiments/LEARNING.md (same seed, data and 1,500 steps; edit-suite gain
0.034 → 0.105, worst edit −0.23 → −0.003):

* `model.texture_residual`: the texture decoder draws a change to the source
  from a head that starts at zero, not a texture from scratch (experiment
  `texture_residual`: leak 0.017 → 0.006; its change then becomes a stripe
  pattern that fools the critic's AU head);
* `loss.texture_tv` = 100: a price on that change's total variation
  (`residual_tv`: gain −0.015 → 0.043, the eyes close, 0.43);
* `model.upsampling` = 'resize': nearest ×2 + 3×3 conv in both decoders,
  no checkerboard (`residual_tv_resize`: gain 0.043 → 0.083, worst edit
  −0.16 → −0.03).

* `critic_head_start` = 200: the generator's rate is 0 for its first 200
  steps while the critic trains alone (`head_start`, session 6: gain 0.083
  → 0.105, worst edit −0.03 → −0.003, leak 0.019 → 0.013, and the
  independent AU reader's error of the edits 0.181 → 0.138 against 0.169
  for copying; on the screen path three seeds agree, 0.124 ± 0.018
  against 0.050 ± 0.009, session 7).

A fifth, `loss.regulariser_passes` = 'both_mean' (the flow TV and the
attention term over both passes; the paper: the edit alone), came with the
first experiments' recipe; on three seeds it ends a little ahead of the
paper's setting, within the seeds' spread (session 24).

These are config fields; configs/emotionet.py keeps the paper's settings.
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
  # The learning experiments' recipe (module docstring).
  config.model.texture_residual = True
  config.model.upsampling = "resize"
  config.loss.texture_tv = 100.0
  config.critic_head_start = 200
  # The flow TV and the attention term on both passes, averaged (the paper
  # states them for the edit only): the learning experiments ran with it,
  # and over three seeds it ends a little ahead of the paper's passes
  # (LEARNING.md, session 24, head_start_passes_edit: gain 0.124 ± 0.018
  # against 0.105 ± 0.015, within the seeds' spread; the paper's leaks less).
  config.loss.regulariser_passes = "both_mean"
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
