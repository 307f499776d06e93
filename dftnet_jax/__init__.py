"""dftnet_jax: DFT-Net (face deformation + texture synthesis) in JAX/Flax."""

__version__ = "0.1.0"
