"""agp_tf: alternate model growth and pruning for recommendation models.

`models/` and `data/` live at the top of the repository and install as
`agp_tf.models` and `agp_tf.data` (plain names would collide in
site-packages).
"""

import setuptools

setuptools.setup(
    name="agp_tf",
    version="0.1.0",
    description=(
        "Alternate model growth and pruning for DLRM-style recommendation "
        "models on TensorFlow 2 / Keras 3"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # data/'s subpackages (criteo, shards, synthetic) install as agp_tf.data.<name>.
    packages=["agp_tf", "agp_tf.models", "agp_tf.data"]
    + [f"agp_tf.{name}" for name in setuptools.find_packages("agp_tf")]
    + [f"agp_tf.data.{name}" for name in setuptools.find_packages("data")],
    package_dir={
        "agp_tf": "agp_tf",
        "agp_tf.models": "models",
        "agp_tf.data": "data",
    },
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.13,<4",
        "tensorboard>=2.21,<2.22",
        "keras-rs>=0.4,<0.5",
        "absl-py>=1.2",  # the peers extra (TFMOT 0.8) needs absl-py 1.x
        "numpy>=1.26",
    ],
    extras_require={
        # scripts/reproduce_paper.py's plots; dev has them for the tests.
        "reproduce": ["matplotlib>=3.8"],
        "dev": ["pytest>=8", "matplotlib>=3.8"],
        "peers": ["tf-keras>=2.21,<2.22", "tensorflow-model-optimization>=0.8.1"],
    },
)
