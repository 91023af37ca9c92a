"""distinct_gather: gathers of distinct indices whose gradients are gathers."""

import numpy as np
import pytest
import tensorflow as tf

from agp_tf.distinct_gather import take_distinct


def _gradient(function, x, weights):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(function(x) * weights)
    return tape.gradient(y, x)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("axis", [0, 1])
def test_take_equals_gather_with_the_same_gradient(axis, jit_compile):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6)).astype("float32")
    indices = np.array([4, 0, 2], "int32")  # distinct, in any order
    inverse = np.full(x.shape[axis], len(indices), "int32")
    inverse[indices] = np.arange(len(indices))
    weights = rng.normal(size=np.take(x, indices, axis=axis).shape).astype("float32")

    ours = tf.function(lambda v: take_distinct(v, indices, inverse, axis), jit_compile=jit_compile)
    np.testing.assert_array_equal(ours(x), np.take(x, indices, axis=axis))
    expected = tf.convert_to_tensor(  # axis 0: IndexedSlices
        _gradient(lambda v: tf.gather(v, indices, axis=axis), x, weights))
    got = tf.function(lambda v: _gradient(ours, v, weights), jit_compile=jit_compile)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the gradient graph gathers; TensorFlow's own scatters
    graph = tf.function(lambda v: _gradient(lambda u: take_distinct(u, indices, inverse, axis),
                                            v, weights)).get_concrete_function(
        tf.TensorSpec(x.shape, tf.float32)).graph
    assert not [op for op in graph.get_operations() if "Scatter" in op.type or "Segment" in op.type]
