"""XLA's own convolution, the reference every formulation equals."""

from __future__ import annotations

import jax
from jax import lax
import jax.numpy as jnp

# Images NHWC, kernels HWIO (cross-correlation), as every layer here.
DIMS = ("NHWC", "HWIO", "NHWC")


def valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID cross-correlation, [B, H, W, C] * [k, k, C, O]."""
  return lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=DIMS)


def pad(x: jax.Array, lo: int, hi: int) -> jax.Array:
  """Zeros added before (`lo`) and after (`hi`) both spatial axes."""
  return jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0))) if lo or hi else x
