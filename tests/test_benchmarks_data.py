"""benchmarks.data: whole batches cut from rows in memory."""

import types

import numpy as np

from agp_tf.data.features import DENSE_KEY, SPARSE_KEY
from benchmarks import data


def _rows(n):
    return types.SimpleNamespace(
        num_rows=n,
        dense=np.arange(n * 13, dtype="float32").reshape(n, 13),
        sparse=np.arange(n * 2, dtype="int32").reshape(n, 2),
        labels=np.arange(n, dtype="float32"),
    )


def test_batches_drop_the_partial_last_one():
    batches = list(data.batched_dataset(_rows(10), 4, repeat=False))
    assert len(batches) == 2
    features, labels = batches[1]
    np.testing.assert_array_equal(labels.numpy(), [4, 5, 6, 7])
    assert {k: v.shape for k, v in features.items()} == {DENSE_KEY: (4, 13), SPARSE_KEY: (4, 2)}


def test_repeated_batches_cycle_from_skip():
    dataset = data.batched_dataset(_rows(12), 4, repeat=True, skip=2)
    firsts = [float(labels[0]) for _, labels in dataset.take(4)]
    assert firsts == [8.0, 0.0, 4.0, 8.0]
    # each fit call's iterator ends at once (no autotuning thread to wait for)
    assert dataset.options().autotune.enabled is False
