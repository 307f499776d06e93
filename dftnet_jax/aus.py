"""The 17 Action Units: names, order, parsing and validation.

This module is the only place that knows the AU list. Everything else (data
builders, the model's conditioning channels, presets, the CLI) asks it, so the
order cannot drift between training data and editing.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from typing import Union

import numpy as np

# GANimation's order, i.e. OpenFace 2's intensity ("_r") AUs.
AU_IDS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
AU_NAMES: tuple[str, ...] = tuple(f"AU{i}" for i in AU_IDS)
NUM_AUS: int = len(AU_NAMES)
# OpenFace writes intensities on a 0-5 scale; the model works in [0, 1].
OPENFACE_MAX_INTENSITY: float = 5.0

AuSpec = Union[str, Mapping[str, float], np.ndarray, "list[float]", "tuple[float, ...]"]

_NAME_RE = re.compile(r"^AU0*(\d+)(?:_r)?$", re.IGNORECASE)
_INDEX = {au_id: k for k, au_id in enumerate(AU_IDS)}


def index(name: str) -> int:
  """Position of an AU in the vector; accepts `AU12`, `au12`, `AU01_r`, `12`."""
  match = _NAME_RE.match(name.strip()) or re.match(r"^0*(\d+)$", name.strip())
  if match is None or int(match.group(1)) not in _INDEX:
    raise ValueError(
        f"unknown AU name {name!r}; expected one of {', '.join(AU_NAMES)}")
  return _INDEX[int(match.group(1))]


def openface_column(k: int) -> str:
  """OpenFace 2's intensity column for AU position `k`, e.g. `AU01_r`."""
  return f"AU{AU_IDS[k]:02d}_r"


def validate(aus: np.ndarray, *, name: str = "aus") -> np.ndarray:
  """Checks an AU array of shape [..., 17] with finite values in [0, 1].

  Args:
    aus: array-like whose last axis holds the 17 AUs.
    name: what to call the array in error messages (argument, file, key).

  Returns:
    The AUs as float32.

  Raises:
    ValueError: wrong last dimension, non-finite or out-of-range values.
  """
  arr = np.asarray(aus, dtype=np.float32)
  if arr.ndim == 0 or arr.shape[-1] != NUM_AUS:
    raise ValueError(
        f"{name} must have {NUM_AUS} AUs on its last axis ({', '.join(AU_NAMES)}),"
        f" got shape {arr.shape}")
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"{name} contains NaN or infinite values")
  if arr.size == 0:
    return arr
  lo, hi = float(arr.min()), float(arr.max())
  if lo < 0.0 or hi > 1.0:
    raise ValueError(
        f"{name} must lie in [0, 1] (raw OpenFace intensities are 0-5: divide"
        f" by {OPENFACE_MAX_INTENSITY:g}), got values in [{lo:g}, {hi:g}]")
  return arr


def from_dict(values: Mapping[str, float], *, name: str = "aus") -> np.ndarray:
  """A (17,) float32 vector from `{"AU12": 0.8}`; AUs not named are 0."""
  return _assemble(values.items(), source=repr(dict(values)), name=name)


def _assemble(items, *, source: str, name: str) -> np.ndarray:
  """(AU name, value) pairs → validated (17,) vector; each AU at most once."""
  vec = np.zeros(NUM_AUS, np.float32)
  seen: set[int] = set()
  for key, value in items:
    k = index(key)
    if k in seen:
      raise ValueError(f"{name}: {AU_NAMES[k]} is given twice in {source}")
    seen.add(k)
    try:
      vec[k] = float(value)
    except (TypeError, ValueError):
      raise ValueError(
          f"{name}: {AU_NAMES[k]}={value!r} is not a number in {source}") from None
  return validate(vec, name=name)


def parse(text: str, *, name: str = "aus") -> np.ndarray:
  """A (17,) float32 vector from `"AU12=0.8,AU25=0.4"`; AUs not named are 0."""
  items = []
  for item in filter(None, (part.strip() for part in text.split(","))):
    key, sep, value = item.partition("=")
    if not sep:
      raise ValueError(f"{name}: expected NAME=VALUE, got {item!r} in {text!r}")
    items.append((key, value.strip()))
  return _assemble(items, source=repr(text), name=name)


def as_array(aus: AuSpec, *, name: str = "aus") -> np.ndarray:
  """Any accepted AU spelling as validated float32: an expression name of
  `EMOTIONS` ("happy"), a string "AU12=0.8,AU25=0.4", a dict or an array."""
  if isinstance(aus, str):
    text = aus.strip()
    if text in EMOTIONS:
      return emotion(text)
    if text and "=" not in text:
      raise ValueError(f"{name}: unknown expression {aus!r}; expected one of"
                       f" {', '.join(EMOTIONS)} or AUs as 'AU12=0.8,AU25=0.4'")
    return parse(aus, name=name)
  if isinstance(aus, Mapping):
    return from_dict(aus, name=name)
  return validate(aus, name=name)


def format_aus(vec: np.ndarray, *, threshold: float = 0.0) -> str:
  """The inverse of `parse`: `"AU12=0.8,AU25=0.4"` (AUs above `threshold`)."""
  vec = validate(vec)
  if vec.ndim != 1:
    raise ValueError(f"format_aus takes one (17,) vector, got shape {vec.shape}")
  # The shortest text that reads back as the same float32.
  return ",".join(f"{n}={np.format_float_positional(v, unique=True, trim='-')}"
                  for n, v in zip(AU_NAMES, vec) if v > threshold)


# Emotion prototypes (Ekman's FACS-based combinations) at typical intensities;
# presets for editing (`--expression happy`) and for the synthetic faces.
EMOTIONS: dict[str, dict[str, float]] = {
    "happy": {"AU6": 0.8, "AU12": 1.0},
    "sad": {"AU1": 0.8, "AU4": 0.5, "AU15": 0.8},
    "surprised": {"AU1": 0.9, "AU2": 0.9, "AU5": 0.8, "AU26": 0.8},
    "fearful": {"AU1": 0.8, "AU2": 0.6, "AU4": 0.5, "AU5": 0.8, "AU7": 0.4,
                "AU20": 0.7, "AU26": 0.5},
    "angry": {"AU4": 1.0, "AU5": 0.6, "AU7": 0.7, "AU23": 0.8},
    "disgusted": {"AU9": 0.9, "AU10": 0.7, "AU15": 0.5},
}


def emotion(name: str) -> np.ndarray:
  """The (17,) float32 AU vector of an emotion prototype, e.g. `"happy"`."""
  if name not in EMOTIONS:
    raise ValueError(
        f"unknown expression {name!r}; expected one of {', '.join(EMOTIONS)}")
  return from_dict(EMOTIONS[name], name=f"expression {name!r}")


# Paper §3.4 raises the target AUs through these levels (Fig. 5); §3.3 varies
# AU45 alone to open and close the eyelids (Fig. 3).
INTERPOLATION_LEVELS: tuple[float, ...] = (0.5, 0.75, 1.0)
EYELID_LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


def _levels(levels, name: str) -> np.ndarray:
  levels = np.asarray(levels, np.float32)
  if levels.ndim != 1 or not levels.size:
    raise ValueError(f"{name} must be a non-empty list of numbers, got {levels.tolist()}")
  if not np.all(np.isfinite(levels)) or levels.min() < 0.0 or levels.max() > 1.0:
    raise ValueError(f"{name} must lie in [0, 1], got {levels.tolist()}")
  return levels


def interpolate(source: AuSpec, target: AuSpec,
                levels=INTERPOLATION_LEVELS) -> np.ndarray:
  """AUs on the way from `source` (level 0) to `target` (level 1).

  Paper §3.4 scales the target AUs by 0.5, 0.75 and 1.0: that is this with a
  neutral (all-zero) source.

  Args:
    source: AUs of the source face, [..., 17] or any `as_array` spelling.
    target: the target AUs, broadcastable against `source`.
    levels: fractions of the way, each in [0, 1].

  Returns:
    float32 [len(levels), ...broadcast shape of source and target].
  """
  source, target = as_array(source, name="source AUs"), as_array(target, name="target AUs")
  levels = _levels(levels, "interpolation levels")
  steps = levels.reshape((-1,) + (1,) * max(source.ndim, target.ndim))
  # Clipped: rounding can carry a convex combination a hair past 1.
  return np.clip(source + steps * (target - source), 0.0, 1.0)


def sweep(base: AuSpec, name: str, levels=EYELID_LEVELS) -> np.ndarray:
  """`base` with one AU set to each of `levels` in turn (paper §3.3: AU45).

  Returns:
    float32 [len(levels), ...shape of base].
  """
  base = as_array(base, name="base AUs")
  k = index(name)
  series = np.repeat(base[None], len(_levels(levels, f"{name} levels")), axis=0)
  series[..., k] = np.asarray(levels, np.float32).reshape((-1,) + (1,) * (base.ndim - 1))
  return series
