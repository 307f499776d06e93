"""Procedural cartoon faces drawn from an identity vector and the 17 AUs.

EmotioNet cannot be downloaded, so the package makes its own faces. The same
identity can be drawn with any AUs, which gives every edit a ground truth.

Geometry lives in *face units*: before the pose jitter the image spans
[-1, 1] on both axes, x to the right, y downwards, the face centred at the
origin. The pose has no rotation, so face x depends on the column only and
face y on the row only: curves `y = f(x)` are evaluated once per column.

The renderer in four parts: `identity` (the identity vector and its
sampling), `geometry` (how the AUs move the face; the regions each AU can
change, and their masks), `canvas` (the drawing surface and shape
primitives) and `painters` (the painters and `render`, which calls them in
order). Its public names are gathered here, so callers write
`faces.render(identity, aus)`.

Renders are bit-identical for identical inputs on one machine; numpy's SIMD
transcendental functions may differ in the last ulp between CPUs, which can
flip a rare pixel by one level.
"""

from dftnet_jax.faces.geometry import AU_REGIONS
from dftnet_jax.faces.geometry import SCORED_REGIONS
from dftnet_jax.faces.geometry import region_masks
from dftnet_jax.faces.geometry import regions
from dftnet_jax.faces.identity import IDENTITY_DIM
from dftnet_jax.faces.identity import IDENTITY_FIELDS
from dftnet_jax.faces.identity import replace
from dftnet_jax.faces.identity import sample_identity
from dftnet_jax.faces.identity import unpack
from dftnet_jax.faces.painters import render

__all__ = ["AU_REGIONS", "IDENTITY_DIM", "IDENTITY_FIELDS", "SCORED_REGIONS", "region_masks",
           "regions", "render", "replace", "sample_identity", "unpack"]
