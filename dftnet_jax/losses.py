"""The DFT-Net objective (paper §2.3), one small pure function per term.

Images are [B, H, W, 3] in [-1, 1]; critic maps [B, h, w]; AUs [B, 17].
Weights and the documented choices live in the config (`config.loss`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from dftnet_jax import aus as aus_lib


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
  if reduction not in REDUCTIONS:
    raise ValueError(f"gradient penalty reduction must be one of {REDUCTIONS}, got {reduction!r}")
  interpolates = _interpolates(real, fake, keys)
  reduce = jnp.sum if reduction == "sum" else jnp.mean

  def total_score(x: jax.Array) -> jax.Array:
    return jnp.sum(jax.vmap(reduce)(critic(x)))

  grads = jax.grad(total_score)(interpolates)
  norms = jnp.sqrt(eps + jnp.sum(grads ** 2, axis=(1, 2, 3)))
  return jnp.mean((norms - 1.0) ** 2)


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
  fold = lambda salt: jax.vmap(lambda k: jax.random.fold_in(k, salt))(keys)
  interpolates = _interpolates(real, fake, fold(0))
  probe = jax.vmap(lambda k: jax.random.normal(k, (aus_lib.NUM_AUS,)))(fold(1))
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


# How an image is compared with the one it should be (the cycle's source,
# the paired ceiling's ground truth): 'l1' (the paper's) or 'l2' (squared).
PIXEL_DISTANCES: tuple[str, ...] = ("l1", "l2")


def pixel_distance(x: jax.Array, y: jax.Array, distance: str = "l1") -> jax.Array:
  """mean |x − y| ('l1') or mean (x − y)² ('l2') over everything.

  Why both: an edit changes 1–8% of a face's pixels, so near the copy of
  the source almost every pixel is already right. L1's gradient there is
  ±1 per pixel however small the error, so the unchanged pixels pull any
  move back to the copy as hard as the changed ones pull towards the edit;
  the squared error's pull fades with the error, leaving the changed
  pixels to lead (experiments/LEARNING.md, session 6).
  """
  if distance == "l1":
    return jnp.mean(jnp.abs(x - y))
  if distance == "l2":
    return jnp.mean(jnp.square(x - y))
  raise ValueError(f"unknown pixel distance {distance!r}; expected one of {PIXEL_DISTANCES}")


def cycle_loss(source: jax.Array, reconstruction: jax.Array, distance: str = "l1"
               ) -> jax.Array:
  """Identity preservation: Xs against G(G(Xs, yt), ys) (paper eq. 8: L1)."""
  return pixel_distance(source, reconstruction, distance)


def paired_loss(edited: jax.Array, truth: jax.Array, distance: str = "l1") -> jax.Array:
  """X̂ against the ground-truth edit X_gt, which only the synthetic faces
  have (the ceiling experiment, `config.loss.paired_l1`)."""
  return pixel_distance(edited, truth, distance)


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
