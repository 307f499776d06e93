r"""Draws a contact sheet of synthetic faces: identities x expressions.

Rows are identities; columns are neutral, each emotion prototype, and AU45
and AU26 sweeps from 0 to 1, so a person can check at a glance that the
faces read as faces and that every AU does what it should.

  python -m dftnet_jax.datasets.contact_sheet --out sheet.png \
      [--size 128] [--identities 6] [--seed 0]
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app
from absl import flags
import numpy as np
from PIL import Image
from PIL import ImageDraw

from dftnet_jax import aus as aus_lib
from dftnet_jax import faces
from dftnet_jax import files

_GAP = 4  # pixels between cells
_LABEL = 14  # height of the label row
_PAPER = (24, 24, 24)


def columns(sweep_steps: int) -> list[tuple[str, np.ndarray]]:
  """(label, AUs) per column: neutral, prototypes, AU45 and AU26 sweeps."""
  cols = [("neutral", np.zeros(aus_lib.NUM_AUS, np.float32))]
  cols += [(name, aus_lib.emotion(name)) for name in aus_lib.EMOTIONS]
  for au in ("AU45", "AU26"):
    cols += [(f"{au} {v:.2g}", aus_lib.from_dict({au: v}))
             for v in np.linspace(0.0, 1.0, sweep_steps)]
  return cols


def contact_sheet(identities: Sequence[np.ndarray],
                  cols: Sequence[tuple[str, np.ndarray]], size: int) -> Image.Image:
  """One image: a label row, then one row of faces per identity."""
  width = len(cols) * (size + _GAP) + _GAP
  height = _LABEL + len(identities) * (size + _GAP) + _GAP
  sheet = Image.new("RGB", (width, height), _PAPER)
  draw = ImageDraw.Draw(sheet)
  for c, (label, _) in enumerate(cols):
    draw.text((_GAP + c * (size + _GAP), 2), label, fill=(220, 220, 220))
  for r, identity in enumerate(identities):
    for c, (_, target) in enumerate(cols):
      face = Image.fromarray(faces.render(identity, target, size))
      sheet.paste(face, (_GAP + c * (size + _GAP), _LABEL + _GAP + r * (size + _GAP)))
  return sheet


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  identities = [faces.sample_identity(np.random.default_rng([_SEED.value, i]))
                for i in range(_IDENTITIES.value)]
  sheet = contact_sheet(identities, columns(_SWEEP.value), _SIZE.value)
  files.write_image(_OUT.value, np.asarray(sheet))


if __name__ == "__main__":
  _OUT = flags.DEFINE_string("out", None, "PNG file to write.", required=True)
  _SIZE = flags.DEFINE_integer("size", 128, "Height and width of each face.")
  _IDENTITIES = flags.DEFINE_integer("identities", 6, "Rows: identities to draw.")
  _SEED = flags.DEFINE_integer("seed", 0, "Seed of the identities.")
  _SWEEP = flags.DEFINE_integer("sweep_steps", 5, "Columns of each AU sweep.")
  app.run(main)
