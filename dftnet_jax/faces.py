"""Procedural cartoon faces drawn from an identity vector and the 17 AUs.

EmotioNet cannot be downloaded, so the package makes its own faces. The same
identity can be drawn with any AUs, which gives every edit a ground truth.

Geometry lives in *face units*: before the pose jitter the image spans
[-1, 1] on both axes, x to the right, y downwards, the face centred at the
origin. Every shape is a signed distance `d` (negative inside); a pixel's
coverage is `clip(0.5 - d / pixel, 0, 1)`, an analytic box-filter
anti-aliasing. Shapes are evaluated only inside their bounding windows, and
the pose has no rotation, so face x depends on the column only and face y on
the row only: curves `y = f(x)` are evaluated once per column.

Every AU moves the face by `intensity * coefficient` (the tables below), and
AU-only marks (wrinkles, teeth, ...) are skipped at intensity 0, so an AU at
0 leaves no trace and its effect grows smoothly with intensity.

Renders are bit-identical for identical inputs on one machine; numpy's SIMD
transcendental functions may differ in the last ulp between CPUs, which can
flip a rare pixel by one level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import functools
from typing import NamedTuple

import numpy as np

from dftnet_jax import aus as aus_lib

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

# What each AU may change, by region name (see `regions`).
AU_REGIONS: dict[str, tuple[str, ...]] = {
    "AU1": ("brows", "forehead"),
    "AU2": ("brows", "forehead"),
    "AU4": ("brows",),
    "AU5": ("left_eye", "right_eye"),
    "AU6": ("left_eye", "right_eye", "cheeks"),
    "AU7": ("left_eye", "right_eye"),
    "AU9": ("nose",),
    "AU10": ("lower_face",),
    "AU12": ("lower_face", "cheeks"),
    "AU14": ("lower_face",),
    "AU15": ("mouth",),
    "AU17": ("lower_face",),
    "AU20": ("mouth",),
    "AU23": ("mouth",),
    "AU25": ("mouth",),
    "AU26": ("lower_face",),
    "AU45": ("left_eye", "right_eye"),
}

# How AUs move the face: each effect is sum(coefficient * intensity), in face
# units unless marked relative.
_BROW_INNER_UP = {"AU1": 0.05, "AU4": -0.035}
_BROW_MID_UP = {"AU1": 0.02, "AU2": 0.035, "AU4": -0.02}
_BROW_OUTER_UP = {"AU2": 0.045, "AU4": -0.008}
_BROW_INWARD = {"AU4": 0.022}
_UPPER_LID = {"AU5": 0.5, "AU7": -0.2}  # relative upper-lid height
_LOWER_LID = {"AU7": -0.55, "AU6": -0.3}  # relative lower-lid height
_CHEEK_UP = {"AU6": 0.035, "AU12": 0.015}
_NOSTRIL_UP = {"AU9": 0.012}
_MOUTH_WIDEN = {"AU12": 0.22, "AU20": 0.25, "AU23": -0.18, "AU14": -0.06}  # rel.
_CORNER_DOWN = {"AU12": -0.07, "AU15": 0.04, "AU20": 0.008, "AU17": 0.012,
                "AU14": -0.008}
_MOUTH_UP = {"AU17": 0.012}
_LIP_THIN = {"AU20": 0.3, "AU23": 0.45}  # relative
_UPPER_LIP_UP = {"AU10": 0.03, "AU25": 0.01, "AU26": 0.008}
_LOWER_LIP_DOWN = {"AU25": 0.045, "AU26": 0.13}
_CHIN_DOWN = {"AU26": 0.13, "AU17": -0.02}

_SCLERA = np.array([0.95, 0.93, 0.89], np.float32)
_PUPIL = np.array([0.04, 0.03, 0.03], np.float32)
_TEETH = np.array([0.95, 0.92, 0.84], np.float32)
_GUMS = np.array([0.82, 0.42, 0.45], np.float32)
_MOUTH_INSIDE = np.array([0.24, 0.06, 0.07], np.float32)
_TONGUE = np.array([0.80, 0.38, 0.42], np.float32)
_WHITE = np.array([1.0, 1.0, 1.0], np.float32)
_WARM_LIGHT = np.array([1.0, 0.8, 0.66], np.float32)  # light on a raised cheek
# Pores of the AU17 chin, relative to the chin point.
_CHIN_DOTS = np.array([[-0.03, -0.1], [0.025, -0.11], [0.0, -0.075],
                       [-0.04, -0.06], [0.04, -0.065], [0.012, -0.045]], np.float32)

# A coefficient table -> the effect's value (see `_layout`).
_Effect = Callable[[Mapping[str, float]], float]
_SIDES = (-1.0, 1.0)  # the image's left and right halves
# A face-space box (x0, x1, y0, y1).
_Box = tuple[float, float, float, float]


def _most(coefficients: Mapping[str, float]) -> float:
  """The largest value an effect reaches over all AU combinations."""
  return sum(max(k, 0.0) for k in coefficients.values())


def _least(coefficients: Mapping[str, float]) -> float:
  """The smallest value an effect reaches over all AU combinations."""
  return sum(min(k, 0.0) for k in coefficients.values())


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
_LIP_RED = np.array([0.78, 0.32, 0.36], np.float32)


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
      "lips": ((skin + rng.uniform(0.35, 0.65) * (_LIP_RED - skin))
               * rng.uniform(0.8, 0.95)),
      # Muted: a grey pulled part of the way towards a random colour.
      "background": 0.55 + rng.uniform(0.1, 0.5) * (rng.uniform(0.1, 1.0, 3) - 0.55),
      "shirt": rng.uniform(0.08, 0.9, 3),
  }
  for name, _, bounds, _ in _FIELDS:
    if bounds is not None:
      fields[name] = rng.uniform(*bounds)
  return replace(np.zeros(IDENTITY_DIM, np.float32), **fields)


@functools.lru_cache(maxsize=16)
def _pixel_centres(size: int) -> np.ndarray:
  centres = (np.arange(size, dtype=np.float32) + 0.5) * np.float32(2.0 / size) - 1.0
  centres.flags.writeable = False
  return centres


class _Window(NamedTuple):
  """The pixels of a face-space box (maybe none): slices and coordinates."""
  sl: tuple[slice, slice]
  x: np.ndarray  # [1, w] face x of the columns
  y: np.ndarray  # [h, 1] face y of the rows


class _Canvas:
  """The image being painted and the map from pixels to face units."""

  def __init__(self, size: int, p: Mapping):
    centres = _pixel_centres(size)
    self.px = 2.0 / (size * p["scale"])  # one pixel in face units
    self.xs = (centres - np.float32(p["shift_x"])) / np.float32(p["scale"])
    self.ys = (centres - np.float32(p["shift_y"])) / np.float32(p["scale"])
    self.img = np.empty((size, size, 3), np.float32)

  def span(self, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): pixels whose centres lie in the face box grown by 1 px."""
    x0, x1, y0, y1 = box
    r0, r1 = np.searchsorted(self.ys, (y0 - self.px, y1 + self.px))
    c0, c1 = np.searchsorted(self.xs, (x0 - self.px, x1 + self.px))
    return int(r0), int(r1), int(c0), int(c1)

  def window(self, box: tuple[float, float, float, float]) -> _Window:
    """The pixels of a face-space box (x0, x1, y0, y1)."""
    r0, r1, c0, c1 = self.span(box)
    return _Window((slice(r0, r1), slice(c0, c1)), self.xs[None, c0:c1],
                   self.ys[r0:r1, None])

  def paint(self, win: _Window, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Blends `colour` (RGB or [h, w, 3]) over the window with coverage `alpha`."""
    region = self.img[win.sl]
    region += alpha[..., None] * (colour - region)

  def darken(self, win: _Window, alpha: np.ndarray) -> None:
    region = self.img[win.sl]
    region *= 1.0 - alpha[..., None]

  def fill(self, d: np.ndarray, soft: float = 1.0) -> np.ndarray:
    """Coverage of the region d < 0; `soft` widens the edge (in pixels)."""
    return np.clip(0.5 - d / (soft * self.px), 0.0, 1.0)

  def line(self, dist: np.ndarray, half_width: float | np.ndarray) -> np.ndarray:
    """Coverage of a stroke; strokes thinner than a pixel keep their ink."""
    w = half_width / self.px
    return np.clip(w + 0.5 - dist / self.px, 0.0, np.minimum(1.0, 2.0 * w))


def _ellipse(x, y, cx, cy, rx, ry):
  """Approximate signed distance to an ellipse (implicit value / gradient)."""
  dx, dy = (x - cx) / rx, (y - cy) / ry
  g2 = dx * dx + dy * dy
  q2 = dx * dx / (rx * rx) + dy * dy / (ry * ry)
  # sqrt(g2 / q2) is the local radius; the epsilons make it min(rx, ry) at
  # the centre instead of 0/0.
  r = min(rx, ry)
  return (np.sqrt(g2) - 1.0) * np.sqrt((g2 + 1e-12) / (q2 + 1e-12 / (r * r)))


def _circle(x, y, cx, cy, r):
  return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def _rounded_box(x, y, half_x, half_y, cy, radius):
  """Signed distance to a box centred at (0, cy) with rounded corners."""
  qx = np.abs(x) - (half_x - radius)
  qy = np.abs(y - cy) - (half_y - radius)
  outside = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2)
  return outside + np.minimum(np.maximum(qx, qy), 0.0) - radius


def _smooth_min(a, b, k: float):
  """Union of two distances with a fillet of size k."""
  h = np.maximum(k - np.abs(a - b), 0.0) / k
  return np.minimum(a, b) - h * h * k * 0.25


def _below(y, f, x):
  """Signed distance below the curve y = f(x) (negative above it).

  Args:
    y: [h, 1] face y.
    f: [1, w] the curve sampled at the window's columns.
    x: [1, w] face x of the columns, evenly spaced.
  """
  if f.shape[1] < 2:
    return y - f
  step = np.diff(f[0]) / (x[0, 1] - x[0, 0])
  slope = np.empty_like(f)
  slope[0, 1:-1] = 0.5 * (step[1:] + step[:-1])
  slope[0, 0], slope[0, -1] = step[0], step[-1]
  return (y - f) / np.sqrt(1.0 + slope * slope)


def _band(canvas: _Canvas, win: _Window, top, bottom, soft: float = 1.0):
  """Coverage of top < y < bottom (curves on columns), thinning as they meet."""
  d = np.maximum(-_below(win.y, top, win.x), _below(win.y, bottom, win.x))
  return canvas.fill(d, soft) * np.clip((bottom - top) / canvas.px, 0.0, 1.0)


def _curve_line(canvas: _Canvas, win: _Window, f, half_width) -> np.ndarray:
  """Coverage of a stroke along y = f(x)."""
  return canvas.line(np.abs(_below(win.y, f, win.x)), half_width)


def _wrinkles(canvas: _Canvas, win: _Window, first, spacing: float, n: int = 3):
  """Coverage of n parallel creases y = first(x) + k * spacing."""
  return np.max([_curve_line(canvas, win, first + k * spacing, 0.004)
                 for k in range(n)], axis=0)


def _segments(x, y, p0: np.ndarray, p1: np.ndarray):
  """Distance to the nearest of n segments p0[k] -> p1[k] ([n, 2] each)."""
  d = (p1 - p0)[:, :, None, None]
  ax = x[None] - p0[:, 0, None, None]
  ay = y[None] - p0[:, 1, None, None]
  # The epsilon lets a segment of length 0 stand for a dot.
  t = np.clip((ax * d[:, 0] + ay * d[:, 1]) / (d[:, 0] ** 2 + d[:, 1] ** 2 + 1e-12),
              0.0, 1.0)
  return np.sqrt((ax - t * d[:, 0]) ** 2 + (ay - t * d[:, 1]) ** 2).min(axis=0)


def _bezier(p0, p1, p2, n: int = 6) -> np.ndarray:
  """n + 1 points on the quadratic Bezier curve p0 -> p2 pulled towards p1."""
  t = np.linspace(0.0, 1.0, n + 1, dtype=np.float32)[:, None]
  return ((1 - t) ** 2 * p0 + 2 * t * (1 - t) * p1 + t * t * p2).astype(np.float32)


def _bump(t, p: float = 1.0):
  """(1 - t^2)^p inside |t| < 1, 0 outside."""
  q = np.maximum(1.0 - t * t, 0.0)
  return q if p == 1.0 else q ** p


class _Layout(NamedTuple):
  """Face-space geometry that depends on the AUs."""
  chin_drop: float  # how far the chin moves down
  eye_hu: float  # upper-lid height
  eye_hl: float  # lower-lid height
  brow: np.ndarray  # [3, 2] (lateral offset, y): inner, peak, outer points
  cheek_lift: float
  nostril_lift: float
  mouth_y: float
  mouth_w: float
  corner: float  # how far the lip corners sit below the lips' middle
  upper_lip: float  # upper-lip height
  lower_lip: float
  lip_raise: float  # how far the upper lip's inner edge rises
  lip_drop: float  # how far the lower lip's inner edge drops


def _nose_bottom(p: Mapping) -> float:
  return p["eye_y"] + p["nose_length"]


def _layout(p: Mapping, effect: _Effect) -> _Layout:
  """The AU-driven geometry; `effect` maps a coefficient table to its value.

  Rendering passes the AUs' weighted sum; `regions` passes `_most` and
  `_least` to bound every AU combination at once (each field depends on one
  table, monotonically).
  """
  w, brow_y = p["eye_size"], p["eye_y"] - p["brow_height"]
  hu = p["eye_openness"] * w
  inward = effect(_BROW_INWARD)
  nose_y = _nose_bottom(p)
  thin = 1.0 - effect(_LIP_THIN)
  return _Layout(
      chin_drop=effect(_CHIN_DOWN),
      eye_hu=hu * (1.0 + effect(_UPPER_LID)),
      eye_hl=0.55 * hu * (1.0 + effect(_LOWER_LID)),
      brow=np.array([
          [-1.05 * w - inward, brow_y - effect(_BROW_INNER_UP)],
          [0.3 * w - 0.5 * inward, brow_y - p["brow_arch"] - effect(_BROW_MID_UP)],
          [p["brow_length"] * w,
           brow_y + 0.3 * p["brow_arch"] + 0.01 - effect(_BROW_OUTER_UP)]]),
      cheek_lift=effect(_CHEEK_UP),
      nostril_lift=effect(_NOSTRIL_UP),
      mouth_y=nose_y + 0.36 * (p["chin_y"] - nose_y) - effect(_MOUTH_UP),
      mouth_w=p["mouth_width"] * (1.0 + effect(_MOUTH_WIDEN)),
      corner=effect(_CORNER_DOWN),
      upper_lip=p["lip_fullness"] * thin,
      lower_lip=1.3 * p["lip_fullness"] * thin,
      lip_raise=effect(_UPPER_LIP_UP),
      lip_drop=effect(_LOWER_LIP_DOWN))


# Face-space boxes (x0, x1, y0, y1): the windows features are drawn in, and
# (bounded over all AUs) the regions of `regions`.
def _eye_box(p: Mapping, side: float) -> _Box:
  w, cx, cy = p["eye_size"], side * p["eye_spacing"], p["eye_y"]
  hu = p["eye_openness"] * w * (1.0 + _most(_UPPER_LID)) + 0.025
  hl = 0.55 * p["eye_openness"] * w + 0.03
  lean = abs(p["eye_tilt"]) * 1.4 * w
  medial, lateral = cx - side * 1.15 * w, cx + side * (w + 0.08)
  return (min(medial, lateral), max(medial, lateral), cy - hu - lean, cy + hl + lean)


def _brow_box(p: Mapping, brow: np.ndarray, side: float) -> _Box:
  xs = side * p["eye_spacing"] + side * brow[:, 0]
  thick = p["brow_thickness"] + 0.01
  return (xs.min() - thick, xs.max() + thick, brow[:, 1].min() - thick,
          brow[:, 1].max() + thick)


def _glabella_box(p: Mapping) -> _Box:
  y = p["eye_y"] - p["brow_height"]
  return (-0.05, 0.05, y - 0.04, y + 0.06)


def _forehead_box(p: Mapping) -> _Box:
  top = p["eye_y"] - p["brow_height"] - p["brow_arch"]
  return (-0.3, 0.3, top - 0.19, top - 0.05)


def _cheek_centre(p: Mapping, lift: float, side: float) -> tuple[float, float]:
  return side * (p["eye_spacing"] + 0.02), p["eye_y"] + 0.21 - lift


def _cheek_box(p: Mapping, lift: float, side: float) -> _Box:
  cx, cy = _cheek_centre(p, lift, side)
  return (cx - 0.13, cx + 0.13, cy - 0.09, cy + 0.09)


def _nose_box(p: Mapping) -> _Box:
  nose_y = _nose_bottom(p)
  half = p["nose_width"] + 0.04
  return (-half, half, p["eye_y"] - 0.01, nose_y + 0.04)


def _mouth_box(lay: _Layout) -> _Box:
  return (-lay.mouth_w - 0.01, lay.mouth_w + 0.01,
          lay.mouth_y - lay.lip_raise - lay.upper_lip - 0.01 + min(lay.corner, 0.0),
          lay.mouth_y + lay.lip_drop + lay.lower_lip + 0.01 + max(lay.corner, 0.0))


def _lower_face_box(p: Mapping, chin_drop: float) -> _Box:
  nose_y = _nose_bottom(p)
  return (-p["face_width"] - 0.01, p["face_width"] + 0.01, nose_y - 0.07,
          p["chin_y"] + chin_drop + 0.02)


def regions(identity: np.ndarray, size: int) -> dict[str, tuple[int, int, int, int]]:
  """Pixel boxes (y0, y1, x0, x1), half-open, of the face's regions.

  Each box holds everything its AUs (see `AU_REGIONS`) can change, at any
  intensities and in any combination. 'left_eye' is the eye on the image's
  left. Boxes overlap ('mouth' lies inside 'lower_face') and are clipped to
  the image.
  """
  p = unpack(identity)
  canvas = _Canvas(size, p)
  hi, lo = _layout(p, _most), _layout(p, _least)
  # The mouth's top and bottom reach their extremes under different AUs.
  top = _mouth_box(hi._replace(corner=lo.corner, upper_lip=lo.upper_lip))
  bottom = _mouth_box(hi._replace(mouth_y=lo.mouth_y, lower_lip=lo.lower_lip))
  boxes = {
      "left_eye": [_eye_box(p, -1.0)],
      "right_eye": [_eye_box(p, 1.0)],
      "brows": [_brow_box(p, lay.brow, s) for lay in (hi, lo) for s in _SIDES]
               + [_glabella_box(p)],
      "forehead": [_forehead_box(p)],
      "cheeks": [_cheek_box(p, lay.cheek_lift, s) for lay in (hi, lo) for s in _SIDES],
      "nose": [_nose_box(p)],
      "mouth": [top, bottom],
      "lower_face": [_lower_face_box(p, hi.chin_drop)],
  }
  out = {}
  for name, parts in boxes.items():
    spans = np.array([canvas.span(box) for box in parts])
    out[name] = (int(spans[:, 0].min()), int(spans[:, 1].max()),
                 int(spans[:, 2].min()), int(spans[:, 3].max()))
  return out


def _background(canvas: _Canvas, p: Mapping) -> None:
  x, y = canvas.xs[None, :], canvas.ys[:, None]
  glow = (1.08 - 0.22 * (x - 0.6 * p["light_x"]) ** 2) - 0.22 * (y + 0.4) ** 2
  np.multiply(glow[..., None], p["background"], out=canvas.img)


def _hair_back(canvas: _Canvas, p: Mapping) -> None:
  """The hair behind the head; long hair falls to the shoulders."""
  rx, ry = p["face_width"] + p["hair_volume"], p["face_length"] + p["hair_volume"]
  bottom = 0.15 + 0.7 * p["hair_length"]
  win = canvas.window((-rx, rx, -0.1 - ry, bottom))
  cap = _ellipse(win.x, win.y, 0.0, -0.1, rx, ry)
  fall = _rounded_box(win.x, win.y, rx, 0.5 * (bottom + 0.1), 0.5 * (bottom - 0.1),
                      0.12)
  canvas.paint(win, canvas.fill(np.minimum(cap, fall)), p["hair"] * 0.62)


def _body(canvas: _Canvas, p: Mapping) -> None:
  win = canvas.window((-1.2, 1.2, 0.75, 1.8))
  shade = 1.0 - 0.25 * np.clip(win.y - 0.8, 0.0, 1.0)
  canvas.paint(win, canvas.fill(_ellipse(win.x, win.y, 0.0, 1.35, 0.95, 0.5)),
               p["shirt"] * shade[..., None])
  neck_w = 0.6 * p["jaw_width"] * p["face_width"]
  win = canvas.window((-neck_w, neck_w, 0.3, 1.0))
  shade = 0.62 + 0.18 * np.clip((win.y - p["chin_y"]) / 0.25, 0.0, 1.0)
  canvas.paint(win, canvas.fill(_rounded_box(win.x, win.y, neck_w, 0.35, 0.65, 0.15)),
               p["skin"] * shade[..., None])


def _ears(canvas: _Canvas, p: Mapping) -> None:
  cy = p["eye_y"] + 0.06
  for side in _SIDES:
    cx = side * 0.96 * p["face_width"]
    win = canvas.window((cx - 0.08, cx + 0.08, cy - 0.13, cy + 0.13))
    canvas.paint(win, canvas.fill(_ellipse(win.x, win.y, cx, cy, 0.07, 0.12)),
                 p["skin"] * 0.86)
    inner = np.abs(_ellipse(win.x, win.y, cx + side * 0.012, cy, 0.035, 0.075))
    canvas.darken(win, 0.3 * canvas.line(inner, 0.006))


def _face(canvas: _Canvas, p: Mapping, lay: _Layout) -> tuple[_Window, np.ndarray]:
  """Paints the skin: a cranium and a jaw that drops with the chin.

  Returns:
    The face's window and coverage, for the shading pass.
  """
  rx, ry = p["face_width"], p["face_length"]
  # The jaw ellipse keeps its top and stretches down to the chin.
  jaw_top = 0.15 - (p["chin_y"] - 0.15)
  chin_y = p["chin_y"] + lay.chin_drop
  win = canvas.window((-rx, rx, -0.1 - ry, chin_y))
  d = _smooth_min(_ellipse(win.x, win.y, 0.0, -0.1, rx, ry),
                  _ellipse(win.x, win.y, 0.0, 0.5 * (jaw_top + chin_y),
                           p["jaw_width"] * rx, 0.5 * (chin_y - jaw_top)), 0.08)
  cover = canvas.fill(d)
  canvas.paint(win, cover, p["skin"])
  canvas.darken(win, 0.3 * canvas.line(np.abs(d + 0.004), 0.004))
  return win, cover


def _shade(canvas: _Canvas, p: Mapping, win: _Window, cover: np.ndarray) -> None:
  """Lambertian light on an ellipsoid the size of the head."""
  light = np.array([p["light_x"], p["light_y"], 1.0], np.float32)
  light /= np.linalg.norm(light)
  nx = win.x / (1.15 * p["face_width"])
  ny = (win.y - 0.05) / (1.25 * p["face_length"])
  nz = np.sqrt(np.maximum(1.0 - nx * nx - ny * ny, 0.0))
  lambert = np.clip(light[0] * nx + light[1] * ny + light[2] * nz, 0.0, 1.0)
  # Normalised so that a face turned to the light keeps its albedo.
  shade = np.minimum(p["ambient"] + (1.0 - p["ambient"]) * lambert / light[2], 1.15)
  canvas.img[win.sl] *= (1.0 + cover * (shade - 1.0))[..., None]


def _cheeks(canvas: _Canvas, p: Mapping, lay: _Layout) -> None:
  """A faint blush; AU6 (and AU12) lift the cheek into a lit, rounded apple."""
  lift = lay.cheek_lift / _most(_CHEEK_UP)
  for side in _SIDES:
    win = canvas.window(_cheek_box(p, lay.cheek_lift, side))
    cx, cy = _cheek_centre(p, lay.cheek_lift, side)
    r = np.sqrt(((win.x - cx) / 0.13) ** 2 + ((win.y - cy) / 0.09) ** 2)
    blush = np.maximum(1.0 - r, 0.0) ** 2
    canvas.paint(win, (0.18 + 0.12 * lift) * blush, 0.5 * (p["skin"] + _LIP_RED))
    if lift > 0.0:
      canvas.paint(win, 0.3 * lift * blush, 0.5 * (p["skin"] + _WARM_LIGHT))
      below = np.clip((win.y - cy) / 0.04, 0.0, 1.0)
      canvas.darken(win, 0.08 * lift * below * np.exp(-((r - 0.8) / 0.15) ** 2))


def _forehead(canvas: _Canvas, p: Mapping, a: Mapping[str, float]) -> None:
  """AU1 (middle) and AU2 (sides) wrinkles; AU4 furrows between the brows."""
  x0, x1, y0, y1 = _forehead_box(p)
  for name, left, right in (("AU1", -0.13, 0.13), ("AU2", 0.1, x1), ("AU2", x0, -0.1)):
    if a[name] <= 0.0:
      continue
    win = canvas.window((left, right, y0, y1))
    t = (win.x - 0.5 * (left + right)) / (0.5 * (right - left))
    ink = _wrinkles(canvas, win, y1 - 0.02 - 0.015 * _bump(t), -0.04)
    canvas.darken(win, 0.3 * a[name] * ink * _bump(t, 0.5))
  if a["AU4"] > 0.0:
    x0, x1, y0, y1 = _glabella_box(p)
    win = canvas.window((x0, x1, y0, y1))
    top = np.array([[-0.028, y0 + 0.02], [0.028, y0 + 0.02]], np.float32)
    bottom = np.array([[-0.02, y1 - 0.02], [0.02, y1 - 0.02]], np.float32)
    furrows = _segments(win.x, win.y, top, bottom)
    canvas.darken(win, 0.45 * a["AU4"] * canvas.line(furrows, 0.005))


def _eye(canvas: _Canvas, p: Mapping, a: Mapping[str, float], lay: _Layout,
         side: float) -> None:
  """Eyeball, lids, lashes and the AU marks around one eye."""
  w, cx, cy = p["eye_size"], side * p["eye_spacing"], p["eye_y"]
  hu = p["eye_openness"] * w
  win = canvas.window(_eye_box(p, side))
  s = side * (win.x - cx)  # lateral offset, > 0 towards the outer corner
  t = s / w
  base = cy - p["eye_tilt"] * s
  upper = base - lay.eye_hu * _bump(t) * (1.0 - 0.15 * t)
  lower = base + lay.eye_hl * _bump(t) * (1.0 + 0.2 * t)
  upper = upper + a["AU45"] * (lower - upper)  # AU45 closes onto the lower lid

  # Eyeball: sclera, iris with a dark rim, pupil, glint; the upper lid casts
  # a shadow.
  ri, icy = p["iris_size"] * w, cy + 0.1 * hu
  r = np.sqrt((win.x - cx) ** 2 + (win.y - icy) ** 2)
  rim = 1.0 - 0.5 * np.clip((r / ri - 0.7) / 0.3, 0.0, 1.0)
  ball = np.broadcast_to(_SCLERA, r.shape + (3,)).copy()
  ball += canvas.fill(r - ri)[..., None] * (p["iris"] * rim[..., None] - ball)
  ball += canvas.fill(r - 0.45 * ri)[..., None] * (_PUPIL - ball)
  glint = _circle(win.x, win.y, cx + (0.4 * p["light_x"] + 0.15) * ri, icy - 0.35 * ri,
                  0.2 * ri)
  ball += 0.9 * canvas.fill(glint)[..., None] * (_WHITE - ball)
  shadow = 0.72 + 0.28 * np.clip((win.y - upper) / (0.7 * hu), 0.0, 1.0)
  canvas.paint(win, _band(canvas, win, upper, lower), ball * shadow[..., None])

  # The lid skin between the crease and the lid margin shades darker as it
  # covers the eye; a lash line runs along the margin.
  tc = s / (1.1 * w)
  crease = base - (hu * (1.0 + _most(_UPPER_LID)) + 0.02) * _bump(tc, 0.8)
  canvas.darken(win, 0.12 * _band(canvas, win, crease, upper, soft=3.0))
  canvas.darken(win, 0.25 * _bump(tc) * _curve_line(canvas, win, crease, 0.004))
  canvas.darken(win, 0.3 * _bump(t, 0.5) * _curve_line(canvas, win, lower, 0.003))
  lash_width = 0.005 + 0.003 * np.clip(t, 0.0, 1.0) + 0.003 * a["AU45"]
  lash = _curve_line(canvas, win, upper, lash_width)
  canvas.paint(win, np.minimum(lash, 8.0 * _bump(1.05 * t)), p["brow"] * 0.35)

  if a["AU7"] > 0.0:  # the tightened lower lid bulges
    bag = lower + 0.016 * _bump(t, 0.5)
    ink = _bump(t, 0.5) * _curve_line(canvas, win, bag, 0.004)
    canvas.darken(win, 0.35 * a["AU7"] * ink)
  if a["AU6"] > 0.0:  # crow's feet at the outer corner
    angles = np.array([-0.5, -0.1, 0.3], np.float32)
    start = np.stack([np.full(3, cx + side * (w + 0.02)), cy + 0.01 * angles], 1)
    end = start + 0.05 * np.stack([side * np.cos(angles), np.sin(angles)], 1)
    crows = _segments(win.x, win.y, start.astype(np.float32), end.astype(np.float32))
    canvas.darken(win, 0.45 * a["AU6"] * canvas.line(crows, 0.004))


def _brow(canvas: _Canvas, p: Mapping, lay: _Layout, side: float) -> None:
  """A tapering brow along the parabola through its three points."""
  win = canvas.window(_brow_box(p, lay.brow, side))
  s = side * (win.x - side * p["eye_spacing"])
  (s0, y0), (s1, y1), (s2, y2) = lay.brow
  f = (y0 * (s - s1) * (s - s2) / ((s0 - s1) * (s0 - s2))
       + y1 * (s - s0) * (s - s2) / ((s1 - s0) * (s1 - s2))
       + y2 * (s - s0) * (s - s1) / ((s2 - s0) * (s2 - s1)))
  u = np.clip((s - s0) / (s2 - s0), 0.0, 1.0)
  half = p["brow_thickness"] * (1.0 - 0.6 * u)
  d = np.maximum(np.abs(_below(win.y, f, win.x)) - half,
                 np.maximum(s0 - s, s - s2) + 0.3 * half)
  canvas.paint(win, 0.95 * canvas.fill(d), p["brow"] * (0.85 + 0.3 * u)[..., None])


def _nose(canvas: _Canvas, p: Mapping, a: Mapping[str, float], lay: _Layout) -> None:
  """Bridge shadow, tip highlight, nostril wings; AU9 wrinkles the bridge."""
  nw, ny = p["nose_width"], _nose_bottom(p)
  win = canvas.window(_nose_box(p))
  side = -1.0 if p["light_x"] > 0 else 1.0  # the bridge's shadowed side
  bridge = _segments(win.x, win.y,
                     np.array([[side * 0.035, p["eye_y"] + 0.04]], np.float32),
                     np.array([[side * 0.045, ny - 0.05]], np.float32))
  canvas.darken(win, 0.12 * np.maximum(1.0 - bridge / 0.03, 0.0))
  under = _ellipse(win.x, win.y, 0.0, ny + 0.012, 0.05, 0.015)
  canvas.darken(win, 0.15 * np.maximum(-under / 0.015, 0.0))
  tip = _ellipse(win.x, win.y, 0.0, ny - 0.035, 0.03, 0.025)
  canvas.paint(win, 0.12 * np.clip(-tip / 0.02, 0.0, 1.0), _WHITE)
  lift = lay.nostril_lift
  for k in _SIDES:
    ala = np.abs(_ellipse(win.x, win.y, k * (nw - 0.01), ny - 0.025 - lift,
                          0.028 * (1.0 + 4.0 * lift), 0.025))
    outer = np.clip(k * win.x / nw - 0.5, 0.0, 1.0)
    canvas.darken(win, 0.35 * outer * canvas.line(ala, 0.004))
    nostril = _ellipse(win.x, win.y, k * 0.45 * nw, ny - 0.006 - lift, 0.018, 0.009)
    canvas.darken(win, 0.65 * canvas.fill(nostril, soft=1.5))
  if a["AU9"] > 0.0:  # wrinkles across the bridge, arched upwards
    taper = _bump(win.x / 0.05, 0.5)
    ink = _wrinkles(canvas, win, p["eye_y"] + 0.035 - 0.01 * taper, 0.022)
    canvas.darken(win, 0.45 * a["AU9"] * taper * ink)


def _folds(canvas: _Canvas, p: Mapping, a: Mapping[str, float], lay: _Layout) -> None:
  """Nasolabial folds (AU12, AU10), dimples (AU14) and the chin (AU17)."""
  depth = max(a["AU12"], 0.6 * a["AU10"])
  nose_y = _nose_bottom(p)
  if depth > 0.0:
    for side in _SIDES:
      top = np.array([side * (p["nose_width"] + 0.015), nose_y - 0.035])
      bottom = np.array([side * (lay.mouth_w + 0.03), lay.mouth_y + 0.045])
      pull = np.array([side * (lay.mouth_w + 0.06), 0.5 * (top[1] + bottom[1])])
      pts = _bezier(top, pull, bottom)
      lo, hi = pts.min(0) - 0.03, pts.max(0) + 0.03
      win = canvas.window((lo[0], hi[0], lo[1], hi[1]))
      fold = _segments(win.x, win.y, pts[:-1], pts[1:])
      # A crisp crease with a soft shadow on the side of the mouth.
      inner = np.clip(side * (pts[:, 0].mean() - win.x) / 0.01 + 0.5, 0.0, 1.0)
      ink = (0.25 * canvas.line(fold, 0.004)
             + 0.18 * inner * np.maximum(1.0 - fold / 0.025, 0.0))
      canvas.darken(win, depth * np.clip((win.y - top[1]) / 0.04, 0.0, 1.0) * ink)
  if a["AU14"] > 0.0:
    for side in _SIDES:
      x = side * (lay.mouth_w + 0.02)
      win = canvas.window((x - 0.015, x + 0.015, lay.mouth_y - 0.04,
                           lay.mouth_y + 0.04))
      dimple = _ellipse(win.x, win.y, x, lay.mouth_y, 0.006, 0.025)
      canvas.darken(win, 0.3 * a["AU14"] * canvas.fill(dimple, soft=3.0))
  if a["AU17"] > 0.0:
    lip = lay.mouth_y + lay.lower_lip
    chin_y = p["chin_y"] + lay.chin_drop
    win = canvas.window((-0.09, 0.09, lip, chin_y))
    crease = np.abs(_ellipse(win.x, win.y, 0.0, lip + 0.07, 0.07, 0.05))
    above = np.clip((lip + 0.06 - win.y) / 0.02, 0.0, 1.0)
    canvas.darken(win, 0.35 * a["AU17"] * above * canvas.line(crease, 0.006))
    boss = _ellipse(win.x, win.y, 0.0, chin_y - 0.07, 0.065, 0.04)
    canvas.paint(win, 0.15 * a["AU17"] * np.clip(-boss / 0.03, 0.0, 1.0), _WHITE)
    dots = _CHIN_DOTS + np.array([0.0, chin_y], np.float32)
    pores = canvas.line(_segments(win.x, win.y, dots, dots), 0.005)
    canvas.darken(win, 0.15 * a["AU17"] * pores)


def _mouth(canvas: _Canvas, p: Mapping, lay: _Layout) -> None:
  """Lips, and between them gums, teeth, the dark mouth and the tongue."""
  my, mw, w0 = lay.mouth_y, lay.mouth_w, p["mouth_width"]
  win = canvas.window(_mouth_box(lay))
  t = win.x / mw
  line = my + lay.corner * t * t  # where the lips meet when closed
  up_inner = line - lay.lip_raise * _bump(t, 0.5)
  low_inner = line + lay.lip_drop * _bump(t, 0.8)
  bow = 1.0 - 0.3 * np.exp(-(t / 0.14) ** 2)  # Cupid's bow
  up_outer = up_inner - lay.upper_lip * _bump(t, 0.55) * bow
  low_outer = low_inner + lay.lower_lip * _bump(t, 0.6)

  canvas.paint(win, _band(canvas, win, up_outer, up_inner, soft=1.3), p["lips"] * 0.82)
  mid = np.abs(win.y - (low_inner + 0.45 * lay.lower_lip)) / (0.4 * lay.lower_lip)
  sheen = 1.0 + 0.15 * np.maximum(1.0 - mid, 0.0) * _bump(t)
  canvas.paint(win, _band(canvas, win, low_inner, low_outer, soft=1.3),
               p["lips"] * sheen[..., None])

  if lay.lip_raise + lay.lip_drop > 0.0:
    # Gums and upper teeth hang from the skull, lower teeth ride on the jaw,
    # the tongue lies low in a dark mouth.
    tt = win.x / w0
    gum_line = my - 0.032 + 0.015 * tt * tt
    upper_edge = my + 0.004 + 0.012 * tt * tt
    lower_edge = upper_edge + 0.01 + 0.9 * max(lay.chin_drop, 0.0)
    gaps = np.abs(tt * 3.0 - np.round(tt * 3.0)) * (w0 / 3.0)
    tooth = _TEETH * (1.0 - 0.2 * canvas.line(gaps, 0.002))[..., None]
    depth = np.clip((win.y - up_inner) / 0.06, 0.0, 1.0)
    inside = _MOUTH_INSIDE * (1.0 - 0.4 * depth)[..., None]
    tongue = _ellipse(win.x, win.y, 0.0, my + lay.lip_drop, 0.6 * mw,
                      0.4 * lay.lip_drop + 1e-3)
    inside += canvas.fill(tongue, soft=1.5)[..., None] * (_TONGUE - inside)
    upper_teeth = canvas.fill(np.maximum(gum_line - win.y, win.y - upper_edge))
    inside += upper_teeth[..., None] * (tooth - inside)
    inside += canvas.fill(lower_edge - win.y)[..., None] * (0.92 * tooth - inside)
    inside += canvas.fill(win.y - gum_line)[..., None] * (_GUMS - inside)
    canvas.paint(win, _band(canvas, win, up_inner, low_inner), inside)

  edge = np.minimum(_curve_line(canvas, win, up_inner, 0.003), _bump(1.02 * t, 0.3))
  canvas.paint(win, 0.6 * edge, p["lips"] * 0.35)
  corners = np.minimum(_circle(win.x, win.y, -mw, my + lay.corner, 0.006),
                       _circle(win.x, win.y, mw, my + lay.corner, 0.006))
  canvas.darken(win, 0.35 * canvas.fill(corners, soft=2.0))


def _hair_front(canvas: _Canvas, p: Mapping) -> None:
  """The hair over the forehead, down to the ears at the temples."""
  rx, ry = p["face_width"] + p["hair_volume"], p["face_length"] + p["hair_volume"]
  ear_y = p["eye_y"] + 0.08 + 0.3 * p["hair_length"]
  win = canvas.window((-rx, rx, -0.1 - ry, ear_y))
  hairline = (-0.56 + 0.16 * p["hairline"] + p["hair_slant"] * win.x
              + 0.08 * (win.x / rx) ** 2)
  temples = np.clip((np.abs(win.x) / p["face_width"] - 0.6) / 0.35, 0.0, 1.0)
  hairline = hairline + (ear_y - hairline) * temples * temples * (3.0 - 2.0 * temples)
  d = np.maximum(_ellipse(win.x, win.y, 0.0, -0.1, rx, ry),
                 _below(win.y, hairline, win.x))
  glare = (win.x - 0.3 * p["light_x"]) ** 2 + (win.y + 0.55) ** 2
  sheen = 0.75 + 0.35 * np.exp(-glare / 0.05)
  strands = 1.0 + 0.08 * np.sin(90.0 * win.x + 25.0 * win.y * win.y)
  canvas.paint(win, canvas.fill(d), p["hair"] * (sheen * strands)[..., None])


def render(identity: np.ndarray, aus: np.ndarray, size: int = 128) -> np.ndarray:
  """Draws one face.

  Args:
    identity: float32 [IDENTITY_DIM] (see `sample_identity`).
    aus: 17 intensities in [0, 1], in `aus.AU_NAMES` order.
    size: output height and width in pixels.

  Returns:
    uint8 [size, size, 3].
  """
  p = unpack(identity)
  aus = aus_lib.validate(aus)
  if aus.shape != (aus_lib.NUM_AUS,):
    raise ValueError(
        f"render takes one ({aus_lib.NUM_AUS},) AU vector, got shape {aus.shape}")
  a = dict(zip(aus_lib.AU_NAMES, aus.tolist()))
  lay = _layout(p, lambda table: sum(k * a[name] for name, k in table.items()))
  canvas = _Canvas(size, p)
  _background(canvas, p)
  _hair_back(canvas, p)
  _body(canvas, p)
  _ears(canvas, p)
  face_win, face_cover = _face(canvas, p, lay)
  _cheeks(canvas, p, lay)
  _forehead(canvas, p, a)
  _nose(canvas, p, a, lay)
  _folds(canvas, p, a, lay)
  _mouth(canvas, p, lay)
  for side in _SIDES:
    _eye(canvas, p, a, lay, side)
    _brow(canvas, p, lay, side)
  _shade(canvas, p, face_win, face_cover)
  _hair_front(canvas, p)
  return (np.clip(canvas.img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
