"""Training batches of one shape: a short batch is padded with rows that weigh 0.

An XLA-compiled training step is specialized to its batch shape. A window
of 50,000 rows at batch 128 ends with a batch of 80 rows, and that one
batch costs a second compilation of every training function that meets it
(about 1 s each on 2 cores: the dense step in the first window, the sparse
step in the first sparse window). `full_batches` gives every batch the full
shape instead, so one compilation per function serves the whole run.

The arithmetic of training is unchanged. A short batch of `n` rows gets
`batch_size - n` rows of zeros appended; its real rows weigh
`batch_size / n` and the appended ones 0. Keras' default loss reduction sums
the weighted losses and divides by the batch size, so the loss (and its
gradient) is the mean over the real rows, as it was; the appended rows get
exactly zero gradient. Full batches weigh 1, and multiplying by 1 is exact.
This holds for Keras' default loss reduction and the others in
`EXACT_REDUCTIONS` (`pads_exactly` says, and `WindowedRun` pads only then).
Per-batch training metrics that take sample weights count the short batch's
rows `batch_size / n` times (the window's training logs, not the look-ahead
or test metrics, which evaluate unpadded batches).
"""

import keras
import tensorflow as tf

# Loss reductions under which the padded batch's loss is the real rows' mean:
# the weighted sum divided by the batch size, or by the sum of the weights.
EXACT_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def pads_exactly(loss):
    """Whether training on `full_batches` keeps `loss` (as given to
    `compile`) what it is on the unpadded batches.

    A loss named by a string or given as a function gets Keras' default
    reduction (sum over the batch size): exact. A `keras.losses.Loss` is
    exact with a reduction in `EXACT_REDUCTIONS`; with `"sum"` the short
    batch would weigh `batch_size / rows` times too much. Several losses (a
    dict or list) are not checked: False.
    """
    if isinstance(loss, keras.losses.Loss):
        return loss.reduction in EXACT_REDUCTIONS
    return isinstance(loss, str) or callable(loss)


def full_batches(dataset, batch_size):
    """`dataset` with every batch at `batch_size` rows and a weight per row.

    Args:
        dataset: A `tf.data.Dataset` of `(features, labels)` or `(features,
            labels, sample_weight)` batches of at most `batch_size` rows;
            features and labels may be nested (a dict of features).
        batch_size: The rows of every batch out.

    Returns:
        A dataset of `(features, labels, sample_weight)` whose batch
        dimension is static, `batch_size`.

    Example:

    ```python
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(128)  # 50,000 rows
    model.fit(full_batches(data, 128))     # 391 batches of 128, the last one padded
    ```
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
        )

    def pad(features, labels, weights=None):
        rows = tf.shape(tf.nest.flatten(labels)[0])[0]
        tf.debugging.assert_less_equal(
            rows, batch_size, message=f"a batch has more rows than batch_size={batch_size}"
        )

        def grow(tensor):
            tensor = tf.convert_to_tensor(tensor)
            padding = [[0, batch_size - rows]] + [[0, 0]] * (tensor.shape.rank - 1)
            # (batch_size, ...): a static batch dimension, one compiled shape.
            return tf.ensure_shape(tf.pad(tensor, padding), [batch_size] + tensor.shape[1:])

        real = tf.range(batch_size) < rows
        scale = tf.cast(batch_size, tf.float32) / tf.cast(rows, tf.float32)
        row_weights = tf.where(real, scale, 0.0)  # (batch_size,)
        if weights is not None:  # one weight per row
            row_weights = row_weights * tf.reshape(tf.cast(grow(weights), tf.float32), [batch_size])
        return tf.nest.map_structure(grow, features), tf.nest.map_structure(grow, labels), row_weights

    return dataset.map(pad)


def without_autotune(dataset):
    """`dataset` with tf.data's autotuning off.

    Ending an iterator of an autotuned dataset waits for the autotuning
    thread, up to about 0.5 s on this TensorFlow: a `fit` or `evaluate` over
    a window returned that much later in one call of two or three (a plain
    `model.fit` of 391 batches, 10 times: 0.35 to 0.53 s in 3 to 5 of them,
    none with autotuning off). A windowed run starts two iterators per
    window. The window pipelines here need no tuning: whole batches from
    memory, or readers with fixed parallelism.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


__all__ = ["full_batches", "pads_exactly", "without_autotune"]
