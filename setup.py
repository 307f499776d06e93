"""Installs dftnet_jax.

jax/jaxlib are pinned exactly: the CPU convolution choices (DESIGN §7) were
measured on this XLA release and may change with another.
"""

from setuptools import find_packages, setup

# The PyTorch peer of the benchmarks (benchmarks/pytorch_peer.py). Pinned:
# the development machines carry this release's CPU wheel; on PyPI a plain
# `torch` is a CUDA build of several GB (for the CPU wheel elsewhere, install
# it first from https://download.pytorch.org/whl/cpu).
PEER = ["torch==2.13.0"]

setup(
    name="dftnet_jax",
    version="0.1.0",
    description="DFT-Net (AU-conditioned flow + texture GAN) in JAX/Flax",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["dftnet_jax", "dftnet_jax.*"]),
    install_requires=[
        "jax==0.10.2",
        "jaxlib==0.10.2",
        "flax~=0.12.8",
        "optax~=0.2.8",
        "orbax-checkpoint~=0.12.8",
        # TFDS needs a TensorFlow; the CPU build is enough (it only feeds data).
        "tensorflow-cpu~=2.21.0",
        "tensorflow-datasets~=4.9.10",
        # The summaries' writers (tf.summary.scalar/image forward to it) and the
        # viewer a user needs to read the logs anyway.
        "tensorboard~=2.21.0",
        # TFDS 4.9.10 imports it but declares it only for Python < 3.9
        # (tensorflow/datasets#11212).
        "importlib_resources",
        "numpy>=2.0",
        "pillow>=10",
        "absl-py>=2.1",
        "ml-collections~=1.1",
        "tqdm",
    ],
    extras_require={
        # scipy is the independent reference for the warp tests.
        # The peer's tests tie its networks to ours. pytest-xdist runs the
        # suite on both cores: its tests are bound by XLA's single-threaded
        # compilation, so two workers take 0.6–0.65 of the time (README).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "scipy>=1.13", "opencv-python-headless<5",
                 "matplotlib>=3.8", *PEER],
        # The PyTorch peer for `benchmarks.compare_peer`; not needed to train or edit.
        "peer": PEER,
        # The experiments' curve figures (experiments/plot_curves.py).
        "plots": ["matplotlib>=3.8"],
        # Face detection for crop_faces and the editing CLI (OpenCV 5 drops
        # the bundled Haar cascades).
        "data": ["opencv-python-headless<5"],
    },
)
