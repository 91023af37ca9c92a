"""agp_tf: alternate model growth and pruning on TensorFlow 2 / Keras 3.

`import agp_tf` loads the core library only. The DLRM model and the data
pipelines are `agp_tf.models` and `agp_tf.data` (import them for their
classes, e.g. before loading a DLRM `.keras` file).
"""

import importlib.abc as _abc
import importlib.util as _util
import os as _os
import sys as _sys

# The repository keeps `models/` and `data/` at its top; setup.py installs
# them as `agp_tf.models` and `agp_tf.data`. Run from a source checkout
# without installing, they sit beside this package: a finder for exactly
# those two names serves them (nothing else of the checkout becomes part
# of the package).
_CHECKOUT_SUBPACKAGES = ("models", "data")


class _CheckoutFinder(_abc.MetaPathFinder):
    def __init__(self, checkout):
        self.checkout = checkout

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.partition(".")
        if prefix != __name__ or name not in _CHECKOUT_SUBPACKAGES:
            return None
        folder = _os.path.join(self.checkout, name)
        return _util.spec_from_file_location(
            fullname, _os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
        )


def _serve_checkout_subpackages():
    here = _os.path.dirname(_os.path.abspath(__file__))
    checkout = _os.path.dirname(here)
    installed = all(_os.path.isdir(_os.path.join(here, n)) for n in _CHECKOUT_SUBPACKAGES)
    in_checkout = _os.path.isfile(_os.path.join(checkout, "setup.py")) and all(
        _os.path.isfile(_os.path.join(checkout, n, "__init__.py")) for n in _CHECKOUT_SUBPACKAGES
    )
    if in_checkout and not installed:
        if not any(isinstance(f, _CheckoutFinder) for f in _sys.meta_path):
            # Last: an installed or editable copy's own finder goes first.
            _sys.meta_path.append(_CheckoutFinder(checkout))


_serve_checkout_subpackages()

from agp_tf import flops, importance, schedules  # noqa: E402
from agp_tf.callbacks import GrowPruneCallback  # noqa: E402
from agp_tf.controller import FlipEvent, GrowPruneController  # noqa: E402
from agp_tf.convert import prunable, strip  # noqa: E402
from agp_tf.layers import MaskedDense, PrunableNeurons  # noqa: E402

# Registers every serializable class of the core, so keras.models.load_model
# reads a model made of agp_tf layers after a plain `import agp_tf`.
from agp_tf import export as _export  # noqa: E402,F401
from agp_tf import metrics as _metrics  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = [
    "FlipEvent",
    "GrowPruneCallback",
    "GrowPruneController",
    "MaskedDense",
    "PrunableNeurons",
    "flops",
    "importance",
    "prunable",
    "schedules",
    "strip",
]
