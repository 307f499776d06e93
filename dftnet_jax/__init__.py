"""dftnet_jax: DFT-Net (face deformation + texture synthesis) in JAX/Flax.

    import dftnet_jax
    model = dftnet_jax.load_params("workdirs/synthetic")
    edited = dftnet_jax.edit(model, face, "AU12=0.8,AU25=0.4")

`edit` and `load_params` load JAX and the model on first use, so importing
the package stays cheap.
"""

import importlib

__version__ = "0.1.0"


def __getattr__(name: str):
  if name == "edit":
    return importlib.import_module("dftnet_jax.edit")  # a callable module: edit.edit
  if name == "load_params":
    return importlib.import_module("dftnet_jax.edit").load_params
  raise AttributeError(f"module 'dftnet_jax' has no attribute {name!r}")
