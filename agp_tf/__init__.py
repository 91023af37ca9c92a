"""agp_tf: alternate model growth and pruning on TensorFlow 2 / Keras 3."""

import os as _os


def _serve_checkout_subpackages():
    """Makes `agp_tf.models` / `agp_tf.data` importable from a source checkout.

    setup.py installs the top-level `models/` and `data/` folders as
    `agp_tf.models` and `agp_tf.data`. An installed copy already has them
    inside the package; in a checkout (plain, or a legacy `pip install -e`)
    they sit beside it, so the checkout root joins this package's search path.
    """
    checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    if _os.path.isfile(_os.path.join(checkout, "setup.py")) and _os.path.isfile(
        _os.path.join(checkout, "models", "__init__.py")
    ):
        if checkout not in __path__:
            __path__.append(checkout)


_serve_checkout_subpackages()

from agp_tf import flops, importance, schedules  # noqa: E402
from agp_tf.callbacks import GrowPruneCallback  # noqa: E402
from agp_tf.controller import FlipEvent, GrowPruneController  # noqa: E402
from agp_tf.layers import MaskedDense  # noqa: E402

# Registers every serializable class, so keras.models.load_model reads any
# agp_tf model after a plain `import agp_tf`.
from agp_tf import export as _export  # noqa: E402,F401
from agp_tf import metrics as _metrics  # noqa: E402,F401
from agp_tf.models import dlrm as _dlrm  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = [
    "FlipEvent",
    "GrowPruneCallback",
    "GrowPruneController",
    "MaskedDense",
    "flops",
    "importance",
    "schedules",
]
