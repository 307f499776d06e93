"""The PyTorch peer: the same networks and training cycle in eager PyTorch.

    pip install -e ".[peer]"
    python -m benchmarks.pytorch_peer [--config default] [--batch 16] [--cycles 3]
        [--variants dftnet] [--inference_batches 1,32] [--repeats 5]

Written for this repository from its own architecture (`dftnet_jax/models.py`
and the objective in `dftnet_jax/steps.py`), so that the project's speed
claims have a peer anyone can run: the three generator variants and the
critic with the same layers and parameters (`tests/test_pytorch_peer.py`
loads Flax weights into them and checks the outputs and losses agree), and
the same training cycle: n_critic critic updates, each on its own batch,
with the gradient penalty's inner gradient by
`torch.autograd.grad(create_graph=True)`, then one generator update through
the edit and the cycle pass. Eager mode, float32, NCHW, as many threads as
cores: what a PyTorch user runs. Like `steps.cycle_step`, the last critic
update takes the generator update's edit (computed once, its graph kept)
as its fake, so both sides do the same arithmetic.

It prints the JSON lines `benchmarks.train_step` and `benchmarks.inference`
print, with `conv_impl` "pytorch", so `benchmarks.compare_peer` reads both
sides alike. Not a training program: no data, no checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import functools
import importlib
import operator
import os
import statistics
import time
from typing import Any, NamedTuple, Optional

from absl import app
from absl import flags
import ml_collections
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks import int_lists
from benchmarks.jsonl import emit
from dftnet_jax.aus import NUM_AUS

VARIANTS = ("dftnet", "ganimation", "warp_only")


class Output(NamedTuple):
  """`models.GeneratorOutput` in NCHW; flow [B, 2, H, W] normalised (x, y)."""
  image: torch.Tensor
  aligned: torch.Tensor
  texture: Optional[torch.Tensor]
  attention: Optional[torch.Tensor]
  flow: Optional[torch.Tensor]


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0,
          bias: bool = False) -> nn.Conv2d:
  return nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias)


def _norm_relu(channels: int) -> list[nn.Module]:
  # Flax's InstanceNorm: per-example, per-channel statistics, a learned
  # scale and shift, epsilon 1e-5; no running statistics.
  return [nn.InstanceNorm2d(channels, eps=1e-5, affine=True), nn.ReLU()]


class ResidualBlock(nn.Module):
  """conv3×3-IN-ReLU-conv3×3-IN plus the identity."""

  def __init__(self, features: int):
    super().__init__()
    self.body = nn.Sequential(_conv(features, features, 3, padding=1), *_norm_relu(features),
                              _conv(features, features, 3, padding=1),
                              nn.InstanceNorm2d(features, eps=1e-5, affine=True))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return x + self.body(x)


class Encoder(nn.Module):
  """7×7 stem on the image and the broadcast AU maps, two stride-2 convs,
  residual blocks; returns the latent and the full- and half-size features."""

  def __init__(self, width: int, num_res_blocks: int):
    super().__init__()
    self.full_res = nn.Sequential(_conv(3 + NUM_AUS, width, 7, padding=3), *_norm_relu(width))
    self.half_res = nn.Sequential(_conv(width, 2 * width, 4, 2, 1), *_norm_relu(2 * width))
    self.bottleneck = nn.Sequential(_conv(2 * width, 4 * width, 4, 2, 1), *_norm_relu(4 * width),
                                *[ResidualBlock(4 * width) for _ in range(num_res_blocks)])

  def forward(self, image: torch.Tensor, target_aus: torch.Tensor
              ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    maps = target_aus[:, :, None, None].expand(-1, -1, *image.shape[2:])
    full = self.full_res(torch.cat([image, maps], dim=1))
    half = self.half_res(full)
    return self.bottleneck(half), (full, half)


class UpStage(nn.Module):
  """One ×2 upsampling-IN-ReLU, then with a skip a 3×3 fusing conv-IN-ReLU."""

  def __init__(self, cin: int, features: int, upsampling: str, skip_channels: int):
    super().__init__()
    if upsampling == "transpose":
      up = [nn.ConvTranspose2d(cin, features, 4, 2, 1, bias=False)]
    elif upsampling == "resize":
      up = [nn.Upsample(scale_factor=2, mode="nearest"), _conv(cin, features, 3, padding=1)]
    else:
      raise ValueError(f"unknown upsampling {upsampling!r}")
    self.up = nn.Sequential(*up, *_norm_relu(features))
    self.fuse = (nn.Sequential(_conv(features + skip_channels, features, 3, padding=1),
                               *_norm_relu(features)) if skip_channels else None)

  def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    x = self.up(x)
    return self.fuse(torch.cat([x, skip], dim=1)) if self.fuse is not None else x


class Decoder(nn.Module):
  """Two up stages, then one 7×7 conv emitting every head's channels."""

  def __init__(self, width: int, channels: int, upsampling: str, skips: bool):
    super().__init__()
    self.stages = nn.ModuleList([
        UpStage(4 * width, 2 * width, upsampling, 2 * width if skips else 0),
        UpStage(2 * width, width, upsampling, width if skips else 0)])
    self.head = _conv(width, channels, 7, padding=3)

  def forward(self, latent: torch.Tensor, skips: tuple[torch.Tensor, torch.Tensor]
              ) -> torch.Tensor:
    x = latent
    for stage, skip in zip(self.stages, reversed(skips)):
      x = stage(x, skip)
    return self.head(x)


def identity_grid(height: int, width: int) -> torch.Tensor:
  """[H, W, 2] normalised (x, y) pixel centres (align_corners=False)."""
  xs = (2 * torch.arange(width, dtype=torch.float32) + 1) / width - 1
  ys = (2 * torch.arange(height, dtype=torch.float32) + 1) / height - 1
  return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
  """`dftnet_jax.warp.warp` by `grid_sample`: bilinear, border replicated."""
  grid = identity_grid(*image.shape[2:]).to(image) + flow.permute(0, 2, 3, 1)
  return F.grid_sample(image, grid, mode="bilinear", padding_mode="border",
                       align_corners=False)


class Generator(nn.Module):
  """`models.Generator` (input AU conditioning, float32): 'dftnet',
  'ganimation' or 'warp_only'."""

  def __init__(self, variant: str = "dftnet", width: int = 64, num_res_blocks: int = 6,
               upsampling: str = "transpose", texture_residual: bool = False):
    super().__init__()
    if variant not in VARIANTS:
      raise ValueError(f"unknown generator variant {variant!r}; expected one of {VARIANTS}")
    self.variant = variant
    self.texture_residual = texture_residual
    self.encoder = Encoder(width, num_res_blocks)
    if variant == "ganimation":
      self.decoder = Decoder(width, 3 + 1, upsampling, skips=False)
    else:
      self.flow_decoder = Decoder(width, 2 if variant == "warp_only" else 2 + 1, upsampling,
                                  skips=False)
    if variant == "dftnet":
      self.texture_decoder = Decoder(width, 3, upsampling, skips=True)

  def forward(self, image: torch.Tensor, target_aus: torch.Tensor) -> Output:
    latent, skips = self.encoder(image, target_aus)
    if self.variant == "ganimation":
      colour, attention = self.decoder(latent, skips).split((3, 1), dim=1)
      colour, attention = torch.tanh(colour), torch.sigmoid(attention)
      return Output(attention * image + (1 - attention) * colour, image, colour, attention, None)
    heads = self.flow_decoder(latent, skips)
    flow = torch.tanh(heads[:, :2])
    aligned = warp(image, flow)
    if self.variant == "warp_only":
      return Output(aligned, aligned, None, None, flow)
    attention = torch.sigmoid(heads[:, 2:])
    texture = torch.tanh(self.texture_decoder(latent, skips))
    if self.texture_residual:
      texture = torch.clamp(image + texture, -1, 1)
    return Output((1 - attention) * texture + attention * aligned, aligned, texture,
                  attention, flow)


class Critic(nn.Module):
  """`models.Discriminator`: stride-2 4×4 convs with LeakyReLU(0.01), a
  3×3 realness head and an AU head covering the whole last map."""

  def __init__(self, width: int = 64, num_layers: int = 6, image_size: int = 128):
    super().__init__()
    layers, channels = [], 3
    for k in range(num_layers):
      layers += [_conv(channels, width * 2 ** k, 4, 2, 1, bias=True), nn.LeakyReLU(0.01)]
      channels = width * 2 ** k
    self.body = nn.Sequential(*layers)
    self.critic_head = _conv(channels, 1, 3, padding=1)
    self.au_head = _conv(channels, NUM_AUS, image_size // 2 ** num_layers)

  def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Critic map [B, h, w] and AUs [B, 17]."""
    x = self.body(image)
    return self.critic_head(x)[:, 0], self.au_head(x).flatten(1)


def create_networks(config: ml_collections.ConfigDict) -> tuple[Generator, Critic]:
  """The peer of `models.create_generator` / `create_discriminator`; refuses
  what it does not implement rather than timing something else."""
  model = config.model
  if model.get("au_conditioning", "input") != "input":
    raise ValueError(f"the PyTorch peer takes the AUs at the input only, not"
                     f" model.au_conditioning={model.au_conditioning!r}")
  if model.get("dtype", "float32") != "float32":
    raise ValueError(f"the PyTorch peer computes in float32, not model.dtype={model.dtype!r}")
  if model.get("d_projection", False):
    raise ValueError("the PyTorch peer's critic judges realness blind to the AUs (GANimation's),"
                     " not as a projection critic (model.d_projection=True)")
  if model.get("d_spectral_norm", False):
    raise ValueError("the PyTorch peer's critic is not spectrally normalised"
                     " (model.d_spectral_norm=True)")
  generator = Generator(model.variant, model.g_width, model.g_res_blocks,
                        model.get("upsampling", "transpose"), model.get("texture_residual", False))
  return generator, Critic(model.d_width, model.d_layers, model.image_size)


def flax_layout(name: str, value: np.ndarray) -> torch.Tensor:
  """A Flax parameter as its PyTorch peer stores it: conv kernels HWIO →
  OIHW; transposed-conv kernels [4, 4, C, O] → [C, O, 4, 4] (the same
  scatter, y[o] = Σᵢ x[i]·K[o + 1 − 2i], so no flip); vectors as they are."""
  value = np.asarray(value)
  if value.ndim == 4:
    axes = (2, 3, 0, 1) if "ConvTranspose2x" in name else (3, 2, 0, 1)
    value = value.transpose(axes)
  return torch.from_numpy(np.array(value, dtype=np.float32))  # a writable copy


def flax_paths(params: Mapping[str, Any]) -> list[tuple[str, ...]]:
  """The leaves' paths in the tree's own key order, which for a tree as
  Flax's `init` returns it is the order the layers created their
  parameters in (`jax.tree` functions rebuild dicts with sorted keys)."""
  return [(name, *rest) if isinstance(value, Mapping) else (name,)
          for name, value in params.items()
          for rest in (flax_paths(value) if isinstance(value, Mapping) else [()])]


def load_flax_params(module: nn.Module, params: Mapping[str, Any],
                     paths: Sequence[tuple[str, ...]] | None = None) -> None:
  """Copies a Flax parameter tree into `module`, matched in creation order
  (both implementations create their layers in the same order) by `paths`,
  by default `flax_paths(params)`."""
  paths = flax_paths(params) if paths is None else paths
  ours = list(module.parameters())
  if len(paths) != len(ours):
    raise ValueError(f"{len(paths)} Flax parameters against {len(ours)} PyTorch ones")
  with torch.no_grad():
    for path, parameter in zip(paths, ours):
      tensor = flax_layout("/".join(path), functools.reduce(operator.getitem, path, params))
      if tensor.shape != parameter.shape:
        raise ValueError(f"{'/'.join(path)}: Flax {tuple(tensor.shape)} against PyTorch"
                         f" {tuple(parameter.shape)}")
      parameter.copy_(tensor)


def _au_divisor(config: ml_collections.ConfigDict) -> float:
  return float(config.batch_size) if config.loss.au_mse == "ganimation" else 1.0


def _pixel_distance(x: torch.Tensor, y: torch.Tensor, distance: str) -> torch.Tensor:
  if distance == "l1":
    return (x - y).abs().mean()
  if distance == "l2":
    return (x - y).square().mean()
  raise ValueError(f"the peer has no pixel distance {distance!r}; it has 'l1' and 'l2'")


def critic_loss(critic: Critic, real: torch.Tensor, real_aus: torch.Tensor,
                fake: torch.Tensor, alpha: torch.Tensor, config: ml_collections.ConfigDict
                ) -> dict[str, torch.Tensor]:
  """`losses.critic_loss` ('combined'): adversarial, penalty and AU terms and
  their weighted total; `alpha` [B, 1, 1, 1] the interpolation weights."""
  maps, predicted = critic(torch.cat([real, fake]))
  real_map, fake_map = maps.chunk(2)
  terms = {"adv": fake_map.mean() - real_map.mean(),
           "cond": (predicted[:len(real)] - real_aus).square().mean() / _au_divisor(config)}
  x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
  scores = critic(x)[0]
  total_score = (scores.sum() if config.loss.gp_reduction == "sum"
                 else scores.mean(dim=(1, 2)).sum())
  (grads,) = torch.autograd.grad(total_score, x, create_graph=True)
  terms["gp"] = ((torch.sqrt(1e-12 + grads.square().sum(dim=(1, 2, 3))) - 1) ** 2).mean()
  terms["total"] = sum(config.loss[name] * terms[name] for name in ("adv", "gp", "cond"))
  return terms


def _flow_tv(flow: torch.Tensor, loss: ml_collections.ConfigDict) -> torch.Tensor:
  if loss.tv_units == "pixels":
    flow = flow * torch.tensor([flow.shape[3] / 2, flow.shape[2] / 2]).to(flow)[None, :, None, None]
  dy, dx = flow.diff(dim=2), flow.diff(dim=3)
  if loss.tv_reduction == "sum":
    return (dy.square().sum() + dx.square().sum()) / flow.shape[0]
  return dy.square().mean() + dx.square().mean()


def _total_variation_l1(x: torch.Tensor, reduce: Callable[[torch.Tensor], torch.Tensor]
                        ) -> torch.Tensor:
  return reduce(x.diff(dim=2).abs()) + reduce(x.diff(dim=3).abs())


def generator_objective(generator: Generator, critic: Critic, image: torch.Tensor,
                        aus: torch.Tensor, target_aus: torch.Tensor, edited: Output,
                        config: ml_collections.ConfigDict) -> dict[str, torch.Tensor]:
  """`losses.generator_objective` without the paired term: each term and the
  weighted total ('total'), given the edit of `image` towards `target_aus`."""
  loss = config.loss
  cycled = generator(edited.image, aus)
  fake_map, fake_aus = critic(edited.image)
  terms = {"g_adv": (loss.adv * loss.get("g_adv_scale", 1.0), -fake_map.mean()),
           "g_cond": (loss.cond, (fake_aus - target_aus).square().mean() / _au_divisor(config)),
           "g_cycle": (loss.cycle, _pixel_distance(image, cycled.image, loss.cycle_distance))}
  passes = loss.regulariser_passes

  def over_passes(term: Callable[[Output], torch.Tensor]) -> torch.Tensor:
    if passes == "edit":
      return term(edited)
    both = term(edited) + term(cycled)
    return both / 2 if passes == "both_mean" else both

  if edited.flow is not None:
    terms["g_tv"] = (loss.tv, over_passes(lambda o: _flow_tv(o.flow, loss)))
  if loss.texture_tv and generator.variant == "dftnet":
    terms["g_texture_tv"] = (loss.texture_tv,
                             _total_variation_l1(edited.texture - image, torch.mean))
  if generator.variant == "ganimation":
    mask = lambda o: (loss.ganimation_mask * o.attention.mean() + loss.ganimation_mask_smooth
                      * _total_variation_l1(o.attention, torch.sum))
    terms["g_attention"] = (1.0, mask(edited) + mask(cycled))
  elif edited.attention is not None:
    terms["g_attention"] = (loss.attention, over_passes(lambda o: -o.attention.mean()))
  values = {name: value for name, (_, value) in terms.items()}
  values["total"] = sum(weight * value for weight, value in terms.values())
  return values


# Training fields the peer implements at one value only: (field, that
# value, what the peer does). A config without a field runs that value.
_ONE_VALUE_FIELDS: tuple[tuple[str, Any, str], ...] = (
    ("critic_update", "combined", "takes one critic step on the summed terms"),
    ("loss.gan", "wgan_gp", "plays the paper's WGAN-GP game"),
    ("critic_shift", 0.0, "lets its critic read the faces as they are, not shifted"),
    ("critic_noise", 0.0, "lets its critic read the faces as they are, without noise"),
    ("loss.cond_reference", "absolute", "asks its critic to read the edit as the target AUs"),
    ("loss.flow_l1", 0.0, "leaves the flow's length unpriced, as the paper does"),
    ("loss.identity", 0.0, "has the paper's cycle as its only identity term"),
    ("loss.cond_fake", 0.0, "has its critic read the AUs of real faces only"),
    ("loss.paired_l1", 0.0, "times the GAN objective, without the ground truth"),
)


def _check_one_value_fields(config: ml_collections.ConfigDict) -> None:
  """Refuses a config the peer would train otherwise than ours: timing
  another objective compares nothing."""
  for field, value, does in _ONE_VALUE_FIELDS:
    section, _, name = field.rpartition(".")
    got = (config[section] if section else config).get(name, value)
    if got != value:
      raise ValueError(f"the PyTorch peer {does}: config.{field} = {got!r} is not"
                       f" implemented (only {value!r})")


class Trainer:
  """Adam for both networks (the config's rates and betas) and the cycle."""

  def __init__(self, config: ml_collections.ConfigDict, generator: Generator, critic: Critic):
    _check_one_value_fields(config)
    self.config, self.generator, self.critic = config, generator, critic
    betas = (config.adam_b1, config.adam_b2)
    self.g_opt = torch.optim.Adam(generator.parameters(), config.learning_rate, betas)
    self.d_opt = torch.optim.Adam(critic.parameters(),
                                  config.d_learning_rate or config.learning_rate, betas)

  def critic_update(self, real: torch.Tensor, real_aus: torch.Tensor, fake: torch.Tensor
                    ) -> None:
    alpha = torch.rand(len(real), 1, 1, 1)
    self.d_opt.zero_grad(set_to_none=True)
    critic_loss(self.critic, real, real_aus, fake, alpha, self.config)["total"].backward()
    self.d_opt.step()

  def cycle(self, batches: Sequence[dict[str, torch.Tensor]]) -> None:
    """n_critic critic updates, then a generator update on the last batch."""
    for batch in batches[:-1]:
      with torch.no_grad():
        fake = self.generator(batch["image"], batch["target_aus"]).image
      self.critic_update(batch["image"], batch["aus"], fake)
    last = batches[-1]
    edited = self.generator(last["image"], last["target_aus"])
    self.critic_update(last["image"], last["aus"], edited.image.detach())
    self.critic.requires_grad_(False)  # the generator's step needs no critic gradients
    self.g_opt.zero_grad(set_to_none=True)
    generator_objective(self.generator, self.critic, last["image"], last["aus"],
                        last["target_aus"], edited, self.config)["total"].backward()
    self.g_opt.step()
    self.critic.requires_grad_(True)


def _random_batches(config: ml_collections.ConfigDict, batch: int, seed: int
                    ) -> list[dict[str, torch.Tensor]]:
  """n_critic batches of uniform images and AUs, as `benchmarks.train_step`'s."""
  rng = np.random.default_rng(seed)
  size = config.model.image_size
  return [{"image": torch.from_numpy(rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)),
           "aus": torch.from_numpy(rng.uniform(0, 1, (batch, NUM_AUS)).astype(np.float32)),
           "target_aus": torch.from_numpy(rng.uniform(0, 1, (batch, NUM_AUS)).astype(np.float32))}
          for _ in range(config.n_critic)]


def _times(fn: Callable[[], Any], repeats: int, warmup: int) -> list[float]:
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return times


def bench_train(config_name: str, config: ml_collections.ConfigDict, batch: int,
                cycles: int) -> None:
  config.batch_size = batch
  torch.manual_seed(0)
  trainer = Trainer(config, *create_networks(config))
  batches = _random_batches(config, batch, 0)
  first = _times(lambda: trainer.cycle(batches), repeats=1, warmup=0)[0]
  times = _times(lambda: trainer.cycle(batches), repeats=cycles, warmup=0)
  median = statistics.median(times)
  emit(benchmark="train_cycle", config=config_name, variant=config.model.variant,
       conv_impl="pytorch", dtype="float32", size=config.model.image_size, batch=batch,
       n_critic=config.n_critic, first_cycle_s=first, cycle_s_median=median,
       cycle_s_min=min(times), cycle_s_max=max(times),
       images_per_s=config.n_critic * batch / median)


def bench_inference(config_name: str, config: ml_collections.ConfigDict, batch: int,
                    repeats: int) -> None:
  torch.manual_seed(0)
  generator = create_networks(config)[0].eval()
  size = config.model.image_size
  image = torch.rand(batch, 3, size, size) * 2 - 1
  target = torch.rand(batch, NUM_AUS)
  with torch.inference_mode():
    # As `benchmarks.inference`: at least 64 images, after 3 warm-up calls.
    times = _times(lambda: generator(image, target), repeats=max(repeats, 64 // batch), warmup=3)
  emit(benchmark="inference", config=config_name, variant=config.model.variant, size=size,
       batch=batch,
       conv_impl="pytorch", params=sum(p.numel() for p in generator.parameters()),
       ms_per_image_median=1e3 * statistics.median(times) / batch,
       ms_per_image_min=1e3 * min(times) / batch, ms_per_image_max=1e3 * max(times) / batch)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  torch.set_num_threads(os.cpu_count())
  emit(benchmark="setup", torch=torch.__version__, threads=torch.get_num_threads(),
       cpus=os.cpu_count(), device="cpu")
  for variant in _VARIANTS.value:
    config = importlib.import_module(f"configs.{_CONFIG.value}").get_config()
    config.model.variant = variant
    if _BATCH.value:
      bench_train(_CONFIG.value, config, _BATCH.value, _CYCLES.value)
    for batch in map(int, _INFERENCE_BATCHES.value):
      bench_inference(_CONFIG.value, config, batch, _REPEATS.value)


if __name__ == "__main__":
  _CONFIG = flags.DEFINE_string("config", "default", "A module under configs/")
  _BATCH = flags.DEFINE_integer("batch", 16, "Training batch (0: no training)")
  _CYCLES = flags.DEFINE_integer("cycles", 3, "Timed training cycles, after the first.")
  _VARIANTS = flags.DEFINE_list("variants", ["dftnet"], "Generator variants.")
  _INFERENCE_BATCHES = int_lists.positive(
      flags.DEFINE_list("inference_batches", ["1", "32"], "'' for none"))
  _REPEATS = flags.DEFINE_integer("repeats", 5, "Timed inference calls (more where needed to"
                                  " reach 64 images).")
  app.run(main)
