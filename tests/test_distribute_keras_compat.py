"""agp_tf.distribute.keras_compat: the private Keras it patches, its version gate, idempotence.

The multi-worker behaviour itself is tested on real processes in
tests/test_distribute_multi_worker.py; here, in one process, the patched
functions must still be the ones the replacements were written against, and
everything that is not multi-worker must reach the stock functions.
"""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from agp_tf.distribute import keras_compat
from tests.helpers import mirrored_strategy, mlp, xor_data

trainer = pytest.importorskip("keras.src.backend.tensorflow.trainer")


@pytest.fixture
def restored():
    """Leaves Keras unpatched for the tests that follow, whatever a test did."""
    yield
    keras_compat.restore()


def test_the_private_functions_exist_with_the_signatures_relied_on():
    functions = keras_compat.patched_functions()

    def parameters(name):
        return list(inspect.signature(functions[name]).parameters)

    build = "TensorFlowTrainer._maybe_symbolic_build"
    assert parameters(build) == ["self", "iterator", "data_batch"]
    assert parameters("reduce_per_replica") == ["values", "strategy", "reduction"]
    assert parameters("_collective_all_reduce_multi_worker") == ["strategy"]
    # What the replacements read besides: the strategy attribute and the
    # epoch iterator yielding (begin, end, iterator).
    source = inspect.getsource(functions[build])
    assert "self._distribute_strategy" in source
    assert "for _, _, it in iterator:" in source
    assert "self._symbolic_build(data_batch=data_batch)" in source


@pytest.mark.parametrize("name", sorted(keras_compat.ORIGINAL_FINGERPRINTS))
def test_the_private_functions_are_unchanged_since_the_patch_was_written(name):
    function = keras_compat.patched_functions()[name]
    assert keras_compat.fingerprint(function) == keras_compat.ORIGINAL_FINGERPRINTS[name], (
        f"keras {keras.__version__} changed {name}: re-check keras-team/keras#20585 and the "
        "rank-0 reduction of multi-worker logs against the new source, adapt "
        "agp_tf/distribute/keras_compat.py (or drop it if fixed upstream), then update "
        "ORIGINAL_FINGERPRINTS and TESTED_KERAS."
    )


def test_the_installed_keras_is_in_the_tested_range():
    keras_compat.check_version()
    assert keras_compat.keras_version()[:2] == (3, 15)


@pytest.mark.parametrize("version", [(3, 14, 2), (3, 16, 0), (4, 0), (2, 15, 0)])
def test_versions_outside_the_tested_range_are_refused(version):
    with pytest.raises(RuntimeError, match=r"tested with Keras >=3\.15,<3\.16") as error:
        keras_compat.check_version(version)
    assert ".".join(map(str, version)) in str(error.value)


def test_apply_refuses_an_untested_keras_and_names_it(monkeypatch, restored):
    monkeypatch.setattr(keras, "__version__", "3.16.0.dev2026")
    with pytest.raises(RuntimeError, match=r"installed Keras is 3\.16\.0"):
        keras_compat.apply()
    assert not keras_compat.is_applied()


def test_apply_is_idempotent_and_restore_undoes_it(restored):
    stock_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    stock_reduce = trainer.reduce_per_replica
    keras_compat.apply()
    assert keras_compat.is_applied()
    build, reduce = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica
    keras_compat.apply()
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is build
    assert trainer.reduce_per_replica is reduce
    assert build._agp_original is stock_build  # not a wrapper of a wrapper
    assert reduce._agp_original is stock_reduce
    keras_compat.restore()
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is stock_build
    assert trainer.reduce_per_replica is stock_reduce
    keras_compat.restore()  # a no-op now


class _FakeMultiWorker:
    """Records the reductions asked of a multi-worker strategy."""

    def __init__(self):
        self.calls = []

    def experimental_local_results(self, value):
        return (value,)

    def reduce(self, op, value, axis):
        self.calls.append((op, tuple(value.shape), axis))
        return value


def test_multi_worker_logs_reduce_scalars_over_replicas_and_tensors_along_axis_0(monkeypatch):
    fake = _FakeMultiWorker()
    monkeypatch.setattr(trainer, "_collective_all_reduce_multi_worker", lambda s: s is fake)
    stock = keras_compat.patched_functions()["reduce_per_replica"]
    reduce = keras_compat._make_reduce_per_replica(stock)
    logs = {"loss": tf.constant(0.5), "vector": tf.constant([1.0, 2.0])}
    for reduction in ("auto", "mean"):
        fake.calls.clear()
        reduce(logs, fake, reduction)
        assert sorted(fake.calls) == [("MEAN", (), None), ("MEAN", (2,), 0)]


def test_other_strategies_reach_the_stock_reduction():
    strategy = mirrored_strategy()
    if strategy is None:
        pytest.skip("needs two logical CPU devices (set up in conftest.py)")
    stock = keras_compat.patched_functions()["reduce_per_replica"]
    patched = keras_compat._make_reduce_per_replica(stock)

    @tf.function
    def step():
        def replica():
            context = tf.distribute.get_replica_context()
            index = tf.cast(context.replica_id_in_sync_group, tf.float32)
            return {"scalar": index + 1.0, "vector": tf.stack([index, 2.0 * index])}

        values = strategy.run(replica)
        return {
            reduction: (stock(values, strategy, reduction), patched(values, strategy, reduction))
            for reduction in ("auto", "mean", "sum", "first", "concat")
        }

    for reduction, (expected, got) in step().items():
        for name in expected:
            np.testing.assert_array_equal(
                got[name].numpy(), expected[name].numpy(), err_msg=reduction
            )
    default = tf.distribute.get_strategy()
    value = tf.constant(3.0)
    assert patched(value, default, "auto") is stock(value, default, "auto")


def test_multi_worker_symbolic_build_gets_one_local_replica_batch(monkeypatch):
    strategy = mirrored_strategy()
    if strategy is None:
        pytest.skip("needs two logical CPU devices (set up in conftest.py)")
    monkeypatch.setattr(trainer, "_collective_all_reduce_multi_worker", lambda s: s is strategy)
    received = []

    def stock(self, iterator=None, data_batch=None):
        received.append((iterator, data_batch))

    build = keras_compat._make_symbolic_build(stock)
    x = strategy.experimental_distribute_values_from_function(
        lambda context: tf.fill([2, 3], float(context.replica_id_in_sync_group))
    )
    model = type("Model", (), {"_distribute_strategy": strategy})()
    build(model, iterator=[(0, 0, iter([(x, tf.ones([2]), None)]))])
    (iterator, (x_built, y_built, sample_weight)), = received
    assert iterator is None and sample_weight is None
    np.testing.assert_array_equal(x_built.numpy(), np.zeros([2, 3]))  # replica 0's
    np.testing.assert_array_equal(y_built.numpy(), np.ones([2]))
    # Not multi-worker, or a batch given: the stock function with the same arguments.
    received.clear()
    plain = type("Model", (), {"_distribute_strategy": None})()
    build(plain, iterator="epoch iterator")
    build(model, data_batch="batch")
    assert received == [("epoch iterator", None), (None, "batch")]


@pytest.mark.parametrize("mirrored", [False, True], ids=["default", "mirrored"])
def test_single_process_fit_is_unchanged_by_apply(mirrored, restored):
    strategy = mirrored_strategy() if mirrored else tf.distribute.get_strategy()
    if strategy is None:
        pytest.skip("needs two logical CPU devices (set up in conftest.py)")
    x, y = xor_data(64)

    def train():
        with strategy.scope():
            model = mlp((3, 4, 1), prunable=(True, False))
            model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return history.history["loss"], model.get_weights()

    stock_loss, stock_weights = train()
    keras_compat.apply()
    patched_loss, patched_weights = train()
    assert patched_loss == stock_loss
    for stock, patched in zip(stock_weights, patched_weights):
        np.testing.assert_array_equal(stock, patched)
