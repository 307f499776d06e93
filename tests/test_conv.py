"""dftnet_jax.layers and dftnet_jax.cpu_conv: every formulation equals the plain convolution.

References are independent of the code under test: `lax.conv_general_dilated`
with explicit padding and `lax.conv_transpose`, checked in turn against numpy
loops written from the definitions. Equality is asserted for values, for
both first-order gradients and for the WGAN-GP double backward.
"""

import functools

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from dftnet_jax import layers
from dftnet_jax.cpu_conv import convolve
from dftnet_jax.cpu_conv import im2col
from dftnet_jax.cpu_conv import policy
from dftnet_jax.cpu_conv import space_to_depth as s2d
from dftnet_jax.cpu_conv import winograd

DIMS = ("NHWC", "HWIO", "NHWC")
IMPLS = ("s2d", "im2col", "banded", "winograd")
# Winograd's transforms scale values by up to 8 before the sums that cancel
# them, so its float32 rounding is ~10x the direct sum's (~1e-5 relative).
RTOL = {"winograd": 1e-4}

# Every convolution the networks use: (id, kernel, stride, padding, batch,
# spatial size, C_in, C_out). Channel counts are odd where the network's are
# (3 image channels, 17 AUs); sizes include non-powers of two.
CONV_CASES = [
    ("stem7x7", 7, 1, 3, 2, 6, 5, 4),
    ("down4x4_9", 4, 2, 1, 2, 9, 3, 5),
    ("down4x4_8_b1", 4, 2, 1, 1, 8, 17, 4),
    ("down4x4_2", 4, 2, 1, 2, 2, 5, 3),
    ("res3x3", 3, 1, 1, 1, 5, 17, 5),
    ("critic_head3x3", 3, 1, 1, 2, 3, 5, 1),
    ("au_head2x2", 2, 1, 0, 2, 2, 5, 17),
    ("au_head3x3_b1", 3, 1, 0, 1, 3, 3, 17),
]
# conv_transpose2x inputs: (id, batch, H, W, C_in, C_out).
UP_CASES = [
    ("up_3x5", 2, 3, 5, 7, 3),
    ("up_4x4_b1", 1, 4, 4, 5, 17),
    ("up_1x1", 2, 1, 1, 3, 5),
]


def _normal(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _assert_close(actual, expected, rtol=1e-5):
  """Equal up to rtol relative to the reference's largest magnitude."""
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape
  scale = max(float(np.abs(expected).max()), 1e-30)
  np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


def _reference_conv(x, kernel, stride, padding):
  return lax.conv_general_dilated(x, kernel, (stride, stride), [(padding, padding)] * 2,
                                  dimension_numbers=DIMS)


def _reference_conv_transpose(x, kernel):
  """lax.conv_transpose with the kernel's I/O swapped: the adjoint of a 4×4/2/1 conv."""
  return lax.conv_transpose(x, jnp.swapaxes(kernel, 2, 3), (2, 2), [(2, 2), (2, 2)],
                            dimension_numbers=DIMS, transpose_kernel=True)


def _numpy_conv(x, kernel, stride, padding):
  """Cross-correlation straight from its definition, in float64."""
  x = np.pad(np.asarray(x, np.float64), ((0, 0), (padding,) * 2, (padding,) * 2, (0, 0)))
  kernel = np.asarray(kernel, np.float64)
  k = kernel.shape[0]
  out_h = (x.shape[1] - k) // stride + 1
  out_w = (x.shape[2] - k) // stride + 1
  out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]))
  for i in range(out_h):
    for j in range(out_w):
      for u in range(k):
        for v in range(k):
          out[:, i, j] += x[:, i * stride + u, j * stride + v] @ kernel[u, v]
  return out


def _numpy_conv_transpose(x, kernel):
  """`layers`' definition: output pixel o receives x[i]·kernel[o + 1 - 2i]."""
  x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
  batch, height, width, _ = x.shape
  out = np.zeros((batch, 2 * height, 2 * width, kernel.shape[3]))
  for oy in range(2 * height):
    for ox in range(2 * width):
      for iy in range(height):
        for ix in range(width):
          ty, tx = oy + 1 - 2 * iy, ox + 1 - 2 * ix
          if 0 <= ty < 4 and 0 <= tx < 4:
            out[:, oy, ox] += x[:, iy, ix] @ kernel[ty, tx]
  return out


def _conv_inputs(case):
  _, k, stride, padding, batch, size, c_in, c_out = case
  x = _normal((batch, size, size, c_in), 0)
  kernel = _normal((k, k, c_in, c_out), 1) / np.sqrt(k * k * c_in)
  return x, kernel, stride, padding


def _up_inputs(case):
  _, batch, height, width, c_in, c_out = case
  return _normal((batch, height, width, c_in), 2), _normal((4, 4, c_in, c_out), 3) / 4.0


def _everything(f, x, kernel, cotangent, penalty_weights):
  """Value, (input, weight) gradients and the double backward of f, in one jit.

  The double backward is d/dw ‖∇ₓ⟨f(x, w), r⟩‖², the gradient penalty's pattern.
  """
  def penalty(w):
    grad_x = jax.grad(lambda a: jnp.sum(f(a, w) * penalty_weights))(x)
    return jnp.sum(grad_x ** 2)
  out, vjp = jax.vjp(f, x, kernel)
  return out, vjp(cotangent), jax.grad(penalty)(kernel)


@functools.cache
def _conv_results(case, impl):
  """_everything for conv2d under `impl` ('reference': lax.conv_general_dilated)."""
  x, kernel, stride, padding = _conv_inputs(case)
  if impl == "reference":
    f = lambda a, w: _reference_conv(a, w, stride, padding)
  else:
    f = lambda a, w: convolve.conv2d(a, w, stride=stride, padding=padding, impl=impl)
  out_shape = jax.eval_shape(f, x, kernel).shape
  return jax.jit(functools.partial(_everything, f))(
      x, kernel, _normal(out_shape, 4), _normal(out_shape, 5))


@functools.cache
def _up_results(case, impl):
  """_everything for conv_transpose2x under `impl` ('reference': lax.conv_transpose)."""
  x, kernel = _up_inputs(case)
  if impl == "reference":
    f = _reference_conv_transpose
  else:
    f = lambda a, w: convolve.conv_transpose2x(a, w, impl=impl)
  out_shape = (x.shape[0], 2 * x.shape[1], 2 * x.shape[2], kernel.shape[3])
  return jax.jit(functools.partial(_everything, f))(
      x, kernel, _normal(out_shape, 6), _normal(out_shape, 7))


def test_reference_conv_matches_numpy_loop():
  """The lax reference itself agrees with the definition (down and 7×7 cases)."""
  for case in (CONV_CASES[0], CONV_CASES[2]):
    x, kernel, stride, padding = _conv_inputs(case)
    _assert_close(_reference_conv(x, kernel, stride, padding),
                  _numpy_conv(x, kernel, stride, padding))


def test_reference_conv_transpose_matches_numpy_loop():
  """The lax.conv_transpose mapping agrees with `layers`' definition."""
  for case in UP_CASES:
    x, kernel = _up_inputs(case)
    _assert_close(_reference_conv_transpose(x, kernel), _numpy_conv_transpose(x, kernel))


@pytest.mark.parametrize("impl", ("native",) + IMPLS)
@pytest.mark.parametrize("case", [CONV_CASES[2], CONV_CASES[5], CONV_CASES[7]], ids=lambda c: c[0])
def test_conv2d_matches_numpy_loop(case, impl):
  """Small cases against the float64 loop, for every formulation incl. native."""
  x, kernel, stride, padding = _conv_inputs(case)
  _assert_close(convolve.conv2d(x, kernel, stride=stride, padding=padding, impl=impl),
                _numpy_conv(x, kernel, stride, padding), RTOL.get(impl, 1e-5))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c[0])
def test_conv2d_values(case, impl):
  """Forward values equal lax.conv_general_dilated, shape included."""
  _assert_close(_conv_results(case, impl)[0], _conv_results(case, "reference")[0],
                RTOL.get(impl, 1e-5))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c[0])
def test_conv2d_gradients(case, impl):
  """Input and weight gradients (vjp of a random cotangent) equal the reference's."""
  got, want = _conv_results(case, impl)[1], _conv_results(case, "reference")[1]
  _assert_close(got[0], want[0], RTOL.get(impl, 1e-5))
  _assert_close(got[1], want[1], RTOL.get(impl, 1e-5))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c[0])
def test_conv2d_double_backward(case, impl):
  """The gradient-penalty double backward equals the reference's."""
  _assert_close(_conv_results(case, impl)[2], _conv_results(case, "reference")[2],
                RTOL.get(impl, 1e-5))


@pytest.mark.parametrize("impl", ("native",) + IMPLS)
@pytest.mark.parametrize("case", UP_CASES, ids=lambda c: c[0])
def test_conv_transpose_values(case, impl):
  """×2 upsampling equals the definition's loop and lax.conv_transpose."""
  x, kernel = _up_inputs(case)
  out = _up_results(case, impl)[0]
  _assert_close(out, _numpy_conv_transpose(x, kernel), RTOL.get(impl, 1e-5))
  _assert_close(out, _up_results(case, "reference")[0], RTOL.get(impl, 1e-5))


@pytest.mark.parametrize("impl", ("native",) + IMPLS)
@pytest.mark.parametrize("case", UP_CASES, ids=lambda c: c[0])
def test_conv_transpose_gradients(case, impl):
  """Input and weight gradients equal lax.conv_transpose's."""
  got, want = _up_results(case, impl)[1], _up_results(case, "reference")[1]
  _assert_close(got[0], want[0], RTOL.get(impl, 1e-5))
  _assert_close(got[1], want[1], RTOL.get(impl, 1e-5))


@pytest.mark.parametrize("impl", ("native",) + IMPLS)
@pytest.mark.parametrize("case", UP_CASES, ids=lambda c: c[0])
def test_conv_transpose_double_backward(case, impl):
  """The double backward of the transposed conv equals lax.conv_transpose's."""
  _assert_close(_up_results(case, impl)[2], _up_results(case, "reference")[2],
                RTOL.get(impl, 1e-5))


def _numpy_space_to_depth(x, block):
  batch, height, width, channels = x.shape
  out = np.zeros((batch, height // block, width // block, block * block * channels), x.dtype)
  for i in range(height):
    for j in range(width):
      r, s = i % block, j % block
      start = (r * block + s) * channels
      out[:, i // block, j // block, start:start + channels] = x[:, i, j]
  return out


@pytest.mark.parametrize("block, shape", [(2, (2, 4, 6, 3)), (2, (1, 2, 2, 1)), (3, (2, 6, 3, 5))])
def test_space_to_depth(block, shape):
  """Channel order (row, col, c), as the loop builds it."""
  x = _normal(shape, 8)
  np.testing.assert_array_equal(s2d.space_to_depth(x, block), _numpy_space_to_depth(x, block))


# (kernel, stride, padding, use_bias, spatial size, C_in, C_out) for the modules.
MODULE_CASES = [
    (7, 1, 3, False, 6, 5, 4),
    (4, 2, 1, True, 9, 3, 5),
    (3, 1, 1, False, 5, 17, 3),
    (3, 1, 1, False, 2, 5, 1),
    (2, 1, 0, False, 2, 5, 17),
]


@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda c: "k{}s{}p{}{}_{}px".format(
    c[0], c[1], c[2], "_bias" if c[3] else "", c[4]))
def test_conv_module_is_formulation_independent(case):
  """One set of Conv params gives the same output and layout under every impl.

  This is what lets a checkpoint move between formulations and backends.
  """
  k, stride, padding, use_bias, size, c_in, c_out = case
  x = _normal((2, size, size, c_in), 10)
  by_impl = {impl: layers.Conv(c_out, k, stride=stride, padding=padding, use_bias=use_bias,
                               impl=impl) for impl in policy.IMPLS}
  shapes = {impl: jax.tree.map(lambda a: a.shape, jax.eval_shape(layer.init, jax.random.key(0), x))
            for impl, layer in by_impl.items()}
  expected_shapes = {"params": {"kernel": (k, k, c_in, c_out)}}
  if use_bias:
    expected_shapes["params"]["bias"] = (c_out,)
  for impl_shapes in shapes.values():
    assert impl_shapes == expected_shapes
  params = {"params": {"kernel": _normal((k, k, c_in, c_out), 11)}}
  if use_bias:
    params["params"]["bias"] = _normal((c_out,), 12)
  expected = _reference_conv(x, params["params"]["kernel"], stride, padding)
  if use_bias:
    expected = expected + params["params"]["bias"]
  for impl, layer in by_impl.items():
    _assert_close(layer.apply(params, x), expected, RTOL.get(impl, 1e-5))


def test_conv_transpose_module_is_formulation_independent():
  """One set of ConvTranspose2x params gives the same output under every impl."""
  x = _normal((2, 3, 5, 7), 13)
  kernel = _normal((4, 4, 7, 3), 14)
  expected = _numpy_conv_transpose(x, kernel)
  for impl in policy.IMPLS:
    layer = layers.ConvTranspose2x(3, impl=impl)
    shapes = jax.tree.map(lambda a: a.shape, jax.eval_shape(layer.init, jax.random.key(0), x))
    assert shapes == {"params": {"kernel": (4, 4, 7, 3)}}
    _assert_close(layer.apply({"params": {"kernel": kernel}}, x), expected, RTOL.get(impl, 1e-5))


@pytest.mark.parametrize("layer, x_shape", [
    (layers.Conv(64, 7, padding=3), (1, 8, 8, 20)),
    (layers.ConvTranspose2x(64), (1, 4, 4, 32)),
], ids=["conv", "conv_transpose"])
def test_init_is_normal_002(layer, x_shape):
  """Kernels start from GANimation's N(0, 0.02) (DESIGN §2)."""
  kernel = np.asarray(layer.init(jax.random.key(0), jnp.zeros(x_shape))["params"]["kernel"])
  assert kernel.size > 30000
  assert abs(kernel.mean()) < 0.001
  assert abs(kernel.std() - 0.02) < 0.0005


@pytest.mark.parametrize("impl", ("native",) + IMPLS)
def test_resolve_impl_passes_explicit_choices_through(impl):
  """An explicit formulation is used as given, for plain and transposed layers."""
  assert policy.resolve_impl(impl) == impl
  assert policy.resolve_impl(impl, transposed=True) == impl


def test_resolve_impl_auto_picks_a_real_formulation():
  """'auto' becomes one of the concrete formulations."""
  for kwargs in ({}, {"transposed": True}, {"twice_differentiated": True}):
    assert policy.resolve_impl("auto", **kwargs) in ("native",) + IMPLS


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 1), (7, 1, 3), (4, 2, 1)])
def test_banded_weight_gradient_over_many_bands(monkeypatch, kernel, stride, padding):
  """With bands of one or two rows, the banded weight gradient still sums
  every row of every example: it equals the reference conv's."""
  monkeypatch.setattr(im2col, "_PATCH_BAND_BYTES", 1)
  x = _normal((3, 10, 10, 5), 20)
  w = _normal((kernel, kernel, 5, 6), 21)
  out = _reference_conv(x, w, stride, padding)
  g = _normal(out.shape, 22)
  expected = jax.vjp(lambda w_: _reference_conv(x, w_, stride, padding), w)[1](g)[0]
  got = jax.vjp(lambda w_: convolve.conv2d(x, w_, stride=stride, padding=padding, impl="banded"),
                w)[1](g)[0]
  _assert_close(got, expected)


@pytest.mark.parametrize("kernel_size", sorted(winograd.WINOGRAD_KERNELS))
def test_winograd_transforms_are_exact(kernel_size):
  """In float64, Aᵀ[(G g) ⊙ (Bᵀ d)] is the 1-D correlation of every input
  tile d with every kernel g (checked on the bases: the map is bilinear), so
  the 2-D nesting computes the convolution exactly."""
  f = winograd.WINOGRAD_KERNELS[kernel_size]
  m, alpha = f.at.shape
  for j in range(alpha):
    for k in range(kernel_size):
      d, g = np.eye(alpha)[j], np.eye(kernel_size)[k]
      correlation = [d[i:i + kernel_size] @ g for i in range(m)]
      np.testing.assert_allclose(f.at @ ((f.g @ g) * (f.bt @ d)), correlation, atol=1e-12)


# (batch, H, W, C_in, C_out, padding): sides that are and are not multiples of
# the output tile (4×4 for 3×3 kernels, 3×3 for 2×2), non-square, a single
# pixel, VALID.
WINOGRAD_CASES = [(2, 8, 8, 3, 4, 1), (1, 10, 7, 5, 6, 1), (3, 1, 1, 4, 2, 1), (2, 6, 9, 3, 2, 0),
                  (1, 13, 5, 8, 3, 1)]


@pytest.mark.parametrize("kernel_size", sorted(winograd.WINOGRAD_KERNELS))
@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=lambda c: "{}x{}x{}_p{}".format(*c[1:4], c[5]))
def test_winograd_matches_numpy_loop(case, kernel_size):
  """Winograd with partial tiles at the bottom and right edges equals the
  float64 definition, values and both gradients (the gradients by the
  reference conv, itself checked against the loop above)."""
  batch, height, width, c_in, c_out, padding = case
  x = _normal((batch, height, width, c_in), 30)
  kernel = _normal((kernel_size, kernel_size, c_in, c_out), 31)
  conv = lambda a, w: convolve.conv2d(a, w, padding=padding, impl="winograd")
  got = jax.jit(conv)(x, kernel)
  _assert_close(got, _numpy_conv(x, kernel, 1, padding), RTOL["winograd"])
  g = _normal(got.shape, 32)
  want_grads = jax.vjp(lambda a, w: _reference_conv(a, w, 1, padding), x, kernel)[1](g)
  # Jitted: one compilation, where op by op each of Winograd's many small
  # ops compiles on its own (5–8 s → under 1 s a case).
  got_grads = jax.jit(lambda a, w, g: jax.vjp(conv, a, w)[1](g))(x, kernel, g)
  for got_grad, want_grad in zip(got_grads, want_grads):
    _assert_close(got_grad, want_grad, RTOL["winograd"])


def test_winograd_rounding_at_network_scale():
  """With 256 channels (the bottleneck's) and GANimation-like magnitudes the
  error stays at float32 level, far below what training could notice."""
  x = np.abs(_normal((1, 12, 12, 256), 33))  # post-ReLU activations
  kernel = _normal((3, 3, 256, 8), 34) * 0.02
  expected = _numpy_conv(x, kernel, 1, 1)
  got = np.asarray(convolve.conv2d(x, kernel, padding=1, impl="winograd"), np.float64)
  assert np.abs(got - expected).max() < 2e-5 * np.abs(expected).max()


# (kernel, stride, padding, H, W): the stem, a strided conv, an image smaller
# than the kernel, VALID.
CONSTANT_CASES = [(7, 1, 3, 9, 6), (4, 2, 1, 8, 5), (7, 1, 3, 2, 3), (3, 1, 0, 5, 4)]


@pytest.mark.parametrize("case", CONSTANT_CASES, ids=lambda c: "k{}s{}p{}_{}x{}".format(*c))
def test_constant_channels_equal_concatenated_maps(case):
  """Conv(x, constants) equals the reference conv of x concatenated with the
  broadcast constant maps: values and the gradients w.r.t. the image, the
  constants and the one kernel (the parameters keep their layout)."""
  k, stride, padding, height, width = case
  x = _normal((2, height, width, 3), 40)
  values = _normal((2, 5), 41)
  kernel = _normal((k, k, 8, 4), 42)

  def reference(x, values, kernel):
    maps = jnp.broadcast_to(values[:, None, None, :], (2, height, width, 5))
    return _reference_conv(jnp.concatenate([x, maps], axis=-1), kernel, stride, padding)

  layer = layers.Conv(4, k, stride=stride, padding=padding, impl="native")
  assert jax.eval_shape(layer.init, jax.random.key(0), x, values)["params"]["kernel"].shape == (
      k, k, 8, 4)
  got_fn = lambda x, values, kernel: layer.apply({"params": {"kernel": kernel}}, x, values)
  want, want_vjp = jax.vjp(reference, x, values, kernel)
  got, got_vjp = jax.vjp(got_fn, x, values, kernel)
  _assert_close(got, want)
  _assert_close(got, _numpy_conv(np.concatenate(
      [x, np.broadcast_to(values[:, None, None, :], (2, height, width, 5))], -1), kernel, stride,
      padding))
  g = _normal(want.shape, 43)
  for got_grad, want_grad in zip(got_vjp(g), want_vjp(g)):
    _assert_close(got_grad, want_grad)


def test_unknown_impl_raises():
  """Misspelt formulations raise ValueError naming the bad value, everywhere."""
  x = jnp.zeros((1, 4, 4, 2))
  with pytest.raises(ValueError, match="fast"):
    policy.resolve_impl("fast")
  with pytest.raises(ValueError, match="fast"):
    convolve.conv2d(x, jnp.zeros((3, 3, 2, 2)), padding=1, impl="fast")
  with pytest.raises(ValueError, match="fast"):
    convolve.conv_transpose2x(x, jnp.zeros((4, 4, 2, 2)), impl="fast")
  with pytest.raises(ValueError, match="fast"):
    layers.Conv(2, 3, impl="fast").init(jax.random.key(0), x)


def test_conv_transpose_needs_a_4x4_kernel():
  """Only the 4×4 stride-2 padding-1 transposed conv is implemented; others raise."""
  with pytest.raises(ValueError, match="4, 4"):
    convolve.conv_transpose2x(jnp.zeros((1, 3, 3, 2)), jnp.zeros((3, 3, 2, 2)))


def test_module_is_linen():
  """The layers are ordinary linen modules (they compose inside nn.Sequential)."""
  model = nn.Sequential([layers.Conv(3, 4, stride=2, padding=1, impl="im2col"),
                         layers.ConvTranspose2x(2, impl="s2d")])
  x = _normal((1, 6, 6, 2), 15)
  shapes = jax.tree.map(lambda a: a.shape, jax.eval_shape(model.init, jax.random.key(1), x))
  assert shapes == {"params": {"layers_0": {"kernel": (4, 4, 2, 3)},
                               "layers_1": {"kernel": (4, 4, 3, 2)}}}
  first, second = _normal((4, 4, 2, 3), 16), _normal((4, 4, 3, 2), 17)
  params = {"params": {"layers_0": {"kernel": first}, "layers_1": {"kernel": second}}}
  expected = _numpy_conv_transpose(_numpy_conv(x, first, 2, 1), second)
  _assert_close(model.apply(params, x), expected)


def test_resolve_impl_auto_rule_on_cpu():
  """The measured CPU choices (policy.resolve_impl's docstring): im2col for the
  twice-differentiated critic, Winograd for large 3×3 and transposed convs
  up to 64 MB of input per batch and in float32, else banded,
  native for strided and small ones."""
  assert jax.default_backend() == "cpu"
  assert policy.resolve_impl("auto", twice_differentiated=True, stride=2) == "im2col"
  up = dict(transposed=True, gflop_per_example=1.07, input_bytes=16 << 20)  # batch 16, 32²×256
  assert policy.resolve_impl("auto", **up) == "winograd"
  assert policy.resolve_impl("auto", **{**up, "input_bytes": 128 << 20}) == "banded"
  assert policy.resolve_impl("auto", **up, dtype="bfloat16") == "banded"
  assert policy.resolve_impl("auto", **{**up, "gflop_per_example": 0.05}) == "banded"
  assert policy.resolve_impl("auto", stride=2, gflop_per_example=5.0) == "native"
  assert policy.resolve_impl("auto", gflop_per_example=1.2) == "banded"
  assert policy.resolve_impl("auto", gflop_per_example=0.1) == "native"
  # The bottleneck's 3×3 convs (batch 16 × 32² × 256 float32: 16 MB).
  res_block = dict(kernel_size=3, gflop_per_example=1.2, input_bytes=16 << 20)
  assert policy.resolve_impl("auto", **res_block) == "winograd"
  assert policy.resolve_impl("auto", **{**res_block, "input_bytes": 128 << 20}) == "banded"
  assert policy.resolve_impl("auto", **res_block, dtype="bfloat16") == "banded"
  assert policy.resolve_impl("auto", **{**res_block, "kernel_size": 7}) == "banded"
  assert policy.resolve_impl("auto", **{**res_block, "gflop_per_example": 0.1}) == "native"
