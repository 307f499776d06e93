"""What the critic sees: each image shifted by its own random sub-pixel
offset (`config.critic_shift`) and/or with its own Gaussian noise added
(`config.critic_noise`), in both networks' updates.

Why: the demo's generator learns moves that satisfy its own small critic's
AU head better than they draw the expression (experiments/LEARNING.md,
sessions 7, 13 and 14: every critic that read AUs better made the edits
worse). A critic that reads a randomly shifted, bilinearly resampled copy
cannot be satisfied by a pattern tied to the pixel grid: the generator's
AU gradient becomes an expectation over shifts (expectation over
transformations), and the critic sees real and fake faces through the
same kind of transformation, so neither side learns the shift itself (the
idea of DiffAugment's translation, Zhao et al. 2020, here continuous and
with the border replicated instead of zeros). The gradient penalty then
constrains the critic through the resampling, which damps the finest
pixel-grid patterns: consistent, since the generator meets the critic the
same way. Tried on the demo in session 15 (LEARNING.md): at 1 and 4 px it
did not help.

Noise is instance noise (Sønderby et al. 2017; Arjovsky and Bottou 2017):
real and generated faces seen through the same additive N(0, σ²) overlap
in distribution, so the critic cannot separate them by detail below the
noise, and its AU head, trained on noisy real faces, reads what survives
the noise: structure larger than a pixel. In expectation over the noise
the critic is a Gaussian-smoothed function of its input (randomised
smoothing), so the generator's AU gradient is that smoothed critic's.
Tried on the demo in session 24 (LEARNING.md): at σ = 0.1 it did not help.

A shift of the whole image is separable: each axis is resampled by 1-D
linear interpolation between two pixels, with the border pixel replicated
(as `warp` does), two 1-D gathers where the general warp needs a 2-D one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dftnet_jax import warp


def _shift_axis(image: jax.Array, offset: jax.Array, axis: int) -> jax.Array:
  """`image` [H, W, C] sampled at (index + offset) along `axis`, linearly
  between the two nearest pixels, the border replicated."""
  size = image.shape[axis]
  lower, upper, frac = warp.corner_weights(jnp.arange(size, dtype=image.dtype) + offset, size)
  shape = [1, 1, 1]
  shape[axis] = size
  frac = frac.reshape(shape)
  return (jnp.take(image, lower, axis=axis) * (1.0 - frac)
          + jnp.take(image, upper, axis=axis) * frac)


def shift(images: jax.Array, offsets: jax.Array) -> jax.Array:
  """Each image [B, H, W, C] sampled at its pixel grid plus its offset
  [B, 2] (dy, dx) in pixels: the content moves by −offset. Differentiable
  in the images (and the offsets)."""
  def one(image: jax.Array, offset: jax.Array) -> jax.Array:
    return _shift_axis(_shift_axis(image, offset[0], 0), offset[1], 1)
  return jax.vmap(one)(images, offsets.astype(images.dtype))


def view(images: jax.Array, keys: jax.Array | None, max_shift: float,
         noise_std: float = 0.0) -> jax.Array:
  """The critic's view of `images` [B, H, W, C]: each shifted by (dy, dx)
  drawn U(−max_shift, max_shift) pixels from its own key (`keys` [B]), then
  with N(0, noise_std²) added to every value, drawn from the same key
  folded with 1 (independent of the shift's draw).

  `max_shift` = `noise_std` = 0 is the paper's critic: the images
  themselves, and no key is used, so a run without views draws the same
  numbers as before the fields existed.
  """
  if max_shift:
    offsets = jax.vmap(lambda k: jax.random.uniform(k, (2,), minval=-max_shift,
                                                    maxval=max_shift))(keys)
    images = shift(images, offsets)
  if noise_std:
    noise = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1), images.shape[1:],
                                                 images.dtype))(keys)
    images = images + noise_std * noise
  return images
