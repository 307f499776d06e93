"""The paper's training run (§3.1) on EmotioNet, each setting with its source.

EmotioNet is prepared by hand (data/README.md); the first run builds the
TFDS dataset from that folder:

    python -m dftnet_jax.main --config=configs/emotionet.py \
        --workdir=workdirs/emotionet --config.manual_dir=/path/to/prepared
"""

import ml_collections

from configs import default

# §3.1: "a subset of 200,000 samples of EmotioNet".
_NUM_IMAGES = 200_000
# GANimation's launch script (`--batch_size 25`); the paper gives no batch.
_BATCH_SIZE = 25
# §3.1: "Every 5 optimization steps of the discriminator we perform a single
# optimization step of the generator."
_N_CRITIC = 5
# An epoch in GANimation's loop: a critic step on every batch, a generator
# step on every 5th, so 200,000 / (25 · 5) = 1,600 generator steps.
_STEPS_PER_EPOCH = _NUM_IMAGES // (_BATCH_SIZE * _N_CRITIC)


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  # GANimation's prepared folder (imgs/, aus_openface.pkl, train/test ids).
  config.dataset = "emotionet/ganimation"
  # §3.1: "cropped and resized to 128 × 128, where the faces are centered".
  config.model.image_size = 128
  # §2.1 / Fig. 2: DFT-Net's two decoders (not an ablation).
  config.model.variant = "dftnet"
  # GANimation's decoder, which the paper builds on: stride-2 transposed
  # convolutions; §2.1: the texture decoder synthesises B itself.
  config.model.upsampling = "transpose"
  config.model.texture_residual = False
  # §2.1: the target AUs enter as constant maps beside the image.
  config.model.au_conditioning = "input"
  # GANimation's code initialises every convolution from N(0, 0.02).
  config.model.d_kernel_init = "gan"
  # §2.2: the critic's realness is blind to the AUs, which a head reads.
  config.model.d_projection = False
  # §2.3: the gradient penalty alone bounds the critic.
  config.model.d_spectral_norm = False
  config.loss.mismatch = 0.0
  # §2.3: the WGAN-GP game (its weight, λgp, below).
  config.loss.gan = "wgan_gp"
  # §3.1: "Adam with learning rate of 0.0001, beta1 = 0.5, beta2 = 0.999".
  config.learning_rate = 1e-4
  # The same optimiser for both networks (no separate critic rate).
  config.d_learning_rate = None
  config.adam_b1 = 0.5
  config.adam_b2 = 0.999
  config.batch_size = _BATCH_SIZE
  config.n_critic = _N_CRITIC
  # §2.3 writes the critic's loss as one sum (WGAN-GP); GANimation's code
  # takes the penalty in a second step ('ganimation').
  config.critic_update = "combined"
  # The critic reads the faces as they are (no shifted or noisy views).
  config.critic_shift = 0.0
  config.critic_noise = 0.0
  # §3.1: "30 epochs with linearly decay over the last 10 epochs".
  config.num_train_steps = 30 * _STEPS_PER_EPOCH
  config.lr_decay_fraction = 10 / 30
  # §3.1: "λgp = 10, λadv = 1.0, λatt = 1.0, λtv = 0.0001, λcond = 4000,
  # λcyc = 10".
  config.loss.gp = 10.0
  config.loss.adv = 1.0
  # The generator weighs its adversarial term as the critic does.
  config.loss.g_adv_scale = 1.0
  config.loss.attention = 1.0
  config.loss.tv = 1e-4
  config.loss.cond = 4000.0
  # Eq. 7: the critic must read the edit as the target AUs themselves.
  config.loss.cond_reference = "absolute"
  config.loss.cycle = 10.0
  # Eq. 8's cycle is the only identity term; none asks for a face's own AUs.
  config.loss.identity = 0.0
  # Eq. 7: the critic's AU head regresses real faces only.
  config.loss.cond_fake = 0.0
  # Eqs. 9–10 state the flow TV and the attention term for the edit only.
  config.loss.regulariser_passes = "edit"
  # Eq. 9 prices the flow's changes only, not its size.
  config.loss.flow_l1 = 0.0
  # Eq. 9 sums the flow's squared differences over pixels. The paper gives
  # Φ no units; in the normalised units the flow is predicted in, λtv = 1e-4
  # is (W/2)² = 4,096 times weaker at 128 px and left the flow pixel noise
  # in the CPU demo, so Φ is measured in pixels (losses.flow_tv). A choice
  # the paper leaves open, not a setting it states.
  config.loss.tv_reduction = "sum"
  config.loss.tv_units = "pixels"
  # GANimation's code: the penalty differentiates the summed critic map, the
  # AU MSE is divided by the batch once more (the λcond = 4000 it assumes).
  config.loss.gp_reduction = "sum"
  config.loss.au_mse = "ganimation"
  # Not in the paper: no texture smoothness term, no price on the AU head's
  # steepness; no paired supervision (EmotioNet has no ground truth).
  config.loss.texture_tv = 0.0
  config.loss.au_gp = 0.0
  config.loss.paired_l1 = 0.0
  config.loss.paired_distance = "l1"
  # Eq. 8: the cycle's L1 (so `huber_delta` is unused).
  config.loss.cycle_distance = "l1"
  config.loss.huber_delta = 0.1
  # The paper trains both networks from the first step, the critic from its
  # initialisation.
  config.critic_head_start = 0
  config.generator_warmup_steps = 0
  config.critic_au_pretrain_steps = 0
  # §3.1: "The target AUs are firstly sampled from the whole training set";
  # GANimation adds U(-0.1, 0.1) noise.
  config.target_au_noise = 0.1
  # Summaries and evaluation once an epoch.
  config.image_every_steps = _STEPS_PER_EPOCH
  config.eval_every_steps = _STEPS_PER_EPOCH
  return config
