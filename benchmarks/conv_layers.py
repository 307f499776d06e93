"""Per-layer convolution timings for every formulation (DESIGN §7, issue 10).

Usage: python -m benchmarks.conv_layers [--batch 16] [--configs default,synthetic]

For every distinct convolution of the paper's G and D (and of the CPU demo
size), and every formulation in dftnet_jax.cpu_conv, times at batch 16:
  fwd    the layer's output
  igrad  the gradient w.r.t. its input (backprop into earlier layers)
  wgrad  the gradient w.r.t. its kernel
  dbl    the gradient penalty's double backward, d/dw ‖∇ₓ⟨f(x, w), g⟩‖²
         (discriminator layers only: only the critic is differentiated twice)
and prints one JSON line per (layer, formulation), then the estimated cost
of one training cycle per formulation. The estimate weights each layer by how
often a cycle runs it (n_critic D steps + 1 G step, `CYCLE_WEIGHTS`); the
measured cycle is `benchmarks/train_step.py`.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
import importlib

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import ml_collections

from benchmarks import common
from dftnet_jax import layers
from dftnet_jax import models
from dftnet_jax.cpu_conv import convolve
from dftnet_jax.cpu_conv import policy

FORMULATIONS = policy.IMPLS[1:]
N_CRITIC = 5
# Times per cycle each measure runs, per network. A D step: G forward (fake),
# D forward on real, fake and interpolate, weight and input gradients of two
# critic terms, and the penalty's double backward. A G step: G forward twice
# (edit, cycle) and backward twice, D forward and input gradient on the fake;
# the edit's forward is the last D step's (`steps.cycle_step`).
CYCLE_WEIGHTS = {
    "G": {"fwd": N_CRITIC + 1, "igrad": 2, "wgrad": 2, "dbl": 0},
    "D": {"fwd": 3 * N_CRITIC + 1, "igrad": 2 * N_CRITIC + 1, "wgrad": 2 * N_CRITIC,
          "dbl": N_CRITIC},
}


def layer_fn(layer: common.LayerCall, impl: str):
  """f(x, w) as the network runs the layer (constant channels set to 0.5)."""
  if layer.kind == "conv_transpose2x":
    return lambda x, w: convolve.conv_transpose2x(x, w, impl=impl)
  module = layers.Conv(layer.features, layer.kernel_size, stride=layer.stride,
                       padding=layer.padding, impl=impl)

  def f(x, w):
    values = jnp.full((x.shape[0], layer.constants), 0.5, x.dtype) if layer.constants else None
    return module.apply({"params": {"kernel": w}}, x, values)

  return f


def measures(layer: common.LayerCall, impl: str, with_dbl: bool):
  """Jitted closures (x, w, g) → array for each measure of one layer."""
  f = layer_fn(layer, impl)

  def input_grad(x, w, g):
    return jax.vjp(lambda x_: f(x_, w), x)[1](g)[0]

  out = {
      "fwd": jax.jit(lambda x, w, g: f(x, w)),
      "igrad": jax.jit(input_grad),
      "wgrad": jax.jit(lambda x, w, g: jax.vjp(lambda w_: f(x, w_), w)[1](g)[0]),
  }
  if with_dbl:
    out["dbl"] = jax.jit(lambda x, w, g: jax.grad(
        lambda w_: jnp.sum(input_grad(x, w_, g) ** 2))(w))
  return out


def distinct_layers(model: ml_collections.ConfigDict) -> list[tuple[str, common.LayerCall, int]]:
  """(network, layer, occurrences) for a config's generator and critic."""
  size = model.image_size
  found = collections.Counter()
  for net, module, inputs in (
      ("G", models.create_generator(model), common.generator_inputs(1, size)),
      ("D", models.create_discriminator(model),
       (jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32),))):
    for layer in common.conv_layers(module, *inputs):
      found[(net, layer._replace(module=""))] += 1
  return [(net, layer, count) for (net, layer), count in found.items()]


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.setup()
  batch = _BATCH.value
  common.emit(benchmark="peak", when="before", **common.peak_gflops())
  for config_name in _CONFIGS.value:
    model = importlib.import_module(f"configs.{config_name}").get_config().model
    size = model.image_size
    totals = collections.defaultdict(float)
    best_total = 0.0
    for net, layer, count in distinct_layers(model):
      if net not in _NETS.value:
        continue
      key = jax.random.key(0)
      x = jax.random.normal(key, (batch, *layer.in_shape))
      w = 0.02 * jax.random.normal(
          jax.random.fold_in(key, 1),
          (layer.kernel_size, layer.kernel_size, layer.in_shape[2] + layer.constants,
           layer.features))
      g = jax.random.normal(jax.random.fold_in(key, 2), (batch, *layer.out_hw, layer.features))
      costs = {}
      for impl in _FORMULATIONS.value:
        row = {}
        for name, fn in measures(layer, impl, with_dbl=net == "D").items():
          row[name] = common.time_fn(lambda fn=fn: fn(x, w, g), repeats=_REPEATS.value)["min"]
        costs[impl] = count * sum(CYCLE_WEIGHTS[net][m] * t for m, t in row.items())
        totals[impl] += costs[impl]
        common.emit(benchmark="conv_layer", config=config_name, size=size, net=net, kind=layer.kind,
                    in_shape=list(layer.in_shape), constants=layer.constants,
                    features=layer.features,
                    kernel=layer.kernel_size, stride=layer.stride, count=count, impl=impl,
                    gflop_fwd=batch * layer.flops / 1e9, cycle_s=costs[impl], **row)
      best_total += min(costs.values())
    common.emit(benchmark="conv_cycle_estimate", config=config_name, size=size, batch=batch,
                **{f"{impl}_s": t for impl, t in totals.items()}, best_per_layer_s=best_total)
  common.emit(benchmark="peak", when="after", **common.peak_gflops())


if __name__ == "__main__":
  _BATCH = flags.DEFINE_integer("batch", 16, "Examples a call.")
  _CONFIGS = flags.DEFINE_list("configs", ["default", "synthetic"],
                               "Modules under configs/: the paper model and the CPU demo")
  _FORMULATIONS = flags.DEFINE_list("formulations", list(FORMULATIONS),
                                    "Formulations of dftnet_jax.cpu_conv to time.")
  _NETS = flags.DEFINE_list("nets", ["G", "D"], "Which networks' layers: G, D or both")
  _REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls of each measure (the fastest"
                                  " counts).")
  common.define_flags()
  app.run(main)
