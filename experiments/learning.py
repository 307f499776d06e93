"""Why the CPU demo did not learn: controlled experiments, one change each.

    python -m experiments.learning --exp=residual_tv [--out=workdirs/learning]
    python -m experiments.learning            # rewrites the table only

Every experiment trains `configs/synthetic.py` with the overrides of its
ancestry (`EXPERIMENTS`: each names its parent and the one change it makes),
through `dftnet_jax.main`, so its command is an ordinary training command.
The original demo recipe is pinned in `baseline`, so the experiments mean the
same whatever `configs/synthetic.py` says today. A run's edit-suite curve
(`workdir/eval/suite.jsonl`, written by the training loop) and wall time go
to `experiments/learning/<name>.json`; without `--exp` it writes the table of every
recorded run into `experiments/LEARNING.md` between its markers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
import glob
import json
import os
import subprocess
import sys
from typing import Any

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join(REPO, "experiments", "learning")
LOG = os.path.join(REPO, "experiments", "LEARNING.md")
TABLE_START = "<!-- learning table:start (python -m experiments.learning) -->"
TABLE_END = "<!-- learning table:end -->"
BASE_CONFIG = "configs/synthetic.py"


@dataclasses.dataclass(frozen=True)
class Experiment:
  """One change against a parent experiment.

  Attributes:
    parent: the experiment this one changes (None for the baseline).
    change: config field → value, the overrides this experiment adds.
    question: what the change tests.
  """
  parent: str | None
  change: Mapping[str, Any]
  question: str


# The demo recipe the issue measured (configs/synthetic.py before the
# learning experiments): pinned here so `baseline` stays that recipe.
_DEMO_RECIPE = {
    "learning_rate": 1e-4, "d_learning_rate": 1e-4, "n_critic": 5, "batch_size": 8,
    "num_train_steps": 1500, "model.upsampling": "transpose", "model.g_width": 16,
    "model.g_res_blocks": 2, "model.d_width": 16, "loss.cond": 4000.0,
    "loss.au_mse": "ganimation", "loss.attention": 1.0, "loss.cycle": 10.0,
    "loss.paired_l1": 0.0, "loss.paired_distance": "l1", "loss.cycle_distance": "l1",
    "lr_decay_fraction": 1 / 3, "eval_every_steps": 250, "critic_head_start": 0,
    "critic_au_pretrain_steps": 0, "generator_warmup_steps": 0,
    "critic_frozen_in_head_start": False,
    "model.d_kernel_init": "gan", "loss.au_gp": 0.0, "model.flow_grid": 1,
    "model.texture_residual": False, "loss.texture_tv": 0.0,
    "loss.regulariser_passes": "both_mean", "model.au_conditioning": "input",
}

EXPERIMENTS: dict[str, Experiment] = {
    "baseline": Experiment(None, _DEMO_RECIPE, "the demo recipe as the issue measured it"),
    "ceiling": Experiment(
        "baseline", {"loss.paired_l1": 100.0},
        "what the generator reaches at this budget with the ground truth as supervision"),
    "lr_4e-4": Experiment("baseline", {"learning_rate": 4e-4, "d_learning_rate": 4e-4},
                          "is 1,500 steps at the paper's 1e-4 too slow for both networks?"),
    "ttur_d_4e-4": Experiment("baseline", {"d_learning_rate": 4e-4},
                              "does a faster critic (TTUR) read the AUs sooner?"),
    "cond_mean": Experiment("baseline", {"loss.au_mse": "mean"},
                            "a stronger AU signal (no division by the batch: ×8 here)"),
    "resize": Experiment("baseline", {"model.upsampling": "resize"},
                         "does the texture decoder's checkerboard go with resize + conv?"),
    "texture_residual": Experiment(
        "baseline", {"model.texture_residual": True},
        "does a texture drawn as a change to the source (zero at first) stop the leak?"),
    "residual_tv_resize": Experiment(
        "residual_tv", {"model.upsampling": "resize"},
        "does resize + conv take the checkerboard's last traces?"),
    "residual_tv": Experiment(
        "texture_residual", {"loss.texture_tv": 100.0},
        "the residual texture's change is a stripe pattern: does a price on its total"
        " variation stop it?"),
    "residual_tv_resize_lr_4e-4": Experiment(
        "residual_tv_resize", {"learning_rate": 4e-4, "d_learning_rate": 4e-4},
        "with the texture's stripes priced, does the faster rate keep its faster warp"
        " (lr_4e-4 closed the eyes best of all at step 250)?"),
    "supervised": Experiment(
        "residual_tv_resize", {"loss.paired_l1": 100.0, "loss.adv": 0.0, "loss.cond": 0.0},
        "the architecture's ceiling at this budget: the paired L1 alone, no GAN terms"),
    "supervised_lr_1e-3": Experiment(
        "supervised", {"learning_rate": 1e-3},
        "is the supervised generator slow because the paper's rate is small for 1,500 steps?"),
    "supervised_free_texture": Experiment(
        "supervised", {"loss.texture_tv": 0.0},
        "does the price on the texture change's variation hold the supervised texture back?"),
    "supervised_long": Experiment(
        "supervised", {"num_train_steps": 4000, "n_critic": 1},
        "how many steps the supervised generator needs to edit (one critic update a step:"
        " with no GAN terms the critic only costs time)"),
    "supervised_bare_long": Experiment(
        "supervised_long", {"loss.attention": 0.0, "loss.texture_tv": 0.0, "loss.cycle": 0.0},
        "the paired L1 alone: do the attention, texture and cycle terms hold it at the copy?"),
    "steps_4000": Experiment("residual_tv_resize", {"num_train_steps": 4000},
                             "the demo recipe at 4,000 steps (a long run's length)"),
    "supervised_fast": Experiment(
        "supervised", {"n_critic": 1},
        "the supervised run at a third of the cost (its critic is unused): the CPU control"
        " for the supervised learning-speed runs"),
    "supervised_fast_lr_1e-3": Experiment("supervised_fast", {"learning_rate": 1e-3},
                                          "does a ten times faster rate shorten the plateau?"),
    "supervised_fast_film": Experiment(
        "supervised_fast", {"model.au_conditioning": "film"},
        "does a direct path for the AUs shorten the supervised generator's plateau?"),
    "supervised_film": Experiment(
        "supervised", {"model.au_conditioning": "film"},
        "does the supervised generator learn once the AUs reach every layer?"),
    "film": Experiment(
        "residual_tv_resize", {"model.au_conditioning": "film"},
        "the AUs at every instance norm (FiLM): does the GAN recipe learn the edits?"),
    "cond_1280": Experiment(
        "residual_tv_resize", {"loss.cond": 1280.0},
        "the AU weight the paper's 4000 is at its batch of 25 (4000/25 = 1280/8): is 4000"
        " at batch 8 three times too strong?"),
    "cond_250": Experiment("residual_tv_resize", {"loss.cond": 250.0},
                           "a much weaker AU term: does the adversarial term carry the edit?"),
    "lr_2e-4": Experiment("residual_tv_resize", {"learning_rate": 2e-4, "d_learning_rate": 2e-4},
                          "twice the paper's rate for both networks"),
    "ttur": Experiment("residual_tv_resize", {"d_learning_rate": 4e-4},
                       "a critic 4× faster than the generator on today's recipe"),
    "n_critic_2": Experiment("residual_tv_resize", {"n_critic": 2},
                             "fewer critic updates a step: as good, at 2/5 of the critic's cost?"),
    "attention_5": Experiment("residual_tv_resize", {"loss.attention": 5.0},
                              "a stronger pull towards the warp (mean A 0.60 smears)"),
    "flow_tv_1e-5": Experiment("residual_tv_resize", {"loss.tv": 1e-5},
                               "a freer flow: does a weaker smoothness price let the lids move?"),
    "batch_16": Experiment("residual_tv_resize", {"batch_size": 16},
                           "twice the batch (twice the CPU time of a step)"),
    "steps_3000": Experiment("residual_tv_resize", {"num_train_steps": 3000},
                             "twice the steps: does length alone help this recipe?"),
    "texture_tv_1000": Experiment("residual_tv_resize", {"loss.texture_tv": 1000.0},
                                  "a ten times higher price on the texture change's variation"),
    "g_width_32": Experiment("residual_tv_resize", {"model.g_width": 32},
                             "a generator twice as wide: is capacity short?"),
    "supervised_fast_l2": Experiment(
        "supervised_fast", {"loss.paired_distance": "l2"},
        "is the supervised plateau L1's doing (its pull back to the copy does not fade"
        " near it)?"),
    "supervised_fast_l2_cycle_l2": Experiment(
        "supervised_fast_l2", {"loss.cycle_distance": "l2"},
        "does the L1 cycle term pin the supervised generator to the copy too?"),
    "supervised_l2_bare": Experiment(
        "supervised_fast_l2", {"loss.attention": 0.0, "loss.texture_tv": 0.0, "loss.cycle": 0.0},
        "the paired L2 without the recipe's regularisers, on the GAN's path: on a GPU the"
        " paper generator's probe (paired term alone) reached 0.54 at step 2,000 where its"
        " run with the regularisers reached 0.23: what do they cost the demo's generator?"),
    "supervised_l2_bare_attention": Experiment(
        "supervised_l2_bare", {"loss.attention": 1.0},
        "the bare paired L2 with the attention term (−mean A) alone restored"),
    "supervised_l2_bare_cycle": Experiment(
        "supervised_l2_bare", {"loss.cycle": 10.0}, "... with the L1 cycle term alone restored"),
    "supervised_l2_bare_cycle_huber": Experiment(
        "supervised_l2_bare_cycle", {"loss.cycle_distance": "huber", "loss.huber_delta": 0.1},
        "... with that cycle's error in Huber (squared below 0.1, L1 above): is it the L1"
        " cycle's sign gradient on the small errors that holds the edit back?"),
    "supervised_l2_bare_cycle_3": Experiment(
        "supervised_l2_bare_cycle", {"loss.cycle": 3.0},
        "... with the L1 cycle at 3 instead: is the Huber cycle's gain only a weaker cycle?"),
    "supervised_l2_cycle_huber": Experiment(
        "supervised_fast_l2", {"loss.cycle_distance": "huber", "loss.huber_delta": 0.1},
        "the paired L2 with all the recipe's regularisers, the cycle's error in Huber: what"
        " does the demo's generator reach, shown the answer, once the cycle's sign gradient"
        " is gone?"),
    "supervised_l2_bare_texture_tv": Experiment(
        "supervised_l2_bare", {"loss.texture_tv": 100.0},
        "... with the texture change's total-variation price alone restored"),
    # Generator-only probes of the paired term (experiments/ceiling_probe.py).
    "supervised_l2_film": Experiment("supervised_fast_l2", {"model.au_conditioning": "film"},
                                     "does the AUs' direct path speed up the L2 ceiling?"),
    "supervised_l2_width_32": Experiment("supervised_fast_l2", {"model.g_width": 32},
                                         "is the generator's width what holds the ceiling?"),
    "supervised_l2_res_4": Experiment("supervised_fast_l2", {"model.g_res_blocks": 4},
                                      "twice the residual blocks at the bottleneck"),
    "supervised_l2_b1_0.9": Experiment("supervised_fast_l2", {"adam_b1": 0.9},
                                       "Adam's usual momentum rather than the GAN's 0.5"),
    "supervised_l2_batch_32": Experiment(
        "supervised_fast_l2", {"batch_size": 32},
        "four times the batch: is the plateau the gradient noise of batch 8?"),
    "supervised_l2_ganimation": Experiment(
        "supervised_fast_l2", {"model.variant": "ganimation"},
        "how far the same budget takes GANimation's colour + attention, with no warp"),
    "supervised_l2_lr_3e-4": Experiment(
        "supervised_fast_l2", {"learning_rate": 3e-4},
        "three times the rate, with the decay: does the generator learn faster?"),
    "supervised_l2_warp_only": Experiment(
        "supervised_fast_l2", {"model.variant": "warp_only"},
        "how far the same budget takes the warp alone: what moving pixels can reach"),
    "supervised_l2_flow_grid_4": Experiment(
        "supervised_fast_l2", {"model.flow_grid": 4},
        "offsets tied over 4×4 blocks (models.coarsen_flow): does a flow whose gradient is"
        " pooled over a block move lids and lips sooner?"),
    "supervised_l2_flow_grid_2": Experiment(
        "supervised_fast_l2", {"model.flow_grid": 2},
        "offsets tied over 2×2 blocks: the same question, finer"),
    "cycle_l2": Experiment("residual_tv_resize", {"loss.cycle_distance": "l2"},
                           "the GAN recipe with a squared cycle error: does the L1 cycle's"
                           " pull back to the copy hold its edits back?"),
    "head_start": Experiment("residual_tv_resize", {"critic_head_start": 200},
                             "the generator frozen for its first 200 steps (1,000 critic"
                             " updates): does a critic that reads AUs first lead it sooner?"),
    "ttur_1e-3": Experiment("residual_tv_resize", {"d_learning_rate": 1e-3},
                            "a critic 10× faster than the generator: how soon does it read"
                            " AUs (critic probe)?"),
    "critic_he": Experiment("residual_tv_resize", {"model.d_kernel_init": "he"},
                            "a critic whose signal does not shrink layer by layer at init"),
    "critic_he_ttur": Experiment("critic_he", {"d_learning_rate": 4e-4},
                                 "that critic at four times the rate: does it read AUs sooner?"),
    "critic_he_ttur_head_start": Experiment(
        "critic_he_ttur", {"critic_head_start": 200},
        "with a critic that reads AUs sooner and a head start to read them: does the GAN"
        " edit?"),
    "warmup_200": Experiment(
        "residual_tv_resize", {"generator_warmup_steps": 200},
        "the generator's rate ramped up over 200 steps instead of held at 0: is the head"
        " start's gain the generator's early Adam steps (its second moment unsettled)?"),
    "head_start_frozen_critic": Experiment(
        "head_start", {"critic_frozen_in_head_start": True},
        "the critic frozen through the head start too (both networks only gather Adam's"
        " moments): is the head start's gain the critic settling against copies (lost"
        " here) or the generator's optimiser state (kept here)?"),
    "au_gp_1": Experiment(
        "head_start", {"loss.au_gp": 1.0},
        "the critic's AU head priced by its squared Jacobian norm on the penalty's"
        " interpolates (the trained demo's head reads its smeared smiles as smiles almost as"
        " well as the true ones): does a smoother reading make the generator draw the"
        " expression?"),
    "au_gp_10": Experiment("au_gp_1", {"loss.au_gp": 10.0}, "the same, ten times stronger"),
    "head_start_critic_32": Experiment(
        "head_start", {"model.d_width": 32},
        "the demo with a critic twice as wide (4× its convolution work): `paper_widths`"
        " widened both networks and the batch together; is a critic that reads the AUs"
        " better the half that lets the edits land?"),
    "head_start_cycle_3": Experiment(
        "head_start", {"loss.cycle": 3.0},
        "the demo with its L1 cycle at 3 (from 10): shown the answer on the GAN's path, the"
        " demo's generator reaches 0.34 at 1,500 steps with no regulariser, 0.145 with the"
        " recipe's three, and 0.08 at step 1,000 with the L1 cycle alone (its sign gradient"
        " pulls every pixel back to the copy): does the cycle hold the GAN's edits back too?"),
    "head_start_400": Experiment(
        "head_start", {"critic_head_start": 400},
        "a head start twice as long (2,000 critic updates before the generator moves, 1,100"
        " generator updates left): session 12 found the head start works through the"
        " critic's updates against copies; do more of them help more?"),
    "head_start_adv_0": Experiment(
        "head_start", {"loss.adv": 0.0},
        "the demo without the adversarial term in either network (`loss.adv` weights both;"
        " the critic trains on its AU head and penalty only): does the AU term alone carry"
        " the edits?"),
    "head_start_adv_3": Experiment(
        "head_start", {"loss.adv": 3.0},
        "the demo with the adversarial term three times stronger in both networks: without"
        " it three seeds end near copying (session 15); does more of the realness game"
        " help more?"),
    "head_start_adv_10": Experiment(
        "head_start", {"loss.adv": 10.0},
        "the demo with the adversarial term ten times stronger in both networks: at three"
        " times seed 0 ends with every suite edit above copying and half the demo's leak"
        " (session 16); does the trend go on?"),
    "head_start_g_adv_3": Experiment(
        "head_start", {"loss.g_adv_scale": 3.0},
        "the demo with the adversarial term three times stronger in the generator alone"
        " (the critic's balance of realness, penalty and AU terms as the demo's): three"
        " times in both networks halved the leak on four seeds and closed the eyes less"
        " (session 16); is the leak the generator's weighting and the eyes the critic's?"),
    "head_start_d_adv_3": Experiment(
        "head_start", {"loss.adv": 3.0, "loss.g_adv_scale": 1 / 3},
        "the demo with the adversarial term three times stronger in the critic alone (its"
        " penalty and AU terms a third as strong beside it; the generator weighs its terms"
        " as the demo's): three times in the generator alone did not lower the leak"
        " (session 17), three times in both halved it (session 16); is it the critic's"
        " balance?"),
    "head_start_projection": Experiment(
        "head_start", {"model.d_projection": True},
        "the demo with a projection critic (its realness reads the AUs a face should show):"
        " the AU head is trained on real faces only, and the generator satisfies it with"
        " changes that are not the expression; a critic that sees the edits with their"
        " targets is trained to score them below real faces with theirs"),
    "head_start_projection_mismatch": Experiment(
        "head_start_projection", {"loss.mismatch": 0.5},
        "the projection critic with half its negatives real faces paired with other faces'"
        " AUs (matching-aware, Reed et al. 2016): it must learn which AUs a real face shows"
        " from the start, not only how edits differ from faces"),
    "head_start_ns_r1": Experiment(
        "head_start", {"loss.gan": "ns_r1", "loss.gp": 1.0},
        "the demo playing the non-saturating logistic game with R1 on real faces (weight 1)"
        " instead of WGAN-GP, as StyleGAN2 and StarGAN v2 do: every critic-side change to"
        " the Wasserstein game failed to lift the demo (sessions 6–20); does the game?"),
    "head_start_ns_r1_gp_5": Experiment(
        "head_start_ns_r1", {"loss.gp": 5.0},
        "the logistic game with R1 five times stronger (Mescheder et al.'s γ = 10): at"
        " weight 1 it edits sooner than the demo and its leak rises mid-run; does a"
        " flatter critic at the real faces keep the early lead?"),
    "head_start_ns_r1_n_critic_1": Experiment(
        "head_start_ns_r1", {"n_critic": 1, "num_train_steps": 2500},
        "the logistic game with one critic step per generator step (its usual ratio), run"
        " for the demo's wall time: 2,500 steps cost what 1,500 do at five critic steps"),
    "head_start_ns_r1_adv_3": Experiment(
        "head_start_ns_r1", {"loss.adv": 3.0},
        "the logistic game with its realness term three times stronger in both networks:"
        " alone it edits sooner than the demo and leaks more from mid-run (session 21);"
        " under WGAN-GP three times halved the leak on four seeds (session 16); together?"),
    "head_start_adam_0_0.9": Experiment(
        "head_start", {"adam_b1": 0.0, "adam_b2": 0.9},
        "the demo with the Adam moments Gulrajani et al. ran WGAN-GP with (β1 = 0, β2 ="
        " 0.9) in both networks, not GANimation's (0.5, 0.999): no momentum, and a second"
        " moment that forgets within ten steps, for a game whose critic moves every step"),
    "head_start_batch_16": Experiment(
        "head_start", {"batch_size": 16},
        "the demo at twice the batch, as many steps: a GAN's critic estimates its game"
        " from each batch (in BigGAN an 8× batch raised the Inception score by 46%), and"
        " the generator shown the answer learns more per step at batch 32 (probe table);"
        " it costs wall time"),
    "head_start_spectral_norm": Experiment(
        "head_start", {"model.d_spectral_norm": True},
        "the demo with every critic kernel spectrally normalised (Miyato et al. 2018),"
        " the gradient penalty kept: each critic layer at most 1-Lipschitz, so its AU head,"
        " which the penalty never sees, cannot reward a small sharp change more than its"
        " layers allow; the smoother AU head sessions 7 and 14 named, by the field's usual means"),
    "head_start_target_noise_0": Experiment(
        "head_start", {"target_au_noise": 0.0},
        "the demo with targets that are other real faces' AUs as they are, without"
        " GANimation's uniform ±0.1 on all 17 (the issue's last untried candidate, the"
        " target-AU sampling): a noisy target asks for a faint trace of every AU, which"
        " no real face shows and the critic's AU head never read; do those asks feed the"
        " leak and the moves that are not the expression?"),
    "head_start_critic_8": Experiment(
        "head_start", {"model.d_width": 8},
        "the demo with a critic half as wide (a quarter of its convolution work): every"
        " critic that read the AUs sooner or better left the edits no better or worse"
        " (`head_start_critic_32`, `au_pretrain`, `head_start_spectral_norm`); does the"
        " converse hold, a weaker reader whose AU gradient the small generator cannot"
        " answer with moves that are not the expression?"),
    "head_start_decay_2_3": Experiment(
        "head_start", {"lr_decay_fraction": 2 / 3},
        "the demo with both rates decaying linearly over the last two thirds (from step"
        " 500), not the last third: the demo's gain climbs late (0.05 at step 750, 0.14"
        " at the end on seed 0) and several changes led early and fell back at the"
        " constant rate; does decaying sooner keep more of what the run passes through?"),
    "head_start_noise_0.1": Experiment(
        "head_start", {"critic_noise": 0.1},
        "the demo with instance noise: every face the critic reads, real or edit, in"
        " both networks' updates, with N(0, 0.1²) added ([-1, 1] units: 0.05 of the"
        " range). Shifted views (session 15) and the AU head's Jacobian penalty"
        " (sessions 9, 11) did not stop the generator from satisfying the AU head with"
        " patterns that are not the expression; does a critic that cannot read detail"
        " below the noise, whose AU gradient is a Gaussian-smoothed one, do it?"),
    "head_start_cond_source": Experiment(
        "head_start", {"loss.cond_reference": "source"},
        "the demo with the generator's AU term relative to the critic's reading of the"
        " source: the edit must read as that reading plus the requested change, not as"
        " the targets. The demo's critic explains about half of the AUs' variance; an"
        " absolute target asks each edit to cancel the head's misreading of its face"
        " too, with whatever pixels move the head. Does a target the misreading does not"
        " enter make the edits the expression?"),
    "head_start_passes_edit": Experiment(
        "head_start", {"loss.regulariser_passes": "edit"},
        "the demo with the flow TV and the attention term on the edit alone, as the paper"
        " states them (eqs. 9-10), not averaged over the edit and the cycle pass. The"
        " issue lists which passes the attention term applies to; the demo kept both from"
        " the recipe the first experiments measured. Without the attention reward on the"
        " cycle pass, its texture path may redraw the source: a cycle cheaper to satisfy,"
        " the term that cost a generator shown the answer most (session 13)."),
    "head_start_cond_mean": Experiment(
        "head_start", {"loss.au_mse": "mean"},
        "the demo with the AU loss's plain mean, not GANimation's mean divided by the"
        " batch once more: the AU term 8 times as strong in both networks. The issue"
        " lists the AU-loss normalisation; only weaker AU terms were run (cond_250,"
        " cond_1280, on older recipes). Does a stronger pull towards the critic's"
        " reading make the demo edit more, now that its critic reads?"),
    "head_start_cond_2000": Experiment(
        "head_start", {"loss.cond": 2000.0},
        "the demo with half its AU weight, in both networks: the other side of"
        " `head_start_cond_mean` (8 times the weight: the critic fooled, the gain far"
        " below copying). Does a weaker pull towards the critic's reading edit less, or"
        " fool the critic less and land more?"),
    "head_start_flow_l1_0.5": Experiment(
        "head_start", {"loss.flow_l1": 0.5},
        "the demo with the flow's mean L1 length in pixels priced at 0.5 (over both passes,"
        " as its flow TV): the TV prices only the flow's changes, so a smooth move of the"
        " whole face is free, and over 68 screen runs the flow's mean length at step"
        " 1,500 tracks a lower gain and a larger leak (r = -0.59, +0.63; the runs whose"
        " flow ran to 3-5 px fell below copying). Does pricing the length keep the flow"
        " to the features an expression moves? 0.5 × the demo's 1.3-2.2 px is about the"
        " weighted cycle term (0.6)."),
    "head_start_film": Experiment(
        "head_start", {"model.au_conditioning": "film"},
        "the demo with the AUs entering the generator through FiLM at every norm, not as"
        " constant input planes whose interior effect the first instance norm removes (7-8%"
        " survives, session 5). Session 5's `film` ran on a recipe that barely edited; the"
        " demo's trained generators, asked for no change at all (targets = the neutral"
        " source's AUs), score nearly the gains they score when asked for the edits (seed"
        " 1 of `head_start_passes_edit`: 0.090 against 0.108): their edits barely depend on"
        " the targets. Does a direct path for the AUs make them?"),
    "head_start_identity_10": Experiment(
        "head_start", {"loss.identity": 10.0},
        "the demo with an identity term at the cycle's weight: each face, asked for its own"
        " AUs, must come back as it is (mean L1; CycleGAN's identity term). The demo's"
        " generators, asked for no change, score most of their suite gain anyway (session"
        " 25's unasked gain); does pricing that move where it shows leave the part of the"
        " edit the target asks for?"),
    "head_start_cond_fake_0.3": Experiment(
        "head_start", {"loss.cond_fake": 0.3},
        "the demo with its critic's AU head also regressing the edits on their sources'"
        " AUs, at 0.3 of the real faces' AU term. The demo's edits barely depend on their"
        " targets (session 25: asked for a tenth of each target they gain nearly as much),"
        " yet its head reads them as their targets (g_cond 0.0027 against 0.0048 for a"
        " target-blind reading): a small target-dependent change moves the head. Read back"
        " as the source, such a change no longer pays; does the generator then make the"
        " change the head reads in real faces? At a perfect edit the head's reading is"
        " pulled 23% of the way towards the mean AUs."),
    "head_start_cond_fake_0.1": Experiment(
        "head_start", {"loss.cond_fake": 0.1},
        "`head_start_cond_fake_0.3` with the edits' term at a third of its weight (session 26:"
        " at 0.3 the asked part rose from the demo's +0.018-0.035 to +0.096-0.111 on two seeds"
        " while the gain fell to 0.047-0.082, the unasked move turned harmful; at 1 the flow ran"
        " to 7 px and the gain fell below copying). Does a lighter hold keep the demo's"
        " common move and add a part that follows the target?"),
    "head_start_cond_fake_1": Experiment(
        "head_start", {"loss.cond_fake": 1.0},
        "`head_start_cond_fake_0.3` with the edits' term as heavy as the real faces' (session"
        " 26: at 0.3 the edits' asked part rose from the demo's +0.035 to +0.096 while their"
        " unasked move vanished). Does a head held harder to the sources read more of the"
        " real change, or does its pull towards the mean AUs (half the way at a perfect"
        " edit) make the generator overshoot?"),
    "head_start_cond_fake_0.3_identity_10": Experiment(
        "head_start_cond_fake_0.3", {"loss.identity": 10.0},
        "`head_start_cond_fake_0.3` with the identity term at the cycle's weight (session"
        " 25's `head_start_identity_10`): with the critic reading the edits as their sources,"
        " the edits follow their targets (asked part +0.096), but the generator, asked for"
        " none, still closes the eyes and draws a mouth that no smile's truth shows (unasked"
        " smile -0.30). A face asked for its own AUs must come back as it is: does the"
        " asked part remain, now without the unasked move's losses?"),
    "head_start_cycle_huber": Experiment(
        "head_start", {"loss.cycle_distance": "huber", "loss.huber_delta": 0.1},
        "the demo with its cycle's error in Huber (δ 0.1: squared below, L1 above): the L1"
        " cycle's sign gradient pulls every small error back to the copy, the squared cycle"
        " (`cycle_l2`) let the flow run; does L1's pull on large errors alone hold the flow"
        " and let the edits land?"),
    "head_start_shift_1": Experiment(
        "head_start", {"critic_shift": 1.0},
        "the demo's critic reading each face shifted by its own random sub-pixel offset"
        " (up to 1 px, bilinear), real and fake alike, in both networks' updates"
        " (`critic_views`): sessions 7, 13 and 14 found every critic that read AUs better"
        " made the edits worse; does an AU gradient averaged over shifts reward the"
        " expression rather than a pattern on the pixel grid?"),
    "head_start_shift_4": Experiment(
        "head_start_shift_1", {"critic_shift": 4.0},
        "the same with shifts up to 4 px (DiffAugment's translation is up to 1/8 of the"
        " image, 8 px here): is it the resampling or the translation that helps?"),
    "flow_grid_4": Experiment(
        "head_start", {"model.flow_grid": 4},
        "the demo with the flow's offsets tied over 4×4 blocks: a flow that cannot tear"
        " pixel-wide streaks and whose critic gradient is pooled over a block; does the"
        " GAN draw fewer streaks and more expression?"),
    "warp_only_flow_grid_4": Experiment(
        "flow_grid_4", {"model.variant": "warp_only"},
        "the warp alone, its offsets tied over 4×4 blocks: warp-only tears the mouth chasing"
        " the critic's AU reading (−0.53 ± 0.42 over three seeds); can a flow too smooth to"
        " tear follow the reading with moves of lids and lips only?"),
    "au_pretrain": Experiment(
        "head_start", {"critic_au_pretrain_steps": 4000},
        "the demo with a critic that reads AUs before the GAN starts (4,000 updates on real"
        " faces' AUs alone at 4e-4: ~65% of their variance in the critic probe)"),
    "au_pretrain_cond_250": Experiment(
        "au_pretrain", {"loss.cond": 250.0},
        "a critic that reads AUs from the start, and an AU term 16× weaker: does the"
        " generator then stop chasing the critic's reading with non-face changes?"),
    "au_pretrain_no_head_start": Experiment(
        "residual_tv_resize", {"critic_au_pretrain_steps": 4000},
        "the AU pretraining instead of the head start"),
    "cycle_l2_head_start": Experiment("cycle_l2", {"critic_head_start": 200},
                                      "both: a squared cycle error and a critic head start"),
    # Paper-size runs for a lent GPU (experiments/gpu_paper_size.sh).
    "paper_widths": Experiment(
        "head_start", {"model.g_width": 64, "model.g_res_blocks": 6, "model.d_width": 64,
                       "batch_size": 25, "num_train_steps": 4000},
        "the demo's recipe with the paper's networks and batch at the demo's 64 px: is the"
        " demo's capacity what holds its GAN at a gain of ~0.12?"),
    "batch_25_steps_4000": Experiment(
        "head_start", {"batch_size": 25, "num_train_steps": 4000},
        "the demo's networks with paper_widths' batch and length: is its gain the batch"
        " and steps, not the widths?"),
    "paper_g_steps_4000": Experiment(
        "head_start", {"model.g_width": 64, "model.g_res_blocks": 6, "num_train_steps": 4000},
        "the paper's generator alone (the demo's critic and batch), 4,000 steps: is its gain"
        " the generator's capacity?"),
    "supervised_l2_paper_widths": Experiment(
        "supervised_fast_l2", {"model.g_width": 64, "model.g_res_blocks": 6,
                               "batch_size": 25, "num_train_steps": 4000},
        "the paired L2 ceiling of the paper's generator and batch at 64 px, 4,000 steps:"
        " what the architecture reaches at scale when shown the answer"),
    "paper128": Experiment(
        "paper_widths", {"model.image_size": 128, "model.d_layers": 6,
                         "dataset_config.resolution": 128, "num_train_steps": 3000},
        "the paper's size (128 px, its networks and batch) with the demo's recipe on 4,000"
        " synthetic faces: does the GAN edit at scale?"),
    "cycle_1": Experiment("residual_tv_resize", {"loss.cycle": 1.0},
                          "a weaker cycle term (not editing cycles perfectly): does it hold the"
                          " edit back?"),
}


def overrides(name: str) -> dict[str, Any]:
  """Every override of `name`: its ancestors' changes, then its own."""
  experiment = EXPERIMENTS[name]
  inherited = overrides(experiment.parent) if experiment.parent else {}
  return {**inherited, **experiment.change}


def _flag_value(value: Any) -> str:
  return "None" if value is None else str(value)


def command(name: str, workdir: str) -> list[str]:
  """The training command of experiment `name`."""
  return ([sys.executable, "-m", "dftnet_jax.main", f"--config={BASE_CONFIG}",
           f"--workdir={workdir}"]
          + [f"--config.{field}={_flag_value(value)}" for field, value in overrides(name).items()])


def read_curve(workdir: str) -> list[dict[str, float]]:
  """The edit suite's scores at each evaluation of a run."""
  with open(os.path.join(workdir, "eval", "suite.jsonl"), encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


def rescore(workdir: str) -> list[dict[str, Any]]:
  """The run's curve with its kept checkpoints scored again by today's
  suite (marked 'rescored'): a run recorded before the suite changed keeps
  its other points as they were measured."""
  import jax  # pylint: disable=g-import-not-at-top
  from dftnet_jax import editing  # pylint: disable=g-import-not-at-top
  from dftnet_jax import edit_suite  # pylint: disable=g-import-not-at-top
  curve = read_curve(workdir)
  for point in curve:
    try:
      model = editing.load_params(workdir, step=point["step"])
    except FileNotFoundError:  # not kept
      continue
    generator = model.generator
    generate = jax.jit(lambda p, x, t: generator.apply({"params": p}, x, t).image)
    suite = edit_suite.suite_faces(model.image_size)
    scores = edit_suite.score_suite(edit_suite.generator_edit_fn(generate, model.params), suite)
    point.update(scores, rescored=True)
  return curve


def _finished(workdir: str, num_steps: int) -> bool:
  path = os.path.join(workdir, "eval", "suite.jsonl")
  return os.path.exists(path) and read_curve(workdir)[-1]["step"] == num_steps


def run(name: str, out: str, again: bool = False, stopped: bool = False) -> dict[str, Any]:
  """Trains experiment `name` in `out/<name>` (unless it finished there) and
  records it; `again`: with its kept checkpoints scored again (`rescore`);
  `stopped`: records a run stopped early as it stands, without training.
  Its minutes are the training loop's wall time at the last evaluation
  (dataset, compilation, steps and evaluations)."""
  workdir = os.path.join(out, name)
  argv = command(name, workdir)
  num_steps = overrides(name)["num_train_steps"]
  if not (_finished(workdir, num_steps) or stopped):
    subprocess.run(argv, cwd=REPO, check=True)
  curve = rescore(workdir) if again else read_curve(workdir)
  record = {
      "name": name, "parent": EXPERIMENTS[name].parent,
      "change": dict(EXPERIMENTS[name].change), "question": EXPERIMENTS[name].question,
      "command": " ".join(["python"] + argv[1:]).replace(workdir, f"workdirs/learning/{name}"),
      "wall_min": curve[-1]["wall_s"] / 60, "curve": curve,
      "stopped": curve[-1]["step"] < num_steps,
  }
  os.makedirs(RECORDS, exist_ok=True)
  with open(os.path.join(RECORDS, f"{name}.json"), "w", encoding="utf-8") as f:
    json.dump(record, f, indent=1, sort_keys=True)
  return record


def _change_text(change: Mapping[str, Any], parent: str | None) -> str:
  if parent is None:
    return "(the demo recipe)"
  return ", ".join(f"{k}={_flag_value(v)}" for k, v in change.items())


def table(records: Sequence[Mapping[str, Any]]) -> str:
  """Markdown: one row per run, with its final gains and its gain curve."""
  rows = ["| experiment | parent | change | gain mean | gain min | leak | worst edit |"
          " gain at each eval | min |",
          "|---|---|---|---|---|---|---|---|---|"]
  for record in records:
    last = record["curve"][-1]
    gains = {k[:-len("/gain")]: v for k, v in last.items() if k.endswith("/gain")}
    worst = min(gains, key=gains.get)
    curve = " ".join(f"{point['gain_mean']:.2f}{'*' if point.get('rescored') else ''}"
                     for point in record["curve"])
    name = record["name"] + (f" (stopped at {last['step']})" if record.get("stopped") else "")
    rows.append(f"| {name} | {record['parent'] or '–'} |"
                f" {_change_text(record['change'], record['parent'])} |"
                f" {last['gain_mean']:.3f} | {last['gain_min']:.3f} | {last['leak_mean']:.4f} |"
                f" {worst} | {curve} | {record['wall_min']:.1f} |")
  return "\n".join(rows) + "\n"


def write_table(log_path: str = LOG, records_dir: str = RECORDS) -> None:
  """Rewrites the table of `log_path` from every record in `records_dir`."""
  records = []
  for path in glob.glob(os.path.join(records_dir, "*.json")):
    with open(path, encoding="utf-8") as f:
      records.append(json.load(f))
  order = list(EXPERIMENTS)
  records.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
  write_between_markers(log_path, TABLE_START, TABLE_END, table(records))


def write_between_markers(path: str, start: str, end: str, body: str) -> None:
  """Replaces what lies between the lines `start` and `end` of `path` with
  `body`, atomically.

  Raises:
    ValueError: `path` lacks a marker.
  """
  with open(path, encoding="utf-8") as f:
    text = f.read()
  if start not in text or end not in text:
    raise ValueError(f"{path} has no table markers ({start!r} … {end!r})")
  head, rest = text.split(start, 1)
  _, tail = rest.split(end, 1)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.write(f"{head}{start}\n{body}{end}{tail}")
  os.replace(path + ".tmp", path)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _EXP.value:
    if _EXP.value not in EXPERIMENTS:
      raise app.UsageError(f"unknown experiment {_EXP.value!r}; one of {', '.join(EXPERIMENTS)}")
    run(_EXP.value, _OUT.value, _RESCORE.value, _STOPPED.value)
  write_table()


if __name__ == "__main__":
  _EXP = flags.DEFINE_string("exp", None, "Experiment to run (a key of EXPERIMENTS).")
  _OUT = flags.DEFINE_string("out", "workdirs/learning", "Folder for the runs' workdirs.")
  _RESCORE = flags.DEFINE_bool("rescore", False,
                               "Score a finished run's kept checkpoints again with today's suite.")
  _STOPPED = flags.DEFINE_bool("stopped", False,
                               "Record a run stopped early (its curve so far); no training.")
  app.run(main)
