"""Convolution layers with interchangeable, exactly equivalent formulations.

XLA:CPU differentiates some convolutions 10-50x slower than their FLOPs
warrant (strided-conv input gradients, transposed-conv weight gradients and
the gradient penalty's double backward; DESIGN §7). The same functions written
as space-to-depth + stride-1 convolutions, or as im2col + one matmul, avoid
those slow paths. Every formulation here computes the same function of the
same parameters, so checkpoints move freely between formulations and backends:

  native    `lax.conv_general_dilated` as is (what cuDNN and TPUs want).
  s2d       strided convs as space-to-depth + a stride-1 conv; transposed
            convs as sub-pixel: one stride-1 2×2 conv to the four output
            phases, then interleaving (the transposed conv's FLOPs exactly,
            where a shared 3×3 window would spend 9/4 of them).
  im2col    like s2d, but every stride-1 conv is one matmul over patches.
  banded    like s2d, but every stride-1 conv takes its weight gradient as
            im2col matmuls over bands of rows small enough to stay in cache
            (forward and input gradient stay native).
  winograd  like banded, but 3×3 and 2×2 stride-1 convs (the latter: the
            transposed conv's phases, strided convs after space-to-depth) run
            Winograd F(4×4, 3×3) and F(3×3, 2×2) (Lavin & Gray, 2016): 36
            multiplications per 16 outputs instead of 144, 16 per 9 instead
            of 36. The forward and the input gradient (a full correlation
            with the flipped kernel) are Winograd convs; the weight gradient
            is Winograd's own for 3×3 kernels and banded for 2×2, whichever
            measured faster. Equal to the plain convolution up to float32
            rounding (~1e-5 relative).

Canonical parameter layouts (independent of the formulation):
  Conv           kernel [k, k, C_in, C_out] (HWIO, cross-correlation).
  ConvTranspose  kernel [4, 4, C_in, C_out]: output pixel o receives
                 x[i] * kernel[o + 1 - 2i], i.e. PyTorch's
                 `ConvTranspose2d(4, stride=2, padding=1)` with its weight
                 transposed from [C_in, C_out, kh, kw] to [kh, kw, C_in, C_out].
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

IMPLS: tuple[str, ...] = ("auto", "native", "s2d", "im2col", "banded", "winograd")
# Patch bytes per step of the banded weight gradient: small enough to stay
# in this CPU's cache, large enough for an efficient matmul (measured).
_PATCH_BAND_BYTES = 4 << 20
# Stride-1 convs smaller than this (GFLOP per example, forward) run as fast
# natively: the banded gradient only pays where XLA's own is slow (measured).
_MIN_BANDED_GFLOP = 0.5
# Winograd's transforms are memory-bound passes over tiles 1.8-2.25× the
# input; past this input size (whole batch) they cost more than the saved
# multiplications (measured at batch 16: 64²×256 in, 64 MB, gains 1.3x over
# banded; 128²×128, 128 MB, loses 1.2x).
_MAX_WINOGRAD_BYTES = 64 << 20
# GANimation initialises every convolution from N(0, 0.02).
default_kernel_init = nn.initializers.normal(stddev=0.02)

_DIMS = ("NHWC", "HWIO", "NHWC")


def space_to_depth(x: jax.Array, block: int) -> jax.Array:
  """[B, H, W, C] → [B, H/b, W/b, b·b·C], channel order (row, col, c)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // block, block, w // block, block, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // block, w // block, block * block * c)


def _s2d_kernel(kernel: jax.Array, block: int) -> jax.Array:
  """Kernel of a stride-b conv → kernel of the equivalent conv after s2d(b).

  [k, k, C, O] → [k', k', b·b·C, O] with k' = ceil(k / b): tap (b·p + r) of
  the strided conv becomes tap p of sub-pixel r (zero where k is not a
  multiple of b).
  """
  k, _, c, o = kernel.shape
  kp = -(-k // block)
  kernel = jnp.pad(kernel, ((0, kp * block - k), (0, kp * block - k), (0, 0), (0, 0)))
  kernel = kernel.reshape(kp, block, kp, block, c, o).transpose(0, 2, 1, 3, 4, 5)
  return kernel.reshape(kp, kp, block * block * c, o)


def _patches(x: jax.Array, kh: int, kw: int) -> jax.Array:
  """[B, H, W, C] → [B, H', W', kh·kw·C]: every VALID window, (row, col, c)."""
  ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  if (kh, kw) == (1, 1):
    return x
  if (ho, wo) == (1, 1):
    return x[:, :kh, :kw, :].reshape(x.shape[0], 1, 1, kh * kw * x.shape[3])
  return jnp.concatenate(
      [x[:, i:i + ho, j:j + wo, :] for i in range(kh) for j in range(kw)], axis=-1)


def _im2col_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID conv as one matmul over the concatenated shifted slices."""
  kh, kw, c, o = kernel.shape
  return jnp.dot(_patches(x, kh, kw), kernel.reshape(kh * kw * c, o))


def _native_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_DIMS)


def _banded_weight_grad(x: jax.Array, g: jax.Array, kernel_shape: tuple[int, ...]) -> jax.Array:
  """∂⟨conv(x, w), g⟩/∂w for a stride-1 VALID conv, one band of rows at a time.

  XLA:CPU's own filter gradient runs at 40-100 GFLOP/s on large images, and
  one matmul over all patches spends its time writing them (1.2 GB at
  128×128×128); bands of a few MB stay in cache and run near matmul peak.
  """
  kh, kw, c, o = kernel_shape
  batch, ho, wo, _ = g.shape
  row_bytes = wo * kh * kw * c * x.dtype.itemsize
  rows = max([r for r in range(1, ho + 1) if ho % r == 0 and r * row_bytes <= _PATCH_BAND_BYTES],
             default=1)
  bands = ho // rows

  def add_band(acc: jax.Array, index: jax.Array) -> tuple[jax.Array, None]:
    n, top = index // bands, (index % bands) * rows
    xs = lax.dynamic_slice(x, (n, top, 0, 0), (1, rows + kh - 1, x.shape[2], c))
    gs = lax.dynamic_slice(g, (n, top, 0, 0), (1, rows, wo, o))
    return acc + jnp.einsum("bhwk,bhwo->ko", _patches(xs, kh, kw), gs,
                            preferred_element_type=jnp.float32), None

  # Accumulated in float32 whatever the compute dtype: bfloat16 sums of many
  # bands would lose the small ones.
  acc, _ = lax.scan(add_band, jnp.zeros((kh * kw * c, o), jnp.float32), jnp.arange(batch * bands))
  return acc.reshape(kernel_shape).astype(g.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _valid_fast_grads(x: jax.Array, kernel: jax.Array, winograd: bool = False) -> jax.Array:
  """A stride-1 VALID conv with the gradients measured fastest on CPU.

  Plain: native forward and input gradient, banded im2col weight gradient.
  With `winograd`: Winograd forward and input gradient, and for 3×3 kernels
  Winograd's own weight gradient (banded's is faster for 2×2).
  """
  return _winograd_valid(x, kernel) if winograd else _native_valid(x, kernel)


def _valid_fast_grads_fwd(x, kernel, winograd):
  return _valid_fast_grads(x, kernel, winograd), (x, kernel)


def _valid_fast_grads_bwd(winograd, residuals, g):
  x, kernel = residuals
  k = kernel.shape[0]
  if winograd:
    # The input gradient of a VALID correlation is the full correlation of
    # g with the flipped, transposed kernel: one more Winograd forward.
    dx = _winograd_valid(_pad(g, k - 1, k - 1), jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
  else:
    # The primal output of this vjp is unused, so XLA drops it.
    (dx,) = jax.vjp(lambda x_: _native_valid(x_, kernel), x)[1](g)
  if winograd and k == 3:
    # Winograd's own: 36 matmuls of transformed tiles by transformed g.
    (dw,) = jax.vjp(lambda w_: _winograd_valid(x, w_), kernel)[1](g)
  else:
    dw = _banded_weight_grad(x, g, kernel.shape)
  return dx, dw


_valid_fast_grads.defvjp(_valid_fast_grads_fwd, _valid_fast_grads_bwd)


class _Winograd(NamedTuple):
  """F(m×m, r×r): an α×α input tile d (α = m + r - 1) and an r×r kernel g
  give the m×m outputs Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A: α² multiplications where
  the direct sum spends m²·r²."""
  bt: np.ndarray  # [α, α]
  g: np.ndarray   # [α, r]
  at: np.ndarray  # [m, α]


# Interpolation points 0, ±1, ±2, ∞ (Lavin & Gray, 2016): 36 multiplications
# per 16 outputs instead of 144.
_F4X4_3X3 = _Winograd(
    bt=np.array([[4, 0, -5, 0, 1, 0],
                 [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0],
                 [0, 4, 0, -5, 0, 1]]),
    g=np.array([[1 / 4, 0, 0],
                [-1 / 6, -1 / 6, -1 / 6],
                [-1 / 6, 1 / 6, -1 / 6],
                [1 / 24, 1 / 12, 1 / 6],
                [1 / 24, -1 / 12, 1 / 6],
                [0, 0, 1]]),
    at=np.array([[1, 1, 1, 1, 1, 0],
                 [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]]))
# Points 0, ±1, ∞: 16 multiplications per 9 outputs instead of 36 (the 2×2
# convs of the sub-pixel transposed conv and of space-to-depth).
_F3X3_2X2 = _Winograd(
    bt=np.array([[1, 0, -1, 0],
                 [0, 1, 1, 0],
                 [0, -1, 1, 0],
                 [0, -1, 0, 1]]),
    g=np.array([[1, 0],
                [1 / 2, 1 / 2],
                [1 / 2, -1 / 2],
                [0, 1]]),
    at=np.array([[1, 1, 1, 0],
                 [0, 1, -1, 0],
                 [0, 1, 1, 1]]))
WINOGRAD_KERNELS = {3: _F4X4_3X3, 2: _F3X3_2X2}


def _transform(matrix: np.ndarray, x: jax.Array, axis: int) -> jax.Array:
  """`matrix` applied along `axis` of x; that axis moves to the front.

  Written as sums of scaled slices, which XLA fuses into one memory pass: a
  dot whose contraction is 4-6 long runs several times slower on CPU.
  """
  parts = [lax.index_in_dim(x, i, axis, keepdims=False) for i in range(matrix.shape[1])]
  return jnp.stack([sum(float(c) * part for c, part in zip(row, parts) if c)
                    for row in matrix])


def _winograd_tiles(x: jax.Array, m: int, alpha: int) -> tuple[jax.Array, int, int]:
  """[B, H, W, C] → [B, th, α, tw, α, C]: α×α tiles every m pixels.

  The input is zero-padded at the bottom and right to (th + 1)·m so that
  each tile is one m-pixel block plus the first α - m of the next (α ≤ 2m):
  two slices and a concatenation per axis, whose transposes in the
  gradient are as cheap.
  """
  b, h, w, c = x.shape
  r = alpha - m + 1
  th, tw = -(-(h - r + 1) // m), -(-(w - r + 1) // m)
  x = jnp.pad(x, ((0, 0), (0, m * th + m - h), (0, m * tw + m - w), (0, 0)))
  x = x.reshape(b, th + 1, m, m * tw + m, c)
  x = jnp.concatenate([x[:, :th], x[:, 1:, :alpha - m]], axis=2)
  x = x.reshape(b, th, alpha, tw + 1, m, c)
  return jnp.concatenate([x[:, :, :, :tw], x[:, :, :, 1:, :alpha - m]], axis=4), th, tw


def _winograd_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID conv by Winograd (`WINOGRAD_KERNELS`): α² batched matmuls."""
  b, h, w, c = x.shape
  r, _, _, o = kernel.shape
  f = WINOGRAD_KERNELS[r]
  m, alpha = f.at.shape
  tiles, th, tw = _winograd_tiles(x, m, alpha)
  # Transformed tiles and kernel, both indexed [row freq, column freq, ...];
  # the kernel's as one matmul by G ⊗ G (r² → α² taps), which beats the sums.
  v = _transform(f.bt, _transform(f.bt, tiles, 4), 3)
  u = jnp.dot(jnp.asarray(np.kron(f.g, f.g), jnp.result_type(kernel)), kernel.reshape(r * r, c * o))
  prods = jnp.einsum("fnc,fco->fno", v.reshape(alpha * alpha, b * th * tw, c),
                     u.reshape(alpha * alpha, c, o))
  y = _transform(f.at, _transform(f.at, prods.reshape(alpha, alpha, b, th, tw, o), 0), 1)
  # y is [column s, row t, B, th, tw, O]: pixel (m·ti + t, m·tj + s).
  y = y.transpose(2, 3, 1, 4, 0, 5).reshape(b, m * th, m * tw, o)
  return y[:, :h - r + 1, :w - r + 1]


def _valid_stride1(x: jax.Array, kernel: jax.Array, impl: str) -> jax.Array:
  if impl == "im2col":
    return _im2col_valid(x, kernel)
  if impl in ("banded", "winograd"):
    square = kernel.shape[0] == kernel.shape[1]
    return _valid_fast_grads(
        x, kernel, impl == "winograd" and square and kernel.shape[0] in WINOGRAD_KERNELS)
  return _native_valid(x, kernel)


def _pad(x: jax.Array, lo: int, hi: int) -> jax.Array:
  return jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0))) if lo or hi else x


def _check_impl(impl: str) -> None:
  if impl not in IMPLS[1:]:
    raise ValueError(f"unknown convolution impl {impl!r}; expected one of {IMPLS[1:]}"
                     " ('auto' is resolved by the layers)")


def conv2d(x: jax.Array, kernel: jax.Array, *, stride: int = 1, padding: int = 0,
           impl: str = "native") -> jax.Array:
  """Zero-padded cross-correlation, [B, H, W, C] * [k, k, C, O] → NHWC.

  Args:
    x: [B, H, W, C] input.
    kernel: [k, k, C, O] weights.
    stride: spatial stride (the same along H and W).
    padding: zeros added on every side.
    impl: 'native', 's2d', 'im2col', 'banded' or 'winograd' (module doc); 'auto' is
      resolved by the layers, not here.

  Returns:
    [B, (H + 2p - k) // s + 1, (W + 2p - k) // s + 1, O].
  """
  if impl == "native":
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), [(padding, padding)] * 2, dimension_numbers=_DIMS)
  _check_impl(impl)
  k = kernel.shape[0]
  x = _pad(x, padding, padding)
  if stride == 1:
    return _valid_stride1(x, kernel, impl)
  # Crop to what the strided conv reads, then pad to a multiple of the stride
  # so space-to-depth tiles it exactly.
  out = [(n - k) // stride + 1 for n in x.shape[1:3]]
  span = [(-(-k // stride) + m - 1) * stride for m in out]
  x = x[:, :min(span[0], x.shape[1]), :min(span[1], x.shape[2]), :]
  x = jnp.pad(x, ((0, 0), (0, span[0] - x.shape[1]), (0, span[1] - x.shape[2]), (0, 0)))
  return _valid_stride1(space_to_depth(x, stride), _s2d_kernel(kernel, stride), impl)


def constant_channels_conv(values: jax.Array, kernel: jax.Array, size: tuple[int, int], *,
                           stride: int = 1, padding: int = 0) -> jax.Array:
  """conv2d of K input channels that are each constant over an image.

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
    [B, H', W', O], equal to conv2d of the [B, H, W, K] broadcast maps.
  """
  k = kernel.shape[0]

  def inside(n: int) -> jax.Array:
    """[out, k]: 1 where output position i's tap t reads inside [0, n)."""
    read = np.arange((n + 2 * padding - k) // stride + 1)[:, None] * stride - padding + np.arange(k)
    return jnp.asarray((read >= 0) & (read < n), kernel.dtype)

  per_example = jnp.einsum("bc,uvco->buvo", values, kernel)
  return jnp.einsum("iu,jv,buvo->bijo", inside(size[0]), inside(size[1]), per_example)


def _phase_kernel(kernel: jax.Array) -> jax.Array:
  """[4, 4, C, O] transposed-conv kernel → [2, 2, C, 4·O] phase kernel.

  Output pixel (2m + r, 2n + s) reads the 1-padded input at rows m + r + t,
  columns n + s + u (t, u = 0, 1) with kernel tap (3 - r - 2t, 3 - s - 2u):
  each phase (r, s) is a 2×2 conv whose window starts r rows and s columns
  further on. Output channel order is (r, s, o).
  """
  c, o = kernel.shape[2:]
  phases = [kernel[jnp.array([3 - r, 1 - r])][:, jnp.array([3 - s, 1 - s])]
            for r in range(2) for s in range(2)]
  return jnp.stack(phases, axis=3).reshape(2, 2, c, 4 * o)


def _interleave_phases(y: jax.Array) -> jax.Array:
  """[B, H+1, W+1, 4·O] phase maps → [B, 2H, 2W, O]; phase (r, s) shifted by (r, s)."""
  b, h, w = y.shape[0], y.shape[1] - 1, y.shape[2] - 1
  y = y.reshape(b, h + 1, w + 1, 2, 2, -1)
  rows = [jnp.stack([y[:, r:r + h, s:s + w, r, s] for s in range(2)], axis=3)
          for r in range(2)]
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, -1)


def conv_transpose2x(x: jax.Array, kernel: jax.Array, *, impl: str = "native") -> jax.Array:
  """×2 upsampling by a 4×4 stride-2 padding-1 transposed convolution.

  Args:
    x: [B, H, W, C] input.
    kernel: [4, 4, C, O] weights in the canonical layout (module doc).
    impl: 'native' (dilated conv), 's2d' (sub-pixel: one 2×2 conv to the
      four output phases), 'im2col' (sub-pixel with the 2×2 conv as a
      matmul), 'banded' (sub-pixel with a banded weight gradient) or
      'winograd' (banded, with a Winograd F(3×3, 2×2) forward).

  Returns:
    [B, 2H, 2W, O].
  """
  if kernel.shape[:2] != (4, 4):
    raise ValueError(f"conv_transpose2x needs a [4, 4, C, O] kernel, got {kernel.shape}")
  if impl == "native":
    return lax.conv_general_dilated(
        x, kernel[::-1, ::-1], (1, 1), [(2, 2), (2, 2)], lhs_dilation=(2, 2),
        dimension_numbers=_DIMS)
  _check_impl(impl)
  return _interleave_phases(_valid_stride1(_pad(x, 1, 1), _phase_kernel(kernel), impl))


def resolve_impl(impl: str, *, transposed: bool = False, twice_differentiated: bool = False,
                 stride: int = 1, kernel_size: int = 0, gflop_per_example: float = 0.0,
                 input_bytes: int = 0, dtype: str = "float32") -> str:
  """Turns 'auto' into the formulation this backend runs fastest.

  Accelerators keep native convolutions (cuDNN and TPUs have no slow
  gradient paths to dodge). On CPU, per `benchmarks/conv_layers.py` (README,
  "Convolutions on CPU"):
    - the critic, which the gradient penalty differentiates twice: im2col
      (10-50x faster double backward than native);
    - transposed convs: banded (native's weight gradient is 30-60x slower),
      winograd where that pays (below: its 2×2 forward and input gradient,
      1.3x faster forward at batch 1, 1.2x a training cycle at batch 16);
    - stride-1 convs of at least 0.5 GFLOP per example: winograd if 3×3
      (the bottleneck's residual blocks at batch 16: 1.8x faster forward,
      1.8x faster forward and both gradients than banded), else banded
      (2-3x faster weight gradient than native); smaller ones (the 64×64
      demo's, the 3-channel heads): native, as fast or faster there;
    - Winograd only in float32 (bfloat16 is too coarse for its transforms),
      from 0.5 GFLOP per example (smaller layers lose to its transforms)
      and up to 64 MB of input per batch (`_MAX_WINOGRAD_BYTES`);
    - strided convs: native.

  Args:
    impl: 'auto' or a formulation name (returned unchanged).
    transposed: the layer is a ×2 transposed conv.
    twice_differentiated: the layer sits under a nested grad (the critic).
    stride: the layer's stride.
    kernel_size: the layer's (square) kernel side.
    gflop_per_example: the layer's forward cost.
    input_bytes: the size of the layer's input, whole batch.
    dtype: the layer's compute dtype.
  """
  if impl not in IMPLS:
    raise ValueError(f"unknown convolution impl {impl!r}; expected one of {IMPLS}")
  if impl != "auto":
    return impl
  if jax.default_backend() != "cpu":
    return "native"
  if twice_differentiated:
    return "im2col"
  winograd = (dtype == "float32" and input_bytes <= _MAX_WINOGRAD_BYTES
              and gflop_per_example >= _MIN_BANDED_GFLOP)
  if transposed:
    return "winograd" if winograd else "banded"
  if stride != 1 or gflop_per_example < _MIN_BANDED_GFLOP:
    return "native"
  return "winograd" if winograd and kernel_size == 3 else "banded"


class Conv(nn.Module):
  """Zero-padded square convolution with a selectable formulation.

  Attributes:
    features: output channels.
    kernel_size: square kernel side.
    stride: spatial stride.
    padding: zeros added on every side.
    use_bias: add a learned per-channel bias.
    impl: 'auto' or one of the formulations in the module doc.
    kernel_init: initialiser of the HWIO kernel.
    dtype: the compute dtype: input and parameters are cast to it at use
      (parameters are stored float32).
  """
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = False
  impl: str = "auto"
  kernel_init: nn.initializers.Initializer = default_kernel_init
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array, constants: Optional[jax.Array] = None) -> jax.Array:
    """Convolves x [B, H, W, C], and with `constants` [B, K] also K more input
    channels, each constant over the image (after x's channels in the kernel:
    the same function and parameters as concatenating the broadcast maps)."""
    channels = x.shape[-1] + (0 if constants is None else constants.shape[-1])
    kernel = self.param("kernel", self.kernel_init,
                        (self.kernel_size, self.kernel_size, channels, self.features))
    kernel = kernel.astype(self.dtype)
    out_h, out_w = ((n + 2 * self.padding - self.kernel_size) // self.stride + 1
                    for n in x.shape[1:3])
    gflop = 2e-9 * self.kernel_size ** 2 * x.shape[-1] * self.features * out_h * out_w
    impl = resolve_impl(self.impl, stride=self.stride, kernel_size=self.kernel_size,
                        gflop_per_example=gflop, input_bytes=x.size * x.dtype.itemsize,
                        dtype=self.dtype)
    y = conv2d(x.astype(self.dtype), kernel[:, :, :x.shape[-1]], stride=self.stride,
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
    impl: 'auto' or one of the formulations in the module doc.
    dtype: the compute dtype, as `Conv`'s.
  """
  features: int
  impl: str = "auto"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", default_kernel_init, (4, 4, x.shape[-1], self.features))
    gflop = 2e-9 * 16 * x.shape[1] * x.shape[2] * x.shape[3] * self.features
    impl = resolve_impl(self.impl, transposed=True, gflop_per_example=gflop,
                        input_bytes=x.size * x.dtype.itemsize, dtype=self.dtype)
    return conv_transpose2x(x.astype(self.dtype), kernel.astype(self.dtype), impl=impl)
