"""DLRM (Naumov et al., 2019) built from `agp_tf.layers.MaskedDense`.

The model follows the DLRM reference implementation (`dlrm_s_pytorch.py`):

    dense features  -> bottom MLP (ReLU) ------------------------------+
    sparse ids      -> one embedding row per categorical column --+    |
                                                                  v    v
          dot interaction of the (1 + num_tables) vectors, strict lower
          triangle, row-major: (1, 0), (2, 0), (2, 1), (3, 0), ...
                                                                  |
          top MLP input = [bottom-MLP output, interactions]       v
          top MLP (ReLU ..., last layer sigmoid) -> click probability

At the paper's sizes (embedding dim 4, 26 tables) the top MLP reads
4 + 27 * 26 / 2 = 355 inputs.

Every MLP layer is a `MaskedDense` named `bottom_mlp_<i>` / `top_mlp_<i>`,
and consecutive MLP layers are called directly on each other's outputs, so
`agp_tf.topology` can link a pruned neuron to the layer that reads it.
"""

import collections.abc
import math

import keras
import keras_rs
import numpy as np
from keras import ops

from agp_tf.data.features import DENSE_KEY, NUM_DENSE, SPARSE_KEY
from agp_tf.layers import MaskedDense
from agp_tf.models.interaction import DotInteraction

EMBEDDING_KINDS = ("fused", "separate")
# "agp_tf": `models.interaction.DotInteraction` (a gather for a gradient);
# "keras_rs": `keras_rs.layers.DotInteraction` (a scatter). Same outputs.
INTERACTION_KINDS = ("agp_tf", "keras_rs")
DEFAULT_EMBEDDING = "fused"
PAPER_BOTTOM_MLP = (256, 128, 64, 4)
PAPER_TOP_MLP = (256, 128, 1)


def _check_vocab_sizes(vocab_sizes):
    sizes = tuple(vocab_sizes) if isinstance(vocab_sizes, collections.abc.Iterable) else ()
    if not sizes or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in sizes
    ):
        raise ValueError(
            "`vocab_sizes` must be a non-empty sequence of positive integers. "
            f"Received: vocab_sizes={vocab_sizes!r}"
        )
    if sum(int(n) for n in sizes) >= 2**31:
        # Ids are int32 (data/features.py); row offsets must fit too.
        raise ValueError(
            "`vocab_sizes` must total fewer than 2**31 rows. "
            f"Received: vocab_sizes with {sum(int(n) for n in sizes)} rows"
        )
    return [int(n) for n in sizes]


def _check_positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_seed(seed):
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
    return None if seed is None else int(seed)


def _gather_rows(table, rows):
    """`table[rows]` for a `(num_rows, dim)` variable, reading only those rows.

    On TensorFlow, `ops.take` first reads the whole table into a tensor; the
    sparse update later in the same step then finds that buffer shared and
    copies the whole table (copy-on-write), an O(table) cost per step
    outside XLA. Gathering from the variable itself (`ResourceGather`) reads
    only the looked-up rows; its gradient is the same `tf.IndexedSlices`.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.gather(table.value, rows)
    return ops.take(table, rows, axis=0)


def _as_int_ids(inputs, vocab_sizes):
    """Ids `(batch_size, num_tables)` as ints, each clamped into its own table.

    An id below 0 reads row 0 of its table, one at or past `vocab_sizes[j]`
    the table's last row: with `oov="reserve"` vocabularies that is the
    reserved out-of-vocabulary row. Never a row of another table (fused), and
    the same with or without XLA (separate tables).
    """
    ids = ops.convert_to_tensor(inputs)
    if ids.dtype not in ("int32", "int64"):
        ids = ops.cast(ids, "int32")
    last = ops.convert_to_tensor([size - 1 for size in vocab_sizes], dtype=ids.dtype)
    return ops.minimum(ops.maximum(ids, 0), last)


@keras.saving.register_keras_serializable(package="agp_tf")
class TableWiseUniform(keras.initializers.Initializer):
    """Uniform initializer for stacked tables, each with its own range.

    Rows `[offset_j, offset_j + vocab_sizes[j])` of the fused table are drawn
    from `U(-sqrt(1 / vocab_sizes[j]), sqrt(1 / vocab_sizes[j]))`, as the DLRM
    reference initializes each separate table.

    Args:
        vocab_sizes: Sequence of positive ints, the rows of each table, in
            the order they are stacked.
        seed: Optional int seed. The same seed gives the same values.

    Example:

    ```python
    init = TableWiseUniform([4, 100])
    table = init((104, 2))   # rows 0-3 in +-0.5, rows 4-103 in +-0.1
    ```
    """

    def __init__(self, vocab_sizes, seed=None):
        self.vocab_sizes = _check_vocab_sizes(vocab_sizes)
        self.seed = _check_seed(seed)
        # Unseeded: fix a seed now so that repeated calls agree, as Keras'
        # own random initializers do.
        self._call_seed = self.seed if self.seed is not None else int(np.random.randint(2**31 - 1))

    def __call__(self, shape, dtype=None):
        rows = sum(self.vocab_sizes)
        if len(shape) != 2 or shape[0] != rows:
            raise ValueError(
                f"TableWiseUniform for {rows} rows needs a shape (rows, dim). "
                f"Received: shape={tuple(shape)}"
            )
        dtype = dtype or keras.config.floatx()
        # One draw per table, then one concatenation: the peak is the parts
        # plus the result (~2x the stack) and the largest table's random
        # bits. One draw of the whole stack scaled afterwards holds bits,
        # draw and product at once (at Kaggle sizes, dim 4: 1.8 GB against
        # 1.4 GB of RSS for a 0.5 GB table).
        seeds = _table_seeds(self._call_seed, len(self.vocab_sizes))
        parts = []
        for n, table_seed in zip(self.vocab_sizes, seeds):
            limit = math.sqrt(1.0 / n)
            parts.append(
                keras.random.uniform(
                    (n, shape[1]), minval=-limit, maxval=limit, dtype=dtype, seed=table_seed
                )
            )
        return ops.concatenate(parts, axis=0)

    def get_config(self):
        return {"vocab_sizes": list(self.vocab_sizes), "seed": self.seed}


def _table_seeds(seed, count):
    if seed is None:
        return [None] * count
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


@keras.saving.register_keras_serializable(package="agp_tf")
class FusedEmbedding(keras.layers.Layer):
    """All categorical tables stacked in one variable, looked up in one gather.

    Column `j` of the ids reads row `offsets[j] + ids[:, j]` of a single
    `(sum(vocab_sizes), embedding_dim)` table, where `offsets[j]` is the
    number of rows of the tables before it. One gather and one sparse
    (`tf.IndexedSlices`) update per step instead of one per table; rows are
    gathered from the variable itself, so a step costs O(batch), not
    O(table), with or without XLA. Ids outside `[0, vocab_sizes[j])` are
    clamped into their own table (its first or last row; the last is the
    out-of-vocabulary row of an `oov="reserve"` vocabulary), never read from
    a neighbour table.

    Args:
        vocab_sizes: Sequence of positive ints, the rows of each table.
        embedding_dim: Positive int, the width of every table.
        embeddings_initializer: Initializer for the stacked table. `None`
            uses the DLRM reference: table `j` uniform in
            `+-sqrt(1 / vocab_sizes[j])` (`TableWiseUniform`).
        seed: Optional int seed for the default initializer.
        num_shards: Split the stacked table by rows into this many variables
            (`embeddings_shard_<k>`), so that a `ParameterServerStrategy`
            places them on different parameter servers (it places variables
            round-robin; TensorFlow's `variable_partitioner` does not work
            with Keras 3 layers). Shards hold contiguous rows, the first
            `total % num_shards` one row more (`tf.nn.embedding_lookup`'s
            "div" rule), and the values equal the unsharded table's for the
            same seed. Looked up with `tf.nn.embedding_lookup`, which reads
            only the ids' rows of each shard but does not compile with XLA:
            use it without `jit_compile` (the parameter-server loop).
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Returns:
        A list of `len(vocab_sizes)` tensors of shape
        `(batch_size, embedding_dim)`, one per table.

    Example:

    ```python
    layer = FusedEmbedding([10, 20, 30], embedding_dim=4)
    outputs = layer(np.array([[1, 2, 3], [9, 19, 29]], "int32"))
    len(outputs), outputs[0].shape   # (3, (2, 4))
    ```
    """

    def __init__(
        self, vocab_sizes, embedding_dim, embeddings_initializer=None, seed=None, num_shards=1,
        **kwargs,
    ):
        # A mixed-precision autocast would cast whole tables on every read.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.vocab_sizes = _check_vocab_sizes(vocab_sizes)
        self.embedding_dim = _check_positive_int("embedding_dim", embedding_dim)
        self.seed = _check_seed(seed)
        self.num_shards = _check_positive_int("num_shards", num_shards)
        if self.num_shards > sum(self.vocab_sizes):
            raise ValueError(
                f"`num_shards` must be at most the {sum(self.vocab_sizes)} rows. "
                f"Received: num_shards={num_shards}"
            )
        if embeddings_initializer is None:
            self.embeddings_initializer = TableWiseUniform(self.vocab_sizes, seed=seed)
        else:
            self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self._custom_initializer = embeddings_initializer is not None
        self.offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype("int32")
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: len(self.vocab_sizes)})

    @property
    def shards(self):
        """The table's variables: `[embeddings]`, or one per shard."""
        return [self.embeddings] if self.num_shards == 1 else list(self.shard_variables)

    def shard_rows(self):
        """`(start, stop)` rows of the stacked table held by each shard."""
        return shard_bounds(sum(self.vocab_sizes), self.num_shards)

    def build(self, input_shape):
        shape = (sum(self.vocab_sizes), self.embedding_dim)  # (total_rows, embedding_dim)
        if self.num_shards == 1:
            self.embeddings = self.add_weight(
                name="embeddings",
                shape=shape,
                initializer=self.embeddings_initializer,
                # Rows are gathered from the variable itself, cast afterwards.
                autocast=False,
            )
            return
        # The unsharded table's values, cut into row ranges.
        full = self.embeddings_initializer(shape, dtype=self.variable_dtype)
        self.shard_variables = [
            self.add_weight(
                name=f"embeddings_shard_{index}",
                shape=(stop - start, self.embedding_dim),
                initializer=lambda shape, dtype=None, start=start, stop=stop: full[start:stop],
                autocast=False,
            )
            for index, (start, stop) in enumerate(self.shard_rows())
        ]

    def call(self, inputs):
        ids = _as_int_ids(inputs, self.vocab_sizes)  # (batch_size, num_tables)
        rows = ops.add(ids, ops.convert_to_tensor(self.offsets, dtype=ids.dtype))
        # (batch_size, num_tables, embedding_dim)
        if self.num_shards == 1:
            embedded = _gather_rows(self.embeddings, rows)
        else:
            import tensorflow as tf

            # "div" partitioning, the rule `shard_rows` follows.
            embedded = tf.nn.embedding_lookup([shard.value for shard in self.shards], rows)
        embedded = ops.cast(embedded, self.compute_dtype)
        return ops.unstack(embedded, num=len(self.vocab_sizes), axis=1)

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.embedding_dim)] * len(self.vocab_sizes)

    def table(self, index):
        """The rows of table `index` as a numpy array `(vocab_sizes[index], embedding_dim)`."""
        start = int(self.offsets[index])
        stop = start + self.vocab_sizes[index]
        # Slice before converting: the stack can be gigabytes.
        parts = [
            keras.ops.convert_to_numpy(shard[max(start, first) - first : min(stop, last) - first])
            for shard, (first, last) in zip(self.shards, self.shard_rows())
            if first < stop and start < last
        ]
        return np.concatenate(parts, axis=0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_sizes": list(self.vocab_sizes),
                "embedding_dim": self.embedding_dim,
                "embeddings_initializer": (
                    keras.initializers.serialize(self.embeddings_initializer)
                    if self._custom_initializer
                    else None
                ),
                "seed": self.seed,
                "num_shards": self.num_shards,
            }
        )
        return config


def shard_bounds(rows, num_shards):
    """`(start, stop)` of each of `num_shards` contiguous row ranges of `rows` rows.

    The first `rows % num_shards` ranges hold one row more: the "div"
    partitioning of `tf.nn.embedding_lookup`.
    """
    base, extra = divmod(int(rows), int(num_shards))
    bounds, start = [], 0
    for index in range(num_shards):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


@keras.saving.register_keras_serializable(package="agp_tf")
class SeparateEmbeddings(keras.layers.Layer):
    """One `keras.layers.Embedding` table per categorical column.

    Column `j` of the ids is looked up in table `j` (`self.tables[j]`).
    The `keras.layers.Embedding` sub-layers own the tables, but rows are
    gathered from their variables directly rather than through
    `Embedding.call` (see `FusedEmbedding` for why). Same outputs as
    `FusedEmbedding` for the same tables; slower on CPU with XLA at large
    batches (26 gathers and 26 scatters instead of one).

    Args:
        vocab_sizes: Sequence of positive ints, the rows of each table.
        embedding_dim: Positive int, the width of every table.
        embeddings_initializer: Initializer for every table (a seeded one
            gives equal-sized tables equal values). `None` uses the DLRM
            reference: table `j` uniform in `+-sqrt(1 / vocab_sizes[j])`.
        seed: Optional int seed for the default initializers (each table
            gets its own seed derived from it).
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Returns:
        A list of `len(vocab_sizes)` tensors of shape
        `(batch_size, embedding_dim)`, one per table.

    Example:

    ```python
    layer = SeparateEmbeddings([10, 20, 30], embedding_dim=4)
    outputs = layer(np.array([[1, 2, 3], [9, 19, 29]], "int32"))
    len(outputs), outputs[0].shape   # (3, (2, 4))
    ```
    """

    def __init__(self, vocab_sizes, embedding_dim, embeddings_initializer=None, seed=None, **kwargs):
        # A mixed-precision autocast would cast whole tables on every read.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.vocab_sizes = _check_vocab_sizes(vocab_sizes)
        self.embedding_dim = _check_positive_int("embedding_dim", embedding_dim)
        self.seed = _check_seed(seed)
        self.embeddings_initializer = (
            None if embeddings_initializer is None else keras.initializers.get(embeddings_initializer)
        )
        seeds = _table_seeds(seed, len(self.vocab_sizes))
        self.tables = []
        for j, rows in enumerate(self.vocab_sizes):
            if self.embeddings_initializer is None:
                limit = math.sqrt(1.0 / rows)
                init = keras.initializers.RandomUniform(-limit, limit, seed=seeds[j])
            else:
                init = keras.initializers.get(keras.initializers.serialize(self.embeddings_initializer))
            self.tables.append(
                keras.layers.Embedding(
                    rows, self.embedding_dim, embeddings_initializer=init, name=f"table_{j}"
                )
            )
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: len(self.vocab_sizes)})

    def build(self, input_shape):
        for table in self.tables:
            table.build((input_shape[0],))

    def call(self, inputs):
        ids = _as_int_ids(inputs, self.vocab_sizes)  # (batch_size, num_tables)
        # num_tables x (batch_size, embedding_dim). The sub-layers own the
        # tables; calling them would use `ops.take`, see `_gather_rows`.
        return [
            ops.cast(_gather_rows(table.embeddings, ids[:, j]), self.compute_dtype)
            for j, table in enumerate(self.tables)
        ]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.embedding_dim)] * len(self.vocab_sizes)

    def table(self, index):
        """The rows of table `index` as a numpy array `(vocab_sizes[index], embedding_dim)`."""
        return keras.ops.convert_to_numpy(self.tables[index].embeddings)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_sizes": list(self.vocab_sizes),
                "embedding_dim": self.embedding_dim,
                "embeddings_initializer": (
                    None
                    if self.embeddings_initializer is None
                    else keras.initializers.serialize(self.embeddings_initializer)
                ),
                "seed": self.seed,
            }
        )
        return config


def mlp_layer_names(bottom_mlp=PAPER_BOTTOM_MLP, top_mlp=PAPER_TOP_MLP):
    """Names of the MLP layers `build_dlrm` creates, bottom first.

    Example:

    ```python
    mlp_layer_names((8, 4), (16, 1))
    # ('bottom_mlp_0', 'bottom_mlp_1', 'top_mlp_0', 'top_mlp_1')
    ```
    """
    return tuple(f"bottom_mlp_{i}" for i in range(len(bottom_mlp))) + tuple(
        f"top_mlp_{i}" for i in range(len(top_mlp))
    )


def default_prunable_layers(bottom_mlp=PAPER_BOTTOM_MLP, top_mlp=PAPER_TOP_MLP):
    """The MLP layers pruned by default: all but the last bottom and last top layer.

    The last bottom layer feeds the dot interaction (its width must equal the
    embedding width) and the last top layer is the single logit.

    Example:

    ```python
    default_prunable_layers()
    # ('bottom_mlp_0', 'bottom_mlp_1', 'bottom_mlp_2', 'top_mlp_0', 'top_mlp_1')
    ```
    """
    return tuple(f"bottom_mlp_{i}" for i in range(len(bottom_mlp) - 1)) + tuple(
        f"top_mlp_{i}" for i in range(len(top_mlp) - 1)
    )


def resolve_prunable(prunable, bottom_mlp=PAPER_BOTTOM_MLP, top_mlp=PAPER_TOP_MLP):
    """The names of the MLP layers `build_dlrm(prunable=...)` makes prunable.

    Args:
        prunable: None (`default_prunable_layers`), a collection of layer
            names, or a predicate on the layer name.
        bottom_mlp, top_mlp: The MLP widths.

    Returns:
        A frozenset of layer names.

    Raises:
        ValueError: `prunable` names a layer the model does not have, or is
            of another kind.
    """
    names = mlp_layer_names(bottom_mlp, top_mlp)
    if prunable is None:
        return frozenset(default_prunable_layers(bottom_mlp, top_mlp))
    if callable(prunable):
        return frozenset(name for name in names if prunable(name))
    if isinstance(prunable, (str, bytes)) or not isinstance(prunable, collections.abc.Iterable):
        raise ValueError(
            "`prunable` must be None, a collection of layer names or a predicate "
            f"on the layer name. Received: prunable={prunable!r}"
        )
    chosen = frozenset(prunable)
    unknown = sorted(str(n) for n in chosen - set(names))
    if unknown:
        raise ValueError(
            f"`prunable` names layers the model does not have: {unknown}; "
            f"its MLP layers are {list(names)}. Received: prunable={prunable!r}"
        )
    return chosen


def _check_mlp(name, widths):
    if isinstance(widths, (str, bytes)) or not isinstance(widths, collections.abc.Iterable):
        raise ValueError(f"`{name}` must be a sequence of positive ints. Received: {name}={widths!r}")
    widths = tuple(widths)
    if not widths:
        raise ValueError(f"`{name}` must have at least one layer. Received: {name}={widths!r}")
    for w in widths:
        if not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 1:
            raise ValueError(
                f"`{name}` must be a sequence of positive ints. Received: {name}={widths!r}"
            )
    return tuple(int(w) for w in widths)


def _mlp_initializers(fan_in, fan_out, seed):
    """DLRM reference init: W ~ N(0, 2 / (fan_in + fan_out)), b ~ N(0, 1 / fan_out)."""
    kernel_seed, bias_seed = _table_seeds(seed, 2)
    # Explicit stddevs rather than VarianceScaling: the layer's initializer is
    # also used for partial shapes (regrown neurons), where a fan computed
    # from the requested shape would be wrong.
    kernel = keras.initializers.RandomNormal(
        stddev=math.sqrt(2.0 / (fan_in + fan_out)), seed=kernel_seed
    )
    bias = keras.initializers.RandomNormal(stddev=math.sqrt(1.0 / fan_out), seed=bias_seed)
    return kernel, bias


def build_dlrm(
    vocab_sizes,
    embedding_dim=4,
    bottom_mlp=PAPER_BOTTOM_MLP,
    top_mlp=PAPER_TOP_MLP,
    prunable=None,
    embedding=DEFAULT_EMBEDDING,
    seed=None,
    num_dense_features=NUM_DENSE,
    name="dlrm",
    embedding_shards=1,
    interaction="agp_tf",
):
    """Builds the DLRM click-through model as a Keras functional model.

    Inputs are the feature dict of `agp_tf.data.features`: `DENSE_KEY`
    float32 `(batch_size, num_dense_features)` and `SPARSE_KEY` int32
    `(batch_size, len(vocab_sizes))`. The output is the click probability,
    `(batch_size, 1)`; train it with binary cross-entropy.

    Layers, by name: `bottom_mlp_<i>` and `top_mlp_<i>` (`MaskedDense`, ReLU;
    the last top layer is linear followed by a sigmoid inside the layer),
    `embedding` (`FusedEmbedding` or `SeparateEmbeddings`), `interaction`
    (`models.interaction.DotInteraction`, a `keras_rs` DotInteraction with a
    cheaper gradient; no self-interaction) and
    `top_mlp_input` (concatenation of the bottom-MLP output and the
    interactions, in the DLRM reference order).

    Initialization follows the DLRM reference: MLP kernels normal with std
    `sqrt(2 / (fan_in + fan_out))`, biases normal with std `sqrt(1 / fan_out)`,
    embedding table `j` uniform in `+-sqrt(1 / vocab_sizes[j])`.

    Args:
        vocab_sizes: Sequence of positive ints, rows of each categorical
            table (e.g. `agp_tf.data.features.CRITEO_KAGGLE_VOCAB_SIZES`).
        embedding_dim: Positive int, the width of every embedding.
        bottom_mlp: Widths of the bottom MLP layers; the last must equal
            `embedding_dim`.
        top_mlp: Widths of the top MLP layers; the last must be 1.
        prunable: Which MLP layers the controller may prune. `None`: every
            layer but the last bottom and the last top layer
            (`default_prunable_layers`). A collection of layer names: exactly
            those (an empty collection: none). A callable: a predicate on the
            layer name, e.g. `lambda name: name.startswith("top_")`.
        embedding: `"fused"` (one stacked table, one gather and one scatter
            per step; the default, the faster embedding step under XLA) or
            `"separate"` (one `keras.layers.Embedding` table per column).
            Both give the same outputs for the same tables and update only
            the looked-up rows; compile with `jit_compile=True` on CPU (Keras'
            "auto" turns XLA off there): the embedding step alone was 5-13x
            faster with XLA at batch 2048.
        seed: Optional int. Seeds every initializer (each layer and table
            gets its own seed derived from it); `None` draws fresh values.
        num_dense_features: Width of the dense input.
        name: Name of the model.
        embedding_shards: Split the fused table into this many row shards
            (`FusedEmbedding(num_shards=)`), for parameter servers.
        interaction: `"agp_tf"` (default): `models.interaction.DotInteraction`,
            whose gradient is a gather; `"keras_rs"`: the `keras_rs` layer,
            whose gradient is a scatter (slower on CPU). Same outputs.

    Returns:
        A `keras.Model` (functional).

    Example:

    ```python
    from agp_tf.data import features
    model = build_dlrm(features.CRITEO_KAGGLE_VOCAB_SIZES, seed=0)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss="binary_crossentropy",
        metrics=agp_tf.metrics.ctr_metrics(),
        jit_compile=True,
    )
    model.get_layer("top_mlp_0").input.shape   # (None, 355)
    ```
    """
    vocab_sizes = _check_vocab_sizes(vocab_sizes)
    embedding_dim = _check_positive_int("embedding_dim", embedding_dim)
    num_dense_features = _check_positive_int("num_dense_features", num_dense_features)
    bottom_mlp = _check_mlp("bottom_mlp", bottom_mlp)
    top_mlp = _check_mlp("top_mlp", top_mlp)
    if bottom_mlp[-1] != embedding_dim:
        raise ValueError(
            "The last bottom MLP layer feeds the dot interaction, so its width must "
            f"equal `embedding_dim`={embedding_dim}. Received: bottom_mlp={bottom_mlp}"
        )
    if top_mlp[-1] != 1:
        raise ValueError(
            f"The last top MLP layer is the click logit and must have 1 unit. "
            f"Received: top_mlp={top_mlp}"
        )
    if embedding not in EMBEDDING_KINDS:
        raise ValueError(f"`embedding` must be one of {EMBEDDING_KINDS}. Received: embedding={embedding!r}")
    if interaction not in INTERACTION_KINDS:
        raise ValueError(
            f"`interaction` must be one of {INTERACTION_KINDS}. Received: "
            f"interaction={interaction!r}"
        )
    seed = _check_seed(seed)
    prunable_names = resolve_prunable(prunable, bottom_mlp, top_mlp)
    num_mlp = len(bottom_mlp) + len(top_mlp)
    seeds = _table_seeds(seed, num_mlp + 1)
    mlp_seeds = iter(seeds[:num_mlp])

    dense = keras.Input(shape=(num_dense_features,), dtype="float32", name=DENSE_KEY)
    sparse = keras.Input(shape=(len(vocab_sizes),), dtype="int32", name=SPARSE_KEY)

    x = dense  # (batch_size, num_dense_features)
    fan_in = num_dense_features
    for i, units in enumerate(bottom_mlp):
        kernel_init, bias_init = _mlp_initializers(fan_in, units, next(mlp_seeds))
        layer_name = f"bottom_mlp_{i}"
        x = MaskedDense(
            units,
            activation="relu",
            prunable=layer_name in prunable_names,
            kernel_initializer=kernel_init,
            bias_initializer=bias_init,
            name=layer_name,
        )(x)
        fan_in = units
    # x: (batch_size, embedding_dim)

    embedding_shards = _check_positive_int("embedding_shards", embedding_shards)
    if embedding == "fused":
        embedding_layer = FusedEmbedding(
            vocab_sizes, embedding_dim, seed=seeds[num_mlp], num_shards=embedding_shards,
            name="embedding",
        )
    elif embedding_shards > 1:
        raise ValueError(
            'Only embedding="fused" can be sharded. '
            f"Received: embedding={embedding!r}, embedding_shards={embedding_shards}"
        )
    else:
        embedding_layer = SeparateEmbeddings(
            vocab_sizes, embedding_dim, seed=seeds[num_mlp], name="embedding"
        )
    embedded = embedding_layer(sparse)  # num_tables x (batch_size, embedding_dim)

    # DotInteraction stacks its inputs in order and keeps the strict lower
    # triangle row by row, exactly the reference `interact_features` order.
    interaction_layer = (
        DotInteraction if interaction == "agp_tf" else keras_rs.layers.DotInteraction
    )
    interactions = interaction_layer(self_interaction=False, name="interaction")(
        [x] + list(embedded)
    )  # (batch_size, (num_tables + 1) * num_tables / 2)
    z = keras.layers.Concatenate(axis=-1, name="top_mlp_input")([x, interactions])
    fan_in = embedding_dim + (len(vocab_sizes) + 1) * len(vocab_sizes) // 2

    for i, units in enumerate(top_mlp):
        last = i == len(top_mlp) - 1
        kernel_init, bias_init = _mlp_initializers(fan_in, units, next(mlp_seeds))
        layer_name = f"top_mlp_{i}"
        z = MaskedDense(
            units,
            activation="sigmoid" if last else "relu",
            prunable=layer_name in prunable_names,
            kernel_initializer=kernel_init,
            bias_initializer=bias_init,
            name=layer_name,
        )(z)
        fan_in = units
    # z: (batch_size, 1), the click probability

    return keras.Model(inputs={DENSE_KEY: dense, SPARSE_KEY: sparse}, outputs=z, name=name)
