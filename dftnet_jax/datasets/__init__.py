"""TFDS builders for the datasets dftnet_jax trains on."""
