"""Tests for agp_tf.data.synthetic.teacher: its math, calibration, drift and capacity."""

import keras
import numpy as np
import pytest

from agp_tf.data import features
from agp_tf.data import synthetic
from agp_tf.data.synthetic import SyntheticCriteo

from test_synthetic_stream import SMALL, stream  # noqa: F401 (shared fixtures)


# ----- Pure functions.


def test_head_interactions_matches_pairwise_sum():
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((4, 3, 2)).astype(np.float32)  # (fields, batch, dim)
    projections = rng.standard_normal((4, 2, 3)).astype(np.float32)  # (fields, rank, heads)
    got = synthetic.head_interactions(latent, projections)
    want = np.zeros((3, 3))
    for h in range(3):
        w = projections[:, :, h] @ projections[:, :, h].T
        for f in range(4):
            for g in range(f + 1, 4):
                want[h] += w[f, g] * np.sum(latent[f] * latent[g], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # The hand example of the docstring.
    ones = synthetic.head_interactions(
        np.ones((3, 1, 2), np.float32), np.ones((3, 1, 1), np.float32)
    )
    np.testing.assert_allclose(ones, [[6.0]])


def test_rotation_matrices_orthogonal_and_identity_at_zero():
    bases = np.linalg.qr(np.random.default_rng(2).standard_normal((3, 5, 5)))[0]
    angles = np.array([[0.1, 0.2], [1.0, -0.5], [0.0, 0.0]])
    rotations = synthetic.rotation_matrices(bases, angles)
    for r in rotations:
        np.testing.assert_allclose(r @ r.T, np.eye(5), atol=1e-5)
    np.testing.assert_allclose(rotations[2], np.eye(5), atol=1e-6)
    quarter = synthetic.rotation_matrices(np.eye(2)[None], np.array([[np.pi / 2]]))
    np.testing.assert_allclose(quarter[0], [[0, -1], [1, 0]], atol=1e-6)


def test_sigmoid_stable():
    x = np.array([-1000.0, 0.0, 1000.0], np.float32)
    np.testing.assert_allclose(synthetic.sigmoid(x), [0.0, 0.5, 1.0])

# ----- Calibration and hashed tables.


def test_click_rate_near_target(stream):
    rates = [stream.day(day, num_rows=20_000).labels.mean() for day in range(7)]
    assert all(abs(rate - 0.25) < 0.02 for rate in rates), rates
    low = SyntheticCriteo(seed=0, click_rate=0.05, **SMALL).day(3)
    assert abs(low.labels.mean() - 0.05) < 0.01
    # Labels are Bernoulli draws from the teacher's probabilities.
    assert abs(low.labels.mean() - low.probabilities.mean()) < 0.005


def test_rich_teacher_is_calibrated_and_more_spread(stream):
    rich = SyntheticCriteo(seed=0, **SMALL, **synthetic.TEACHERS["rich"])
    assert rich.config.nonlinear_heads == 48 and rich.config.dense_hidden == 64
    default_day, rich_day = stream.day(2, num_rows=20_000), rich.day(2, num_rows=20_000)
    # Same rows (the teacher labels them, it does not sample them), other clicks.
    np.testing.assert_array_equal(default_day.sparse, rich_day.sparse)
    assert abs(rich_day.labels.mean() - 0.25) < 0.02
    assert not np.allclose(default_day.probabilities, rich_day.probabilities)
    assert SyntheticCriteo(seed=0, **SMALL, **synthetic.TEACHERS["default"]).config == stream.config


@pytest.mark.parametrize("name, value, rule", [
    ("nonlinear_heads", 0, "must be an integer >= 1"),
    ("dense_hidden", 2.5, "must be an integer >= 1"),
    ("tanh_gain", 0.0, "must be > 0"),
])
def test_teacher_structure_is_validated(name, value, rule):
    with pytest.raises(ValueError, match=f"`{name}` {rule}. Received: {name}={value!r}"):
        synthetic.SyntheticCriteoConfig(**{name: value})


def test_hashed_teacher_tables_for_large_vocabularies():
    # Vocabularies above `teacher_table_rows` take the bounded-memory path.
    stream = SyntheticCriteo(
        seed=0, rows_per_day=20_000, max_vocab_size=2_000, teacher_table_rows=64
    )
    batch = stream.day(1)
    assert stream._teacher.params()["hashed"]  # the path is exercised
    assert abs(batch.labels.mean() - 0.25) < 0.03
    assert np.all((batch.probabilities > 0) & (batch.probabilities < 1))


@pytest.mark.slow
def test_full_size_vocabularies():
    """Criteo Kaggle's vocabulary sizes, uncapped (hashed teacher tables)."""
    stream = SyntheticCriteo(seed=0, rows_per_day=50_000, max_vocab_size=None)
    batch = stream.day(6)
    assert stream.vocab_sizes == features.CRITEO_KAGGLE_VOCAB_SIZES
    assert batch.sparse[:, 2].max() < features.CRITEO_KAGGLE_VOCAB_SIZES[2]
    assert len(np.unique(batch.sparse[:, 2])) > 10_000
    assert abs(batch.labels.mean() - 0.25) < 0.02

# ----- Drift and capacity, measured with small Keras models.


def _log_loss(p, y):
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _student(vocab_sizes, interactions, dim=8):
    """Per-id weights + linear dense (logistic regression), optionally plus
    FwFM-style pairwise dot products of per-id embeddings."""
    keras.utils.set_random_seed(0)
    dense = keras.Input((features.NUM_DENSE,), name=features.DENSE_KEY)
    sparse = keras.Input((features.NUM_SPARSE,), dtype="int32", name=features.SPARSE_KEY)
    offsets = np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]]).astype("int32")
    rows = sparse + offsets  # one table for all columns
    total = int(sum(vocab_sizes))
    weights = keras.layers.Embedding(total, 1, embeddings_initializer="zeros")(rows)
    logit = keras.ops.sum(weights, axis=1) + keras.layers.Dense(1)(dense)  # (batch, 1)
    if interactions:
        vectors = keras.layers.Embedding(
            total, dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1)
        )(rows)  # (batch, 26, dim)
        dense_vector = keras.layers.Dense(dim)(keras.layers.Dense(32, activation="relu")(dense))
        vectors = keras.ops.concatenate([vectors, dense_vector[:, None, :]], axis=1)
        dots = keras.ops.matmul(vectors, keras.ops.transpose(vectors, (0, 2, 1)))  # (b, 27, 27)
        upper = np.triu_indices(27, 1)
        pairs = keras.ops.take(keras.ops.reshape(dots, (-1, 27 * 27)), upper[0] * 27 + upper[1], 1)
        logit = logit + keras.layers.Dense(1)(pairs)  # (b, 351) -> (b, 1)
    model = keras.Model(
        {features.DENSE_KEY: dense, features.SPARSE_KEY: sparse},
        keras.layers.Activation("sigmoid")(logit),
    )
    learning_rate = 0.01
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def _train_one_pass(model, batch):
    model.fit(batch.features(), batch.labels, batch_size=512, epochs=1, shuffle=True, verbose=0)


def _evaluate(model, batch):
    p = model.predict(batch.features(), batch_size=8192, verbose=0)[:, 0]
    return _log_loss(p, batch.labels), _log_loss(batch.probabilities, batch.labels)


def test_stale_model_scores_worse_on_later_day(capsys):
    """Trained on day 0, a model does clearly worse on day 6 than on held-out
    day-0 rows; also measured as regret over the teacher's own log loss,
    which removes day-to-day differences in how predictable clicks are."""
    rows, train_rows = 131_072, 98_304
    stream = SyntheticCriteo(seed=0, rows_per_day=rows, max_vocab_size=1_000)
    model = _student(stream.vocab_sizes, interactions=False)
    _train_one_pass(model, stream.rows(0, 0, train_rows))
    loss0, bayes0 = _evaluate(model, stream.rows(0, train_rows, rows))
    loss6, bayes6 = _evaluate(model, stream.rows(6, train_rows, rows))
    with capsys.disabled():
        print(
            f"\ndrift, logistic regression trained on day 0: log loss day 0 {loss0:.4f} "
            f"(teacher {bayes0:.4f}), day 6 {loss6:.4f} (teacher {bayes6:.4f})"
        )
    assert loss6 > loss0 + 0.01
    assert (loss6 - bayes6) > (loss0 - bayes0) + 0.015


@pytest.mark.parametrize(
    "rows, max_vocab_size, seed",
    [
        pytest.param(262_144, 100, 0, marks=pytest.mark.slow),  # about 10 s
        pytest.param(1_048_576, 1_000, 3, marks=pytest.mark.slow),  # tens of seconds
    ],
)
def test_interaction_model_beats_linear_model(rows, max_vocab_size, seed, capsys):
    """The teacher's pairwise and nonlinear terms reward capacity."""
    train_rows = rows * 3 // 4
    stream = SyntheticCriteo(seed=seed, rows_per_day=rows, max_vocab_size=max_vocab_size)
    train, held_out = stream.rows(0, 0, train_rows), stream.rows(0, train_rows, rows)
    losses = {}
    for interactions in (False, True):
        model = _student(stream.vocab_sizes, interactions)
        _train_one_pass(model, train)
        losses[interactions], bayes = _evaluate(model, held_out)
    with capsys.disabled():
        print(
            f"\ncapacity ({train_rows} rows, vocabularies <= {max_vocab_size}), held-out "
            f"day 0: linear {losses[False]:.4f}, "
            f"pairwise {losses[True]:.4f}, teacher {bayes:.4f}"
        )
    assert losses[True] < losses[False] - 0.005
    assert bayes < losses[True]
