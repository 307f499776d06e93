"""dftnet_jax: DFT-Net (face deformation + texture synthesis) in JAX/Flax.

    import dftnet_jax
    model = dftnet_jax.load_params("workdirs/synthetic")
    edited = dftnet_jax.edit(model, face, "AU12=0.8,AU25=0.4")

`edit`, `edit_series` and `load_params` (`dftnet_jax.editing`) load JAX and
the model on first use, so importing the package stays cheap. Photos and
the editing command line: `python -m dftnet_jax.photo` (`dftnet_jax.photo`).
"""

import importlib

__version__ = "0.1.0"


# The public API, from `editing`.
_EDITING = ("edit", "edit_series", "load_params")


def __getattr__(name: str):
  if name in _EDITING:
    return getattr(importlib.import_module("dftnet_jax.editing"), name)
  raise AttributeError(f"module 'dftnet_jax' has no attribute {name!r}")
