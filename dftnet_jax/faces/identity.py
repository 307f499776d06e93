"""A face's identity: the vector of everything that is not expression.

The layout (`IDENTITY_FIELDS`) is stored in datasets (synthetic_faces):
append, never reorder. Colours are drawn from palettes, the rest uniformly.
"""

from __future__ import annotations

import numpy as np

# The identity vector: (name, length, uniform range or None for palette
# colours, meaning). Colours are RGB in [0, 1]; lengths are in face units.
# The layout is stored in datasets (synthetic_faces): append, never reorder.
_FIELDS: tuple[tuple[str, int, tuple[float, float] | None, str], ...] = (
    ("skin", 3, None, "skin albedo"),
    ("face_width", 1, (0.54, 0.62), "half-width of the cranium ellipse"),
    ("face_length", 1, (0.58, 0.66), "half-height of the cranium ellipse"),
    ("jaw_width", 1, (0.70, 0.86), "jaw half-width over face_width"),
    ("chin_y", 1, (0.64, 0.72), "height of the chin's lowest point"),
    ("eye_y", 1, (-0.09, -0.04), "height of the eye centres"),
    ("eye_spacing", 1, (0.22, 0.26), "distance of each eye centre from the midline"),
    ("eye_size", 1, (0.095, 0.115), "eye half-width"),
    ("eye_openness", 1, (0.48, 0.62), "upper-lid height over eye half-width"),
    ("eye_tilt", 1, (-0.08, 0.15), "slope of the corner line, outer corner up > 0"),
    ("iris", 3, None, "iris colour"),
    ("iris_size", 1, (0.42, 0.5), "iris radius over eye half-width"),
    ("brow", 3, None, "eyebrow colour"),
    ("brow_height", 1, (0.10, 0.13), "brow centre line above the eye centre"),
    ("brow_thickness", 1, (0.015, 0.025), "brow half-thickness at its inner end"),
    ("brow_arch", 1, (0.0, 0.03), "how much the brow's peak rises above its ends"),
    ("brow_length", 1, (1.1, 1.35), "brow's lateral reach over eye half-width"),
    ("hair", 3, None, "hair colour"),
    ("hair_length", 1, (0.0, 1.0), "0: cropped above the ears, 1: to the shoulders"),
    ("hairline", 1, (0.0, 1.0), "0: high hairline, 1: low fringe"),
    ("hair_volume", 1, (0.02, 0.08), "how far the hair stands off the skull"),
    ("hair_slant", 1, (-0.25, 0.25), "slope of the fringe (a side parting)"),
    ("nose_length", 1, (0.21, 0.26), "eye line to the bottom of the nose"),
    ("nose_width", 1, (0.05, 0.07), "half-width of the nostril wings"),
    ("lips", 3, None, "lip colour"),
    ("mouth_width", 1, (0.13, 0.16), "half-width of the closed mouth"),
    ("lip_fullness", 1, (0.022, 0.034), "upper-lip height; the lower is 1.3x"),
    ("background", 3, None, "background colour"),
    ("shirt", 3, None, "clothing colour"),
    ("light_x", 1, (-0.7, 0.7), "light direction x; > 0 lights the image's right"),
    ("light_y", 1, (-0.7, 0.2), "light direction y; < 0 lights from above"),
    ("ambient", 1, (0.5, 0.72), "share of unshaded light; 1 is flat"),
    ("shift_x", 1, (-0.05, 0.05), "pose: horizontal offset in image units"),
    ("shift_y", 1, (-0.08, 0.0), "pose: vertical offset in image units"),
    ("scale", 1, (1.1, 1.25), "pose: face size"),
)
IDENTITY_FIELDS: tuple[str, ...] = tuple(f[0] for f in _FIELDS)
IDENTITY_DIM: int = sum(f[1] for f in _FIELDS)
_LENGTHS = {f[0]: f[1] for f in _FIELDS}
_OFFSETS = dict(zip(IDENTITY_FIELDS, np.cumsum([0] + [f[1] for f in _FIELDS]).tolist()))


def unpack(identity: np.ndarray) -> dict[str, float | np.ndarray]:
  """The identity vector as {field: float, or RGB float32 array}."""
  identity = np.asarray(identity, np.float32)
  if identity.shape != (IDENTITY_DIM,):
    raise ValueError(
        f"identity must have shape ({IDENTITY_DIM},), got {identity.shape}")
  return {name: (identity[_OFFSETS[name]:_OFFSETS[name] + n] if n > 1
                 else float(identity[_OFFSETS[name]]))
          for name, n in _LENGTHS.items()}


def replace(identity: np.ndarray, **fields: float | np.ndarray) -> np.ndarray:
  """A copy of `identity` with some fields set, e.g. `iris=(0, 0, 1)`."""
  out = np.array(identity, np.float32)
  for name, value in fields.items():
    if name not in _LENGTHS:
      raise ValueError(f"unknown identity field {name!r}; expected one of"
                       f" {', '.join(IDENTITY_FIELDS)}")
    out[_OFFSETS[name]:_OFFSETS[name] + _LENGTHS[name]] = value
  return out


_SKIN_TONES = np.array([[0.4, 0.25, 0.17], [0.55, 0.36, 0.25],
                        [0.76, 0.55, 0.42], [0.90, 0.72, 0.60],
                        [0.97, 0.84, 0.76]], np.float32)
_IRIS_COLOURS = np.array([[0.36, 0.2, 0.09], [0.2, 0.11, 0.06],
                          [0.5, 0.4, 0.18], [0.28, 0.5, 0.3],
                          [0.25, 0.48, 0.78], [0.48, 0.55, 0.62]], np.float32)
_HAIR_COLOURS = np.array([[0.07, 0.06, 0.06], [0.2, 0.13, 0.08],
                          [0.4, 0.26, 0.15], [0.8, 0.65, 0.4],
                          [0.6, 0.27, 0.12], [0.66, 0.65, 0.63]], np.float32)
LIP_RED = np.array([0.78, 0.32, 0.36], np.float32)


def sample_identity(rng: np.random.Generator) -> np.ndarray:
  """Draws one identity: float32 [IDENTITY_DIM], see `IDENTITY_FIELDS`.

  Colours come from palettes (a skin-tone ramp, iris and hair colours) with
  a little jitter; every other field is uniform over its range.
  """
  tone = rng.uniform(0.0, len(_SKIN_TONES) - 1.0)
  k = min(int(tone), len(_SKIN_TONES) - 2)
  skin = _SKIN_TONES[k] + (tone - k) * (_SKIN_TONES[k + 1] - _SKIN_TONES[k])
  skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0.0, 1.0)
  hair = np.clip(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
                 * rng.uniform(0.85, 1.15), 0.0, 1.0)
  fields = {
      "skin": skin,
      "iris": np.clip(_IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]
                      * rng.uniform(0.85, 1.15), 0.0, 1.0),
      "hair": hair,
      "brow": hair * rng.uniform(0.6, 0.9),
      "lips": ((skin + rng.uniform(0.35, 0.65) * (LIP_RED - skin))
               * rng.uniform(0.8, 0.95)),
      # Muted: a grey pulled part of the way towards a random colour.
      "background": 0.55 + rng.uniform(0.1, 0.5) * (rng.uniform(0.1, 1.0, 3) - 0.55),
      "shirt": rng.uniform(0.08, 0.9, 3),
  }
  for name, _, bounds, _ in _FIELDS:
    if bounds is not None:
      fields[name] = rng.uniform(*bounds)
  return replace(np.zeros(IDENTITY_DIM, np.float32), **fields)
