import math

import keras
import numpy as np
import pytest

from agp_tf.data.features import DENSE_KEY, SPARSE_KEY
from agp_tf.metrics import LogLoss, NormalizedEntropy, ctr_metrics
from agp_tf.models import dlrm


def _np_ne(y, p, w=None, eps=1e-7):
    y, p = np.asarray(y, np.float64).ravel(), np.clip(np.asarray(p, np.float64).ravel(), eps, 1 - eps)
    w = np.ones_like(y) if w is None else np.broadcast_to(np.asarray(w, np.float64).ravel(), y.shape)
    bce = np.sum(w * -(y * np.log(p) + (1 - y) * np.log(1 - p))) / w.sum()
    ctr = np.clip(np.sum(w * y) / w.sum(), eps, 1 - eps)
    return bce / -(ctr * math.log(ctr) + (1 - ctr) * math.log(1 - ctr)), bce


def _labels_and_probs(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.9, n).astype("float32")
    y = (rng.random(n) < p).astype("float32")
    return y, p


def test_ne_on_hand_computed_numbers():
    ne = NormalizedEntropy()
    ne.update_state([1.0, 0.0, 0.0, 0.0], [0.5, 0.25, 0.25, 0.25])
    # BCE = (ln 2 + 3 ln(4/3)) / 4 = 0.389048; H(0.25) = 0.562335
    bce = (math.log(2.0) + 3.0 * math.log(4.0 / 3.0)) / 4.0
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(ne.result()) == pytest.approx(bce / entropy, rel=1e-6)
    assert float(ne.result()) == pytest.approx(0.6918443, rel=1e-6)


def test_predicting_the_base_rate_gives_ne_one():
    ne = NormalizedEntropy()
    ne.update_state([1.0, 0.0, 0.0, 1.0, 0.0], np.full(5, 0.4))
    assert float(ne.result()) == pytest.approx(1.0, rel=1e-6)


def test_streaming_over_batches_equals_one_shot():
    y, p = _labels_and_probs()
    one_shot = NormalizedEntropy()
    one_shot.update_state(y, p)
    streamed = NormalizedEntropy()
    for start in range(0, len(y), 37):
        streamed.update_state(y[start : start + 37], p[start : start + 37])
    expected, _ = _np_ne(y, p)
    assert float(streamed.result()) == pytest.approx(float(one_shot.result()), rel=1e-6)
    assert float(streamed.result()) == pytest.approx(expected, rel=1e-6)
    # NE is not the mean of per-batch NEs: the base rate is over all data.
    per_batch = [_np_ne(y[s : s + 37], p[s : s + 37])[0] for s in range(0, len(y), 37)]
    assert abs(np.mean(per_batch) - expected) > 1e-4


def test_sample_weights_and_label_shapes():
    y, p = _labels_and_probs(n=64, seed=1)
    w = np.random.default_rng(2).uniform(0.0, 2.0, 64).astype("float32")
    expected_ne, expected_bce = _np_ne(y, p, w)
    for labels in (y, y[:, None]):  # (batch,) and (batch, 1) labels
        ne, bce = NormalizedEntropy(), LogLoss()
        for metric in (ne, bce):
            metric.update_state(labels, p[:, None], sample_weight=w)
        assert float(ne.result()) == pytest.approx(expected_ne, rel=1e-6)
        assert float(bce.result()) == pytest.approx(expected_bce, rel=1e-6)
    scalar = NormalizedEntropy()
    scalar.update_state(y, p, sample_weight=3.0)
    assert float(scalar.result()) == pytest.approx(_np_ne(y, p)[0], rel=1e-6)


def test_log_loss_matches_keras_binary_crossentropy():
    y, p = _labels_and_probs(n=200, seed=3)
    ours, theirs = LogLoss(), keras.metrics.BinaryCrossentropy()
    ours.update_state(y[:, None], p[:, None])
    theirs.update_state(y[:, None], p[:, None])
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-5)
    assert ours.bce_sum.dtype == "float64"


def test_clipping_keeps_certain_wrong_predictions_finite():
    ne = NormalizedEntropy()
    ne.update_state([1.0, 0.0], [0.0, 1.0])
    # each term is -log(1e-7); entropy of ctr 0.5 is ln 2
    assert float(ne.result()) == pytest.approx(-math.log(1e-7) / math.log(2.0), rel=1e-4)
    constant = NormalizedEntropy()
    constant.update_state([0.0, 0.0, 0.0], [0.1, 0.2, 0.3])
    assert np.isfinite(float(constant.result())) and float(constant.result()) > 100.0
    fresh = NormalizedEntropy()
    assert float(fresh.result()) == 0.0


def test_reset_state_forgets_data():
    ne = NormalizedEntropy()
    ne.update_state([1.0, 0.0], [0.9, 0.9])
    ne.reset_state()
    ne.update_state([1.0, 0.0, 0.0, 0.0], [0.5, 0.25, 0.25, 0.25])
    assert float(ne.result()) == pytest.approx(0.6918443, rel=1e-6)


def test_config_round_trip_and_errors():
    ne = NormalizedEntropy(name="my_ne", epsilon=1e-4)
    clone = keras.metrics.deserialize(keras.metrics.serialize(ne))
    assert isinstance(clone, NormalizedEntropy)
    assert clone.name == "my_ne" and clone.epsilon == 1e-4
    clone.update_state([1.0, 0.0], [1.0, 0.0])
    assert float(clone.result()) == pytest.approx(-math.log(1.0 - 1e-4) / math.log(2.0), rel=1e-3)
    with pytest.raises(ValueError, match="epsilon=0.7"):
        NormalizedEntropy(epsilon=0.7)
    with pytest.raises(ValueError, match="threshold=1.5"):
        ctr_metrics(threshold=1.5)
    with pytest.raises(ValueError, match="auc_num_thresholds=1"):
        ctr_metrics(auc_num_thresholds=1)


def test_ctr_metrics_names():
    assert [m.name for m in ctr_metrics()] == ["accuracy", "auc", "bce", "ne"]


def _exact_auc(y, p):
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


def test_ctr_metrics_in_a_jit_compiled_model_match_numpy():
    vocab = (5, 7)
    model = dlrm.build_dlrm(
        vocab, embedding_dim=2, bottom_mlp=(4, 2), top_mlp=(4, 1), num_dense_features=3, seed=0
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss="binary_crossentropy",
        metrics=ctr_metrics(),
        jit_compile=True,
    )
    rng = np.random.default_rng(0)
    x = {
        DENSE_KEY: rng.normal(size=(96, 3)).astype("float32"),
        SPARSE_KEY: np.stack([rng.integers(0, n, 96) for n in vocab], 1).astype("int32"),
    }
    y = (rng.random(96) < 0.3).astype("float32")  # (batch,) labels, (batch, 1) outputs
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    p = keras.ops.convert_to_numpy(model.predict(x, batch_size=32, verbose=0)).ravel()
    expected_ne, expected_bce = _np_ne(y, p)
    assert logs["ne"] == pytest.approx(expected_ne, rel=1e-5)
    assert logs["bce"] == pytest.approx(expected_bce, rel=1e-5)
    assert logs["loss"] == pytest.approx(expected_bce, rel=1e-5)
    assert logs["accuracy"] == pytest.approx(np.mean((p > 0.5) == (y == 1)))
    assert logs["auc"] == pytest.approx(_exact_auc(y, p), abs=2e-3)
