"""The DFT-Net objective (paper §2.3): one small pure function per term,
then the critic's and the generator's weighted sums of them (`critic_loss`,
`generator_objective`), the whole objective in one file.

Images are [B, H, W, 3] in [-1, 1]; critic maps [B, h, w]; AUs [B, 17].
Weights and the documented choices live in the config (`config.loss`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from dftnet_jax import aus as aus_lib
from dftnet_jax import critic_views
from dftnet_jax import models

# 'image' [B, H, W, 3] in [-1, 1]; 'aus' and 'target_aus' [B, 17] in [0, 1]
# (the input pipeline draws targets from other examples); numpy on the host,
# with a leading device axis [D, B, ...] before a parallel step splits it.
Batch = dict[str, jax.typing.ArrayLike]
Metrics = dict[str, jax.Array]
ApplyFn = Callable[..., Any]


def critic_score(critic_map: jax.Array) -> jax.Array:
  """A scalar realness per example: the mean of the patch map, [B]."""
  return jnp.mean(critic_map, axis=(1, 2))


# How a map of per-pixel terms is reduced (the gradient penalty's critic
# map, the flow's total variation).
REDUCTIONS: tuple[str, ...] = ("sum", "mean")
# What the flow's total variation measures the flow in.
FLOW_UNITS: tuple[str, ...] = ("normalised", "pixels")


def critic_wgan(real_map: jax.Array, fake_map: jax.Array) -> jax.Array:
  """The critic's WGAN loss: it maximises D(real) − D(fake), so minimises this."""
  return jnp.mean(fake_map) - jnp.mean(real_map)


def generator_wgan(fake_map: jax.Array) -> jax.Array:
  """The generator's WGAN loss: raise the critic's score of its fakes."""
  return -jnp.mean(fake_map)


def critic_logistic(real_map: jax.Array, fake_map: jax.Array) -> jax.Array:
  """The critic's logistic loss, each patch a real-vs-fake logit:
  −log σ(D(real)) − log(1 − σ(D(fake))), averaged over patches."""
  return jnp.mean(jax.nn.softplus(-real_map)) + jnp.mean(jax.nn.softplus(fake_map))


def generator_logistic(fake_map: jax.Array) -> jax.Array:
  """The generator's non-saturating loss −log σ(D(fake)): its gradient stays
  large where the critic confidently rejects the fakes (Goodfellow et al.
  2014), where log(1 − σ(D(fake))) would vanish."""
  return jnp.mean(jax.nn.softplus(-fake_map))


# The adversarial game, `config.loss.gan`: the critic's loss of (real, fake)
# maps and the generator's of the fake map; `critic_loss` takes the game's
# penalty (weight `config.loss.gp`). 'wgan_gp' is the paper's (a Wasserstein
# critic, ‖∇D‖ pulled to 1 on interpolates); 'ns_r1' the non-saturating
# logistic game with R1, ‖∇D‖² on real faces (Mescheder et al. 2018), which
# converges locally where WGAN-GP need not (on the demo it did no better:
# experiments/LEARNING.md, session 21).
GAMES: dict[str, tuple[Callable[[jax.Array, jax.Array], jax.Array],
                       Callable[[jax.Array], jax.Array]]] = {
    "wgan_gp": (critic_wgan, generator_wgan),
    "ns_r1": (critic_logistic, generator_logistic),
}
GANS: tuple[str, ...] = tuple(GAMES)


def game(config: ml_collections.ConfigDict) -> str:
  """`config.loss.gan`, checked (configs saved before the field: 'wgan_gp')."""
  gan = config.loss.get("gan", "wgan_gp")
  if gan not in GAMES:
    raise ValueError(f"config.loss.gan must be one of {GANS}, got {gan!r}")
  return gan


# What each salt draws from a critic update's per-example keys (`salted`);
# the keys themselves draw the gradient penalty's interpolation weights.
SALT_AU_GP_INTERPOLATE, SALT_AU_GP_PROBE, SALT_REAL_VIEW, SALT_FAKE_VIEW = 0, 1, 2, 3


def salted(keys: jax.Array, salt: int) -> jax.Array:
  """Each of the per-example `keys` [B] folded with `salt`: draws
  independent of the keys' own and of other salts', from the keys an update
  already holds."""
  return jax.vmap(lambda k: jax.random.fold_in(k, salt))(keys)


def _interpolates(real: jax.Array, fake: jax.Array, keys: jax.Array) -> jax.Array:
  """α·real + (1 − α)·fake, one α ~ U(0, 1) per example from its key; the
  fakes are constants."""
  alpha = jax.vmap(lambda k: jax.random.uniform(k, (1, 1, 1), real.dtype))(keys)
  return alpha * real + (1.0 - alpha) * jax.lax.stop_gradient(fake)


def gradient_penalty(critic: Callable[[jax.Array], jax.Array], real: jax.Array,
                     fake: jax.Array, keys: jax.Array, *, reduction: str = "sum",
                     eps: float = 1e-12) -> jax.Array:
  """WGAN-GP: mean over examples of (‖∇ₓ D(x̃)‖₂ − 1)² on random interpolates.

  The inner gradient is a nested `jax.grad`, so the outer gradient of this
  penalty w.r.t. the critic's parameters is a double backward.

  Args:
    critic: image [B, H, W, 3] → critic map [B, h, w]; examples must not
      interact (no batch statistics), so one grad of the summed scores gives
      every example's own gradient.
    real: real images.
    fake: generated images (treated as constants).
    keys: one PRNG key per example, [B]: each draws its own interpolation
      weight, so an example's interpolate does not depend on how the batch
      is split over devices.
    reduction: how a critic map becomes the differentiated score: 'sum' of
      the patch scores (GANimation) or their 'mean' (the score the WGAN terms
      use).
    eps: inside the square root, so the norm has a gradient at 0.

  Returns:
    The scalar penalty (not yet multiplied by its weight).
  """
  grads = _score_gradients(critic, _interpolates(real, fake, keys), reduction)
  norms = jnp.sqrt(eps + jnp.sum(grads ** 2, axis=(1, 2, 3)))
  return jnp.mean((norms - 1.0) ** 2)


def r1_penalty(critic: Callable[[jax.Array], jax.Array], real: jax.Array, *,
               reduction: str = "sum") -> jax.Array:
  """R1 (Mescheder et al. 2018): mean over examples of ‖∇ₓ D(x)‖² at the
  real faces, a nested `jax.grad` like `gradient_penalty`'s.

  Flattening the critic where the data lie keeps the logistic game from
  circling the equilibrium; unlike WGAN-GP it asks nothing of the critic
  between real faces and fakes.

  Args:
    critic: image [B, H, W, 3] → critic map [B, h, w]; examples must not
      interact.
    real: real images.
    reduction: as `gradient_penalty`'s.

  Returns:
    The scalar penalty (not yet multiplied by its weight).
  """
  return jnp.mean(jnp.sum(_score_gradients(critic, real, reduction) ** 2, axis=(1, 2, 3)))


def _score_gradients(critic: Callable[[jax.Array], jax.Array], x: jax.Array,
                     reduction: str) -> jax.Array:
  """Each example's gradient of its critic map's sum or mean (`reduction`)
  w.r.t. its own image, [B, H, W, 3]: one grad of the batch's total, since
  examples do not interact."""
  if reduction not in REDUCTIONS:
    raise ValueError(f"gradient penalty reduction must be one of {REDUCTIONS}, got {reduction!r}")
  reduce = jnp.sum if reduction == "sum" else jnp.mean
  return jax.grad(lambda y: jnp.sum(jax.vmap(reduce)(critic(y))))(x)


def au_jacobian_penalty(read_aus: Callable[[jax.Array], jax.Array], real: jax.Array,
                        fake: jax.Array, keys: jax.Array) -> jax.Array:
  """Mean over examples of ‖∂(u·AU(x̃))/∂x̃‖² on random interpolates x̃.

  The critic's AU head is what pushes the generator to edit, and a head
  that is steep in directions real faces never vary along can be moved by
  changes that are not the expression (the demo's critic reads its
  smeared smiles as smiles almost as well as true ones). This prices the
  head's squared Frobenius Jacobian norm where the generator's edits lie,
  so a change of the reading costs a change of the image. Tried at weight
  1 on the demo: the norm fell from 2–6 to ~0.6, the edits did not improve
  (experiments/LEARNING.md, session 9). With u ~ N(0, I₁₇)
  drawn per example, E‖Jᵀu‖² = ‖J‖²_F (Hutchinson's estimator): one nested
  `jax.grad` instead of one per AU.

  Args:
    read_aus: image [B, H, W, 3] → AUs [B, 17]; examples must not interact.
    real: real images.
    fake: generated images (treated as constants).
    keys: one PRNG key per example, [B]; each draws its interpolation
      weight and its projection u.

  Returns:
    The scalar penalty (not yet multiplied by its weight).
  """
  interpolates = _interpolates(real, fake, salted(keys, SALT_AU_GP_INTERPOLATE))
  probe = jax.vmap(lambda k: jax.random.normal(k, (aus_lib.NUM_AUS,)))(
      salted(keys, SALT_AU_GP_PROBE))
  projected = lambda x: jnp.sum(read_aus(x) * probe)
  grads = jax.grad(projected)(interpolates)
  return jnp.mean(jnp.sum(grads ** 2, axis=(1, 2, 3)))


def au_regression(predicted: jax.Array, target: jax.Array, *, batch_divisor: float = 1.0
                  ) -> jax.Array:
  """MSE between predicted and target AUs, divided by `batch_divisor`.

  GANimation divides the mean squared error by the batch size once more
  ("batch size is part of the lambda"), which the paper's weight of 4000
  assumes; `config.loss.au_mse` chooses.
  """
  return jnp.mean((predicted - target) ** 2) / batch_divisor


# What the critic must read an edit as (`generator_au_targets`): the target
# AUs themselves (the paper), or its reading of the source plus the change.
COND_REFERENCES: tuple[str, ...] = ("absolute", "source")


def generator_au_targets(targets: jax.Array, source_aus: jax.Array,
                         source_reading: jax.Array | None) -> jax.Array:
  """The AUs the critic's head must read in an edit.

  Without a reading of the source: the targets (paper eq. 7). With one:
  that reading plus the requested change, targets − source AUs. The head
  explains about half of the AUs' variance in the demo (LEARNING.md).
  Where what it misses is a bias of the face (a neutral face read as
  smiling a little), an absolute target asks the edit to cancel the bias
  too, with whatever pixels move the head; the relative one asks it to
  move the reading by the change alone, which such a bias does not enter
  (RelGAN's relative attributes, Wu et al. 2019, here applied to the
  critic's reading rather than to the generator's input). Tried on the
  demo in session 24: worse (LEARNING.md).
  """
  if source_reading is None:
    return targets
  return source_reading + targets - source_aus


# How an image is compared with the one it should be (the cycle's source,
# the paired ceiling's ground truth): 'l1' (the paper's), 'l2' (squared) or
# 'huber' (squared below `huber_delta`, L1 above it).
PIXEL_DISTANCES: tuple[str, ...] = ("l1", "l2", "huber")
# The default δ of 'huber' (configs/default.py: `loss.huber_delta`).
HUBER_DELTA = 0.1


def pixel_distance(x: jax.Array, y: jax.Array, distance: str = "l1", *,
                   huber_delta: float = HUBER_DELTA) -> jax.Array:
  """mean |x − y| ('l1'), mean (x − y)² ('l2') or mean Huber ('huber').

  Why more than L1: an edit changes 1–8% of a face's pixels, so near the
  copy of the source almost every pixel is already right. L1's gradient
  there is ±1 per pixel however small the error, so the unchanged pixels
  pull any move back to the copy as hard as the changed ones pull towards
  the edit; the squared error's pull fades with the error, leaving the
  changed pixels to lead (experiments/LEARNING.md, session 6), but it also
  fades on large errors, so a cycle term in 'l2' no longer holds the flow
  (`cycle_l2`, session 6). 'huber' is e²/(2δ) for |e| < δ and |e| − δ/2
  beyond (δ = `huber_delta`, in the model's [-1, 1] units): L1's pull on
  large errors, a pull that fades below δ. (optax's Huber divided by δ, so
  that above δ it is L1 less a constant and a term's weight keeps its
  meaning.)
  """
  if distance == "l1":
    return jnp.mean(jnp.abs(x - y))
  if distance == "l2":
    return jnp.mean(jnp.square(x - y))
  if distance == "huber":
    return jnp.mean(optax.huber_loss(x, y, delta=huber_delta)) / huber_delta
  raise ValueError(f"unknown pixel distance {distance!r}; expected one of {PIXEL_DISTANCES}")


def cycle_loss(source: jax.Array, reconstruction: jax.Array, distance: str = "l1", *,
               huber_delta: float = HUBER_DELTA) -> jax.Array:
  """Identity preservation: Xs against G(G(Xs, yt), ys) (paper eq. 8: L1)."""
  return pixel_distance(source, reconstruction, distance, huber_delta=huber_delta)


def identity_loss(source: jax.Array, unasked: jax.Array) -> jax.Array:
  """Mean |G(Xs, ys) − Xs|: asked for its own AUs, a face must come back as
  it is (`config.loss.identity`; CycleGAN's identity term, not in the paper).

  Why: the CPU demo's generators, asked for no change, moved neutral faces
  nearly as far towards each suite edit's truth as when asked for that edit
  (LEARNING.md, session 25): most of what they drew did not depend on the
  target. The cycle prices such a move only through a second edit; this
  prices it where it shows. At the cycle's weight in the demo it did not
  make the edits follow their targets more (session 25: seed 0 0.115 with
  a leak of 0.0084, seed 1 0.046): off by default.
  """
  return pixel_distance(source, unasked, "l1")


def paired_loss(edited: jax.Array, truth: jax.Array, distance: str = "l1", *,
                huber_delta: float = HUBER_DELTA) -> jax.Array:
  """X̂ against the ground-truth edit X_gt, which only the synthetic faces
  have (the ceiling experiment, `config.loss.paired_l1`)."""
  return pixel_distance(edited, truth, distance, huber_delta=huber_delta)


def _differences(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  return x[:, 1:, :, :] - x[:, :-1, :, :], x[:, :, 1:, :] - x[:, :, :-1, :]


def flow_tv(flow: jax.Array, *, reduction: str = "sum", units: str = "normalised"
            ) -> jax.Array:
  """Squared total variation of the flow [B, H, W, 2] (paper eq. 9).

  'sum' adds over pixels and channels and averages over the batch, as the
  equation reads; 'mean' averages over everything (resolution-independent).
  `units` 'pixels' measures Φ in pixels (x·W/2, y·H/2) rather than in the
  normalised coordinates it is predicted in: the paper gives no units, and
  with normalised ones its weight of 1e-4 is (W/2)² times too weak to smooth
  anything (the flow stayed pixel noise in the CPU demo).
  """
  if units == "pixels":
    flow = flow * jnp.array([flow.shape[2] / 2, flow.shape[1] / 2], flow.dtype)
  elif units not in FLOW_UNITS:
    raise ValueError(f"flow TV units must be one of {FLOW_UNITS}, got {units!r}")
  dy, dx = _differences(flow)
  if reduction == "sum":
    return (jnp.sum(dy ** 2) + jnp.sum(dx ** 2)) / flow.shape[0]
  if reduction == "mean":
    return jnp.mean(dy ** 2) + jnp.mean(dx ** 2)
  raise ValueError(f"flow TV reduction must be one of {REDUCTIONS}, got {reduction!r}")


def flow_l1(flow: jax.Array) -> jax.Array:
  """Mean L1 length of the flow [B, H, W, 2] in pixels (|Φx|·W/2 + |Φy|·H/2).

  Not in the paper (`config.loss.flow_l1`). The flow TV prices only changes
  of the flow, so a smooth move of the whole face (a shift, a zoom) costs
  nothing under it, yet an expression moves a few features a few pixels and
  leaves the rest. In the CPU demo's runs the flow's mean length at the end
  tracks a worse gain and a larger leak (68 runs: r = −0.59 and +0.63).
  Priced at 0.5 in the demo (LEARNING.md, session 25) the flow shortened
  and leaked less but the gain fell (0.137 → 0.055): off by default.
  """
  pixels = flow * jnp.array([flow.shape[2] / 2, flow.shape[1] / 2], flow.dtype)
  return jnp.mean(jnp.sum(jnp.abs(pixels), axis=-1))


def texture_change_tv(texture: jax.Array, source: jax.Array) -> jax.Array:
  """Mean L1 total variation of the texture's change, B − X.

  A stripe or checkerboard drawn over the face changes sign every pixel and
  costs the most; an edge of a real edit (the mouth's opening) costs once
  along its length. The critic's AU head is fooled early by such patterns,
  and the generator learns them first unless they cost something.
  """
  dy, dx = _differences(texture - source)
  return jnp.mean(jnp.abs(dy)) + jnp.mean(jnp.abs(dx))


def attention_dftnet(attention: jax.Array) -> jax.Array:
  """−mean(A) (paper eq. 10): rewards using the warped source, so the flow
  path cannot collapse to Φ = 0 with the texture doing all the work."""
  return -jnp.mean(attention)


def attention_ganimation(attention: jax.Array, *, mean_weight: float,
                         smooth_weight: float) -> jax.Array:
  """GANimation's mask terms: mean_weight·mean(A) + smooth_weight·Σ|∇A|.

  In GANimation A = 1 keeps the source unchanged; penalising mean(A) stops the
  mask saturating to the do-nothing solution, the summed L1 total variation
  keeps it smooth.
  """
  dy, dx = _differences(attention)
  tv = jnp.sum(jnp.abs(dy)) + jnp.sum(jnp.abs(dx))
  return mean_weight * jnp.mean(attention) + smooth_weight * tv


# How the AU regression's squared error is normalised (`_au_divisor`).
AU_MSES: tuple[str, ...] = ("ganimation", "mean")


def _au_divisor(config: ml_collections.ConfigDict) -> float:
  if config.loss.au_mse == "ganimation":
    return float(config.batch_size)
  if config.loss.au_mse == "mean":
    return 1.0
  raise ValueError(f"config.loss.au_mse must be one of {AU_MSES}, got {config.loss.au_mse!r}")


# The critic's weighted terms: adversarial, gradient penalty, AU regression.
CRITIC_TERMS: tuple[str, ...] = ("adv", "gp", "cond")


def critic_loss(d_params: Any, fake: jax.Array, batch: Batch, keys: jax.Array, *,
                d_apply: ApplyFn, config: ml_collections.ConfigDict,
                terms: Sequence[str] = CRITIC_TERMS) -> tuple[jax.Array, Metrics]:
  """The critic's adversarial loss and its penalty (`config.loss.gan`: the
  paper's WGAN-GP, or the logistic game with R1) and AU regression on real
  images.

  `keys` [B] hold one PRNG key per example, for its penalty interpolate
  and, with `config.critic_shift` or `config.critic_noise` > 0, its real and
  fake views (`critic_views`: the penalty and the AU terms are the viewing
  critic's);
  `terms` (of `CRITIC_TERMS`) are those the total adds, each weighted. With
  `loss.au_gp` > 0 the AU head's Jacobian penalty
  (`au_jacobian_penalty`) is added wherever "gp" is.

  The critic sees real faces with their AUs and fakes with their targets (a
  projection critic reads them; others ignore them). With `loss.mismatch`
  = m > 0 a share m of its negatives are the real faces paired with the
  targets, other faces' AUs, so it must learn which AUs a face shows to
  tell them from real pairs. With `loss.cond_fake` = w > 0 the AU head
  also regresses the edits on their sources' AUs, weighted w × `loss.cond`
  and riding with "cond" (reported as `d_cond_fake`).
  """
  max_shift, noise_std = config.get("critic_shift", 0.0), config.get("critic_noise", 0.0)
  viewed = max_shift or noise_std
  real_keys = salted(keys, SALT_REAL_VIEW) if viewed else None
  real_view = lambda x: critic_views.view(x, real_keys, max_shift, noise_std)
  critic = lambda x, aus: d_apply({"params": d_params}, x, aus)
  viewing_critic = lambda x, aus: critic(real_view(x), aus)
  targets = batch["target_aus"]
  gan = game(config)
  values, metrics = {}, {}
  if "adv" in terms or "cond" in terms:
    # One critic pass over real and fake together: larger, fewer convolutions.
    fake_keys = salted(keys, SALT_FAKE_VIEW) if viewed else None
    real = real_view(batch["image"])
    images = [real, critic_views.view(fake, fake_keys, max_shift, noise_std)]
    conditions = [batch["aus"], targets]
    mismatch = config.loss.get("mismatch", 0.0)
    if mismatch:
      images.append(real)
      conditions.append(targets)
    maps, predicted_aus = critic(jnp.concatenate(images), jnp.concatenate(conditions))
    real_map, fake_map, *mismatched = jnp.split(maps, len(images))
    critic_adv = GAMES[gan][0]
    values["adv"] = critic_adv(real_map, fake_map)
    negatives = jnp.mean(fake_map)
    if mismatch:
      # Real pairs against (1 − m) edits and m real faces with wrong AUs.
      values["adv"] = (1 - mismatch) * values["adv"] + mismatch * critic_adv(real_map,
                                                                              mismatched[0])
      negatives = (1 - mismatch) * negatives + mismatch * jnp.mean(mismatched[0])
    num = fake.shape[0]
    values["cond"] = au_regression(predicted_aus[:num], batch["aus"],
                                   batch_divisor=_au_divisor(config))
    if "cond" in terms and config.loss.get("cond_fake"):
      # The edits read as their sources' AUs: a small change of the source
      # that moves the head's reading to the target (the demo's edits do so,
      # session 25) is read back as the source, so only a change the head
      # cannot tell from a real expression still pays.
      values["cond_fake"] = au_regression(predicted_aus[num:2 * num], batch["aus"],
                                          batch_divisor=_au_divisor(config))
    metrics["d_real_minus_fake"] = jnp.mean(real_map) - negatives
  if "gp" in terms:
    # R1 differentiates the critic at the real faces as it views and scores
    # them. WGAN-GP's interpolates are viewed through the real examples'
    # shifts and noise: both are affine, so this is the interpolate of the
    # viewed real and the fake viewed through the real's draws (not its own).
    # They are scored as faces showing the fakes' targets.
    if gan == "ns_r1":
      values["gp"] = r1_penalty(lambda x: viewing_critic(x, batch["aus"])[0], batch["image"],
                                reduction=config.loss.gp_reduction)
    else:
      values["gp"] = gradient_penalty(lambda x: viewing_critic(x, targets)[0], batch["image"],
                                      fake, keys, reduction=config.loss.gp_reduction)
    if config.loss.get("au_gp"):
      # The AU head's smoothness rides with the realness penalty, in
      # whichever update applies it; it is taken on interpolates in either
      # game.
      values["au_gp"] = au_jacobian_penalty(lambda x: viewing_critic(x, targets)[1],
                                            batch["image"], fake, keys)
  weights = {term: config.loss[term] for term in terms}
  if "au_gp" in values:
    weights["au_gp"] = config.loss.au_gp
  if "cond_fake" in values:
    weights["cond_fake"] = config.loss.cond * config.loss.cond_fake
  total = sum(weight * values[term] for term, weight in weights.items())
  return total, {"d_loss": total, **{f"d_{name}": value for name, value in values.items()},
                 **metrics}


# Which generator passes DFT-Net's flow TV and attention term apply to:
# the edit only (the paper's eqs. 9–10), or the edit and the cycle pass,
# averaged or summed.
REGULARISER_PASSES: tuple[str, ...] = ("edit", "both_mean", "both_sum")


def _over_passes(term: Callable[[models.GeneratorOutput], jax.Array],
                 edited: models.GeneratorOutput, cycled: models.GeneratorOutput,
                 passes: str) -> jax.Array:
  """`term` of the edit, or of both passes averaged or summed (`passes`)."""
  if passes == "edit":
    return term(edited)
  if passes == "both_mean":
    return (term(edited) + term(cycled)) / 2
  if passes == "both_sum":
    return term(edited) + term(cycled)
  raise ValueError(f"config.loss.regulariser_passes must be one of {REGULARISER_PASSES},"
                   f" got {passes!r}")


def generator_objective(edited: models.GeneratorOutput, g_params: Any, d_params: Any,
                        batch: Batch, keys: jax.Array | None = None, *, g_apply: ApplyFn,
                        d_apply: ApplyFn, config: ml_collections.ConfigDict
                        ) -> tuple[jax.Array, Metrics]:
  """Adversarial + AU + cycle + the variant's flow/attention regularisers,
  given the generator's edit of the batch towards its target AUs.

  Taking the edit as an argument lets a training cycle share one generator
  forward between its last critic step and its generator step. Metrics hold
  each term unweighted (GANimation's mask terms come weighted, as one term)
  and the weighted total. `keys` [B], one PRNG key per example, draw the
  critic's views of the edit (`critic_views`); only a config with
  `critic_shift` or `critic_noise` > 0 needs them.
  """
  targets = batch["target_aus"]
  cycled = g_apply({"params": g_params}, edited.image, batch["aus"])
  max_shift, noise_std = config.get("critic_shift", 0.0), config.get("critic_noise", 0.0)
  if (max_shift or noise_std) and keys is None:
    raise ValueError("config.critic_shift or config.critic_noise > 0: the generator objective"
                     " needs per-example keys for the critic's views of the edit")
  critic = lambda x, aus: d_apply({"params": d_params},
                                  critic_views.view(x, keys, max_shift, noise_std), aus)
  fake_map, fake_aus = critic(edited.image, targets)
  cfg = config.loss
  reference = cfg.get("cond_reference", "absolute")
  if reference not in COND_REFERENCES:
    raise ValueError(f"config.loss.cond_reference must be one of {COND_REFERENCES},"
                     f" got {reference!r}")
  # The source is viewed through the edit's draws, so a view's shift or
  # noise moves both readings alike.
  source_reading = (critic(batch["image"], batch["aus"])[1] if reference == "source"
                    else None)
  wanted = generator_au_targets(targets, batch["aus"], source_reading)
  divisor = _au_divisor(config)
  delta = cfg.get("huber_delta", HUBER_DELTA)
  terms = {
      "g_adv": (cfg.adv * cfg.get("g_adv_scale", 1.0), GAMES[game(config)][1](fake_map)),
      "g_cond": (cfg.cond, au_regression(fake_aus, wanted, batch_divisor=divisor)),
      "g_cycle": (cfg.cycle, cycle_loss(batch["image"], cycled.image,
                                        cfg.get("cycle_distance", "l1"), huber_delta=delta)),
  }
  if cfg.get("identity"):
    terms["g_identity"] = (cfg.identity, identity_loss(
        batch["image"], g_apply({"params": g_params}, batch["image"], batch["aus"]).image))
  if cfg.get("paired_l1"):
    terms["g_paired_l1"] = (cfg.paired_l1, paired_loss(
        edited.image, batch["target_image"], cfg.get("paired_distance", "l1"),
        huber_delta=delta))
  # Configs saved before the field existed ran both passes, averaged.
  over_passes = functools.partial(_over_passes, edited=edited, cycled=cycled,
                                  passes=cfg.get("regulariser_passes", "both_mean"))
  if edited.flow is not None:
    terms["g_tv"] = (cfg.tv, over_passes(lambda o: flow_tv(
        o.flow, reduction=cfg.tv_reduction, units=cfg.tv_units)))
    if cfg.get("flow_l1"):
      terms["g_flow_l1"] = (cfg.flow_l1, over_passes(lambda o: flow_l1(o.flow)))
  if cfg.get("texture_tv") and config.model.variant == "dftnet":
    terms["g_texture_tv"] = (cfg.texture_tv,
                             texture_change_tv(edited.texture, batch["image"]))
  if edited.attention is not None:
    if config.model.variant == "ganimation":
      # GANimation sums the mask's smoothness over the whole batch; this device
      # sums its share, and the pmean of the gradients divides by the shares.
      shares = config.batch_size / batch["image"].shape[0]
      attention = functools.partial(attention_ganimation, mean_weight=cfg.ganimation_mask,
                                    smooth_weight=shares * cfg.ganimation_mask_smooth)
      # GANimation adds its mask terms of the edit and of the cycle.
      terms["g_attention"] = (1.0, _over_passes(lambda o: attention(o.attention), edited,
                                                cycled, "both_sum"))
    else:
      terms["g_attention"] = (cfg.attention,
                              over_passes(lambda o: attention_dftnet(o.attention)))
  total = sum(weight * value for weight, value in terms.values())
  metrics = {"g_loss": total, **{name: value for name, (_, value) in terms.items()}}
  if edited.attention is not None:
    metrics["mean_attention"] = jnp.mean(edited.attention)
  if edited.flow is not None:
    metrics["mean_abs_flow"] = jnp.mean(jnp.abs(edited.flow))
  return total, metrics


def edit_batch(g_apply: ApplyFn, g_params: Any, batch: Batch) -> models.GeneratorOutput:
  """The generator's edit of the batch towards its target AUs."""
  return g_apply({"params": g_params}, batch["image"], batch["target_aus"])


def generator_loss(g_params: Any, d_params: Any, batch: Batch, keys: jax.Array | None = None,
                   *, g_apply: ApplyFn, d_apply: ApplyFn, config: ml_collections.ConfigDict
                   ) -> tuple[jax.Array, Metrics]:
  """`generator_objective` of the generator's own edit of the batch."""
  edited = edit_batch(g_apply, g_params, batch)
  return generator_objective(edited, g_params, d_params, batch, keys, g_apply=g_apply,
                             d_apply=d_apply, config=config)
