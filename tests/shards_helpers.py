"""Helpers shared by the shard tests: batches as numpy, and a small text file to preprocess."""

import numpy as np
import pytest

from tests.criteo_helpers import random_lines
from tests.criteo_helpers import write_lines


def numpy_batches(dataset):
    """tf.data `(features, labels)` batches as numpy tuples."""
    return [
        ({k: v.numpy() for k, v in features.items()}, labels.numpy())
        for features, labels in dataset
    ]


def assert_same(got, want):
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(10)
    lines = random_lines(rng, 61)  # days (9, 9, 9, 9, 9, 8, 8): train 53, test 4, val 4
    return write_lines(tmp_path / "train.txt", lines)
