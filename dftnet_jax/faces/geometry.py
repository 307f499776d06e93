"""How the AUs move a face (`layout`), and where each AU can change it.

Every AU moves the face by `intensity * coefficient` (the tables below), in
face units unless marked relative. The face-space boxes bound each feature,
over all AUs, for the regions (`regions`, `AU_REGIONS`) the tests read, and
for the masks of the eyes and the mouth (`region_masks`, `SCORED_REGIONS`)
that the evaluation's per-region errors are taken over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from dftnet_jax.faces import canvas as canvas_lib
from dftnet_jax.faces import identity as identity_lib

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
UPPER_LID = {"AU5": 0.5, "AU7": -0.2}  # relative upper-lid height
_LOWER_LID = {"AU7": -0.55, "AU6": -0.3}  # relative lower-lid height
CHEEK_UP = {"AU6": 0.035, "AU12": 0.015}
_NOSTRIL_UP = {"AU9": 0.012}
_MOUTH_WIDEN = {"AU12": 0.22, "AU20": 0.25, "AU23": -0.18, "AU14": -0.06}  # rel.
_CORNER_DOWN = {"AU12": -0.07, "AU15": 0.04, "AU20": 0.008, "AU17": 0.012,
                "AU14": -0.008}
_MOUTH_UP = {"AU17": 0.012}
_LIP_THIN = {"AU20": 0.3, "AU23": 0.45}  # relative
_UPPER_LIP_UP = {"AU10": 0.03, "AU25": 0.01, "AU26": 0.008}
_LOWER_LIP_DOWN = {"AU25": 0.045, "AU26": 0.13}
_CHIN_DOWN = {"AU26": 0.13, "AU17": -0.02}


# A coefficient table -> the effect's value (see `layout`).
_Effect = Callable[[Mapping[str, float]], float]
SIDES = (-1.0, 1.0)  # the image's left and right halves
# A face-space box (x0, x1, y0, y1).
_Box = tuple[float, float, float, float]


def most(coefficients: Mapping[str, float]) -> float:
  """The largest value an effect reaches over all AU combinations."""
  return sum(max(k, 0.0) for k in coefficients.values())


def _least(coefficients: Mapping[str, float]) -> float:
  """The smallest value an effect reaches over all AU combinations."""
  return sum(min(k, 0.0) for k in coefficients.values())


class Layout(NamedTuple):
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


def nose_bottom(p: Mapping) -> float:
  return p["eye_y"] + p["nose_length"]


def layout(p: Mapping, effect: _Effect) -> Layout:
  """The AU-driven geometry; `effect` maps a coefficient table to its value.

  Rendering passes the AUs' weighted sum; `regions` passes `most` and
  `_least` to bound every AU combination at once (each field depends on one
  table, monotonically).
  """
  w, brow_y = p["eye_size"], p["eye_y"] - p["brow_height"]
  hu = p["eye_openness"] * w
  inward = effect(_BROW_INWARD)
  nose_y = nose_bottom(p)
  thin = 1.0 - effect(_LIP_THIN)
  return Layout(
      chin_drop=effect(_CHIN_DOWN),
      eye_hu=hu * (1.0 + effect(UPPER_LID)),
      eye_hl=0.55 * hu * (1.0 + effect(_LOWER_LID)),
      brow=np.array([
          [-1.05 * w - inward, brow_y - effect(_BROW_INNER_UP)],
          [0.3 * w - 0.5 * inward, brow_y - p["brow_arch"] - effect(_BROW_MID_UP)],
          [p["brow_length"] * w,
           brow_y + 0.3 * p["brow_arch"] + 0.01 - effect(_BROW_OUTER_UP)]]),
      cheek_lift=effect(CHEEK_UP),
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
def eye_box(p: Mapping, side: float) -> _Box:
  w, cx, cy = p["eye_size"], side * p["eye_spacing"], p["eye_y"]
  hu = p["eye_openness"] * w * (1.0 + most(UPPER_LID)) + 0.025
  hl = 0.55 * p["eye_openness"] * w + 0.03
  lean = abs(p["eye_tilt"]) * 1.4 * w
  medial, lateral = cx - side * 1.15 * w, cx + side * (w + 0.08)
  return (min(medial, lateral), max(medial, lateral), cy - hu - lean, cy + hl + lean)


def brow_box(p: Mapping, brow: np.ndarray, side: float) -> _Box:
  xs = side * p["eye_spacing"] + side * brow[:, 0]
  thick = p["brow_thickness"] + 0.01
  return (xs.min() - thick, xs.max() + thick, brow[:, 1].min() - thick,
          brow[:, 1].max() + thick)


def glabella_box(p: Mapping) -> _Box:
  y = p["eye_y"] - p["brow_height"]
  return (-0.05, 0.05, y - 0.04, y + 0.06)


def forehead_box(p: Mapping) -> _Box:
  top = p["eye_y"] - p["brow_height"] - p["brow_arch"]
  return (-0.3, 0.3, top - 0.19, top - 0.05)


def cheek_centre(p: Mapping, lift: float, side: float) -> tuple[float, float]:
  return side * (p["eye_spacing"] + 0.02), p["eye_y"] + 0.21 - lift


def cheek_box(p: Mapping, lift: float, side: float) -> _Box:
  cx, cy = cheek_centre(p, lift, side)
  return (cx - 0.13, cx + 0.13, cy - 0.09, cy + 0.09)


def nose_box(p: Mapping) -> _Box:
  nose_y = nose_bottom(p)
  half = p["nose_width"] + 0.04
  return (-half, half, p["eye_y"] - 0.01, nose_y + 0.04)


def mouth_box(lay: Layout) -> _Box:
  return (-lay.mouth_w - 0.01, lay.mouth_w + 0.01,
          lay.mouth_y - lay.lip_raise - lay.upper_lip - 0.01 + min(lay.corner, 0.0),
          lay.mouth_y + lay.lip_drop + lay.lower_lip + 0.01 + max(lay.corner, 0.0))


def _lower_face_box(p: Mapping, chin_drop: float) -> _Box:
  nose_y = nose_bottom(p)
  return (-p["face_width"] - 0.01, p["face_width"] + 0.01, nose_y - 0.07,
          p["chin_y"] + chin_drop + 0.02)


def regions(identity: np.ndarray, size: int) -> dict[str, tuple[int, int, int, int]]:
  """Pixel boxes (y0, y1, x0, x1), half-open, of the face's regions.

  Each box holds everything its AUs (see `AU_REGIONS`) can change, at any
  intensities and in any combination. 'left_eye' is the eye on the image's
  left. Boxes overlap ('mouth' lies inside 'lower_face') and are clipped to
  the image.
  """
  p = identity_lib.unpack(identity)
  canvas = canvas_lib.Canvas(size, p)
  hi, lo = layout(p, most), layout(p, _least)
  # The mouth's top and bottom reach their extremes under different AUs.
  top = mouth_box(hi._replace(corner=lo.corner, upper_lip=lo.upper_lip))
  bottom = mouth_box(hi._replace(mouth_y=lo.mouth_y, lower_lip=lo.lower_lip))
  boxes = {
      "left_eye": [eye_box(p, -1.0)],
      "right_eye": [eye_box(p, 1.0)],
      "brows": [brow_box(p, lay.brow, s) for lay in (hi, lo) for s in SIDES]
               + [glabella_box(p)],
      "forehead": [forehead_box(p)],
      "cheeks": [cheek_box(p, lay.cheek_lift, s) for lay in (hi, lo) for s in SIDES],
      "nose": [nose_box(p)],
      "mouth": [top, bottom],
      "lower_face": [_lower_face_box(p, hi.chin_drop)],
  }
  out = {}
  for name, parts in boxes.items():
    spans = np.array([canvas.span(box) for box in parts])
    out[name] = (int(spans[:, 0].min()), int(spans[:, 1].max()),
                 int(spans[:, 2].min()), int(spans[:, 3].max()))
  return out


# The regions the metrics score (`region_masks`) -> the `regions` boxes each joins.
SCORED_REGIONS: dict[str, tuple[str, ...]] = {
    "eyes": ("left_eye", "right_eye"),
    "mouth": ("mouth",),
}


def box_mask(boxes: Sequence[tuple[int, int, int, int]], size: int) -> np.ndarray:
  """bool [size, size], True inside any of the half-open (y0, y1, x0, x1) boxes."""
  mask = np.zeros((size, size), bool)
  for y0, y1, x0, x1 in boxes:
    mask[y0:y1, x0:x1] = True
  return mask


def region_masks(identities: np.ndarray, size: int) -> dict[str, np.ndarray]:
  """Masks of `SCORED_REGIONS`, for the metrics' per-region errors.

  Args:
    identities: identity vectors, [N, identity.IDENTITY_DIM].
    size: the images' side in pixels.

  Returns:
    Region name -> bool [N, size, size]: where the renderer draws the eyes
    (both, at any lid AUs) and the mouth (at any mouth AUs) of each face.
  """
  boxes = [regions(identity, size) for identity in identities]
  return {region: np.stack([box_mask([face[part] for part in parts], size) for face in boxes])
          for region, parts in SCORED_REGIONS.items()}
