"""agp_tf.multi_step: a training function that runs the number of steps it is told."""

import keras
import numpy as np
import pytest

from agp_tf import multi_step
from tests.helpers import dataset, mirrored_strategy, mlp, xor_data


def _model(jit_compile, strategy=None):
    """A compiled MLP, trained one step by Keras: `fit` builds the optimizer
    and metrics before its train function runs, as the callback's calls find them."""
    def build():
        model = mlp((3, 8, 8, 1))
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "binary_crossentropy",
                      metrics=["accuracy"], jit_compile=jit_compile)
        x, y = xor_data(32, seed=1)
        model.fit(dataset(x, y, 32), verbose=0)
        return model

    if strategy is None:
        return build()
    with strategy.scope():
        return build()


@pytest.mark.parametrize("jit_compile", [False, True])
def test_runs_the_steps_asked_and_stops_at_the_end_of_the_data(jit_compile):
    model = _model(jit_compile)
    x, y = xor_data(320)
    iterator = iter(dataset(x, y, 32))  # 10 batches
    train_steps = multi_step.make_train_steps(model)
    done = [train_steps(iterator, steps)[0] for steps in (3, 1, 4, 5, 2)]
    assert done == [3, 1, 4, 2, 0]
    assert int(model.optimizer.iterations) == 1 + 10
    # one trace, one compilation, for every count
    assert train_steps.one_step.experimental_get_tracing_count() == 1
    assert train_steps.run_steps.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="must be >= 1"):
        train_steps(iterator, 0)


def test_logs_are_those_of_the_last_step_and_match_keras_fit():
    x, y = xor_data(320)
    ours, theirs = _model(False), _model(False)
    train_steps = multi_step.make_train_steps(ours)
    iterator = iter(dataset(x, y, 32))
    ours.reset_metrics()  # as fit does at each epoch's start
    _, logs = train_steps(iterator, 6)
    _, logs = train_steps(iterator, 4)
    assert train_steps(iterator, 3) == (0, None)
    history = theirs.fit(dataset(x, y, 32), epochs=1, verbose=0)
    assert float(logs["loss"]) == pytest.approx(history.history["loss"][-1], rel=1e-6)
    assert float(logs["accuracy"]) == pytest.approx(history.history["accuracy"][-1], rel=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_under_mirrored_strategy():
    strategy = mirrored_strategy()
    if strategy is None:
        pytest.skip("needs two logical CPU devices (set up in conftest.py)")
    x, y = xor_data(320)
    ours, reference = _model(False, strategy), _model(False)
    train_steps = multi_step.make_train_steps(ours)
    iterator = iter(strategy.experimental_distribute_dataset(dataset(x, y, 32)))
    assert train_steps(iterator, 7)[0] == 7
    done, logs = train_steps(iterator, 7)
    assert done == 3 and np.ndim(logs["loss"]) == 0
    reference.fit(dataset(x, y, 32), epochs=1, verbose=0)
    for a, b in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class _BranchingTrainStep(keras.Model):
    """A train_step with a Python `if` on a tensor: valid only under AutoGraph."""

    def train_step(self, data):
        x, _ = data
        if keras.ops.sum(x) > 0:
            return {"branch": keras.ops.ones(())}
        return {"branch": keras.ops.zeros(())}


def test_train_step_is_not_converted_by_autograph_as_in_keras():
    # Keras traces its own step without AutoGraph; ours does the same (a
    # conversion would cost time at every trace, and behave unlike fit).
    import tensorflow as tf

    inputs = keras.Input((3,))
    model = _BranchingTrainStep(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = xor_data(64)
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):
        model.fit(dataset(x, y, 32), verbose=0)
    train_steps = multi_step.make_train_steps(model)
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):
        train_steps(iter(dataset(x, y, 32)), 2)
