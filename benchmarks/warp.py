"""The bilinear warp's share of a generator training step.

Usage: python -m benchmarks.warp [--config default] [--batch 16]

Times the warp's forward and backward (gradients in the image and the flow,
as training takes them) at the config's image size, and one generator step
(`steps.g_step` on one device: both generator passes, the critic, their
backward passes and Adam) at the same batch, in the same run. A DFT-Net
generator step warps twice (the edit and the cycle), so the share is
2 × warp / step.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib
from typing import Any

from absl import app
from absl import flags
import jax
import numpy as np

from benchmarks import common
from dftnet_jax import aus
from dftnet_jax import states
from dftnet_jax import steps
from dftnet_jax import warp as warp_lib


def time_warp(batch: int, size: int, repeats: int) -> dict[str, float]:
  rng = np.random.default_rng(0)
  image = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
  flow = rng.uniform(-0.1, 0.1, (batch, size, size, 2)).astype(np.float32)
  cotangent = rng.normal(size=image.shape).astype(np.float32)

  @jax.jit
  def forward_backward(image, flow):
    out, pull_back = jax.vjp(warp_lib.warp, image, flow)
    return out, pull_back(cotangent)

  return common.time_fn(lambda: forward_backward(image, flow), repeats=repeats)


def time_g_step(config_name: str, batch: int, repeats: int
                ) -> tuple[dict[str, float], int]:
  """One generator step's timings at `batch`, and the config's image size."""
  config = importlib.import_module(f"configs.{config_name}").get_config()
  config.batch_size = batch
  size = config.model.image_size
  state = states.create_train_states(config, jax.random.key(0))

  def step(g_state, d_params, batch):
    return steps.g_step(g_state, d_params, batch, steps.edit_with_vjp(g_state, batch),
                        jax.random.key(0), d_apply=state.critic.apply_fn, config=config)

  p_step = jax.pmap(step, axis_name="batch", in_axes=(None, None, 0), out_axes=None)
  rng = np.random.default_rng(1)
  data = {"image": rng.uniform(-1, 1, (1, batch, size, size, 3)).astype(np.float32),
          "aus": rng.uniform(0, 1, (1, batch, aus.NUM_AUS)).astype(np.float32),
          "target_aus": rng.uniform(0, 1, (1, batch, aus.NUM_AUS)).astype(np.float32)}

  def timed() -> Any:
    return p_step(state.generator, state.critic.params, data)

  return common.time_fn(timed, repeats=repeats), size


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.setup()
  step, size = time_g_step(_CONFIG.value, _BATCH.value, _REPEATS.value)
  warp = time_warp(_BATCH.value, size, 5 * _REPEATS.value)
  common.emit(benchmark="warp", config=_CONFIG.value, size=size, batch=_BATCH.value,
              warp_fwd_bwd_s_median=warp["median"], warp_fwd_bwd_s_min=warp["min"],
              g_step_s_median=step["median"], g_step_s_min=step["min"],
              warps_per_g_step=2, fraction_of_g_step=2 * warp["min"] / step["min"])


if __name__ == "__main__":
  _CONFIG = flags.DEFINE_string("config", "default",
                                "Module under configs/ (default: the paper's 128×128 model)")
  _BATCH = flags.DEFINE_integer("batch", 16, "Images a generator step (and a warp call).")
  _REPEATS = flags.DEFINE_integer("repeats", 3, "Timed generator steps; the warp is timed five"
                                  " times as often.")
  common.define_flags()
  app.run(main)
