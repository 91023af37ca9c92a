"""Tests for agp_tf.data.synthetic: the seeded, drifting, Criteo-like stream."""

import re
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from agp_tf.data import features
from agp_tf.data import synthetic
from agp_tf.data.synthetic import SyntheticBatch, SyntheticCriteo, SyntheticCriteoConfig

SMALL = dict(rows_per_day=40_000, max_vocab_size=5_000)


@pytest.fixture(scope="module")
def stream():
    return SyntheticCriteo(seed=0, **SMALL)


@pytest.fixture(scope="module")
def day0(stream):
    return stream.day(0)


def _assert_same_rows(a, b):
    assert (a.day, a.start, a.num_rows) == (b.day, b.start, b.num_rows)
    for name in SyntheticBatch._ROW_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name  # bit for bit


def _log_loss(p, y):
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# ----- Pure functions.


def test_fmix32_is_a_bijection_with_its_inverse():
    x = np.array([0, 1, 2, 12345, 2**31, 2**32 - 1], dtype=np.uint64)
    assert synthetic.fmix32_inverse(synthetic.fmix32(x)).tolist() == x.tolist()
    h = np.random.default_rng(0).integers(0, 2**32, size=10_000, dtype=np.uint64)
    assert synthetic.fmix32(synthetic.fmix32_inverse(h)).tolist() == h.tolist()
    assert len(np.unique(synthetic.fmix32(np.arange(10_000)))) == 10_000


def test_ids_to_hashes_round_trip():
    ids = np.arange(1000)
    hashes = synthetic.ids_to_hashes(ids, salt=2**32 - 5)  # the add wraps
    assert hashes.dtype == np.uint32
    assert len(np.unique(hashes)) == 1000
    assert synthetic.hashes_to_ids(hashes, salt=2**32 - 5).tolist() == ids.tolist()


def test_zipf_ranks_bounds_and_head():
    u = np.random.default_rng(0).random(200_000)
    ranks = synthetic.zipf_ranks(u, num_items=1000, exponent=1.2)
    assert ranks.min() == 0 and ranks.max() <= 999
    counts = np.bincount(ranks, minlength=1000)
    # Power law: frequency ratio of rank 1 to rank 10 near 10**1.2 ~ 15.8.
    assert 10 < counts[0] / counts[9] < 25
    assert counts[0] > counts[1] > counts[2] > counts[5]
    # Exponent 1 (the log1p limit) and exponent 0 (uniform) stay in range.
    assert synthetic.zipf_ranks(u, 50, 1.0).max() <= 49
    uniform = np.bincount(synthetic.zipf_ranks(u, 4, 0.0), minlength=4) / len(u)
    np.testing.assert_allclose(uniform, 0.25, atol=0.01)
    # Per-column parameters broadcast.
    both = synthetic.zipf_ranks(u[:20].reshape(2, 10), np.array([[3], [7]]), 1.0)
    assert both[0].max() <= 2 and both[1].max() <= 6
    with pytest.raises(ValueError, match="num_items"):
        synthetic.zipf_ranks(u, 0, 1.0)


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


# ----- Configuration.


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rows_per_day=0), "Received: rows_per_day=0"),
        (dict(seed=-1), "Received: seed=-1"),
        (dict(click_rate=1.5), "Received: click_rate=1.5"),
        (dict(max_vocab_size=1), "Received: max_vocab_size=1"),
        (dict(vocab_sizes=(10,) * 3), "Received: vocab_sizes=(10, 10, 10)"),
        (dict(dense_missing_rates=(0.1,) * 12), "dense_missing_rates"),
        (dict(new_id_fraction_per_day=0.5), "Received: new_id_fraction_per_day=0.5"),
        (dict(popularity_drift=-1.0), "Received: popularity_drift=-1.0"),
    ],
)
def test_config_validation_names_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SyntheticCriteoConfig(**kwargs)


def test_config_caps_vocabulary_and_broadcasts_rates():
    config = SyntheticCriteoConfig(max_vocab_size=1000, dense_missing_rates=0.1)
    assert config.effective_vocab_sizes == tuple(
        min(v, 1000) for v in features.CRITEO_KAGGLE_VOCAB_SIZES
    )
    assert config.dense_missing_rates == (0.1,) * 13
    assert SyntheticCriteoConfig(max_vocab_size=None).effective_vocab_sizes == (
        features.CRITEO_KAGGLE_VOCAB_SIZES
    )
    stream = SyntheticCriteo(config, seed=4)
    assert stream.config.seed == 4 and stream.config.max_vocab_size == 1000
    with pytest.raises(TypeError, match="Received: config="):
        SyntheticCriteo(config={"seed": 1})


def test_call_validation_names_argument_and_value(stream):
    with pytest.raises(ValueError, match=re.escape("Received: day=7")):
        stream.day(7)
    with pytest.raises(ValueError, match=re.escape("Received: num_rows=0")):
        stream.day(0, num_rows=0)
    with pytest.raises(ValueError, match=re.escape("Received: window_rows=0")):
        next(stream.windows(window_rows=0))
    with pytest.raises(ValueError, match=re.escape("Received: start=5, stop=5")):
        stream.rows(0, 5, 5)
    with pytest.raises(ValueError, match=re.escape("Received: column=26")):
        stream.ids_to_hashes(26, [1])


# ----- Reproducibility.


def test_same_seed_same_data_bit_for_bit(day0):
    again = SyntheticCriteo(seed=0, **SMALL)
    _assert_same_rows(again.day(0), day0)


def test_day_is_independent_of_what_was_generated_before(stream):
    fresh = SyntheticCriteo(seed=0, **SMALL)
    direct = fresh.day(6, num_rows=20_000)  # day 6 first, nothing before it
    for day in range(6):
        stream.day(day, num_rows=100)
    _assert_same_rows(stream.day(6, num_rows=20_000), direct)


def test_windows_and_row_ranges_equal_the_day(stream, day0):
    windows = list(stream.windows(days=[0, 1], window_rows=7_000))
    first_day = [w for w in windows if w.day == 0]
    assert [(w.start, w.num_rows) for w in first_day] == [
        (0, 7000), (7000, 7000), (14000, 7000), (21000, 7000), (28000, 7000), (35000, 5000)
    ]
    assert [w.day for w in windows] == [0] * 6 + [1] * 6  # never spans two days
    _assert_same_rows(SyntheticBatch.concatenate(first_day), day0)
    _assert_same_rows(stream.rows(0, 16_000, 17_000), day0.slice(16_000, 17_000))
    _assert_same_rows(stream.day(0, num_rows=123), day0.slice(0, 123))
    with pytest.raises(ValueError, match="consecutive rows of one day"):
        SyntheticBatch.concatenate([windows[0], windows[2]])
    with pytest.raises(ValueError, match=re.escape("Received: start=5, stop=2")):
        day0.slice(5, 2)


def test_different_seed_different_data(day0):
    other = SyntheticCriteo(seed=1, **SMALL).day(0)
    assert np.mean(other.sparse == day0.sparse) < 0.9
    assert not np.array_equal(other.dense_raw, day0.dense_raw)
    assert not np.array_equal(other.labels, day0.labels)


# ----- Realism.


def test_layout_dtypes_and_ranges(stream, day0):
    n = day0.num_rows
    assert day0.dense.shape == (n, 13) and day0.dense.dtype == np.float32
    assert day0.sparse.shape == (n, 26) and day0.sparse.dtype == np.int32
    assert day0.labels.shape == (n,) and day0.labels.dtype == np.float32
    assert day0.dense_raw.dtype == np.int32 and day0.dense_missing.dtype == bool
    assert set(np.unique(day0.labels)) == {0.0, 1.0}
    assert day0.sparse.min() >= 0
    assert np.all(day0.sparse < np.array(stream.vocab_sizes))
    # Dense: the reference preprocessing of the raw counts.
    np.testing.assert_array_equal(
        day0.dense, features.transform_dense(day0.dense_raw, day0.dense_missing)
    )
    assert np.all(day0.dense >= 0)
    assert np.all(day0.dense_raw[day0.dense_missing] == 0)
    # Heavy tails: medians are small, maxima are orders of magnitude larger.
    present = ~day0.dense_missing[:, 4]
    i5 = day0.dense_raw[present, 4]
    assert np.median(i5) < 10_000 and i5.max() > 100 * np.median(i5)
    # Negative counts occur in I2 only, about as often as in Criteo.
    negative = day0.dense_raw < 0
    assert not negative[:, [0] + list(range(2, 13))].any()
    assert 0.05 < negative[:, 1].mean() < 0.15
    assert day0.dense_raw[:, 1].min() >= -3


def test_missing_rates_follow_the_config(stream, day0):
    np.testing.assert_allclose(
        day0.dense_missing.mean(axis=0), stream.config.dense_missing_rates, atol=0.01
    )
    np.testing.assert_allclose(
        day0.sparse_missing.mean(axis=0), stream.config.sparse_missing_rates, atol=0.01
    )
    # Columns of one group go missing together, as I1 and I10 do in Criteo.
    np.testing.assert_array_equal(day0.dense_missing[:, 0], day0.dense_missing[:, 9])
    np.testing.assert_array_equal(day0.sparse_missing[:, 18], day0.sparse_missing[:, 19])


def test_click_rate_near_target(stream):
    rates = [stream.day(day, num_rows=20_000).labels.mean() for day in range(7)]
    assert all(abs(rate - 0.25) < 0.02 for rate in rates), rates
    low = SyntheticCriteo(seed=0, click_rate=0.05, **SMALL).day(3)
    assert abs(low.labels.mean() - 0.05) < 0.01
    # Labels are Bernoulli draws from the teacher's probabilities.
    assert abs(low.labels.mean() - low.probabilities.mean()) < 0.005


def test_zipf_like_popularity(stream, day0):
    column = 2  # C3: 10M ids in Criteo, capped at 5,000 here
    values = day0.sparse[~day0.sparse_missing[:, column], column]
    counts = np.sort(np.bincount(values))[::-1]
    top_one_percent = counts[: stream.vocab_sizes[column] // 100].sum() / counts.sum()
    assert top_one_percent > 0.4  # 50 ids of 5,000 take over 40% of the rows
    assert counts[0] > 10 * counts[50]
    # Small columns are dominated by one value, as C9 is in Criteo.
    assert np.bincount(day0.sparse[:, 8]).max() / day0.num_rows > 0.9


def test_popularity_shifts_and_new_ids_appear(stream, day0):
    column, half = 2, day0.num_rows // 2  # C3, 20k rows
    seen = np.zeros(stream.vocab_sizes[column], bool)
    seen[day0.sparse[:half, column]] = True  # ids of the first half of day 0
    later_that_day = ~seen[day0.sparse[half:, column]]
    day6 = stream.day(6, num_rows=half)
    six_days_later = ~seen[day6.sparse[:, column]]
    # Same reference, same sample size: ids unseen by the morning of day 0
    # are far more common on day 6 (tail reordering and new ids) ...
    assert six_days_later.mean() > 2 * later_that_day.mean()
    # ... and some of them are popular: new ids, not just a longer tail.
    assert np.bincount(day6.sparse[six_days_later, column]).max() >= 20
    # The head reorders too, but slowly: most of the top 20 ids stay.
    top0 = set(np.argsort(np.bincount(day0.sparse[:, column]))[-20:])
    top1 = set(np.argsort(np.bincount(stream.day(1).sparse[:, column]))[-20:])
    top6 = set(np.argsort(np.bincount(stream.day(6).sparse[:, column]))[-20:])
    assert len(top0 & top6) < len(top0 & top1)
    assert len(top0 & top6) >= 10


def test_hashed_teacher_tables_for_large_vocabularies():
    # Vocabularies above `teacher_table_rows` take the bounded-memory path.
    stream = SyntheticCriteo(
        seed=0, rows_per_day=20_000, max_vocab_size=2_000, teacher_table_rows=64
    )
    batch = stream.day(1)
    assert stream._teacher_params()["hashed"]  # the path is exercised
    assert abs(batch.labels.mean() - 0.25) < 0.03
    assert np.all((batch.probabilities > 0) & (batch.probabilities < 1))


# ----- Raw text.


def _parse_tsv(text):
    """An independent parser of Criteo Kaggle train.txt text."""
    labels, dense, dense_missing, hashes, sparse_missing = [], [], [], [], []
    lines = text.decode("ascii").split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    for line in lines[:-1]:
        fields = line.split("\t")
        assert len(fields) == 40, line
        assert fields[0] in ("0", "1")
        labels.append(float(fields[0]))
        for field in fields[1:14]:
            assert field == "" or re.fullmatch(r"-?[0-9]+", field), field
        dense.append([int(f) if f else 0 for f in fields[1:14]])
        dense_missing.append([f == "" for f in fields[1:14]])
        for field in fields[14:]:
            assert field == "" or re.fullmatch(r"[0-9a-f]{8}", field), field
        hashes.append([int(f, 16) if f else -1 for f in fields[14:]])
        sparse_missing.append([f == "" for f in fields[14:]])
    return tuple(map(np.array, (labels, dense, dense_missing, hashes, sparse_missing)))


def test_tsv_format_and_round_trip(stream, day0):
    batch = day0.slice(0, 3_000)
    labels, dense, dense_missing, hashes, sparse_missing = _parse_tsv(batch.to_tsv())
    np.testing.assert_array_equal(labels, batch.labels)
    np.testing.assert_array_equal(dense, batch.dense_raw)
    np.testing.assert_array_equal(dense_missing, batch.dense_missing)
    np.testing.assert_array_equal(sparse_missing, batch.sparse == synthetic.MISSING_ID)
    assert dense_missing.any() and sparse_missing.any() and (dense < 0).any()
    for column in range(26):
        # Hash -> id by a table over the whole vocabulary: the mapping is a
        # bijection, so the parsed categories are exactly the ids.
        vocab = np.arange(1, stream.vocab_sizes[column])
        table = dict(zip(stream.ids_to_hashes(column, vocab).tolist(), vocab.tolist()))
        assert len(table) == len(vocab)
        assert 0 not in table  # "00000000" would read as an empty field
        present = ~sparse_missing[:, column]
        parsed = [table[h] for h in hashes[present, column]]
        np.testing.assert_array_equal(parsed, batch.sparse[present, column])
        np.testing.assert_array_equal(
            stream.hashes_to_ids(column, hashes[present, column]), batch.sparse[present, column]
        )
    np.testing.assert_array_equal(
        np.where(sparse_missing, -1, batch.sparse_hashes().astype(np.int64)), hashes
    )


def test_write_tsv_days_in_order(stream, tmp_path):
    path = tmp_path / "train.txt"
    assert stream.write_tsv(str(path), days=[0, 6], num_rows=500) == 1000
    text = path.read_bytes()
    expected = stream.day(0, num_rows=500).to_tsv() + stream.day(6, num_rows=500).to_tsv()
    assert text == expected
    assert text.count(b"\n") == 1000


def test_criteo_text_pipeline_reads_the_same_rows(stream, tmp_path):
    """End to end through agp_tf.data.criteo: same labels, bit-identical
    dense features, and the same categories (up to the pipeline's own
    numbering of ids)."""
    criteo = pytest.importorskip("agp_tf.data.criteo")
    path = str(tmp_path / "train.txt")
    stream.write_tsv(path, days=[0, 6], num_rows=5_000)
    chunks = list(criteo.iter_chunks([path]))
    labels = np.concatenate([c.labels for c in chunks])
    dense = features.transform_dense(np.concatenate([c.dense for c in chunks]))
    hashes = np.concatenate([c.hashes for c in chunks])
    ids, unseen = criteo.Vocabulary.build([path]).lookup(hashes)
    want = stream.day(0, num_rows=5_000), stream.day(6, num_rows=5_000)
    np.testing.assert_array_equal(labels, np.concatenate([b.labels for b in want]))
    assert dense.tobytes() == np.concatenate([b.dense for b in want]).tobytes()
    sparse = np.concatenate([b.sparse for b in want])
    assert not unseen.any()
    for column in range(26):
        pairs = set(zip(ids[:, column].tolist(), sparse[:, column].tolist()))
        assert len(pairs) == len(np.unique(ids[:, column])) == len(np.unique(sparse[:, column]))


def test_hashes_to_ids_rejects_foreign_hashes(stream):
    with pytest.raises(ValueError, match="Received: hashes="):
        stream.hashes_to_ids(0, [0xDEADBEEF])


# ----- tf.data.


def test_dataset_batches_match_the_arrays(stream):
    dataset = stream.dataset(days=[1], batch_size=4096, num_rows=10_000)
    batches = list(dataset)
    assert [int(b[1].shape[0]) for b in batches] == [4096, 4096, 1808]
    x, y = batches[0]
    assert x[features.DENSE_KEY].dtype == tf.float32
    assert x[features.SPARSE_KEY].dtype == tf.int32
    assert x[features.DENSE_KEY].shape == (4096, 13)
    assert x[features.SPARSE_KEY].shape == (4096, 26)
    day1 = stream.day(1, num_rows=10_000)
    np.testing.assert_array_equal(
        np.concatenate([b[0][features.SPARSE_KEY].numpy() for b in batches]), day1.sparse
    )
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), day1.labels)
    static = stream.dataset(days=[1], batch_size=4096, num_rows=10_000, drop_remainder=True)
    assert static.element_spec[1].shape == (4096,)
    assert sum(1 for _ in static) == 2


# ----- Throughput (reported, not asserted).


def test_throughput_report(capsys):
    stream = SyntheticCriteo(seed=0)  # the default config: 500k rows a day
    stream.day(3, num_rows=1)  # calibrate the teacher, rank day 3's ids
    rows = 0
    start_cpu, start_wall = time.thread_time(), time.perf_counter()
    for window in stream.windows(days=[3], window_rows=synthetic.BLOCK_ROWS):
        rows += window.num_rows
    cpu, wall = time.thread_time() - start_cpu, time.perf_counter() - start_wall
    with capsys.disabled():
        print(
            f"\nSyntheticCriteo, default config, one day in windows: {rows / cpu:,.0f} rows "
            f"per CPU second, {rows / wall:,.0f} rows/s wall ({rows} rows)"
        )
    assert rows == stream.rows_per_day


# ----- Drift and capacity, measured with small Keras models.


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
        (262_144, 100, 0),
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


@pytest.mark.slow
def test_full_size_vocabularies():
    """Criteo Kaggle's vocabulary sizes, uncapped (hashed teacher tables)."""
    stream = SyntheticCriteo(seed=0, rows_per_day=50_000, max_vocab_size=None)
    batch = stream.day(6)
    assert stream.vocab_sizes == features.CRITEO_KAGGLE_VOCAB_SIZES
    assert batch.sparse[:, 2].max() < features.CRITEO_KAGGLE_VOCAB_SIZES[2]
    assert len(np.unique(batch.sparse[:, 2])) > 10_000
    assert abs(batch.labels.mean() - 0.25) < 0.02
