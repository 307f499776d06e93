"""Random AU combinations that look like real expressions.

A face dataset is mostly neutral faces, the basic emotions at varied
strength, single AUs (talking, frowning) and blinks, not independent AUs;
`sample_aus` draws from that mixture for the synthetic faces.
"""

from __future__ import annotations

import numpy as np

from dftnet_jax import aus as aus_lib

# Kind of expression -> probability.
MIXTURE: dict[str, float] = {
    "neutral": 0.15,  # all AUs exactly 0
    "prototype": 0.45,  # one of aus.EMOTIONS, scaled and jittered
    "sparse": 0.25,  # 1-3 random AUs
    "blink": 0.15,  # a faint prototype or neutral face with AU45
}
_KINDS = tuple(MIXTURE)
_PROBS = np.array([MIXTURE[k] for k in _KINDS])
_EMOTIONS = tuple(aus_lib.EMOTIONS)
_AU45 = aus_lib.index("AU45")


def _prototype(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
  """A random emotion at overall strength U(low, high), each AU jittered 20%."""
  base = aus_lib.emotion(_EMOTIONS[rng.integers(len(_EMOTIONS))])
  return base * rng.uniform(low, high) * rng.uniform(0.8, 1.2, aus_lib.NUM_AUS)


def sample_aus(rng: np.random.Generator) -> np.ndarray:
  """Draws one AU vector: float32 (17,) in [0, 1], see `MIXTURE`."""
  kind = _KINDS[rng.choice(len(_KINDS), p=_PROBS)]
  aus = np.zeros(aus_lib.NUM_AUS)
  if kind == "prototype":
    aus = _prototype(rng, 0.3, 1.0)
    if rng.uniform() < 0.3:  # real faces rarely show a pure prototype
      aus[rng.integers(aus_lib.NUM_AUS)] += rng.uniform(0.0, 0.4)
  elif kind == "sparse":
    picked = rng.choice(aus_lib.NUM_AUS, rng.integers(1, 4), replace=False)
    aus[picked] = rng.uniform(0.2, 1.0, len(picked))
  elif kind == "blink":
    if rng.uniform() < 0.5:
      aus = _prototype(rng, 0.0, 0.5)
    aus[_AU45] = rng.uniform(0.5, 1.0)
  return np.clip(aus, 0.0, 1.0).astype(np.float32)
