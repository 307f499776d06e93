"""Tests for dftnet_jax.models: shapes, parameter counts and the output algebra.

Full-size models (128×128, the paper's widths) are only traced with
`jax.eval_shape`; real forward passes use tiny models with parameters drawn
here in numpy, so the tests do not depend on the initialiser.
"""

import functools

import jax
from jax import lax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import ndimage

from dftnet_jax import layers
from dftnet_jax import models
from dftnet_jax import warp as warp_lib

NUM_AUS = 17
TINY = dict(width=4, num_res_blocks=1)
TINY_D = dict(width=4, num_layers=2)
# The parts (encoder, decoders, blocks) take their conv layer from the top.
NATIVE_CONV = functools.partial(layers.Conv, impl="native")
BATCH, SIZE = 2, 16


# Closed-form parameter counts, from DESIGN §2 (bias-free convs, affine
# InstanceNorm with a scale and a bias per channel) and, for the texture
# decoder's skips, the Decoder docstring (concat, then a 3×3 conv-IN-ReLU).
def _conv(k, c_in, c_out, bias=False):
  return k * k * c_in * c_out + (c_out if bias else 0)


def _norm(c):
  return 2 * c


def _encoder_count(w, blocks):
  stem = _conv(7, 3 + NUM_AUS, w) + _norm(w)
  down = _conv(4, w, 2 * w) + _norm(2 * w) + _conv(4, 2 * w, 4 * w) + _norm(4 * w)
  block = 2 * (_conv(3, 4 * w, 4 * w) + _norm(4 * w))
  return stem + down + blocks * block


def _decoder_count(w, head_channels, skips):
  up = _conv(4, 4 * w, 2 * w) + _norm(2 * w) + _conv(4, 2 * w, w) + _norm(w)
  fuse = _conv(3, 4 * w, 2 * w) + _norm(2 * w) + _conv(3, 2 * w, w) + _norm(w) if skips else 0
  return up + fuse + _conv(7, w, head_channels)


def _generator_count(variant, w, blocks):
  if variant == "ganimation":  # Colour (3) and attention (1).
    decoders = _decoder_count(w, 4, False)
  elif variant == "warp_only":  # Flow (2).
    decoders = _decoder_count(w, 2, False)
  else:  # Flow + attention (3), and the texture (3) with skips.
    decoders = _decoder_count(w, 3, False) + _decoder_count(w, 3, True)
  return _encoder_count(w, blocks) + decoders


def _discriminator_count(w, num_layers, size):
  channels = [3] + [w * 2 ** k for k in range(num_layers)]
  trunk = sum(_conv(4, channels[k], channels[k + 1], bias=True) for k in range(num_layers))
  return trunk + _conv(3, channels[-1], 1) + _conv(size // 2 ** num_layers, channels[-1], NUM_AUS)


def _count(params):
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))


def _abstract_inputs(size, batch=BATCH):
  return (jax.ShapeDtypeStruct((batch, size, size, 3), jnp.float32),
          jax.ShapeDtypeStruct((batch, NUM_AUS), jnp.float32))


def test_closed_form_matches_ganimation():
  """The hand count reproduces GANimation's published generator size."""
  assert _generator_count("ganimation", 64, 6) == 8_471_296


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_full_size_generator_shapes_and_counts(variant):
  """At 128×128 and the paper's widths every output has its documented shape."""
  generator = models.Generator(variant=variant)
  image, target = _abstract_inputs(128)
  params = jax.eval_shape(generator.init, jax.random.key(0), image, target)
  assert _count(params) == _generator_count(variant, 64, 6)
  out = jax.eval_shape(generator.apply, params, image, target)
  assert isinstance(out, models.GeneratorOutput)
  assert out.image.shape == out.aligned.shape == (BATCH, 128, 128, 3)
  has = {"dftnet": (True, True, True), "ganimation": (True, True, False),
         "warp_only": (False, False, True)}[variant]
  for field, shape, present in zip(("texture", "attention", "flow"),
                                   ((BATCH, 128, 128, 3), (BATCH, 128, 128, 1),
                                    (BATCH, 128, 128, 2)), has):
    value = getattr(out, field)
    assert (value.shape == shape) if present else (value is None), field


@pytest.mark.parametrize("variant", models.VARIANTS)
@pytest.mark.parametrize("width, blocks", [(4, 1), (8, 3)])
def test_small_generator_counts(variant, width, blocks):
  """Widths and block counts are honoured, not hard-wired to the paper's."""
  generator = models.Generator(variant=variant, width=width, num_res_blocks=blocks)
  params = jax.eval_shape(generator.init, jax.random.key(0), *_abstract_inputs(SIZE))
  assert _count(params) == _generator_count(variant, width, blocks)


def test_full_size_discriminator():
  """GANimation's critic at 128: a 2×2 critic map, 17 AUs, 44,860,352 params."""
  discriminator = models.Discriminator()
  image, _ = _abstract_inputs(128)
  params = jax.eval_shape(discriminator.init, jax.random.key(0), image)
  assert _count(params) == _discriminator_count(64, 6, 128) == 44_860_352
  critic, au = jax.eval_shape(discriminator.apply, params, image)
  assert critic.shape == (BATCH, 2, 2)
  assert au.shape == (BATCH, NUM_AUS)


@pytest.mark.parametrize("size, width, num_layers, critic_side", [
    (64, 8, 6, 1), (96, 4, 5, 3), (SIZE, 4, 2, 4)])
def test_discriminator_other_resolutions(size, width, num_layers, critic_side):
  """Other sizes follow the same rule: H/2^n critic map, AU kernel H/2^n."""
  discriminator = models.Discriminator(width=width, num_layers=num_layers)
  image, _ = _abstract_inputs(size)
  params = jax.eval_shape(discriminator.init, jax.random.key(0), image)
  assert _count(params) == _discriminator_count(width, num_layers, size)
  critic, au = jax.eval_shape(discriminator.apply, params, image)
  assert critic.shape == (BATCH, critic_side, critic_side)
  assert au.shape == (BATCH, NUM_AUS)


def test_critic_kernels_start_as_their_init_says():
  """'gan': N(0, 0.02) everywhere; 'he': std √(2 / fan-in), layer by layer."""
  image = jnp.zeros((1, 32, 32, 3))
  for name, expected_std in (("gan", lambda fan_in: 0.02),
                             ("he", lambda fan_in: np.sqrt(2.0 / fan_in))):
    critic = models.Discriminator(width=16, num_layers=3, kernel_init=name)
    params = critic.init(jax.random.key(0), image)["params"]
    kernels = {path: np.asarray(leaf) for path, leaf in
               jax.tree_util.tree_flatten_with_path(params)[0] if path[-1].key == "kernel"}
    assert len(kernels) == 5  # three layers and two heads
    for path, kernel in kernels.items():
      if kernel.size >= 1000:  # enough draws for a 10% bound on the std
        fan_in = int(np.prod(kernel.shape[:-1]))
        assert np.std(kernel) == pytest.approx(expected_std(fan_in), rel=0.1), (name, path)
  with pytest.raises(ValueError, match="kernel_init 'xavier'"):
    models.Discriminator(**TINY_D, kernel_init="xavier").init(jax.random.key(0), image)
  config = ml_collections.ConfigDict({"d_width": 4, "d_layers": 2, "conv_impl": "native"})
  assert models.create_discriminator(config).kernel_init == "gan"  # configs saved before it


@pytest.mark.parametrize("shape", [(BATCH, 18, 18, 3), (BATCH, 16, 20, 3), (BATCH, 20, 16, 3)])
def test_discriminator_rejects_bad_sizes(shape):
  """Sides not divisible by 2^num_layers, or non-square images, raise ValueError."""
  discriminator = models.Discriminator(**TINY_D)
  with pytest.raises(ValueError, match="num_layers"):
    jax.eval_shape(discriminator.init, jax.random.key(0),
                   jax.ShapeDtypeStruct(shape, jnp.float32))


def test_unknown_variant_raises():
  """A misspelt variant is refused with its name in the message."""
  with pytest.raises(ValueError, match="stargan"):
    jax.eval_shape(models.Generator(variant="stargan", **TINY).init, jax.random.key(0),
                   *_abstract_inputs(SIZE))


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_generator_rejects_wrong_au_count(variant):
  """Target AUs must have 17 entries; anything else is a caller's mistake."""
  image, _ = _abstract_inputs(SIZE)
  with pytest.raises(ValueError, match="17"):
    jax.eval_shape(models.Generator(variant=variant, **TINY).init, jax.random.key(0), image,
                   jax.ShapeDtypeStruct((BATCH, 16), jnp.float32))


@pytest.mark.parametrize("variant", models.VARIANTS)
@pytest.mark.parametrize("shape, message", [((BATCH, 18, 18, 3), "multiples of 4"),
                                            ((BATCH, 16, 16, 4), r"\[B, H, W, 3\]")])
def test_generator_rejects_bad_image_shapes(variant, shape, message):
  """Sides the two downsamplings cannot halve, or a 4th channel, are named."""
  with pytest.raises(ValueError, match=message):
    jax.eval_shape(models.Generator(variant=variant, **TINY).init, jax.random.key(0),
                   jax.ShapeDtypeStruct(shape, jnp.float32),
                   jax.ShapeDtypeStruct((BATCH, 17), jnp.float32))


@pytest.mark.parametrize("variant", ["dftnet", "warp_only"])
def test_fresh_generator_starts_with_identity_flow(variant):
  """At initialisation Φ = 0 and A = 0.5, so the warp returns the source exactly."""
  images = np.random.default_rng(0).uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
  target = np.full((BATCH, NUM_AUS), 0.5, np.float32)
  generator = models.Generator(variant=variant, **TINY)
  out = generator.apply(generator.init(jax.random.key(0), images, target), images, target)
  np.testing.assert_array_equal(out.flow, 0.0)
  np.testing.assert_allclose(out.aligned, images, rtol=0, atol=1e-6)
  if variant == "dftnet":
    np.testing.assert_array_equal(out.attention, 0.5)
    assert np.abs(out.texture).mean() > 1e-3


def test_create_from_config():
  """Config fields reach the modules they name."""
  config = ml_collections.ConfigDict(dict(variant="warp_only", g_width=8, g_res_blocks=2,
                                          d_width=16, d_layers=3, conv_impl="s2d"))
  generator = models.create_generator(config)
  discriminator = models.create_discriminator(config)
  assert (generator.variant, generator.width, generator.num_res_blocks,
          generator.conv_impl) == ("warp_only", 8, 2, "s2d")
  assert (discriminator.width, discriminator.num_layers,
          discriminator.conv_impl) == (16, 3, "s2d")


def _random_params(abstract, seed, gain):
  """Parameters drawn in numpy: kernels N(0, gain²/fan_in), norms near identity."""
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = path[-1].key
    if name == "kernel":
      fan_in = int(np.prod(leaf.shape[:-1]))
      return (rng.normal(size=leaf.shape) * gain / np.sqrt(fan_in)).astype(np.float32)
    if name == "scale":
      return (1.0 + 0.1 * rng.normal(size=leaf.shape)).astype(np.float32)
    assert name == "bias", path
    return (0.1 * rng.normal(size=leaf.shape)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, abstract)


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  images = rng.uniform(-1.0, 1.0, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
  target = rng.uniform(0.0, 1.0, (BATCH, NUM_AUS)).astype(np.float32)
  return images, target


@functools.cache
def _generator_apply(variant, conv_impl):
  return jax.jit(models.Generator(variant=variant, conv_impl=conv_impl, **TINY).apply)


@functools.cache
def _generator_params(variant, gain):
  abstract = jax.eval_shape(models.Generator(variant=variant, **TINY).init,
                            jax.random.key(0), *_abstract_inputs(SIZE))
  return _random_params(abstract, 1, gain)


def _run(variant, gain=1.5, conv_impl="native", target=None):
  """A tiny generator's output as numpy (None fields stay None)."""
  images, default_target = _inputs()
  out = _generator_apply(variant, conv_impl)(
      _generator_params(variant, gain), images, default_target if target is None else target)
  return models.GeneratorOutput(*(None if v is None else np.asarray(v) for v in out))


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_output_ranges(variant):
  """Large weights drive every head into saturation, yet outputs stay in range.

  image, aligned, texture and flow are tanh-bounded in [-1, 1], attention is a
  sigmoid in [0, 1]; the bounds must actually be approached for the test to bite.
  """
  out = _run(variant, gain=30.0)
  assert out.image.shape == out.aligned.shape == (BATCH, SIZE, SIZE, 3)
  for field, (low, high) in (("image", (-1, 1)), ("aligned", (-1, 1)), ("texture", (-1, 1)),
                             ("attention", (0, 1)), ("flow", (-1, 1))):
    value = getattr(out, field)
    if value is None:
      continue
    assert np.all(np.isfinite(value)), field
    assert value.min() >= low - 1e-6 and value.max() <= high + 1e-6, field
  for field, (low, high) in (("texture", (-1, 1)), ("attention", (0, 1)), ("flow", (-1, 1))):
    value = getattr(out, field)
    if value is not None:
      assert value.min() < low + 0.01 and value.max() > high - 0.01, field


def test_dftnet_output_is_the_blend():
  """DFT-Net's image is (1 − A)·B + A·warp(X, Φ) of its own intermediates."""
  images, _ = _inputs()
  out = _run("dftnet")
  assert out.attention.shape == (BATCH, SIZE, SIZE, 1)
  assert out.flow.shape == (BATCH, SIZE, SIZE, 2)
  # The intermediates must be non-trivial for the identity to mean anything.
  assert 0.05 < out.attention.std() and 0.02 < np.abs(out.flow).mean()
  aligned = np.asarray(warp_lib.warp(images, out.flow), np.float64)
  assert np.abs(aligned - images).max() > 0.1
  np.testing.assert_allclose(out.aligned, aligned, rtol=0, atol=1e-6)
  attention = out.attention.astype(np.float64)
  expected = (1.0 - attention) * out.texture + attention * aligned
  np.testing.assert_allclose(out.image, expected, rtol=0, atol=1e-5)


def test_ganimation_output_is_its_blend():
  """GANimation's image is A·X + (1 − A)·C, and its aligned image is X itself."""
  images, _ = _inputs()
  out = _run("ganimation")
  assert out.flow is None
  assert 0.05 < out.attention.std()
  np.testing.assert_array_equal(out.aligned, images)
  attention = out.attention.astype(np.float64)
  expected = attention * images + (1.0 - attention) * out.texture
  np.testing.assert_allclose(out.image, expected, rtol=0, atol=1e-5)


def test_warp_only_output_is_the_warp():
  """The warp-only ablation returns warp(X, Φ) and nothing else."""
  images, _ = _inputs()
  out = _run("warp_only")
  assert out.texture is None and out.attention is None
  assert 0.02 < np.abs(out.flow).mean()
  np.testing.assert_allclose(out.image, warp_lib.warp(images, out.flow), rtol=0, atol=1e-6)
  np.testing.assert_array_equal(out.aligned, out.image)


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_every_au_reaches_the_output(variant):
  """Changing any one target AU changes the image: the conditioning is wired."""
  _, target = _inputs()
  base = _run(variant).image
  np.testing.assert_array_equal(_run(variant, target=target.copy()).image, base)
  for k in range(NUM_AUS):
    changed = target.copy()
    changed[:, k] = 1.0 - changed[:, k]
    diff = np.abs(_run(variant, target=changed).image - base)
    assert diff.max() > 1e-4, f"AU position {k} has no effect"


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_generator_is_formulation_independent(variant):
  """The same parameters give the same outputs with every formulation."""
  native = _run(variant, conv_impl="native")
  for impl in ("im2col", "s2d", "banded", "winograd"):
    other = _run(variant, conv_impl=impl)
    for field, a, b in zip(models.GeneratorOutput._fields, native, other):
      if a is None:
        assert b is None, field
      else:
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4, err_msg=f"{impl} {field}")


DIMS = ("NHWC", "HWIO", "NHWC")


def _conv_by_hand(x, kernel, stride=1, padding=0):
  return lax.conv_general_dilated(jnp.asarray(x, jnp.float32), kernel, (stride, stride),
                                  [(padding, padding)] * 2, dimension_numbers=DIMS)


def _up_by_hand(x, kernel):
  """PyTorch's ConvTranspose2d(4, 2, 1): the adjoint of a 4×4/2/1 conv."""
  return lax.conv_transpose(jnp.asarray(x, jnp.float32), jnp.swapaxes(kernel, 2, 3), (2, 2),
                            [(2, 2), (2, 2)], dimension_numbers=DIMS, transpose_kernel=True)


def _norm_by_hand(x, params, relu=True):
  """Affine InstanceNorm (eps 1e-5) in float64, then ReLU."""
  x = np.asarray(x, np.float64)
  y = (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
  y = y * params["scale"] + params["bias"]
  return np.maximum(y, 0.0) if relu else y


def _decoder_by_hand(p, latent, full, half, skips):
  """Two ×2 up-convs (+ concat skip, 3×3 fuse), then the 7×7 head's raw output."""
  x = _norm_by_hand(_up_by_hand(latent, p["ConvTranspose2x_0"]["kernel"]), p["InstanceNorm_0"])
  if skips:
    x = np.concatenate([x, half], -1)
    x = _norm_by_hand(_conv_by_hand(x, p["Conv_0"]["kernel"], 1, 1), p["InstanceNorm_1"])
    x = _norm_by_hand(_up_by_hand(x, p["ConvTranspose2x_1"]["kernel"]), p["InstanceNorm_2"])
    x = np.concatenate([x, full], -1)
    x = _norm_by_hand(_conv_by_hand(x, p["Conv_1"]["kernel"], 1, 1), p["InstanceNorm_3"])
    head = p["Conv_2"]["kernel"]
  else:
    x = _norm_by_hand(_up_by_hand(x, p["ConvTranspose2x_1"]["kernel"]), p["InstanceNorm_1"])
    head = p["Conv_0"]["kernel"]
  return np.asarray(_conv_by_hand(x, head, 1, 3), np.float64)


def _generator_by_hand(variant, params, images, target):
  """DESIGN §2 written out layer by layer: GANimation's trunk and the decoders."""
  e = params["encoder"]
  au_maps = np.broadcast_to(target[:, None, None, :], images.shape[:3] + (NUM_AUS,))
  x = np.concatenate([images, au_maps], -1)
  full = _norm_by_hand(_conv_by_hand(x, e["Conv_0"]["kernel"], 1, 3), e["InstanceNorm_0"])
  half = _norm_by_hand(_conv_by_hand(full, e["Conv_1"]["kernel"], 2, 1), e["InstanceNorm_1"])
  x = _norm_by_hand(_conv_by_hand(half, e["Conv_2"]["kernel"], 2, 1), e["InstanceNorm_2"])
  for b in range(TINY["num_res_blocks"]):
    r = e[f"ResidualBlock_{b}"]
    y = _norm_by_hand(_conv_by_hand(x, r["Conv_0"]["kernel"], 1, 1), r["InstanceNorm_0"])
    y = _norm_by_hand(_conv_by_hand(y, r["Conv_1"]["kernel"], 1, 1), r["InstanceNorm_1"],
                      relu=False)
    x = x + y
  sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
  if variant == "ganimation":
    raw = _decoder_by_hand(params["decoder"], x, full, half, skips=False)
    colour, attention = np.tanh(raw[..., :3]), sigmoid(raw[..., 3:])
    return dict(image=attention * images + (1 - attention) * colour, texture=colour,
                attention=attention)
  raw = _decoder_by_hand(params["flow_decoder"], x, full, half, skips=False)
  flow = np.tanh(raw[..., :2])
  aligned = np.asarray(warp_lib.warp(images, flow.astype(np.float32)), np.float64)
  if variant == "warp_only":
    return dict(image=aligned, aligned=aligned, flow=flow)
  attention = sigmoid(raw[..., 2:])
  texture = np.tanh(_decoder_by_hand(params["texture_decoder"], x, full, half, skips=True))
  return dict(image=(1 - attention) * texture + attention * aligned, aligned=aligned,
              texture=texture, attention=attention, flow=flow)


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_generator_forward_by_hand(variant):
  """Every output equals a layer-by-layer reimplementation from the same params.

  This pins the wiring the output algebra cannot see: AU channels after the
  image, skips from the matching resolution, head channel order (flow, then
  attention; colour, then attention).
  """
  images, target = _inputs()
  out = _run(variant)
  expected = _generator_by_hand(variant, _generator_params(variant, 1.5)["params"],
                                images, target)
  for field, value in expected.items():
    np.testing.assert_allclose(getattr(out, field), value, rtol=0, atol=1e-4, err_msg=field)


def _discriminator_by_hand(params, images, num_layers, aus=None):
  """GANimation's critic recomputed from its parameters with lax convolutions;
  a projection critic's map also gains each patch's features · (aus · W)."""
  trunk = [params[f"Conv_{k}"] for k in range(num_layers)]
  x = jnp.asarray(images)
  for layer in trunk:
    x = lax.conv_general_dilated(x, layer["kernel"], (2, 2), [(1, 1), (1, 1)],
                                 dimension_numbers=DIMS) + layer["bias"]
    x = np.where(x > 0, x, 0.01 * x)
  critic = lax.conv_general_dilated(x, params["critic_head"]["kernel"], (1, 1),
                                    [(1, 1), (1, 1)], dimension_numbers=DIMS)
  au = lax.conv_general_dilated(x, params["au_head"]["kernel"], (1, 1), "VALID",
                                dimension_numbers=DIMS)
  critic = np.array(critic)[..., 0]
  if "au_projection" in params:
    embedded = np.asarray(aus) @ np.asarray(params["au_projection"]["kernel"])
    features = np.asarray(x)
    for b in range(len(images)):
      for i in range(features.shape[1]):
        for j in range(features.shape[2]):
          critic[b, i, j] += float(np.dot(features[b, i, j], embedded[b]))
  return critic, np.asarray(au).reshape(len(images), NUM_AUS)


@pytest.mark.parametrize("conv_impl", ["native", "im2col", "s2d"])
def test_discriminator_forward(conv_impl):
  """The tiny critic equals a hand-written stack: 4×4/2 convs, LeakyReLU(0.01), two heads."""
  images, _ = _inputs()
  discriminator = models.Discriminator(conv_impl=conv_impl, **TINY_D)
  abstract = jax.eval_shape(discriminator.init, jax.random.key(0), images)
  assert set(abstract["params"]) == {"Conv_0", "Conv_1", "critic_head", "au_head"}
  params = _random_params(abstract, 2, 1.5)
  critic, au = jax.jit(discriminator.apply)(params, images)
  assert critic.shape == (BATCH, SIZE // 4, SIZE // 4) and au.shape == (BATCH, NUM_AUS)
  want_critic, want_au = _discriminator_by_hand(params["params"], images, 2)
  for got, want in ((critic, want_critic), (au, want_au)):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_projection_discriminator_forward():
  """A projection critic's map is the blind critic's plus, at each patch, its
  last features · (aus · W) (by hand, loop by loop); its AU head is the
  blind critic's."""
  images, aus = _inputs()
  discriminator = models.Discriminator(conv_impl="native", projection=True, **TINY_D)
  abstract = jax.eval_shape(discriminator.init, jax.random.key(0), images, aus)
  assert set(abstract["params"]) == {"Conv_0", "Conv_1", "critic_head", "au_head",
                                     "au_projection"}
  params = _random_params(abstract, 3, 1.5)
  critic, au = jax.jit(discriminator.apply)(params, images, aus)
  want_critic, want_au = _discriminator_by_hand(params["params"], images, 2, aus)
  for got, want in ((critic, want_critic), (au, want_au)):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
  blind = {name: value for name, value in params["params"].items() if name != "au_projection"}
  blind_critic, _ = _discriminator_by_hand(blind, images, 2)
  assert np.abs(want_critic - blind_critic).max() > 0.1 * np.abs(blind_critic).max()


def test_a_fresh_projection_critic_is_the_blind_one_and_needs_aus():
  """W starts at zero: the same trunk and heads score as the blind critic
  whatever the AUs; called without AUs it names what is missing."""
  images, aus = _inputs()
  projecting = models.Discriminator(conv_impl="native", projection=True, **TINY_D)
  params = projecting.init(jax.random.key(1), images, aus)
  blind = {"params": {k: v for k, v in params["params"].items() if k != "au_projection"}}
  plain_map, plain_aus = models.Discriminator(conv_impl="native", **TINY_D).apply(blind, images)
  for some_aus in (aus, 1 - aus):
    got_map, got_aus = projecting.apply(params, images, some_aus)
    np.testing.assert_array_equal(got_map, plain_map)
    np.testing.assert_array_equal(got_aus, plain_aus)
  with pytest.raises(ValueError, match="projection critic .* pass `aus`"):
    projecting.apply(params, images)
  config = ml_collections.ConfigDict({"d_width": 4, "d_layers": 2, "conv_impl": "native"})
  assert not models.create_discriminator(config).projection  # configs saved before it


def test_resize_upsampling_decoder_by_hand():
  """'resize': nearest ×2 (each pixel to a 2×2 block), 3×3 conv, IN, ReLU, twice."""
  decoder = models.Decoder(4, heads=(models.Head(3, jnp.tanh),), upsampling="resize",
                           conv=NATIVE_CONV)
  latent = np.random.default_rng(0).normal(size=(2, 4, 4, 16)).astype(np.float32)
  skips = (np.zeros((2, 16, 16, 4), np.float32), np.zeros((2, 8, 8, 8), np.float32))
  params = _random_params(jax.eval_shape(decoder.init, jax.random.key(0), latent, skips), 1, 1.5)
  (out,) = decoder.apply(params, latent, skips)
  p = params["params"]
  nearest = lambda v: np.repeat(np.repeat(v, 2, axis=1), 2, axis=2)
  x = _norm_by_hand(_conv_by_hand(nearest(latent), p["Conv_0"]["kernel"], 1, 1),
                    p["InstanceNorm_0"])
  x = _norm_by_hand(_conv_by_hand(nearest(x), p["Conv_1"]["kernel"], 1, 1), p["InstanceNorm_1"])
  expected = np.tanh(np.asarray(_conv_by_hand(x, p["Conv_2"]["kernel"], 1, 3), np.float64))
  assert out.shape == (2, 16, 16, 3)
  np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)


def test_unknown_upsampling_is_named():
  generator = models.Generator(width=4, num_res_blocks=1, upsampling="bicubic")
  with pytest.raises(ValueError, match="unknown upsampling 'bicubic'"):
    generator.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, NUM_AUS)))


def test_residual_texture_starts_as_the_source_and_adds_a_clipped_change():
  residual = models.Generator(width=4, num_res_blocks=1, texture_residual=True,
                              conv_impl="native")
  images, target = _inputs()
  params = residual.init(jax.random.key(0), images, target)
  out = residual.apply(params, images, target)
  # Both heads start at zero: identity flow, texture = source, output = source.
  np.testing.assert_allclose(out.texture, images, atol=1e-6)
  np.testing.assert_allclose(out.image, images, atol=1e-5)
  # With trained-looking parameters the texture is the source plus what the
  # paper's decoder (same parameters) would draw outright, clipped.
  moved = _random_params(jax.eval_shape(residual.init, jax.random.key(0), images, target), 2, 1.5)
  outright = models.Generator(width=4, num_res_blocks=1, conv_impl="native").apply(
      moved, images, target)
  out = residual.apply(moved, images, target)
  np.testing.assert_allclose(out.texture, np.clip(images + outright.texture, -1, 1), atol=1e-5)
  assert np.abs(out.texture - images).max() > 0.1


def test_film_residual_block_by_hand():
  """'film': each norm's output is IN(x)·(1 + γ) + β, [γ, β] = AUs·W + b."""
  block = models.ResidualBlock(8, conv=NATIVE_CONV)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 6, 6, 8)).astype(np.float32)
  au = rng.uniform(size=(2, NUM_AUS)).astype(np.float32)
  params = _random_params(jax.eval_shape(block.init, jax.random.key(0), x, au), 1, 1.5)
  p = params["params"]

  def film(y, dense):
    scale_shift = au.astype(np.float64) @ dense["kernel"] + dense["bias"]
    scale, shift = np.split(scale_shift[:, None, None, :], 2, axis=-1)
    return y * (1 + scale) + shift

  y = np.maximum(film(_norm_by_hand(_conv_by_hand(x, p["Conv_0"]["kernel"], 1, 1),
                                    p["InstanceNorm_0"], relu=False), p["Dense_0"]), 0.0)
  y = film(_norm_by_hand(_conv_by_hand(y, p["Conv_1"]["kernel"], 1, 1), p["InstanceNorm_1"],
                         relu=False), p["Dense_1"])
  np.testing.assert_allclose(block.apply(params, x, au), x + y, rtol=0, atol=1e-4)


def test_film_starts_as_the_input_conditioned_generator():
  """The FiLM layers start at zero: the same function as 'input' at first."""
  images, target = _inputs()
  film = models.Generator(width=4, num_res_blocks=1, au_conditioning="film", conv_impl="native")
  params = film.init(jax.random.key(0), images, target)
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  film_leaves = [leaf for path, leaf in flat if "Dense" in jax.tree_util.keystr(path)]
  # One Dense per norm: 3 in the encoder, 2 per residual block, 2 + 4 in the decoders.
  assert len(film_leaves) == 2 * (3 + 2 + 2 + 4)
  assert all(not np.any(leaf) for leaf in film_leaves)
  drop = lambda tree: {k: drop(v) for k, v in tree.items() if not k.startswith("Dense")} \
      if isinstance(tree, dict) else tree
  plain = drop(jax.tree.map(np.asarray, params))
  out = film.apply(params, images, target)
  expected = models.Generator(width=4, num_res_blocks=1, conv_impl="native").apply(
      plain, images, target)
  np.testing.assert_allclose(out.image, expected.image, rtol=0, atol=1e-6)


def test_unknown_au_conditioning_is_named():
  generator = models.Generator(width=4, num_res_blocks=1, au_conditioning="concat")
  with pytest.raises(ValueError, match="unknown au_conditioning 'concat'"):
    generator.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, NUM_AUS)))


def test_input_aus_reach_the_first_norms_interior_weakly():
  """The paper's conditioning: the first conv adds an AU as a per-channel
  constant, which its instance norm subtracts again except for what the zero
  padding leaves at the border. Measured in the interior of a 64×64 face, in
  the conv's units, the norm keeps under 15% of the AU's direct effect
  (about 7% at the demo's width, README); FiLM adds a direct path."""
  rng = np.random.default_rng(0)
  images = rng.uniform(-1.0, 1.0, (2, 64, 64, 3)).astype(np.float32)
  source, target = np.zeros((2, NUM_AUS), np.float32), np.zeros((2, NUM_AUS), np.float32)
  target[:, 16] = 1.0  # AU45

  def first_layer(conditioning, aus, params=None):
    generator = models.Generator(width=4, num_res_blocks=1, au_conditioning=conditioning,
                                 conv_impl="native")
    params = params or generator.init(jax.random.key(0), images, aus)
    _, state = generator.apply(params, images, aus, capture_intermediates=True,
                               mutable=["intermediates"])
    encoder = state["intermediates"]["encoder"]
    return params, encoder["Conv_0"]["__call__"][0], encoder["InstanceNorm_0"]["__call__"][0]

  def surviving(conditioning, randomise_film=False):
    params, conv0, norm0 = first_layer(conditioning, source)
    if randomise_film:
      params = jax.tree_util.tree_map_with_path(
          lambda p, x: x + 0.5 if "Dense" in jax.tree_util.keystr(p) else x, params)
      _, conv0, norm0 = first_layer(conditioning, source, params)
    _, conv1, norm1 = first_layer(conditioning, target, params)
    if conditioning == "film":  # the intermediate is the norm's, before FiLM
      dense = params["params"]["encoder"]["Dense_0"]
      scale_shift = lambda aus: (aus @ dense["kernel"] + dense["bias"])[:, None, None, :]
      film = lambda norm, aus: norm * (1 + scale_shift(aus)[..., :4]) + scale_shift(aus)[..., 4:]
      norm0, norm1 = film(norm0, source), film(norm1, target)
    interior = (slice(None), slice(16, 48), slice(16, 48))
    direct = np.abs(conv1 - conv0)[interior].mean()
    sigma = np.sqrt(np.var(conv0, axis=(1, 2), keepdims=True) + 1e-5)
    scale = np.abs(params["params"]["encoder"]["InstanceNorm_0"]["scale"])
    return float((np.abs(norm1 - norm0) * sigma / scale)[interior].mean() / direct)

  weak = surviving("input")
  assert 0.0 < weak < 0.15
  # The norm's output, not the AU maps, is what FiLM conditions: there the
  # AU's effect is of the order of the direct one.
  assert surviving("film", randomise_film=True) > 5 * weak


def test_coarsen_flow_is_the_block_means_linearly_zoomed():
  """Against scipy: k×k block means, zoomed ×k by linear interpolation between
  block centres, the border block's value held (grid_mode, mode='nearest')."""
  flow = np.random.default_rng(0).normal(size=(2, 16, 12, 2)).astype(np.float32)
  np.testing.assert_array_equal(models.coarsen_flow(jnp.asarray(flow), 1), flow)
  for grid in (2, 4):
    means = flow.reshape(2, 16 // grid, grid, 12 // grid, grid, 2).mean(axis=(2, 4))
    expected = ndimage.zoom(means, (1, grid, grid, 1), order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(models.coarsen_flow(jnp.asarray(flow), grid), expected,
                               rtol=0, atol=1e-6)
  # A smooth (affine) field passes unchanged away from the border blocks.
  rows, cols = np.mgrid[:16, :16].astype(np.float32)
  affine = np.stack([0.01 * cols + 0.02 * rows, 0.005 * rows - 0.03 * cols], -1)[None]
  kept = np.asarray(models.coarsen_flow(jnp.asarray(affine), 4))
  np.testing.assert_allclose(kept[:, 2:-2, 2:-2], affine[:, 2:-2, 2:-2], atol=1e-6)


@pytest.mark.parametrize("variant", ["dftnet", "warp_only"])
def test_flow_grid_warps_by_the_coarsened_flow_with_the_same_parameters(variant):
  images, target = _inputs()
  fine = models.Generator(variant=variant, conv_impl="native", **TINY)
  coarse = models.Generator(variant=variant, conv_impl="native", flow_grid=4, **TINY)
  params = _random_params(jax.eval_shape(fine.init, jax.random.key(0), images, target), 3, 1.5)
  per_pixel = fine.apply(params, images, target).flow
  out = coarse.apply(params, images, target)
  np.testing.assert_allclose(out.flow, models.coarsen_flow(per_pixel, 4), atol=1e-6)
  np.testing.assert_allclose(out.aligned, warp_lib.warp(images, out.flow), atol=1e-6)
  assert np.abs(out.flow - per_pixel).max() > 1e-3


def test_flow_grid_that_does_not_divide_the_image_is_named():
  generator = models.Generator(flow_grid=3, **TINY)
  with pytest.raises(ValueError, match="flow_grid must be a positive divisor of the image"
                     " sides 16×16, got 3"):
    generator.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, NUM_AUS)))
