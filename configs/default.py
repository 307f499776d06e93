"""Defaults shared by every configuration: the paper's 128×128 DFT-Net.

Variants import this module and override a few fields; the command line
overrides any field (`--config.model.variant=ganimation`).
"""

import ml_collections


def get_model_config() -> ml_collections.ConfigDict:
  """The networks (DESIGN §2); widths as in GANimation."""
  model = ml_collections.ConfigDict()
  # 'dftnet' (the paper), 'ganimation' (one decoder: colour + attention) or
  # 'warp_only' (flow path only, the paper's 2D-warp ablation).
  model.variant = "dftnet"
  # Square input side; the discriminator needs a multiple of 2**d_layers.
  model.image_size = 128
  # Generator channels after its first conv (doubled at each of 2 downsamplings).
  model.g_width = 64
  # Residual blocks at the generator's bottleneck.
  model.g_res_blocks = 6
  # Discriminator channels of its first conv (doubled at each layer).
  model.d_width = 64
  # Stride-2 discriminator layers; the critic map is image_size / 2**d_layers.
  model.d_layers = 6
  # Convolution formulation, one of dftnet_jax.conv.IMPLS: 'auto' picks native
  # convs on GPU/TPU and the fastest measured formulation per layer on CPU.
  # Parameters are identical across formulations, so checkpoints move freely.
  model.conv_impl = "auto"
  return model


def get_loss_config() -> ml_collections.ConfigDict:
  """Loss weights (paper §3.1) and the choices the paper leaves open."""
  loss = ml_collections.ConfigDict()
  loss.adv = 1.0
  loss.gp = 10.0
  loss.cond = 4000.0
  loss.cycle = 10.0
  loss.tv = 1e-4
  # DFT-Net's -mean(A) (paper eq. 10); GANimation uses its own mask terms.
  loss.attention = 1.0
  # GANimation's mask terms (variant 'ganimation' only): weight of mean(A)
  # and of the summed L1 total variation of A.
  loss.ganimation_mask = 0.1
  loss.ganimation_mask_smooth = 1e-5
  # How a critic map becomes the score the penalty differentiates: 'sum' of
  # patch scores (GANimation) or 'mean'.
  loss.gp_reduction = "sum"
  # 'ganimation': AU MSE divided by the global batch size once more (the
  # paper's cond weight assumes it); 'mean': plain MSE.
  loss.au_mse = "ganimation"
  # Flow TV: 'sum' over pixels, mean over batch (paper eq. 9), or 'mean'.
  loss.tv_reduction = "sum"
  return loss


def get_config() -> ml_collections.ConfigDict:
  """The full configuration."""
  config = ml_collections.ConfigDict()
  config.model = get_model_config()
  config.loss = get_loss_config()
  # Adam as in the paper (§3.1), for G and D alike.
  config.learning_rate = 1e-4
  config.adam_b1 = 0.5
  config.adam_b2 = 0.999
  # Global batch (GANimation's launch script); split over local devices.
  config.batch_size = 25
  # Critic steps per generator step.
  config.n_critic = 5
  # Target AUs are another example's AUs plus U(-noise, noise), clipped
  # (drawn by the input pipeline).
  config.target_au_noise = 0.1
  return config
