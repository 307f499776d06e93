"""The model's convolution layers: parameters in one canonical layout,
computed by whichever formulation `cpu_conv.policy` picks for the backend.

Canonical parameter layouts (independent of the formulation):
  Conv           kernel [k, k, C_in, C_out] (HWIO, cross-correlation).
  ConvTranspose  kernel [4, 4, C_in, C_out]: output pixel o receives
                 x[i] * kernel[o + 1 - 2i], i.e. PyTorch's
                 `ConvTranspose2d(4, stride=2, padding=1)` with its weight
                 transposed from [C_in, C_out, kh, kw] to [kh, kw, C_in, C_out].
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dftnet_jax import spectral_norm as spectral_norm_lib
from dftnet_jax.cpu_conv import convolve
from dftnet_jax.cpu_conv import policy

# GANimation initialises every convolution from N(0, 0.02).
default_kernel_init = nn.initializers.normal(stddev=0.02)


def constant_channels_conv(values: jax.Array, kernel: jax.Array, size: tuple[int, int], *,
                           stride: int = 1, padding: int = 0) -> jax.Array:
  """convolve.conv2d of K input channels that are each constant over an image.

  A constant map convolved with zero padding is its value times the sum of
  the kernel taps that fall inside the image, which depends only on how near
  the border the output pixel is. So the conv of the broadcast maps is the
  per-example kernel Σ_c values[c]·kernel[:, :, c] summed over the taps each
  output row and column reads inside the image: the same function at a
  small fraction of the FLOPs (the AU maps are 17 of the stem's 20 input
  channels).

  Args:
    values: [B, K] the channels' values.
    kernel: [k, k, K, O] their weights.
    size: (H, W) of the image the maps cover.
    stride: spatial stride.
    padding: zeros added on every side.

  Returns:
    [B, H', W', O], equal to convolve.conv2d of the [B, H, W, K] broadcast maps.
  """
  k = kernel.shape[0]

  def inside(n: int) -> jax.Array:
    """[out, k]: 1 where output position i's tap t reads inside [0, n)."""
    read = np.arange((n + 2 * padding - k) // stride + 1)[:, None] * stride - padding + np.arange(k)
    return jnp.asarray((read >= 0) & (read < n), kernel.dtype)

  per_example = jnp.einsum("bc,uvco->buvo", values, kernel)
  return jnp.einsum("iu,jv,buvo->bijo", inside(size[0]), inside(size[1]), per_example)


class Conv(nn.Module):
  """Zero-padded square convolution with a selectable formulation.

  Attributes:
    features: output channels.
    kernel_size: square kernel side.
    stride: spatial stride.
    padding: zeros added on every side.
    use_bias: add a learned per-channel bias.
    impl: 'auto' or one of `cpu_conv.policy.IMPLS` (`cpu_conv`'s doc).
    kernel_init: initialiser of the HWIO kernel.
    dtype: the compute dtype: input and parameters are cast to it at use
      (parameters are stored float32).
    spectral_norm: divide the kernel by its largest singular value at use
      (`dftnet_jax.spectral_norm`); the stored parameter is the raw kernel.
  """
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = False
  impl: str = "auto"
  kernel_init: nn.initializers.Initializer = default_kernel_init
  dtype: str = "float32"
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, constants: Optional[jax.Array] = None) -> jax.Array:
    """Convolves x [B, H, W, C], and with `constants` [B, K] also K more input
    channels, each constant over the image (after x's channels in the kernel:
    the same function and parameters as concatenating the broadcast maps)."""
    channels = x.shape[-1] + (0 if constants is None else constants.shape[-1])
    kernel = self.param("kernel", self.kernel_init,
                        (self.kernel_size, self.kernel_size, channels, self.features))
    if self.spectral_norm:
      kernel = spectral_norm_lib.normalise(kernel)
    kernel = kernel.astype(self.dtype)
    out_h, out_w = ((n + 2 * self.padding - self.kernel_size) // self.stride + 1
                    for n in x.shape[1:3])
    gflop = 2e-9 * self.kernel_size ** 2 * x.shape[-1] * self.features * out_h * out_w
    impl = policy.resolve_impl(self.impl, stride=self.stride, kernel_size=self.kernel_size,
                               gflop_per_example=gflop, input_bytes=x.size * x.dtype.itemsize,
                               dtype=self.dtype)
    y = convolve.conv2d(x.astype(self.dtype), kernel[:, :, :x.shape[-1]], stride=self.stride,
                        padding=self.padding, impl=impl)
    if constants is not None:
      y = y + constant_channels_conv(constants.astype(self.dtype), kernel[:, :, x.shape[-1]:],
                                     x.shape[1:3], stride=self.stride, padding=self.padding)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class ConvTranspose2x(nn.Module):
  """×2 upsampling: 4×4 stride-2 padding-1 transposed convolution, no bias.

  Attributes:
    features: output channels.
    impl: 'auto' or one of `cpu_conv.policy.IMPLS` (`cpu_conv`'s doc).
    dtype: the compute dtype, as `Conv`'s.
  """
  features: int
  impl: str = "auto"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", default_kernel_init, (4, 4, x.shape[-1], self.features))
    gflop = 2e-9 * 16 * x.shape[1] * x.shape[2] * x.shape[3] * self.features
    impl = policy.resolve_impl(self.impl, transposed=True, gflop_per_example=gflop,
                               input_bytes=x.size * x.dtype.itemsize, dtype=self.dtype)
    return convolve.conv_transpose2x(x.astype(self.dtype), kernel.astype(self.dtype), impl=impl)
