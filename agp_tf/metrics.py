"""Click-through-rate metrics: normalized entropy and the set every run reports."""

import keras
from keras import ops

# Keras' AUC approximates the ROC curve on evenly spaced thresholds. On
# CTR-like predictions (mean ~0.27), 200 thresholds (the Keras default) were
# 1e-5 off the exact AUC, 1000 thresholds 3e-7: below what we compare.
DEFAULT_AUC_THRESHOLDS = 1000


class _LogLossSums(keras.metrics.Metric):
    """Weighted sums of log loss, labels and weights, in float64.

    A float32 running sum over tens of millions of examples drifts at the
    level these metrics are compared, so losses and sums are float64.
    """

    def __init__(self, name, dtype=None, epsilon=None):
        super().__init__(name=name, dtype=dtype)
        if epsilon is not None and not 0.0 < float(epsilon) < 0.5:
            raise ValueError(f"`epsilon` must be in (0, 0.5). Received: epsilon={epsilon!r}")
        self.epsilon = None if epsilon is None else float(epsilon)
        self.bce_sum = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="bce_sum")
        self.label_sum = self.add_variable(
            shape=(), initializer="zeros", dtype="float64", name="label_sum"
        )
        self.weight_sum = self.add_variable(
            shape=(), initializer="zeros", dtype="float64", name="weight_sum"
        )

    def _epsilon(self):
        return keras.config.epsilon() if self.epsilon is None else self.epsilon

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch of labels and probabilities.

        Args:
            y_true: Labels in {0, 1} (any float in [0, 1] works), e.g.
                `(batch_size,)` or `(batch_size, 1)`.
            y_pred: Click probabilities, with as many elements as `y_true`.
            sample_weight: Optional weights, a scalar or broadcastable to
                `y_pred` after adding trailing axes (e.g. `(batch_size,)`).
        """
        # float64 throughout: in float32, 1 - 1e-7 rounds to 1 - 1.19e-7, so
        # the clip would not be the documented one; the cost is per example.
        y_pred = ops.cast(y_pred, "float64")
        # Labels take the predictions' shape: (batch_size,) labels against
        # (batch_size, 1) predictions must not broadcast to a square.
        y_true = ops.reshape(ops.cast(y_true, "float64"), ops.shape(y_pred))
        eps = self._epsilon()
        p = ops.clip(y_pred, eps, 1.0 - eps)
        bce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        if sample_weight is None:
            weights = ops.ones_like(y_pred)
        else:
            weights = ops.cast(sample_weight, "float64")
            while len(weights.shape) < len(y_pred.shape):
                weights = ops.expand_dims(weights, -1)
            weights = ops.broadcast_to(weights, ops.shape(y_pred))
        self.bce_sum.assign_add(ops.sum(weights * bce))
        self.label_sum.assign_add(ops.sum(weights * y_true))
        self.weight_sum.assign_add(ops.sum(weights))

    def _mean_bce(self):
        return ops.divide_no_nan(self.bce_sum, self.weight_sum)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="agp_tf")
class LogLoss(_LogLossSums):
    """Streaming log loss (mean binary cross-entropy) of click probabilities.

    `sum_i w_i * -(y_i * log(p_i) + (1 - y_i) * log(1 - p_i)) / sum_i w_i`,
    with `p_i` clipped to `[epsilon, 1 - epsilon]`. Unlike
    `keras.metrics.BinaryCrossentropy`, it accepts `(batch_size,)` labels
    with `(batch_size, 1)` predictions (the layout of `agp_tf.data`), and
    computes and sums in float64 (so it can differ from the float32 training
    loss in the last digits, and where float32 cannot represent
    `1 - epsilon`). It is the numerator of `NormalizedEntropy`.

    Args:
        name: Name of the metric instance.
        dtype: Dtype of the result.
        epsilon: Clipping margin for probabilities; `None` uses
            `keras.config.epsilon()` (1e-7, as Keras' binary cross-entropy).

    Example:

    ```python
    bce = LogLoss()
    bce.update_state([1.0, 0.0, 0.0, 0.0], [[0.5], [0.25], [0.25], [0.25]])
    float(bce.result())   # 0.38905 = (log 2 + 3 * log(4 / 3)) / 4
    ```
    """

    def __init__(self, name="bce", dtype=None, epsilon=None):
        super().__init__(name=name, dtype=dtype, epsilon=epsilon)

    def result(self):
        return ops.cast(self._mean_bce(), self.dtype)


@keras.saving.register_keras_serializable(package="agp_tf")
class NormalizedEntropy(_LogLossSums):
    """Streaming normalized entropy (NE) of click probabilities.

    NE (He et al., 2014, "Practical Lessons from Predicting Clicks on Ads at
    Facebook") is the mean log loss divided by the entropy of the average
    label, so a model that always predicts the observed CTR scores 1.0 and
    lower is better:

        bce  = -sum_i w_i * (y_i * log(p_i) + (1 - y_i) * log(1 - p_i)) / sum_i w_i
        ctr  = sum_i w_i * y_i / sum_i w_i
        NE   = bce / -(ctr * log(ctr) + (1 - ctr) * log(1 - ctr))

    where the sums run over every example seen since the last
    `reset_state()`; `ctr` is that of the data seen so far, not of a batch,
    so streaming over batches gives the one-shot value. Probabilities are
    clipped to `[epsilon, 1 - epsilon]` before the log, and so is `ctr`:
    with all labels equal the entropy is ~0 and NE is large, not infinite.
    Before any update the result is 0. Sums are kept in float64.

    Args:
        name: Name of the metric instance.
        dtype: Dtype of the result.
        epsilon: Clipping margin for probabilities; `None` uses
            `keras.config.epsilon()` (1e-7, as Keras' binary cross-entropy).

    Example:

    ```python
    ne = NormalizedEntropy()
    ne.update_state([1.0, 0.0, 0.0, 0.0], [0.5, 0.25, 0.25, 0.25])
    float(ne.result())   # 0.69184 = 0.38905 nats / H(0.25) = 0.56234 nats
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[ne])
    ```
    """

    def __init__(self, name="ne", dtype=None, epsilon=None):
        super().__init__(name=name, dtype=dtype, epsilon=epsilon)

    def result(self):
        eps = self._epsilon()
        ctr = ops.clip(ops.divide_no_nan(self.label_sum, self.weight_sum), eps, 1.0 - eps)
        entropy = -(ctr * ops.log(ctr) + (1.0 - ctr) * ops.log(1.0 - ctr))
        return ops.cast(self._mean_bce() / entropy, self.dtype)


def ctr_metrics(threshold=0.5, auc_num_thresholds=DEFAULT_AUC_THRESHOLDS, epsilon=None):
    """The metrics every click-through run reports, as fresh instances.

    Names are stable so logs and callbacks can rely on them: `"accuracy"`
    (`BinaryAccuracy` at `threshold`), `"auc"` (ROC AUC), `"bce"` (`LogLoss`, mean
    binary cross-entropy) and `"ne"` (`NormalizedEntropy`). All take
    click probabilities (not logits), work under `jit_compile=True` and in
    `model.compile(metrics=...)`.

    Args:
        threshold: Probability above which a prediction counts as a click for
            accuracy.
        auc_num_thresholds: Thresholds of the AUC approximation.
        epsilon: Probability clipping margin for BCE and NE; `None` uses
            `keras.config.epsilon()`.

    Returns:
        A list of four `keras.metrics.Metric`.

    Example:

    ```python
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss="binary_crossentropy",
        metrics=agp_tf.metrics.ctr_metrics(),
    )
    model.evaluate(dataset, return_dict=True)
    # {'loss': ..., 'accuracy': ..., 'auc': ..., 'bce': ..., 'ne': ...}
    ```
    """
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"`threshold` must be in (0, 1). Received: threshold={threshold!r}")
    if (
        not isinstance(auc_num_thresholds, int)
        or isinstance(auc_num_thresholds, bool)
        or auc_num_thresholds < 2
    ):
        raise ValueError(
            "`auc_num_thresholds` must be an int > 1. "
            f"Received: auc_num_thresholds={auc_num_thresholds!r}"
        )
    return [
        keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold),
        keras.metrics.AUC(name="auc", num_thresholds=auc_num_thresholds),
        LogLoss(name="bce", epsilon=epsilon),
        NormalizedEntropy(name="ne", epsilon=epsilon),
    ]
