"""A gather of distinct indices whose gradient is a gather too.

TensorFlow's gradient of `tf.gather` is a scatter-add (`UnsortedSegmentSum`),
which XLA runs on the CPU as a serial loop over every element. When the
indices are distinct, every input position receives the gradient of at most
one output position, so the gradient is itself a gather: of the upstream
gradient with one appended zero slice, at `inverse`, which names for each
input position the output that took it (or the zero slice). DLRM's dot
interaction (its lower triangle, `agp_tf.models.interaction`) gathers this
way. (`MaskedDense`'s compact gathers of kept kernel rows and columns do
not: there TensorFlow's own gradient measured faster, since the row
gather's gradient updates only the kept rows.)
"""

import tensorflow as tf


def take_distinct(x, indices, inverse, axis):
    """`tf.gather(x, indices, axis=axis)` for distinct `indices`, with a gather
    for a gradient.

    Args:
        x: Tensor.
        indices: int32 `(k,)`, distinct positions along `axis`.
        inverse: int32 `(x.shape[axis],)`: for each position of `x`, the
            output that takes it, or `k` (the zero slice) for none.
        axis: The axis gathered along (non-negative).

    Example:

    ```python
    columns = tf.constant([0, 2])
    inverse = tf.constant([0, 2, 1])          # column 1 is not taken: the zero column
    take_distinct(tf.ones((4, 3)), columns, inverse, axis=1)   # (4, 2)
    ```
    """

    @tf.custom_gradient
    def take(x):
        def gradient(upstream):
            paddings = [[0, 0]] * len(upstream.shape)
            paddings[axis] = [0, 1]
            return tf.gather(tf.pad(upstream, paddings), inverse, axis=axis)

        return tf.gather(x, indices, axis=axis), gradient

    return take(x)


__all__ = ["take_distinct"]
