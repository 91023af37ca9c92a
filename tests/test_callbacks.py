import csv
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import agp_tf
from agp_tf import schedules
from tests.helpers import PrunedWeightsStayZero, dataset, mirrored_strategy, mlp, xor_data

OPTIMIZERS = {
    "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "adagrad": lambda: keras.optimizers.Adagrad(0.1),
    "adam": lambda: keras.optimizers.Adam(0.01),
}


class SparseInvariants(PrunedWeightsStayZero):
    """After every step of a sparse phase: pruned weights and outputs stay zero."""

    def __init__(self, x):
        super().__init__(("d0", "d1"))
        self.x = x

    def on_train_begin(self, logs=None):
        self.hidden = keras.Model(
            self.model.inputs, [self.model.get_layer(n).output for n in self.names]
        )

    def on_train_batch_end(self, batch, logs=None):
        self.outputs = dict(zip(self.names, self.hidden(self.x)))
        super().on_train_batch_end(batch, logs)

    def check_outputs(self, name, layer, keep):
        output = self.outputs[name]
        if output.shape[-1] == layer.units:
            assert np.all(output.numpy()[:, ~keep] == 0.0), name
        else:  # compact execution passes only the kept neurons on
            assert output.shape[-1] == layer.active_units, name


def _fit_cases():
    # Every optimizer with and without XLA; XLA compiles are the slow part,
    # so the default suite compiles with one optimizer and `-m slow` the rest.
    for name in sorted(OPTIMIZERS):
        for jit in (True, False):
            for compact in (True, False):
                if not compact and name != "adam":
                    continue
                slow = jit and compact and name != "sgd_momentum"
                yield pytest.param(name, jit, compact, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("optimizer, jit_compile, compact", list(_fit_cases()))
def test_alternate_through_fit(optimizer, jit_compile, compact):
    # tanh: no ReLU units that die for reasons unrelated to pruning
    model = mlp((3, 16, 8, 1), activation="tanh")
    model.compile(OPTIMIZERS[optimizer](), "binary_crossentropy", jit_compile=jit_compile)
    x, y = xor_data(640)
    data = dataset(x, y, 32)  # 20 steps per epoch
    callback = agp_tf.GrowPruneCallback(
        schedules.alternate(0.5), data, importance_batches=4, compact=compact
    )
    check = SparseInvariants(x[:64])
    history = model.fit(data, epochs=5, callbacks=[callback, check], verbose=0)

    assert [(e.step, e.to_sparsity) for e in callback.flips] == [
        (20, 0.5), (40, 0.0), (60, 0.5), (80, 0.0)
    ]
    assert check.sparse_steps == 2 * 2 * 20  # two layers, two sparse phases of 20 steps
    # ends dense, every neuron trainable: mask 1 and a non-zero gradient per column
    for name in ("d0", "d1"):
        assert model.get_layer(name).mask_numpy().all()
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x))
    grads = tape.gradient(loss, [model.get_layer(n).kernel.value for n in ("d0", "d1")])
    for grad in grads:
        assert np.all(np.any(grad.numpy() != 0.0, axis=0))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["sparsity"] == [0.0, 0.5, 0.0, 0.5, 0.0]


def test_mirrored_strategy_replicas_hold_the_same_mask():
    strategy = mirrored_strategy()
    if strategy is None:
        pytest.skip("needs two logical CPU devices (set up in conftest.py)")
    with strategy.scope():
        model = mlp((3, 16, 8, 1))
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "binary_crossentropy")
    x, y = xor_data(320)
    data = dataset(x, y, 32)
    callback = agp_tf.GrowPruneCallback(schedules.pruning_only(0.5, start=0.5), data, importance_batches=2)
    model.fit(data, epochs=2, callbacks=[callback], verbose=0)
    layer = model.get_layer("d0")
    replicas = [v.numpy() for v in layer.mask.value.values]
    assert len(replicas) == 2
    np.testing.assert_array_equal(replicas[0], replicas[1])
    assert replicas[0].sum() == 8
    for kernel in layer.kernel.value.values:
        assert np.all(kernel.numpy()[:, replicas[0] == 0] == 0.0)


def test_error_when_total_steps_unknown():
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(64)
    unknown_length = dataset(x, y).filter(lambda a, b: True)
    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), dataset(x, y))
    with pytest.raises(ValueError, match="needs `total_steps`"):
        model.fit(unknown_length, epochs=1, callbacks=[callback], verbose=0)


def test_tensorboard_and_csv_logger_see_the_scalars(tmp_path):
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(320)
    data = dataset(x, y, 32)
    log_dir = str(tmp_path / "tb")
    csv_path = str(tmp_path / "history.csv")
    callback = agp_tf.GrowPruneCallback(
        schedules.alternate(0.5), data, importance_batches=2, log_dir=log_dir, batch_size=32
    )
    model.fit(data, epochs=5, callbacks=[callback, keras.callbacks.CSVLogger(csv_path)], verbose=0)

    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["sparsity"]) for r in rows] == [0.0, 0.5, 0.0, 0.5, 0.0]
    assert float(rows[-1]["relative_train_flops"]) == pytest.approx(callback.counter.relative_change)
    assert float(rows[1]["d0/active_units"]) == 4.0
    assert float(rows[-1]["cumulative_train_flops"]) == callback.counter.actual

    tags = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    for tag in ("agp/sparsity", "agp/phase", "agp/train_flops_per_sample",
                "agp/cumulative_train_flops", "agp/relative_train_flops",
                "agp/d0/sparsity", "agp/d0/active_units", "agp/importance/d0"):
        assert tag in tags, tag
    assert tags["agp/importance/d0"] == [10, 30]  # one histogram per prune


def test_repeated_fit_continues_the_schedule():
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(320)
    data = dataset(x, y, 32)
    callback = agp_tf.GrowPruneCallback(
        schedules.alternate(0.5), data, importance_batches=2, total_steps=50
    )
    model.fit(data, epochs=2, callbacks=[callback], verbose=0)  # steps 0-19
    assert [e.step for e in callback.flips] == [10]
    model.fit(data, epochs=3, callbacks=[callback], verbose=0)  # steps 20-49
    assert [(e.step, e.to_sparsity) for e in callback.flips] == [
        (10, 0.5), (20, 0.0), (30, 0.5), (40, 0.0)
    ]


def test_compiled_functions_are_reused_across_phases_of_equal_shape():
    model = mlp((3, 16, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", jit_compile=True)
    x, y = xor_data(320)
    data = dataset(x, y, 32)

    class Functions(keras.callbacks.Callback):
        seen = []

        def on_train_batch_begin(self, batch, logs=None):
            self.seen.append(self.model.train_function)

    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), data, importance_batches=2)
    model.fit(data, epochs=5, callbacks=[callback, Functions()], verbose=0)
    phases = [Functions.seen[i] for i in (0, 10, 20, 30, 40)]  # one per phase
    assert phases[0] is not phases[1]  # dense vs sparse
    assert phases[0] is phases[2] is phases[4]  # every dense phase: one function
    assert phases[1] is phases[3]  # both sparse phases: one function


def test_bad_arguments_fail_at_construction():
    with pytest.raises(ValueError, match="criterion='l2'"):
        agp_tf.GrowPruneCallback(schedules.alternate(0.5), [], criterion="l2")
    with pytest.raises(ValueError, match="growth='none'"):
        agp_tf.GrowPruneCallback(schedules.alternate(0.5), [], growth="none")


@pytest.mark.parametrize(
    "boundaries, flips",
    [
        ([(0, 0), (0.1 + 0.2, 0.5), (0.6, 0)], [(15, 0.5), (30, 0.0)]),
        ([(k * 0.2, 0.5 * (k % 2)) for k in range(5)], [(10, 0.5), (20, 0.0), (30, 0.5), (40, 0.0)]),
    ],
)
def test_fit_flips_exactly_where_the_step_table_says(boundaries, flips):
    schedule = schedules.PhaseSchedule(boundaries)
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(500)
    data = dataset(x, y, 50)  # 10 steps per epoch, 50 in all
    callback = agp_tf.GrowPruneCallback(schedule, data, importance_batches=2)
    model.fit(data, epochs=5, callbacks=[callback], verbose=0)
    table = schedule.boundary_steps(50)
    assert [(e.step, e.to_sparsity) for e in callback.flips] == flips
    assert [e.step for e in callback.flips] == list(table[1:])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_steps_count_what_trained_on_data_of_unknown_length(jit_compile):
    # Without XLA, Keras advances optimizer.iterations once more than the
    # steps run at the end of each epoch over data of unknown length.
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", jit_compile=jit_compile)
    x, y = xor_data(350)
    data = dataset(x, y, 50).filter(lambda a, b: True)  # 7 batches, length unknown
    assert data.cardinality() == tf.data.UNKNOWN_CARDINALITY
    total = 5 * 7
    callback = agp_tf.GrowPruneCallback(
        schedules.alternate(0.5), dataset(x, y, 50), total_steps=total, importance_batches=2
    )
    for epoch in range(5):
        model.fit(data, initial_epoch=epoch, epochs=epoch + 1, callbacks=[callback], verbose=0)
    assert callback.step == total
    table = schedules.alternate(0.5).boundary_steps(total)
    assert [e.step for e in callback.flips] == list(table[1:])
    predicted = agp_tf.flops.predict_relative_training_flops(
        callback.controller.specs, schedules.alternate(0.5), total
    )
    assert callback.counter.relative_change == pytest.approx(predicted - 1.0, abs=1e-12)


def test_a_second_fit_that_plans_another_length_is_refused():
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(320)
    data = dataset(x, y, 32)
    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), data, importance_batches=2)
    model.fit(data, epochs=2, callbacks=[callback], verbose=0)  # 20 steps planned
    with pytest.raises(ValueError, match="laid out over 20 steps"):
        model.fit(data, epochs=3, callbacks=[callback], verbose=0)
    # the same plan again continues: steps 20-39, past the end in the last phase
    model.fit(data, epochs=2, callbacks=[callback], verbose=0)
    assert callback.step == 40
    assert [e.step for e in callback.flips] == [4, 8, 12, 16]


def test_unsupported_optimizer_fails_at_train_begin():
    class Plain(keras.optimizers.Optimizer):
        def build(self, variables):
            super().build(variables)
            self.extra = [self.add_variable_from_reference(v, "extra") for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            variable.assign_sub(gradient * learning_rate)

    model = mlp((3, 8, 8, 1))
    model.compile(Plain(0.1), "binary_crossentropy")
    x, y = xor_data(64)
    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), dataset(x, y), importance_batches=1)
    with pytest.raises(ValueError, match="Plain"):
        model.fit(x, y, epochs=1, callbacks=[callback], verbose=0)


def test_verbose_prints_one_line_per_flip(capsys):
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(320)
    data = dataset(x, y, 32)
    callback = agp_tf.GrowPruneCallback(
        schedules.dsd(0.5, 0.2, 0.6), data, importance_batches=2, verbose=True
    )
    model.fit(data, epochs=5, callbacks=[callback], verbose=0)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert len(lines) == 2
    assert lines[0].startswith("step 10: prune to sparsity 0.5 (neurons kept: d0 4, d1 4) in ")
    assert lines[1].startswith("step 30: regrow to sparsity 0 (neurons kept: d0 8, d1 8) in ")


@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_several_steps_per_execution_flip_on_the_schedules_step(jit_compile):
    # 10 steps per epoch in executions of 8: every flip (10, 20, 30, 40) and
    # every scoring window's start (7, 27) falls inside an execution.
    x, y = xor_data(320)
    data = dataset(x, y, 32)

    def run(steps_per_execution):
        model = mlp((3, 16, 8, 1), activation="tanh")
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "binary_crossentropy",
                      steps_per_execution=steps_per_execution, jit_compile=jit_compile)
        callback = agp_tf.GrowPruneCallback(
            schedules.alternate(0.5), None, importance_batches=3, batch_size=32
        )
        history = model.fit(data, epochs=5, callbacks=[callback], verbose=0)
        return model, callback, history

    model, callback, history = run(8)
    reference, expected, expected_history = run(1)
    assert [(e.step, e.to_sparsity) for e in callback.flips] == [
        (10, 0.5), (20, 0.0), (30, 0.5), (40, 0.0)
    ]
    assert callback.step == 50 and int(model.optimizer.iterations) == 50
    assert callback.controller.last_scored_steps == 3
    predicted = agp_tf.flops.predict_relative_training_flops(
        callback.controller.specs, callback.schedule, 50
    )
    assert callback.counter.relative_change == pytest.approx(predicted - 1.0, abs=1e-12)
    # the same training as one step per execution: every batch trained once, in order
    for ours, theirs in zip(callback.flips, expected.flips):
        for name in ours.scores:
            np.testing.assert_allclose(ours.scores[name], theirs.scores[name], rtol=1e-5)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], expected_history.history["loss"], rtol=1e-5)
    # one trace (one XLA compilation) of the step per plan, whatever the
    # counts; the scoring steps run the dense plan's (probes switched on)
    functions = list(callback._functions.values())
    assert len(functions) == 2  # dense, sparse
    assert all(f.one_step.experimental_get_tracing_count() == 1 for f in functions)


def test_evaluation_is_traced_once_and_full_width_in_every_phase():
    # Look-ahead evaluation runs before the first fit: its compiled function
    # must survive the callback's start and every flip (no compile at a flip).
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", jit_compile=True)
    x, y = xor_data(320)
    data = dataset(x, y, 32)
    model.evaluate(data, verbose=0)
    evaluation = model.test_function
    callback = agp_tf.GrowPruneCallback(
        schedules.pruning_only(0.5, start=0.6), None, total_steps=20, batch_size=32
    )
    model.fit(data, epochs=1, callbacks=[callback], verbose=0)  # prunes at step 12
    model.evaluate(data, verbose=0)
    model.fit(data, initial_epoch=1, epochs=2, callbacks=[callback], verbose=0)  # starts sparse
    assert [e.step for e in callback.flips] == [12]
    assert model.get_layer("d0").compact_plan is not None  # ends sparse, compact
    assert model.test_function.wrapped is evaluation
    # the full-width functions give the compact model's outputs
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-6, atol=1e-7)
    loss = float(keras.losses.binary_crossentropy(y[:, None], model(x)).numpy().mean())
    assert model.evaluate(x, y, verbose=0) == pytest.approx(loss, rel=1e-5)
    assert model.get_layer("d0").compact_plan is not None  # plans are back after each call
