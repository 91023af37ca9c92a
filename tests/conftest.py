"""Test-wide TensorFlow set-up; runs before any test imports TensorFlow.

Two logical CPU devices let MirroredStrategy tests run on one CPU. Threads
are capped to the machine's cores so parallel ops do not oversubscribe.
"""

import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)
tf.config.threading.set_intra_op_parallelism_threads(min(2, os.cpu_count() or 1))
tf.config.threading.set_inter_op_parallelism_threads(1)

SHARED_DATA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data"
)


@pytest.fixture
def train_flags():
    """scripts/train.py imported in this process; yields a function that parses
    flags (after tests.helpers.SMALL_TRAIN_FLAGS, so later ones win)."""
    from tests.helpers import SMALL_TRAIN_FLAGS

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "scripts"))
    import train

    def parse(*flags):
        train.FLAGS.unparse_flags()
        train.FLAGS(["train.py", *SMALL_TRAIN_FLAGS, *flags])
        return train

    yield parse
    train.FLAGS.unparse_flags()
