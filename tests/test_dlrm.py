import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from agp_tf.data.features import CRITEO_KAGGLE_VOCAB_SIZES, DENSE_KEY, NUM_DENSE, SPARSE_KEY
from agp_tf.layers import MaskedDense
from agp_tf.models import dlrm

# A tiny DLRM: 3 dense features, 4 tables, embedding dim 2.
TINY_VOCAB = (3, 4, 5, 2)
TINY = dict(
    vocab_sizes=TINY_VOCAB,
    embedding_dim=2,
    bottom_mlp=(4, 2),
    top_mlp=(5, 3, 1),
    num_dense_features=3,
)


def _tiny_inputs(batch=6, seed=0, vocab=TINY_VOCAB, num_dense=3):
    rng = np.random.default_rng(seed)
    return {
        DENSE_KEY: rng.normal(size=(batch, num_dense)).astype("float32"),
        SPARSE_KEY: np.stack([rng.integers(0, n, batch) for n in vocab], axis=1).astype("int32"),
    }


def _mlp_layers(model):
    return [layer for layer in model.layers if isinstance(layer, MaskedDense)]


def _set_weights(model, seed=1):
    """Sets every MLP weight and table to explicit random values; returns them."""
    rng = np.random.default_rng(seed)
    mlp = {}
    for layer in _mlp_layers(model):
        kernel = rng.normal(size=layer.kernel.shape).astype("float32")
        bias = rng.normal(size=layer.bias.shape).astype("float32")
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
        mlp[layer.name] = (kernel, bias)
    emb = model.get_layer("embedding")
    tables = [
        rng.normal(size=(n, emb.embedding_dim)).astype("float32") for n in emb.vocab_sizes
    ]
    _set_tables(emb, tables)
    return mlp, tables


def _set_tables(layer, tables):
    if isinstance(layer, dlrm.FusedEmbedding):
        layer.embeddings.assign(np.concatenate(tables, axis=0))
    else:
        for table, values in zip(layer.tables, tables):
            table.embeddings.assign(values)


def _reference_dlrm(inputs, mlp, tables, num_bottom, num_top):
    """numpy transcription of dlrm_s_pytorch.py's forward pass (dot, no self-interaction)."""
    relu = lambda v: np.maximum(v, 0.0)
    x = inputs[DENSE_KEY].astype(np.float64)
    for i in range(num_bottom):
        w, b = mlp[f"bottom_mlp_{i}"]
        x = relu(x @ w + b)
    ly = [tables[j][inputs[SPARSE_KEY][:, j]] for j in range(len(tables))]
    batch_size, d = x.shape
    T = np.concatenate([x] + ly, axis=1).reshape(batch_size, -1, d)
    Z = T @ T.transpose(0, 2, 1)
    ni = nj = Z.shape[1]
    li = [i for i in range(ni) for j in range(i)]
    lj = [j for i in range(nj) for j in range(i)]
    R = np.concatenate([x, Z[:, li, lj]], axis=1)
    for i in range(num_top):
        w, b = mlp[f"top_mlp_{i}"]
        R = R @ w + b
        R = 1.0 / (1.0 + np.exp(-R)) if i == num_top - 1 else relu(R)
    return R


@pytest.mark.parametrize("embedding", dlrm.EMBEDDING_KINDS)
def test_forward_matches_numpy_reference(embedding):
    model = dlrm.build_dlrm(**TINY, embedding=embedding, seed=0)
    mlp, tables = _set_weights(model)
    inputs = _tiny_inputs()
    out = keras.ops.convert_to_numpy(model(inputs))
    expected = _reference_dlrm(inputs, mlp, tables, num_bottom=2, num_top=3)
    assert out.shape == (6, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_interaction_order_is_strict_lower_triangle_row_major():
    model = dlrm.build_dlrm(**TINY, seed=0)
    x0, e1, e2, e3, e4 = ([[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]], [[7.0, 8.0]], [[0.0, 1.0]])
    features = [np.array(v, "float32") for v in (x0, e1, e2, e3, e4)]
    got = keras.ops.convert_to_numpy(model.get_layer("interaction")(features))
    # (1,0), (2,0), (2,1), (3,0), (3,1), (3,2), (4,0), (4,1), (4,2), (4,3)
    np.testing.assert_array_equal(got, [[11, 17, 39, 23, 53, 83, 2, 4, 6, 8]])
    top_in = keras.ops.convert_to_numpy(
        model.get_layer("top_mlp_input")([features[0], got])
    )
    np.testing.assert_array_equal(top_in[0, :2], [1.0, 2.0])  # bottom output first


def test_paper_config_shapes():
    vocab = [max(2, n // 10000) for n in CRITEO_KAGGLE_VOCAB_SIZES]
    model = dlrm.build_dlrm(vocab, seed=0)
    assert model.get_layer("top_mlp_0").input.shape == (None, 355)
    assert model.get_layer("interaction").output.shape == (None, 351)
    assert [layer.units for layer in _mlp_layers(model)] == [256, 128, 64, 4, 256, 128, 1]
    inputs = _tiny_inputs(batch=5, vocab=vocab, num_dense=NUM_DENSE)
    assert model.input[DENSE_KEY].dtype == "float32" and model.input[SPARSE_KEY].dtype == "int32"
    out = keras.ops.convert_to_numpy(model(inputs))
    assert out.shape == (5, 1)
    assert np.all((out > 0.0) & (out < 1.0))


def test_consecutive_mlp_layers_are_directly_connected():
    model = dlrm.build_dlrm(**TINY, seed=0)
    names = dlrm.mlp_layer_names(TINY["bottom_mlp"], TINY["top_mlp"])
    for producer, consumer in zip(names, names[1:]):
        if consumer == "top_mlp_0":
            continue  # reads the interaction, not bottom_mlp_<last>
        (tensor,) = model.get_layer(consumer)._inbound_nodes[0].input_tensors
        assert tensor._keras_history.operation is model.get_layer(producer)


def test_default_prunable_set():
    model = dlrm.build_dlrm([5] * 26, seed=0)
    prunable = {layer.name for layer in _mlp_layers(model) if layer.prunable}
    assert prunable == {"bottom_mlp_0", "bottom_mlp_1", "bottom_mlp_2", "top_mlp_0", "top_mlp_1"}
    assert set(dlrm.default_prunable_layers()) == prunable


def test_prunable_by_names_and_predicate():
    by_names = dlrm.build_dlrm(**TINY, prunable=["top_mlp_1", "bottom_mlp_1"])
    assert {l.name for l in _mlp_layers(by_names) if l.prunable} == {"top_mlp_1", "bottom_mlp_1"}
    none = dlrm.build_dlrm(**TINY, prunable=())
    assert not any(l.prunable for l in _mlp_layers(none))
    top_only = dlrm.build_dlrm(**TINY, prunable=lambda name: name.startswith("top_"))
    assert {l.name for l in _mlp_layers(top_only) if l.prunable} == {
        "top_mlp_0",
        "top_mlp_1",
        "top_mlp_2",
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(prunable=["top_mlp_7"]), "top_mlp_7"),
        (dict(prunable="top_mlp_0"), "prunable="),
        (dict(bottom_mlp=(4, 3)), "embedding_dim"),
        (dict(top_mlp=(5, 2)), "top_mlp=(5, 2)"),
        (dict(embedding="dense"), "embedding='dense'"),
        (dict(vocab_sizes=(3, 0)), "vocab_sizes=(3, 0)"),
        (dict(embedding_dim=0, bottom_mlp=(4, 0)), "embedding_dim=0"),
        (dict(seed=1.5), "seed=1.5"),
    ],
)
def test_invalid_arguments_name_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dlrm.build_dlrm(**{**TINY, **kwargs})


def test_initializer_statistics():
    model = dlrm.build_dlrm(
        [20000, 7], embedding_dim=8, bottom_mlp=(1024, 8), top_mlp=(1024, 1),
        num_dense_features=512, embedding="separate", seed=3,
    )
    layer = model.get_layer("bottom_mlp_0")  # 512 x 1024
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    assert kernel.std() == pytest.approx(math.sqrt(2.0 / (512 + 1024)), rel=0.02)
    assert abs(kernel.mean()) < 0.002
    assert bias.std() == pytest.approx(math.sqrt(1.0 / 1024), rel=0.1)
    emb = model.get_layer("embedding")
    table = emb.table(0)  # 20000 x 8, uniform in +-sqrt(1 / 20000)
    limit = math.sqrt(1.0 / 20000)
    assert np.abs(table).max() <= limit
    assert table.std() == pytest.approx(limit / math.sqrt(3.0), rel=0.02)
    assert np.abs(emb.table(1)).max() <= math.sqrt(1.0 / 7)
    assert np.abs(emb.table(1)).max() > math.sqrt(1.0 / 20000)


def test_fused_initializer_uses_each_tables_range():
    layer = dlrm.FusedEmbedding([4, 10000, 3], embedding_dim=4, seed=0)
    layer.build((None, 3))
    for j, n in enumerate(layer.vocab_sizes):
        table = layer.table(j)
        assert table.shape == (n, 4)
        assert np.abs(table).max() <= math.sqrt(1.0 / n)
    assert layer.table(1).std() == pytest.approx(math.sqrt(1.0 / 10000) / math.sqrt(3.0), rel=0.03)


def test_seed_makes_models_reproducible():
    a = dlrm.build_dlrm(**TINY, seed=7)
    b = dlrm.build_dlrm(**TINY, seed=7)
    c = dlrm.build_dlrm(**TINY, seed=8)
    for wa, wb, wc in zip(a.get_weights(), b.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


def test_fused_and_separate_give_identical_outputs():
    fused = dlrm.build_dlrm(**TINY, embedding="fused", seed=0)
    separate = dlrm.build_dlrm(**TINY, embedding="separate", seed=1)
    mlp, tables = _set_weights(fused)
    for layer in _mlp_layers(separate):
        layer.kernel.assign(mlp[layer.name][0])
        layer.bias.assign(mlp[layer.name][1])
    _set_tables(separate.get_layer("embedding"), tables)
    inputs = _tiny_inputs(batch=16)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(fused(inputs)), keras.ops.convert_to_numpy(separate(inputs))
    )
    for j in range(len(TINY_VOCAB)):
        np.testing.assert_array_equal(
            fused.get_layer("embedding").table(j), separate.get_layer("embedding").table(j)
        )


@pytest.mark.parametrize("embedding", dlrm.EMBEDDING_KINDS)
def test_keras_save_load_gives_identical_outputs(embedding, tmp_path):
    model = dlrm.build_dlrm(**TINY, embedding=embedding, seed=0)
    model.get_layer("top_mlp_0").set_mask([1, 0, 1, 1, 0])
    inputs = _tiny_inputs()
    path = str(tmp_path / "dlrm.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(inputs)), keras.ops.convert_to_numpy(loaded(inputs))
    )
    assert type(loaded.get_layer("embedding")) is type(model.get_layer("embedding"))
    assert loaded.get_layer("top_mlp_0").active_units == 3
    assert [l.prunable for l in _mlp_layers(loaded)] == [l.prunable for l in _mlp_layers(model)]


@pytest.mark.parametrize("cls", [dlrm.FusedEmbedding, dlrm.SeparateEmbeddings])
def test_embedding_config_round_trip(cls):
    layer = cls([3, 4], embedding_dim=2, seed=5, name="emb")
    config = layer.get_config()
    assert config["vocab_sizes"] == [3, 4] and config["embedding_dim"] == 2 and config["seed"] == 5
    clone = cls.from_config(config)
    clone.build((None, 2))
    layer.build((None, 2))
    for j in range(2):
        np.testing.assert_array_equal(clone.table(j), layer.table(j))  # same seed
    custom = cls.from_config(
        cls([3, 4], embedding_dim=2, embeddings_initializer="ones").get_config()
    )
    custom.build((None, 2))
    np.testing.assert_array_equal(custom.table(1), np.ones((4, 2)))


def test_table_wise_uniform_config_and_errors():
    init = dlrm.TableWiseUniform([2, 3], seed=4)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(init((5, 2))), keras.ops.convert_to_numpy(clone((5, 2)))
    )
    with pytest.raises(ValueError, match=r"shape=\(4, 2\)"):
        init((4, 2))


@pytest.mark.parametrize("embedding", dlrm.EMBEDDING_KINDS)
def test_table_gradients_are_indexed_slices_from_a_row_gather(embedding):
    model = dlrm.build_dlrm(**TINY, embedding=embedding, seed=0)
    inputs = _tiny_inputs()
    tables = [w for w in model.trainable_weights if "embeddings" in w.path]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(inputs))
    grads = tape.gradient(loss, tables)
    assert tables and all(isinstance(g, tf.IndexedSlices) for g in grads)
    # Rows are gathered from the variable (ResourceGather), not from a read
    # of the whole table, which would make every sparse update copy it.
    graph = tf.function(lambda x: model(x)).get_concrete_function(
        {k: tf.TensorSpec((None,) + v.shape[1:], v.dtype) for k, v in inputs.items()}
    ).graph
    for table in tables:
        (handle,) = [inner for outer, inner in graph.captures if outer is table.value.handle]
        assert [op.type for op in handle.consumers()] == ["ResourceGather"]


def test_few_jit_compiled_sgd_steps_reduce_the_loss():
    model = dlrm.build_dlrm(**TINY, seed=0)
    inputs = _tiny_inputs(batch=32, seed=2)
    labels = (inputs[DENSE_KEY][:, 0] > 0).astype("float32")
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", jit_compile=True
    )
    before = model.evaluate(inputs, labels, batch_size=32, verbose=0)
    model.fit(inputs, labels, batch_size=32, epochs=15, verbose=0, shuffle=False)
    after = model.evaluate(inputs, labels, batch_size=32, verbose=0)
    assert model.jit_compile
    assert after < before - 0.05


@pytest.mark.parametrize("layer_class", ["FusedEmbedding", "SeparateEmbeddings"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_out_of_range_ids_stay_in_their_own_table(layer_class, jit_compile):
    import tensorflow as tf

    from agp_tf.models import dlrm

    layer = getattr(dlrm, layer_class)([3, 5], 2, seed=0)
    layer.build((None, 2))
    lookup = tf.function(lambda ids: layer(ids), jit_compile=jit_compile)
    inside = [np.asarray(t) for t in lookup(np.array([[2, 0], [0, 4]], "int32"))]
    outside = [np.asarray(t) for t in lookup(np.array([[3, -1], [-7, 99]], "int32"))]
    # past the end: the table's last row; below 0: its first row
    first = [np.asarray(t) for t in lookup(np.array([[0, 0], [0, 0]], "int32"))]
    np.testing.assert_array_equal(outside[0][0], inside[0][0])  # 3 -> row 2 of table 0
    np.testing.assert_array_equal(outside[0][1], first[0][1])  # -7 -> row 0 of table 0
    np.testing.assert_array_equal(outside[1][0], first[1][0])  # -1 -> row 0 of table 1
    np.testing.assert_array_equal(outside[1][1], inside[1][1])  # 99 -> row 4 of table 1


def test_shard_bounds_follow_embedding_lookup_div_rule():
    assert dlrm.shard_bounds(16, 3) == [(0, 6), (6, 11), (11, 16)]
    assert dlrm.shard_bounds(6, 3) == [(0, 2), (2, 4), (4, 6)]
    # tf.nn.embedding_lookup over shards of those sizes reads row r of the stack.
    table = np.arange(16 * 2, dtype="float32").reshape(16, 2)
    shards = [tf.constant(table[a:b]) for a, b in dlrm.shard_bounds(16, 3)]
    rows = np.arange(16)
    np.testing.assert_array_equal(tf.nn.embedding_lookup(shards, rows).numpy(), table[rows])


def test_sharded_fused_table_equals_the_unsharded_one(tmp_path):
    whole = dlrm.build_dlrm(**TINY, seed=4)
    sharded = dlrm.build_dlrm(**TINY, seed=4, embedding_shards=3)
    layer = sharded.get_layer("embedding")
    assert [w.path.rsplit("/", 1)[-1] for w in layer.weights] == [
        "embeddings_shard_0", "embeddings_shard_1", "embeddings_shard_2"
    ]
    assert sum(w.shape[0] for w in layer.weights) == sum(TINY_VOCAB)
    for j in range(len(TINY_VOCAB)):
        np.testing.assert_array_equal(layer.table(j), whole.get_layer("embedding").table(j))
    inputs = _tiny_inputs(batch=16)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(whole(inputs)), keras.ops.convert_to_numpy(sharded(inputs))
    )
    # Gradients are sparse per shard; a save/load keeps the shards.
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(sharded(inputs))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(isinstance(g, tf.IndexedSlices) for g in grads)
    path = str(tmp_path / "sharded.keras")
    sharded.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("embedding").num_shards == 3
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(inputs)), keras.ops.convert_to_numpy(sharded(inputs))
    )


def test_sharding_errors_name_the_argument():
    with pytest.raises(ValueError, match="embedding_shards"):
        dlrm.build_dlrm(**TINY, embedding="separate", embedding_shards=2)
    with pytest.raises(ValueError, match="num_shards"):
        dlrm.FusedEmbedding([2, 3], embedding_dim=2, num_shards=6)
