"""The drawing surface and its shape primitives.

Geometry lives in face units (the package's doc). Every shape is a signed
distance `d` (negative inside); a pixel's coverage is `clip(0.5 - d / pixel,
0, 1)`, an analytic box-filter anti-aliasing. Shapes are evaluated only
inside their bounding windows.
"""

from __future__ import annotations

from collections.abc import Mapping
import functools
from typing import NamedTuple

import numpy as np


@functools.lru_cache(maxsize=16)
def _pixel_centres(size: int) -> np.ndarray:
  centres = (np.arange(size, dtype=np.float32) + 0.5) * np.float32(2.0 / size) - 1.0
  centres.flags.writeable = False
  return centres


class Window(NamedTuple):
  """The pixels of a face-space box (maybe none): slices and coordinates."""
  sl: tuple[slice, slice]
  x: np.ndarray  # [1, w] face x of the columns
  y: np.ndarray  # [h, 1] face y of the rows


class Canvas:
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

  def window(self, box: tuple[float, float, float, float]) -> Window:
    """The pixels of a face-space box (x0, x1, y0, y1)."""
    r0, r1, c0, c1 = self.span(box)
    return Window((slice(r0, r1), slice(c0, c1)), self.xs[None, c0:c1],
                  self.ys[r0:r1, None])

  def paint(self, win: Window, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Blends `colour` (RGB or [h, w, 3]) over the window with coverage `alpha`."""
    region = self.img[win.sl]
    region += alpha[..., None] * (colour - region)

  def darken(self, win: Window, alpha: np.ndarray) -> None:
    region = self.img[win.sl]
    region *= 1.0 - alpha[..., None]

  def fill(self, d: np.ndarray, soft: float = 1.0) -> np.ndarray:
    """Coverage of the region d < 0; `soft` widens the edge (in pixels)."""
    return np.clip(0.5 - d / (soft * self.px), 0.0, 1.0)

  def line(self, dist: np.ndarray, half_width: float | np.ndarray) -> np.ndarray:
    """Coverage of a stroke; strokes thinner than a pixel keep their ink."""
    w = half_width / self.px
    return np.clip(w + 0.5 - dist / self.px, 0.0, np.minimum(1.0, 2.0 * w))


def ellipse(x, y, cx, cy, rx, ry):
  """Approximate signed distance to an ellipse (implicit value / gradient)."""
  dx, dy = (x - cx) / rx, (y - cy) / ry
  g2 = dx * dx + dy * dy
  q2 = dx * dx / (rx * rx) + dy * dy / (ry * ry)
  # sqrt(g2 / q2) is the local radius; the epsilons make it min(rx, ry) at
  # the centre instead of 0/0.
  r = min(rx, ry)
  return (np.sqrt(g2) - 1.0) * np.sqrt((g2 + 1e-12) / (q2 + 1e-12 / (r * r)))


def circle(x, y, cx, cy, r):
  return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def rounded_box(x, y, half_x, half_y, cy, radius):
  """Signed distance to a box centred at (0, cy) with rounded corners."""
  qx = np.abs(x) - (half_x - radius)
  qy = np.abs(y - cy) - (half_y - radius)
  outside = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2)
  return outside + np.minimum(np.maximum(qx, qy), 0.0) - radius


def smooth_min(a, b, k: float):
  """Union of two distances with a fillet of size k."""
  h = np.maximum(k - np.abs(a - b), 0.0) / k
  return np.minimum(a, b) - h * h * k * 0.25


def below(y, f, x):
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


def band(canvas: Canvas, win: Window, top, bottom, soft: float = 1.0):
  """Coverage of top < y < bottom (curves on columns), thinning as they meet."""
  d = np.maximum(-below(win.y, top, win.x), below(win.y, bottom, win.x))
  return canvas.fill(d, soft) * np.clip((bottom - top) / canvas.px, 0.0, 1.0)


def curve_line(canvas: Canvas, win: Window, f, half_width) -> np.ndarray:
  """Coverage of a stroke along y = f(x)."""
  return canvas.line(np.abs(below(win.y, f, win.x)), half_width)


def wrinkles(canvas: Canvas, win: Window, first, spacing: float, n: int = 3):
  """Coverage of n parallel creases y = first(x) + k * spacing."""
  return np.max([curve_line(canvas, win, first + k * spacing, 0.004)
                 for k in range(n)], axis=0)


def segments(x, y, p0: np.ndarray, p1: np.ndarray):
  """Distance to the nearest of n segments p0[k] -> p1[k] ([n, 2] each)."""
  d = (p1 - p0)[:, :, None, None]
  ax = x[None] - p0[:, 0, None, None]
  ay = y[None] - p0[:, 1, None, None]
  # The epsilon lets a segment of length 0 stand for a dot.
  t = np.clip((ax * d[:, 0] + ay * d[:, 1]) / (d[:, 0] ** 2 + d[:, 1] ** 2 + 1e-12),
              0.0, 1.0)
  return np.sqrt((ax - t * d[:, 0]) ** 2 + (ay - t * d[:, 1]) ** 2).min(axis=0)


def bezier(p0, p1, p2, n: int = 6) -> np.ndarray:
  """n + 1 points on the quadratic Bezier curve p0 -> p2 pulled towards p1."""
  t = np.linspace(0.0, 1.0, n + 1, dtype=np.float32)[:, None]
  return ((1 - t) ** 2 * p0 + 2 * t * (1 - t) * p1 + t * t * p2).astype(np.float32)


def bump(t, p: float = 1.0):
  """(1 - t^2)^p inside |t| < 1, 0 outside."""
  q = np.maximum(1.0 - t * t, 0.0)
  return q if p == 1.0 else q ** p
