"""Defaults shared by every configuration: the paper's 128×128 DFT-Net.

Trained on the synthetic faces at 128×128 (no download needed) with the
paper's optimiser and schedule. Variants import this module and override a
few fields; the command line overrides any field
(`--config.model.variant=ganimation`).
"""

import ml_collections
from ml_collections import config_dict


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
  # How the critic's kernels start: 'gan' (N(0, 0.02), GANimation's) or 'he'
  # (models.CRITIC_INITS says why).
  model.d_kernel_init = "gan"
  # Stride-2 discriminator layers; the critic map is image_size / 2**d_layers.
  model.d_layers = 6
  # Convolution formulation, one of dftnet_jax.cpu_conv.policy.IMPLS: 'auto' picks native
  # convs on GPU/TPU and the fastest measured formulation per layer on CPU.
  # Parameters are identical across formulations, so checkpoints move freely.
  model.conv_impl = "auto"
  # Compute dtype of the convolutions: 'float32' or 'bfloat16' (for
  # accelerators). Parameters and optimiser state stay float32; the warp,
  # the composition, the heads' activations, normalisation statistics and
  # the losses stay float32.
  model.dtype = "float32"
  # The decoders' ×2 upsampling: 'transpose' (4×4 stride-2 transposed conv,
  # the paper's) or 'resize' (nearest ×2 + 3×3 conv; no checkerboard).
  model.upsampling = "transpose"
  # DFT-Net's texture: False draws it outright (the paper); True draws a
  # change to the source from a head that starts at zero (see
  # models.Generator).
  model.texture_residual = False
  # How the generator takes the target AUs: 'input' (constant maps beside the
  # image, the paper's) or 'film' (also a scale and shift of every instance
  # norm; models.AU_CONDITIONINGS says why).
  model.au_conditioning = "input"
  # The flow's control-point spacing in pixels: 1 (the paper's) predicts an
  # offset per pixel; k ties k×k blocks and interpolates between them
  # (models.coarsen_flow says why).
  model.flow_grid = 1
  # Whether the critic's realness also reads the AUs a face should show (a
  # projection critic; models.Discriminator says why). The paper's critic
  # judges realness blind to them.
  model.d_projection = False
  # Whether the critic's kernels are spectrally normalised (Miyato et al.
  # 2018; dftnet_jax/spectral_norm.py says why). The paper's are not.
  model.d_spectral_norm = False
  return model


def get_loss_config() -> ml_collections.ConfigDict:
  """Loss weights (paper §3.1) and the choices the paper leaves open."""
  loss = ml_collections.ConfigDict()
  loss.adv = 1.0
  # The generator's adversarial weight is adv × g_adv_scale (1, the paper's):
  # the realness term made stronger or weaker in the generator alone, the
  # critic's balance of realness, penalty and AU terms left as it is.
  loss.g_adv_scale = 1.0
  # With a projection critic, the share of its fakes that are real faces
  # paired with other faces' AUs (matching-aware, Reed et al. 2016), in
  # [0, 1); the rest are the generator's edits with their targets.
  loss.mismatch = 0.0
  # The adversarial game: 'wgan_gp' (the paper's: a Wasserstein critic and
  # WGAN-GP's penalty, weight gp) or 'ns_r1' (the non-saturating logistic
  # game; gp then weighs R1, ‖∇D‖² on real faces; losses.GAMES).
  loss.gan = "wgan_gp"
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
  # Weight of the AU head's squared Jacobian norm on the penalty's
  # interpolates (losses.au_jacobian_penalty). Not in the paper (0 there): a
  # steep AU head reads smears as expressions, which the generator then
  # draws instead. At 1 on the demo it did not help (LEARNING.md, session 9).
  loss.au_gp = 0.0
  # 'ganimation': AU MSE divided by the global batch size once more (the
  # paper's cond weight assumes it); 'mean': plain MSE.
  loss.au_mse = "ganimation"
  # Flow TV: 'sum' over pixels, mean over batch (paper eq. 9), or 'mean'.
  loss.tv_reduction = "sum"
  # Units of Φ in the flow TV: 'pixels' (x·W/2, y·H/2) or 'normalised' (as
  # predicted). The paper gives none; in normalised units its 1e-4 is
  # (W/2)² times weaker and leaves the flow noisy.
  loss.tv_units = "pixels"
  # DFT-Net and warp-only: the generator passes the flow TV and the attention
  # term apply to: 'edit' (paper eqs. 9–10 state them for the edit),
  # 'both_mean' or 'both_sum' (the edit and the cycle pass). GANimation's
  # mask terms always add both passes, as its code does.
  loss.regulariser_passes = "edit"
  # DFT-Net: weight of the mean L1 total variation of the texture's change
  # B − X on the edit pass (losses.texture_change_tv). Not in the paper
  # (0 there); it stops the texture from drawing stripes that fool the
  # critic's AU head.
  loss.texture_tv = 0.0
  # DFT-Net and warp-only: weight of the flow's mean L1 length in pixels, over
  # `regulariser_passes` (losses.flow_l1). Not in the paper (0 there): the
  # flow TV leaves a smooth move of the whole face free.
  loss.flow_l1 = 0.0
  # Weight of the identity term, mean |G(X, y_X) − X|: a face asked for its
  # own AUs comes back unchanged (losses.identity_loss). Not in the paper (0
  # there); it costs a third generator pass.
  loss.identity = 0.0
  # Weight, relative to `cond`, of the critic's AU regression on the edits
  # with their sources' AUs (losses.critic_loss). Not in the paper (0 there:
  # the head reads real faces only); it asks the head not to read a small
  # change of the source as the whole target. At 0.3 (session 26) three demo
  # seeds of four follow their targets more and gain less; the fourth, 0.1
  # and 1.0 collapse (experiments/LEARNING.md).
  loss.cond_fake = 0.0
  # The ceiling, never a default: weight of the paired term between the edit
  # and the ground truth (the same synthetic face drawn with the target AUs;
  # in `paired_distance`, the name is from when it was L1 only), supervision
  # the GAN recipe does not have. It shows what the generator can reach at a
  # budget. Synthetic faces only.
  loss.paired_l1 = 0.0
  # What the critic must read the edit as in the generator's AU term:
  # 'absolute', the target AUs (paper eq. 7); 'source', its reading of the
  # source plus the requested change (losses.generator_au_targets).
  loss.cond_reference = "absolute"
  # The distances of the cycle term (paper: 'l1') and of the paired term
  # ('l1', 'l2' or 'huber', losses.PIXEL_DISTANCES; 'l2' squares the error,
  # whose pull near the copy of the source fades; 'huber' squares it only
  # below `huber_delta`, in the model's [-1, 1] units; see
  # losses.pixel_distance).
  loss.cycle_distance = "l1"
  loss.paired_distance = "l1"
  loss.huber_delta = 0.1
  return loss


def get_config() -> ml_collections.ConfigDict:
  """The full configuration."""
  config = ml_collections.ConfigDict()
  config.model = get_model_config()
  config.loss = get_loss_config()
  # TFDS name of one of dftnet_jax/datasets: 'synthetic_faces/res128',
  # 'synthetic_faces/res64', 'emotionet/ganimation', 'emotionet/openface'.
  # Built on first use.
  config.dataset = "synthetic_faces/res128"
  # Fields for the dataset module's `make_config` (e.g. resolution, num_train,
  # num_test for synthetic faces); then `dataset` names only the dataset.
  # Empty: the registered config `dataset` names.
  config.dataset_config = ml_collections.ConfigDict()
  # Where TFDS keeps built datasets; None: TFDS's default
  # (~/tensorflow_datasets or $TFDS_DATA_DIR), shared by every workdir.
  config.data_dir = config_dict.placeholder(str)
  # EmotioNet only: the prepared folder the builder reads (data/README.md);
  # needed for the first build only.
  config.manual_dir = config_dict.placeholder(str)
  # Seeds initialisation, the step keys and the input pipeline.
  config.seed = 0
  # Length of the run in generator steps (each after n_critic critic steps):
  # the paper's 30 epochs of 200,000 images at 125 images a step.
  config.num_train_steps = 48_000
  # The learning rates decay linearly to 0 over this last part of the run
  # (paper: the last 10 of 30 epochs).
  config.lr_decay_fraction = 1 / 3
  # Scalars (losses, learning rates, steps/s) to TensorBoard and the log.
  config.log_every_steps = 100
  # Image grid of a fixed test batch, to TensorBoard and workdir/images/.
  config.image_every_steps = 1000
  # Examples (rows) in the image grid; at most the global batch.
  config.num_grid_images = 8
  # Mean losses over `num_eval_batches` test batches.
  config.eval_every_steps = 1000
  config.num_eval_batches = 10
  # With the periodic evaluation, on synthetic faces: the edit suite's gain
  # and leak (dftnet_jax.edit_suite) on this many neutral faces, to
  # TensorBoard (eval/suite/...), the log and workdir/eval/suite.jsonl.
  # 0 turns it off.
  config.suite_faces = 16
  # Checkpoint interval; the training stream is also restarted here, seeded
  # by the step, so a resumed run sees the batches an unbroken one sees.
  config.checkpoint_every_steps = 1000
  # Checkpoints kept (the newest); older ones are deleted.
  config.keep_checkpoints = 3
  # Adam as in the paper (§3.1), for G and D alike.
  config.learning_rate = 1e-4
  # Generator steps at the start with the generator's learning rate at 0: the
  # critic trains alone first (states.generator_learning_rate_fn says why and
  # what it measured). 0: none (the paper).
  config.critic_head_start = 0
  # True: the critic's rate is 0 through the head start as well, so neither
  # network moves (states.critic_learning_rate_fn says why). False: the paper
  # and the demo.
  config.critic_frozen_in_head_start = False
  # Generator steps (after the head start) over which its rate rises
  # linearly from 0 (states.generator_learning_rate_fn). 0: none (the paper).
  config.generator_warmup_steps = 0
  # Critic updates on the AU term of real faces alone, at their own rate and
  # with an Adam of their own, before the first step (dftnet_jax/
  # au_pretraining.py says why and what it measured). 0: none (the paper).
  config.critic_au_pretrain_steps = 0
  config.critic_au_pretrain_rate = 4e-4
  # The critic's learning rate; None: `learning_rate` (the paper). Set apart
  # it is TTUR (Heusel et al. 2017).
  config.d_learning_rate = config_dict.placeholder(float)
  config.adam_b1 = 0.5
  config.adam_b2 = 0.999
  # Global batch (GANimation's launch script); split over local devices.
  config.batch_size = 25
  # How the per-device steps are shipped: 'pmap' or 'shard_map'
  # (jax.jit(jax.shard_map(...)), pmap's successor); same results.
  config.parallelism = "pmap"
  # Critic steps per generator step.
  config.n_critic = 5
  # How a critic step applies its loss: 'combined' (one Adam step on
  # adversarial + penalty + AU terms, as the WGAN-GP paper and the paper's
  # objective write it) or 'ganimation' (a step on adversarial + AU terms,
  # then one on the penalty alone by the updated critic, as GANimation's
  # code does; the critic's schedule then counts two updates a step).
  config.critic_update = "combined"
  # The critic reads each face, real or generated, shifted by its own
  # random (dy, dx) ~ U(-s, s) pixels, bilinearly resampled, in both
  # networks' updates (dftnet_jax/critic_views.py says why). 0: the faces
  # themselves (the paper).
  config.critic_shift = 0.0
  # The standard deviation of Gaussian noise added to every face the critic
  # reads, in the images' [-1, 1] units, in both networks' updates
  # (instance noise; dftnet_jax/critic_views.py). 0: none (the paper).
  config.critic_noise = 0.0
  # Target AUs are another example's AUs plus U(-noise, noise), clipped
  # (drawn by the input pipeline).
  config.target_au_noise = 0.1
  return config
