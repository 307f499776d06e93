"""The painters, in drawing order, and `render`, which calls them.

AU-only marks (wrinkles, teeth, ...) are skipped at intensity 0, so an AU at
0 leaves no trace and its effect grows smoothly with intensity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dftnet_jax import aus as aus_lib
from dftnet_jax.faces import canvas as canvas_lib
from dftnet_jax.faces import geometry
from dftnet_jax.faces import identity as identity_lib

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


def _background(canvas: canvas_lib.Canvas, p: Mapping) -> None:
  x, y = canvas.xs[None, :], canvas.ys[:, None]
  glow = (1.08 - 0.22 * (x - 0.6 * p["light_x"]) ** 2) - 0.22 * (y + 0.4) ** 2
  np.multiply(glow[..., None], p["background"], out=canvas.img)


def _hair_back(canvas: canvas_lib.Canvas, p: Mapping) -> None:
  """The hair behind the head; long hair falls to the shoulders."""
  rx, ry = p["face_width"] + p["hair_volume"], p["face_length"] + p["hair_volume"]
  bottom = 0.15 + 0.7 * p["hair_length"]
  win = canvas.window((-rx, rx, -0.1 - ry, bottom))
  cap = canvas_lib.ellipse(win.x, win.y, 0.0, -0.1, rx, ry)
  fall = canvas_lib.rounded_box(win.x, win.y, rx, 0.5 * (bottom + 0.1), 0.5 * (bottom - 0.1),
                                0.12)
  canvas.paint(win, canvas.fill(np.minimum(cap, fall)), p["hair"] * 0.62)


def _body(canvas: canvas_lib.Canvas, p: Mapping) -> None:
  win = canvas.window((-1.2, 1.2, 0.75, 1.8))
  shade = 1.0 - 0.25 * np.clip(win.y - 0.8, 0.0, 1.0)
  canvas.paint(win, canvas.fill(canvas_lib.ellipse(win.x, win.y, 0.0, 1.35, 0.95, 0.5)),
               p["shirt"] * shade[..., None])
  neck_w = 0.6 * p["jaw_width"] * p["face_width"]
  win = canvas.window((-neck_w, neck_w, 0.3, 1.0))
  shade = 0.62 + 0.18 * np.clip((win.y - p["chin_y"]) / 0.25, 0.0, 1.0)
  canvas.paint(win, canvas.fill(canvas_lib.rounded_box(win.x, win.y, neck_w, 0.35, 0.65, 0.15)),
               p["skin"] * shade[..., None])


def _ears(canvas: canvas_lib.Canvas, p: Mapping) -> None:
  cy = p["eye_y"] + 0.06
  for side in geometry.SIDES:
    cx = side * 0.96 * p["face_width"]
    win = canvas.window((cx - 0.08, cx + 0.08, cy - 0.13, cy + 0.13))
    canvas.paint(win, canvas.fill(canvas_lib.ellipse(win.x, win.y, cx, cy, 0.07, 0.12)),
                 p["skin"] * 0.86)
    inner = np.abs(canvas_lib.ellipse(win.x, win.y, cx + side * 0.012, cy, 0.035, 0.075))
    canvas.darken(win, 0.3 * canvas.line(inner, 0.006))


def _face(canvas: canvas_lib.Canvas, p: Mapping, lay: geometry.Layout
          ) -> tuple[canvas_lib.Window, np.ndarray]:
  """Paints the skin: a cranium and a jaw that drops with the chin.

  Returns:
    The face's window and coverage, for the shading pass.
  """
  rx, ry = p["face_width"], p["face_length"]
  # The jaw ellipse keeps its top and stretches down to the chin.
  jaw_top = 0.15 - (p["chin_y"] - 0.15)
  chin_y = p["chin_y"] + lay.chin_drop
  win = canvas.window((-rx, rx, -0.1 - ry, chin_y))
  d = canvas_lib.smooth_min(canvas_lib.ellipse(win.x, win.y, 0.0, -0.1, rx, ry),
                            canvas_lib.ellipse(win.x, win.y, 0.0, 0.5 * (jaw_top + chin_y),
                                               p["jaw_width"] * rx, 0.5 * (chin_y - jaw_top)),
                            0.08)
  cover = canvas.fill(d)
  canvas.paint(win, cover, p["skin"])
  canvas.darken(win, 0.3 * canvas.line(np.abs(d + 0.004), 0.004))
  return win, cover


def _shade(canvas: canvas_lib.Canvas, p: Mapping, win: canvas_lib.Window,
           cover: np.ndarray) -> None:
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


def _cheeks(canvas: canvas_lib.Canvas, p: Mapping, lay: geometry.Layout) -> None:
  """A faint blush; AU6 (and AU12) lift the cheek into a lit, rounded apple."""
  lift = lay.cheek_lift / geometry.most(geometry.CHEEK_UP)
  for side in geometry.SIDES:
    win = canvas.window(geometry.cheek_box(p, lay.cheek_lift, side))
    cx, cy = geometry.cheek_centre(p, lay.cheek_lift, side)
    r = np.sqrt(((win.x - cx) / 0.13) ** 2 + ((win.y - cy) / 0.09) ** 2)
    blush = np.maximum(1.0 - r, 0.0) ** 2
    canvas.paint(win, (0.18 + 0.12 * lift) * blush, 0.5 * (p["skin"] + identity_lib.LIP_RED))
    if lift > 0.0:
      canvas.paint(win, 0.3 * lift * blush, 0.5 * (p["skin"] + _WARM_LIGHT))
      below = np.clip((win.y - cy) / 0.04, 0.0, 1.0)
      canvas.darken(win, 0.08 * lift * below * np.exp(-((r - 0.8) / 0.15) ** 2))


def _forehead(canvas: canvas_lib.Canvas, p: Mapping, a: Mapping[str, float]) -> None:
  """AU1 (middle) and AU2 (sides) wrinkles; AU4 furrows between the brows."""
  x0, x1, y0, y1 = geometry.forehead_box(p)
  for name, left, right in (("AU1", -0.13, 0.13), ("AU2", 0.1, x1), ("AU2", x0, -0.1)):
    if a[name] <= 0.0:
      continue
    win = canvas.window((left, right, y0, y1))
    t = (win.x - 0.5 * (left + right)) / (0.5 * (right - left))
    ink = canvas_lib.wrinkles(canvas, win, y1 - 0.02 - 0.015 * canvas_lib.bump(t), -0.04)
    canvas.darken(win, 0.3 * a[name] * ink * canvas_lib.bump(t, 0.5))
  if a["AU4"] > 0.0:
    x0, x1, y0, y1 = geometry.glabella_box(p)
    win = canvas.window((x0, x1, y0, y1))
    top = np.array([[-0.028, y0 + 0.02], [0.028, y0 + 0.02]], np.float32)
    bottom = np.array([[-0.02, y1 - 0.02], [0.02, y1 - 0.02]], np.float32)
    furrows = canvas_lib.segments(win.x, win.y, top, bottom)
    canvas.darken(win, 0.45 * a["AU4"] * canvas.line(furrows, 0.005))


def _eye(canvas: canvas_lib.Canvas, p: Mapping, a: Mapping[str, float], lay: geometry.Layout,
         side: float) -> None:
  """Eyeball, lids, lashes and the AU marks around one eye."""
  w, cx, cy = p["eye_size"], side * p["eye_spacing"], p["eye_y"]
  hu = p["eye_openness"] * w
  win = canvas.window(geometry.eye_box(p, side))
  s = side * (win.x - cx)  # lateral offset, > 0 towards the outer corner
  t = s / w
  base = cy - p["eye_tilt"] * s
  upper = base - lay.eye_hu * canvas_lib.bump(t) * (1.0 - 0.15 * t)
  lower = base + lay.eye_hl * canvas_lib.bump(t) * (1.0 + 0.2 * t)
  upper = upper + a["AU45"] * (lower - upper)  # AU45 closes onto the lower lid

  # Eyeball: sclera, iris with a dark rim, pupil, glint; the upper lid casts
  # a shadow.
  ri, icy = p["iris_size"] * w, cy + 0.1 * hu
  r = np.sqrt((win.x - cx) ** 2 + (win.y - icy) ** 2)
  rim = 1.0 - 0.5 * np.clip((r / ri - 0.7) / 0.3, 0.0, 1.0)
  ball = np.broadcast_to(_SCLERA, r.shape + (3,)).copy()
  ball += canvas.fill(r - ri)[..., None] * (p["iris"] * rim[..., None] - ball)
  ball += canvas.fill(r - 0.45 * ri)[..., None] * (_PUPIL - ball)
  glint = canvas_lib.circle(win.x, win.y, cx + (0.4 * p["light_x"] + 0.15) * ri, icy - 0.35 * ri,
                            0.2 * ri)
  ball += 0.9 * canvas.fill(glint)[..., None] * (_WHITE - ball)
  shadow = 0.72 + 0.28 * np.clip((win.y - upper) / (0.7 * hu), 0.0, 1.0)
  canvas.paint(win, canvas_lib.band(canvas, win, upper, lower), ball * shadow[..., None])

  # The lid skin between the crease and the lid margin shades darker as it
  # covers the eye; a lash line runs along the margin.
  tc = s / (1.1 * w)
  crease = base - (hu * (1.0 + geometry.most(geometry.UPPER_LID)) + 0.02) * canvas_lib.bump(tc, 0.8)
  canvas.darken(win, 0.12 * canvas_lib.band(canvas, win, crease, upper, soft=3.0))
  canvas.darken(win, 0.25 * canvas_lib.bump(tc) * canvas_lib.curve_line(canvas, win, crease, 0.004))
  canvas.darken(win, 0.3 * canvas_lib.bump(t, 0.5)
                * canvas_lib.curve_line(canvas, win, lower, 0.003))
  lash_width = 0.005 + 0.003 * np.clip(t, 0.0, 1.0) + 0.003 * a["AU45"]
  lash = canvas_lib.curve_line(canvas, win, upper, lash_width)
  canvas.paint(win, np.minimum(lash, 8.0 * canvas_lib.bump(1.05 * t)), p["brow"] * 0.35)

  if a["AU7"] > 0.0:  # the tightened lower lid bulges
    bag = lower + 0.016 * canvas_lib.bump(t, 0.5)
    ink = canvas_lib.bump(t, 0.5) * canvas_lib.curve_line(canvas, win, bag, 0.004)
    canvas.darken(win, 0.35 * a["AU7"] * ink)
  if a["AU6"] > 0.0:  # crow's feet at the outer corner
    angles = np.array([-0.5, -0.1, 0.3], np.float32)
    start = np.stack([np.full(3, cx + side * (w + 0.02)), cy + 0.01 * angles], 1)
    end = start + 0.05 * np.stack([side * np.cos(angles), np.sin(angles)], 1)
    crows = canvas_lib.segments(win.x, win.y, start.astype(np.float32), end.astype(np.float32))
    canvas.darken(win, 0.45 * a["AU6"] * canvas.line(crows, 0.004))


def _brow(canvas: canvas_lib.Canvas, p: Mapping, lay: geometry.Layout, side: float) -> None:
  """A tapering brow along the parabola through its three points."""
  win = canvas.window(geometry.brow_box(p, lay.brow, side))
  s = side * (win.x - side * p["eye_spacing"])
  (s0, y0), (s1, y1), (s2, y2) = lay.brow
  f = (y0 * (s - s1) * (s - s2) / ((s0 - s1) * (s0 - s2))
       + y1 * (s - s0) * (s - s2) / ((s1 - s0) * (s1 - s2))
       + y2 * (s - s0) * (s - s1) / ((s2 - s0) * (s2 - s1)))
  u = np.clip((s - s0) / (s2 - s0), 0.0, 1.0)
  half = p["brow_thickness"] * (1.0 - 0.6 * u)
  d = np.maximum(np.abs(canvas_lib.below(win.y, f, win.x)) - half,
                 np.maximum(s0 - s, s - s2) + 0.3 * half)
  canvas.paint(win, 0.95 * canvas.fill(d), p["brow"] * (0.85 + 0.3 * u)[..., None])


def _nose(canvas: canvas_lib.Canvas, p: Mapping, a: Mapping[str, float],
          lay: geometry.Layout) -> None:
  """Bridge shadow, tip highlight, nostril wings; AU9 wrinkles the bridge."""
  nw, ny = p["nose_width"], geometry.nose_bottom(p)
  win = canvas.window(geometry.nose_box(p))
  side = -1.0 if p["light_x"] > 0 else 1.0  # the bridge's shadowed side
  bridge = canvas_lib.segments(win.x, win.y,
                               np.array([[side * 0.035, p["eye_y"] + 0.04]], np.float32),
                               np.array([[side * 0.045, ny - 0.05]], np.float32))
  canvas.darken(win, 0.12 * np.maximum(1.0 - bridge / 0.03, 0.0))
  under = canvas_lib.ellipse(win.x, win.y, 0.0, ny + 0.012, 0.05, 0.015)
  canvas.darken(win, 0.15 * np.maximum(-under / 0.015, 0.0))
  tip = canvas_lib.ellipse(win.x, win.y, 0.0, ny - 0.035, 0.03, 0.025)
  canvas.paint(win, 0.12 * np.clip(-tip / 0.02, 0.0, 1.0), _WHITE)
  lift = lay.nostril_lift
  for k in geometry.SIDES:
    ala = np.abs(canvas_lib.ellipse(win.x, win.y, k * (nw - 0.01), ny - 0.025 - lift,
                                    0.028 * (1.0 + 4.0 * lift), 0.025))
    outer = np.clip(k * win.x / nw - 0.5, 0.0, 1.0)
    canvas.darken(win, 0.35 * outer * canvas.line(ala, 0.004))
    nostril = canvas_lib.ellipse(win.x, win.y, k * 0.45 * nw, ny - 0.006 - lift, 0.018, 0.009)
    canvas.darken(win, 0.65 * canvas.fill(nostril, soft=1.5))
  if a["AU9"] > 0.0:  # wrinkles across the bridge, arched upwards
    taper = canvas_lib.bump(win.x / 0.05, 0.5)
    ink = canvas_lib.wrinkles(canvas, win, p["eye_y"] + 0.035 - 0.01 * taper, 0.022)
    canvas.darken(win, 0.45 * a["AU9"] * taper * ink)


def _folds(canvas: canvas_lib.Canvas, p: Mapping, a: Mapping[str, float],
           lay: geometry.Layout) -> None:
  """Nasolabial folds (AU12, AU10), dimples (AU14) and the chin (AU17)."""
  depth = max(a["AU12"], 0.6 * a["AU10"])
  nose_y = geometry.nose_bottom(p)
  if depth > 0.0:
    for side in geometry.SIDES:
      top = np.array([side * (p["nose_width"] + 0.015), nose_y - 0.035])
      bottom = np.array([side * (lay.mouth_w + 0.03), lay.mouth_y + 0.045])
      pull = np.array([side * (lay.mouth_w + 0.06), 0.5 * (top[1] + bottom[1])])
      pts = canvas_lib.bezier(top, pull, bottom)
      lo, hi = pts.min(0) - 0.03, pts.max(0) + 0.03
      win = canvas.window((lo[0], hi[0], lo[1], hi[1]))
      fold = canvas_lib.segments(win.x, win.y, pts[:-1], pts[1:])
      # A crisp crease with a soft shadow on the side of the mouth.
      inner = np.clip(side * (pts[:, 0].mean() - win.x) / 0.01 + 0.5, 0.0, 1.0)
      ink = (0.25 * canvas.line(fold, 0.004)
             + 0.18 * inner * np.maximum(1.0 - fold / 0.025, 0.0))
      canvas.darken(win, depth * np.clip((win.y - top[1]) / 0.04, 0.0, 1.0) * ink)
  if a["AU14"] > 0.0:
    for side in geometry.SIDES:
      x = side * (lay.mouth_w + 0.02)
      win = canvas.window((x - 0.015, x + 0.015, lay.mouth_y - 0.04,
                           lay.mouth_y + 0.04))
      dimple = canvas_lib.ellipse(win.x, win.y, x, lay.mouth_y, 0.006, 0.025)
      canvas.darken(win, 0.3 * a["AU14"] * canvas.fill(dimple, soft=3.0))
  if a["AU17"] > 0.0:
    lip = lay.mouth_y + lay.lower_lip
    chin_y = p["chin_y"] + lay.chin_drop
    win = canvas.window((-0.09, 0.09, lip, chin_y))
    crease = np.abs(canvas_lib.ellipse(win.x, win.y, 0.0, lip + 0.07, 0.07, 0.05))
    above = np.clip((lip + 0.06 - win.y) / 0.02, 0.0, 1.0)
    canvas.darken(win, 0.35 * a["AU17"] * above * canvas.line(crease, 0.006))
    boss = canvas_lib.ellipse(win.x, win.y, 0.0, chin_y - 0.07, 0.065, 0.04)
    canvas.paint(win, 0.15 * a["AU17"] * np.clip(-boss / 0.03, 0.0, 1.0), _WHITE)
    dots = _CHIN_DOTS + np.array([0.0, chin_y], np.float32)
    pores = canvas.line(canvas_lib.segments(win.x, win.y, dots, dots), 0.005)
    canvas.darken(win, 0.15 * a["AU17"] * pores)


def _mouth(canvas: canvas_lib.Canvas, p: Mapping, lay: geometry.Layout) -> None:
  """Lips, and between them gums, teeth, the dark mouth and the tongue."""
  my, mw, w0 = lay.mouth_y, lay.mouth_w, p["mouth_width"]
  win = canvas.window(geometry.mouth_box(lay))
  t = win.x / mw
  line = my + lay.corner * t * t  # where the lips meet when closed
  up_inner = line - lay.lip_raise * canvas_lib.bump(t, 0.5)
  low_inner = line + lay.lip_drop * canvas_lib.bump(t, 0.8)
  bow = 1.0 - 0.3 * np.exp(-(t / 0.14) ** 2)  # Cupid's bow
  up_outer = up_inner - lay.upper_lip * canvas_lib.bump(t, 0.55) * bow
  low_outer = low_inner + lay.lower_lip * canvas_lib.bump(t, 0.6)

  canvas.paint(win, canvas_lib.band(canvas, win, up_outer, up_inner, soft=1.3), p["lips"] * 0.82)
  mid = np.abs(win.y - (low_inner + 0.45 * lay.lower_lip)) / (0.4 * lay.lower_lip)
  sheen = 1.0 + 0.15 * np.maximum(1.0 - mid, 0.0) * canvas_lib.bump(t)
  canvas.paint(win, canvas_lib.band(canvas, win, low_inner, low_outer, soft=1.3),
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
    tongue = canvas_lib.ellipse(win.x, win.y, 0.0, my + lay.lip_drop, 0.6 * mw,
                                0.4 * lay.lip_drop + 1e-3)
    inside += canvas.fill(tongue, soft=1.5)[..., None] * (_TONGUE - inside)
    upper_teeth = canvas.fill(np.maximum(gum_line - win.y, win.y - upper_edge))
    inside += upper_teeth[..., None] * (tooth - inside)
    inside += canvas.fill(lower_edge - win.y)[..., None] * (0.92 * tooth - inside)
    inside += canvas.fill(win.y - gum_line)[..., None] * (_GUMS - inside)
    canvas.paint(win, canvas_lib.band(canvas, win, up_inner, low_inner), inside)

  edge = np.minimum(canvas_lib.curve_line(canvas, win, up_inner, 0.003),
                    canvas_lib.bump(1.02 * t, 0.3))
  canvas.paint(win, 0.6 * edge, p["lips"] * 0.35)
  corners = np.minimum(canvas_lib.circle(win.x, win.y, -mw, my + lay.corner, 0.006),
                       canvas_lib.circle(win.x, win.y, mw, my + lay.corner, 0.006))
  canvas.darken(win, 0.35 * canvas.fill(corners, soft=2.0))


def _hair_front(canvas: canvas_lib.Canvas, p: Mapping) -> None:
  """The hair over the forehead, down to the ears at the temples."""
  rx, ry = p["face_width"] + p["hair_volume"], p["face_length"] + p["hair_volume"]
  ear_y = p["eye_y"] + 0.08 + 0.3 * p["hair_length"]
  win = canvas.window((-rx, rx, -0.1 - ry, ear_y))
  hairline = (-0.56 + 0.16 * p["hairline"] + p["hair_slant"] * win.x
              + 0.08 * (win.x / rx) ** 2)
  temples = np.clip((np.abs(win.x) / p["face_width"] - 0.6) / 0.35, 0.0, 1.0)
  hairline = hairline + (ear_y - hairline) * temples * temples * (3.0 - 2.0 * temples)
  d = np.maximum(canvas_lib.ellipse(win.x, win.y, 0.0, -0.1, rx, ry),
                 canvas_lib.below(win.y, hairline, win.x))
  glare = (win.x - 0.3 * p["light_x"]) ** 2 + (win.y + 0.55) ** 2
  sheen = 0.75 + 0.35 * np.exp(-glare / 0.05)
  strands = 1.0 + 0.08 * np.sin(90.0 * win.x + 25.0 * win.y * win.y)
  canvas.paint(win, canvas.fill(d), p["hair"] * (sheen * strands)[..., None])


def render(identity: np.ndarray, aus: np.ndarray, size: int = 128) -> np.ndarray:
  """Draws one face.

  Args:
    identity: float32 [identity_lib.IDENTITY_DIM] (see `identity_lib.sample_identity`).
    aus: 17 intensities in [0, 1], in `aus.AU_NAMES` order.
    size: output height and width in pixels.

  Returns:
    uint8 [size, size, 3].
  """
  p = identity_lib.unpack(identity)
  aus = aus_lib.validate(aus)
  if aus.shape != (aus_lib.NUM_AUS,):
    raise ValueError(
        f"render takes one ({aus_lib.NUM_AUS},) AU vector, got shape {aus.shape}")
  a = dict(zip(aus_lib.AU_NAMES, aus.tolist()))
  lay = geometry.layout(p, lambda table: sum(k * a[name] for name, k in table.items()))
  canvas = canvas_lib.Canvas(size, p)
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
  for side in geometry.SIDES:
    _eye(canvas, p, a, lay, side)
    _brow(canvas, p, lay, side)
  _shade(canvas, p, face_win, face_cover)
  _hair_front(canvas, p)
  return (np.clip(canvas.img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
