"""DFT-Net, GANimation and warp-only generators, and the WGAN critic.

Architecture (DESIGN §2, paper Fig. 2): a GANimation trunk encodes the source
image concatenated with the target AUs (one constant channel per AU); a flow
decoder predicts the appearance flow Φ and the attention A; a texture decoder
with U-Net skips predicts the texture B; the output is
(1 − A)·B + A·warp(X, Φ). Every variant returns the same `GeneratorOutput`, so
losses, summaries and `edit` treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
from typing import Any, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from dftnet_jax import aus as aus_lib
from dftnet_jax import layers
from dftnet_jax import warp as warp_lib
from dftnet_jax.cpu_conv import policy

VARIANTS: tuple[str, ...] = ("dftnet", "ganimation", "warp_only")
# How the decoders double the resolution: 'transpose' (4×4 stride-2
# transposed conv, GANimation's and the paper's) or 'resize' (nearest ×2,
# then a 3×3 conv: no checkerboard, Odena et al. 2016).
UPSAMPLINGS: tuple[str, ...] = ("transpose", "resize")
# How the target AUs reach the generator: 'input' (constant maps
# concatenated to the image, GANimation's and the paper's) or 'film' (also a
# per-channel scale and shift of every instance norm, from the AUs).
AU_CONDITIONINGS: tuple[str, ...] = ("input", "film")
# A layer class or a partial of one (flax examples' convention): the
# generator's parts take their convolutions from the top, which picks the
# formulation (`dftnet_jax.cpu_conv`) and the dtype once.
ModuleDef = Any
# How the critic's kernels start: 'gan' (N(0, 0.02), GANimation's and
# DCGAN's) or 'he' (N(0, 2 / fan-in), He et al. 2015). With no
# normalisation between its layers, N(0, 0.02) shrinks the signal at every
# layer of a narrow critic (by ~0.3× a layer at the demo's width 16). Tried
# because the demo's critic alone explains ~1% of the AUs' variance after
# 1,000 updates; 'he' changes where it starts, not its pace (17% at 1,500
# updates either way: experiments/LEARNING.md, session 6).
CRITIC_INITS: dict[str, nn.initializers.Initializer] = {
    "gan": layers.default_kernel_init, "he": nn.initializers.he_normal()}


class GeneratorOutput(NamedTuple):
  """What a generator produces; images are [B, H, W, 3] in [-1, 1].

  `editing.edit(..., intermediates=True)` returns the same fields as numpy
  arrays in the caller's dtype, range and rank.

  Attributes:
    image: the edited face X̂ = (1 − A)·B + A·Xa.
    aligned: Xa, the source warped by the flow (the source itself in
      GANimation, which has no flow).
    texture: B, the synthesised texture (GANimation's colour mask C); None in
      the warp-only ablation.
    attention: A in [0, 1], [B, H, W, 1]; 1 keeps the aligned source. None in
      the warp-only ablation.
    flow: Φ, [B, H, W, 2] normalised (x, y) offsets; None in GANimation.
  """
  image: jax.Array
  aligned: jax.Array
  texture: Optional[jax.Array]
  attention: Optional[jax.Array]
  flow: Optional[jax.Array]


def _instance_norm(x: jax.Array, aus: jax.Array | None = None) -> jax.Array:
  """InstanceNorm in the dtype of `x`; Flax takes the statistics in float32.

  Given `aus` [B, 17], FiLM-conditioned (conditional instance norm, Dumoulin
  et al. 2017): IN(x)·(1 + γ) + β with γ, β linear in the AUs, from zero. The
  input's constant AU maps barely survive instance norm: the first conv adds
  them as a per-channel constant, which the norm subtracts again, so they
  reach the network only through what the zero padding at the border does
  to the norm's statistics. Here they reach every layer directly. (At 64×64
  the first norm keeps 7–8% of an AU's direct effect in the face's interior;
  the learning experiments found FiLM did not make the generator learn
  faster: experiments/LEARNING.md.)
  """
  y = nn.InstanceNorm(epsilon=1e-5, dtype=x.dtype)(x)
  if aus is None:
    return y
  film = nn.Dense(2 * x.shape[-1], kernel_init=nn.initializers.zeros)(aus)
  scale, shift = jnp.split(film[:, None, None, :].astype(y.dtype), 2, axis=-1)
  return y * (1 + scale) + shift


def _norm_relu(x: jax.Array, aus: jax.Array | None = None) -> jax.Array:
  return nn.relu(_instance_norm(x, aus))


class ResidualBlock(nn.Module):
  """conv3×3-IN-ReLU-conv3×3-IN plus the identity (GANimation)."""
  features: int
  conv: ModuleDef = layers.Conv

  @nn.compact
  def __call__(self, x: jax.Array, aus: jax.Array | None = None) -> jax.Array:
    """`aus`: FiLM-condition the norms on them (`_instance_norm`)."""
    conv = functools.partial(self.conv, self.features, 3, padding=1)
    y = _norm_relu(conv()(x), aus)
    y = _instance_norm(conv()(y), aus)
    return x + y


class Encoder(nn.Module):
  """GANimation's trunk: 7×7 conv, two stride-2 convs, residual blocks.

  Returns the latent code [B, H/4, W/4, 4·width] and the skip features at
  full and half resolution ([B, H, W, width], [B, H/2, W/2, 2·width]).
  """
  width: int = 64
  num_res_blocks: int = 6
  conv: ModuleDef = layers.Conv
  film: bool = False

  @nn.compact
  def __call__(self, image: jax.Array, target_aus: jax.Array
               ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    conv = self.conv
    aus = target_aus if self.film else None
    # The AUs enter as constant maps concatenated to the image; `Conv` takes
    # them as constant channels, which is the same function, cheaper.
    full = _norm_relu(conv(self.width, 7, padding=3)(image, target_aus), aus)
    half = _norm_relu(conv(2 * self.width, 4, stride=2, padding=1)(full), aus)
    x = _norm_relu(conv(4 * self.width, 4, stride=2, padding=1)(half), aus)
    for _ in range(self.num_res_blocks):
      x = ResidualBlock(4 * self.width, self.conv)(x, aus)
    return x, (full, half)


class Head(NamedTuple):
  """One output of a decoder: its channel count and squashing function."""
  channels: int
  activation: Callable[[jax.Array], jax.Array]


def upsample_nearest(x: jax.Array) -> jax.Array:
  """[B, H, W, C] → [B, 2H, 2W, C], each pixel repeated 2×2."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class Decoder(nn.Module):
  """Two ×2 upsamplings (4×4 transposed conv-IN-ReLU), then one 7×7 conv.

  `upsampling='resize'` doubles by nearest-neighbour repetition and a 3×3
  conv instead: a stride-2 transposed conv's kernel taps overlap unevenly,
  which draws the checkerboard a fresh decoder shows (and a short run never
  unlearns); a resize spreads every input pixel evenly.

  With `skips`, each upsampled map is concatenated with the encoder feature of
  the same resolution and fused by a 3×3 conv-IN-ReLU (the paper's skip
  connections for the texture decoder). The 7×7 conv emits every head's
  channels at once; they are split and squashed per head. With
  `zero_init_heads` that conv starts at zero, so the flow starts at the
  identity and the attention at 0.5: a random initial flow scrambles the
  warped face, and the attention then learns to ignore the warp for good.
  """
  width: int = 64
  heads: Sequence[Head] = ()
  skips: bool = False
  zero_init_heads: bool = False
  upsampling: str = "transpose"
  conv: ModuleDef = layers.Conv
  conv_transpose: ModuleDef = layers.ConvTranspose2x

  @nn.compact
  def __call__(self, latent: jax.Array, skip_features: tuple[jax.Array, jax.Array],
               aus: jax.Array | None = None) -> list[jax.Array]:
    """`aus`: FiLM-condition the norms on them (`_instance_norm`)."""
    conv = self.conv
    x = latent
    for features, skip in zip((2 * self.width, self.width), reversed(skip_features)):
      if self.upsampling == "transpose":
        x = self.conv_transpose(features)(x)
      elif self.upsampling == "resize":
        x = conv(features, 3, padding=1)(upsample_nearest(x))
      else:
        raise ValueError(f"unknown upsampling {self.upsampling!r}; expected one of {UPSAMPLINGS}")
      x = _norm_relu(x, aus)
      if self.skips:
        x = jnp.concatenate([x, skip], axis=-1)
        x = _norm_relu(conv(features, 3, padding=1)(x), aus)
    head_init = nn.initializers.zeros if self.zero_init_heads else layers.default_kernel_init
    # The heads (flow, attention, texture) and all that follows are float32.
    y = conv(sum(h.channels for h in self.heads), 7, padding=3,
             kernel_init=head_init)(x).astype(jnp.float32)
    bounds = [sum(h.channels for h in self.heads[:k]) for k in range(1, len(self.heads))]
    return [h.activation(part) for h, part in zip(self.heads, jnp.split(y, bounds, axis=-1))]


_FLOW = Head(2, jnp.tanh)
_ATTENTION = Head(1, nn.sigmoid)
_COLOUR = Head(3, jnp.tanh)


class Generator(nn.Module):
  """AU-conditioned generator; `variant` picks DFT-Net or an ablation.

  Attributes:
    variant: 'dftnet' (flow + attention decoder and texture decoder),
      'ganimation' (one decoder: colour C and attention A, output
      A·X + (1 − A)·C), or 'warp_only' (flow decoder only, output warp(X, Φ)).
    width: channels after the first conv; doubles at each downsampling.
    num_res_blocks: residual blocks at the bottleneck.
    conv_impl: convolution formulation (`dftnet_jax.cpu_conv`).
    dtype: the convolutions' compute dtype ('float32' or 'bfloat16');
      parameters, the warp and the composition stay float32.
    upsampling: the decoders' ×2 upsampling, one of `UPSAMPLINGS`.
    texture_residual: DFT-Net only. False: the texture decoder draws B
      outright (tanh), as the paper's. True: it draws a change to the
      source, B = clip(X + tanh(·), −1, 1), from a head that starts at zero:
      the first edits are the source itself rather than the untrained
      decoder's noise blended in wherever the attention is below 1, and the
      decoder learns only what the expression changes.
    au_conditioning: one of `AU_CONDITIONINGS`.
    flow_grid: the flow's control-point spacing in pixels (`coarsen_flow`);
      1, the paper's, gives every pixel its own offset.
  """
  variant: str = "dftnet"
  width: int = 64
  num_res_blocks: int = 6
  conv_impl: str = "auto"
  dtype: str = "float32"
  upsampling: str = "transpose"
  texture_residual: bool = False
  au_conditioning: str = "input"
  flow_grid: int = 1

  @nn.compact
  def __call__(self, image: jax.Array, target_aus: jax.Array) -> GeneratorOutput:
    """Edits `image` [B, H, W, 3] in [-1, 1] towards `target_aus` [B, 17]."""
    if self.variant not in VARIANTS:
      raise ValueError(f"unknown generator variant {self.variant!r}; expected one of {VARIANTS}")
    if self.au_conditioning not in AU_CONDITIONINGS:
      raise ValueError(f"unknown au_conditioning {self.au_conditioning!r}; expected one of"
                       f" {AU_CONDITIONINGS}")
    _check_generator_inputs(image, target_aus)
    if self.flow_grid < 1 or image.shape[1] % self.flow_grid or image.shape[2] % self.flow_grid:
      raise ValueError(f"flow_grid must be a positive divisor of the image sides"
                       f" {image.shape[1]}×{image.shape[2]}, got {self.flow_grid}")
    film = self.au_conditioning == "film"
    # The formulation and dtype are chosen here, once; the parts take layers.
    conv = functools.partial(layers.Conv, impl=self.conv_impl, dtype=self.dtype)
    conv_transpose = functools.partial(layers.ConvTranspose2x, impl=self.conv_impl,
                                       dtype=self.dtype)
    latent, skips = Encoder(self.width, self.num_res_blocks, conv, film=film,
                            name="encoder")(image, target_aus)
    decode = lambda decoder: decoder(latent, skips, target_aus if film else None)
    decoder = functools.partial(Decoder, self.width, upsampling=self.upsampling, conv=conv,
                                conv_transpose=conv_transpose)
    if self.variant == "ganimation":
      colour, attention = decode(decoder((_COLOUR, _ATTENTION), name="decoder"))
      return GeneratorOutput(compose(image, colour, attention), image, colour, attention, None)
    if self.variant == "warp_only":
      (flow,) = decode(decoder((_FLOW,), zero_init_heads=True, name="flow_decoder"))
      flow = coarsen_flow(flow, self.flow_grid)
      aligned = warp_lib.warp(image, flow)
      return GeneratorOutput(aligned, aligned, None, None, flow)
    flow, attention = decode(decoder((_FLOW, _ATTENTION), zero_init_heads=True,
                                     name="flow_decoder"))
    flow = coarsen_flow(flow, self.flow_grid)
    if self.texture_residual:
      (change,) = decode(decoder((_COLOUR,), skips=True, zero_init_heads=True,
                                 name="texture_decoder"))
      texture = jnp.clip(image + change, -1.0, 1.0)
    else:
      (texture,) = decode(decoder((_COLOUR,), skips=True, name="texture_decoder"))
    aligned = warp_lib.warp(image, flow)
    return GeneratorOutput(compose(aligned, texture, attention), aligned, texture, attention, flow)


def _check_generator_inputs(image: jax.Array, target_aus: jax.Array) -> None:
  """Shape errors here, not as a broadcasting failure deep in the network."""
  if image.ndim != 4 or image.shape[-1] != 3:
    raise ValueError(f"generator images must be [B, H, W, 3], got shape {image.shape}")
  if image.shape[1] % 4 or image.shape[2] % 4:
    raise ValueError(
        f"generator image sides must be multiples of 4 (two ×2 downsamplings),"
        f" got {image.shape[1]}×{image.shape[2]}")
  if target_aus.shape != (image.shape[0], aus_lib.NUM_AUS):
    raise ValueError(
        f"target AUs must be [B, {aus_lib.NUM_AUS}] = [{image.shape[0]}, {aus_lib.NUM_AUS}]"
        f" for {image.shape[0]} images, got shape {target_aus.shape}")


def coarsen_flow(flow: jax.Array, grid: int) -> jax.Array:
  """The flow's means over grid×grid blocks, bilinearly interpolated back.

  Why: a bilinear warp's gradient with respect to one pixel's offset sees
  only the image gradient under that pixel, so where an eyelid or a lip
  must travel several pixels each offset learns from the one or two pixels
  that an edge crosses. Tying the offsets of a block together pools their
  gradients (the head's gradient is the per-pixel one spread back over the
  block) and keeps the field smooth, as a deformation of skin is. Same
  parameters at every `grid`; `grid` = 1 returns `flow` itself.
  """
  if grid == 1:
    return flow
  batch, height, width, channels = flow.shape
  means = flow.reshape(batch, height // grid, grid, width // grid, grid, channels).mean(
      axis=(2, 4))
  return jax.image.resize(means, flow.shape, "linear")


def compose(aligned: jax.Array, texture: jax.Array, attention: jax.Array) -> jax.Array:
  """X̂ = (1 − A)·B + A·Xa (paper eq. 5): A = 1 keeps the aligned source."""
  return (1.0 - attention) * texture + attention * aligned


class Discriminator(nn.Module):
  """GANimation's critic: stride-2 4×4 convs with LeakyReLU(0.01), two heads.

  Attributes:
    width: channels of the first conv; doubles at each layer.
    num_layers: stride-2 convs; the critic map is H/2^n × W/2^n.
    conv_impl: convolution formulation (`dftnet_jax.cpu_conv`).
    dtype: the convolutions' compute dtype; both heads return float32.
    kernel_init: one of `CRITIC_INITS`.
    projection: whether the realness also reads the AUs the image should
      show (a projection critic, Miyato & Koyama 2018): each patch's score
      gains ⟨features, W·aus⟩, W starting at zero. The paper's critic judges
      realness blind to the AUs and reads them with a head trained on real
      faces only, a head the generator can satisfy with changes that are not
      the expression (experiments/LEARNING.md); a projection critic sees the
      edits with their targets and is trained to score them below real
      faces with theirs.
    spectral_norm: whether every convolution's kernel is divided by its
      largest singular value (Miyato et al. 2018; `dftnet_jax.spectral_norm`
      says why). The paper's critic is bounded by the gradient penalty alone.
  """
  width: int = 64
  num_layers: int = 6
  conv_impl: str = "auto"
  dtype: str = "float32"
  kernel_init: str = "gan"
  projection: bool = False
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, image: jax.Array, aus: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """Scores `image` [B, H, W, 3], as a face showing `aus` [B, 17] when the
    critic is a projection critic (which needs them; others ignore them).

    Returns:
      critic map [B, H/2^n, W/2^n] (higher = more real) and AUs [B, 17].
    """
    if self.projection and aus is None:
      raise ValueError("a projection critic (model.d_projection) scores an image as a face"
                       " showing given AUs: pass `aus`")
    size = image.shape[1]
    if size % 2 ** self.num_layers or image.shape[2] != size:
      raise ValueError(
          f"the discriminator needs square images whose side is a multiple of"
          f" 2^num_layers = {2 ** self.num_layers}, got {image.shape[1:3]}")
    # The gradient penalty differentiates the critic twice; 'auto' picks the
    # formulation that is fast for that.
    if self.kernel_init not in CRITIC_INITS:
      raise ValueError(f"unknown critic kernel_init {self.kernel_init!r}; expected one of"
                       f" {tuple(CRITIC_INITS)}")
    conv = functools.partial(layers.Conv,
                             impl=policy.resolve_impl(self.conv_impl, twice_differentiated=True),
                             dtype=self.dtype, kernel_init=CRITIC_INITS[self.kernel_init],
                             spectral_norm=self.spectral_norm)
    x = image
    for k in range(self.num_layers):
      x = nn.leaky_relu(conv(self.width * 2 ** k, 4, stride=2, padding=1, use_bias=True)(x),
                        0.01)
    critic = conv(1, 3, padding=1, name="critic_head")(x).astype(jnp.float32)
    if self.projection:
      embedded = nn.Dense(x.shape[-1], use_bias=False, kernel_init=nn.initializers.zeros,
                          name="au_projection")(aus.astype(jnp.float32))
      critic = critic + jnp.einsum("bhwc,bc->bhw", x.astype(jnp.float32), embedded)[..., None]
    au = conv(aus_lib.NUM_AUS, size // 2 ** self.num_layers, name="au_head")(x)
    return critic[..., 0], au.reshape(image.shape[0], aus_lib.NUM_AUS).astype(jnp.float32)


def create_generator(config: ml_collections.ConfigDict) -> Generator:
  """The generator described by a model config (see configs/default.py).

  A config without `dtype`, `upsampling`, `texture_residual`,
  `au_conditioning` or `flow_grid` (saved before they existed) computes in
  float32, upsamples by transposed convs, draws the texture outright, takes
  the AUs at the input only and gives every pixel its own offset.
  """
  return Generator(variant=config.variant, width=config.g_width,
                   num_res_blocks=config.g_res_blocks, conv_impl=config.conv_impl,
                   dtype=config.get("dtype", "float32"),
                   upsampling=config.get("upsampling", "transpose"),
                   texture_residual=config.get("texture_residual", False),
                   au_conditioning=config.get("au_conditioning", "input"),
                   flow_grid=config.get("flow_grid", 1))


def create_discriminator(config: ml_collections.ConfigDict) -> Discriminator:
  """The critic described by a model config (see configs/default.py); one
  saved before `d_kernel_init`, `d_projection` or `d_spectral_norm` existed
  starts from GANimation's init, judges realness blind to the AUs and leaves
  its kernels unnormalised."""
  return Discriminator(width=config.d_width, num_layers=config.d_layers,
                       conv_impl=config.conv_impl, dtype=config.get("dtype", "float32"),
                       kernel_init=config.get("d_kernel_init", "gan"),
                       projection=config.get("d_projection", False),
                       spectral_norm=config.get("d_spectral_norm", False))
