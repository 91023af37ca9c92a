"""Taylor scores read off the training steps equal the extra-pass scores."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import agp_tf
from agp_tf import importance, schedules
from agp_tf.step_taylor import StepTaylorProbe, gate_terms
from tests.helpers import dataset, mirrored_strategy, mlp, xor_data


def test_gate_term_is_the_weight_gradient_term():
    # z = x @ w + b: sum_batch dL/dz * z == sum_i w * dL/dw + b * dL/db.
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    upstream = rng.normal(size=(5, 4))  # dL/dz
    expected = importance.taylor_batch_terms(w, x.T @ upstream, b, upstream.sum(axis=0))
    got = gate_terms(tf.constant(upstream), tf.constant(x @ w + b)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def _extra_pass_scores(model, batches):
    layers = [model.get_layer(n) for n in ("d0", "d1")]
    loss_fn = importance.resolve_loss(model)
    terms = [importance.taylor_terms(model, layers, loss_fn, x, y) for x, y in batches]
    return [importance.taylor_scores([t[k].numpy() for t in terms]) for k in range(2)]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_probe_scores_equal_extra_pass_scores_at_learning_rate_zero(jit_compile):
    model = mlp((3, 16, 8, 1))
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy", jit_compile=jit_compile)
    x, y = xor_data(256)
    batches = list(dataset(x, y, 32).take(6).as_numpy_iterator())
    expected = _extra_pass_scores(model, batches)
    probes = [StepTaylorProbe(n, f"p{k}") for k, n in enumerate((16, 8))]
    for name, probe in zip(("d0", "d1"), probes):
        model.get_layer(name).set_taylor_probe(probe)
    model.fit(dataset(x, y, 32).take(6), verbose=0)
    for probe, want in zip(probes, expected):
        assert probe.num_steps() == 6
        np.testing.assert_allclose(probe.scores(), want, rtol=1e-5)
    # Evaluation does not run the probes.
    model.evaluate(dataset(x, y, 32).take(2), verbose=0)
    assert probes[0].num_steps() == 6


def test_callback_scores_from_training_steps_and_keeps_other_steps_unchanged():
    model = mlp((3, 16, 8, 1))
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy", jit_compile=True)
    x, y = xor_data(320)
    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), None, importance_batches=3)
    assert callback.taylor_source == "training"
    functions = []

    class Watch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            probing = callback.controller.probing
            functions.append((callback.step, probing, self.model.train_function))
            carried.append((callback.step, model.get_layer("d0").taylor_probe is not None))
            if probing:
                assert model.get_layer("d0").taylor_probe is not None

    carried = []
    model.fit(dataset(x, y, 32), epochs=5, callbacks=[callback, Watch()], verbose=0)
    # 50 steps, phases from 0, 10, 20, 30, 40: prunes at 10 and 30, each
    # scored on the 3 steps before it.
    assert [(e.step, e.to_sparsity) for e in callback.flips] == [
        (10, 0.5), (20, 0.0), (30, 0.5), (40, 0.0)
    ]
    probed = [step for step, probing, _ in functions if probing]
    assert probed == [8, 9, 10, 28, 29, 30]  # steps 7-9 and 27-29 (counted after)
    assert all(len(callback.flips[k].scores["d0"]) == 16 for k in (0, 2))
    assert callback.controller.last_scored_steps == 3
    # The scoring steps run the very function of the dense steps around
    # them (the probes are switched on, not traced in).
    dense = {id(f) for step, probing, f in functions if step <= 10 or 21 <= step <= 30}
    assert len(dense) == 1
    # Sparse phases score nothing here: their (compact) step carries no probe.
    assert [step for step, has_probe in carried if not has_probe] == [
        *range(11, 21), *range(31, 41)
    ]


def test_a_switched_off_probe_changes_no_number_and_adds_nothing():
    x, y = xor_data(256)

    def train(probed, active):
        model = mlp((3, 16, 8, 1))
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", jit_compile=True)
        probes = []
        if probed:
            switch = tf.Variable(active)
            probes = [StepTaylorProbe(n, f"s{k}", active=switch) for k, n in enumerate((16, 8))]
            for name, probe in zip(("d0", "d1"), probes):
                model.get_layer(name).set_taylor_probe(probe)
        history = model.fit(dataset(x, y, 32).take(6), verbose=0)
        return model.get_weights(), history.history["loss"], probes

    plain, plain_loss, _ = train(False, False)
    off, off_loss, probes = train(True, False)
    assert off_loss == plain_loss
    for a, b in zip(plain, off):
        np.testing.assert_array_equal(a, b)
    assert all(p.num_steps() == 0 and not p.scores().any() for p in probes)
    # One switch serves both probes: on, both count every step.
    _, _, probes = train(True, True)
    assert [p.num_steps() for p in probes] == [6, 6]
    probes[0].set_active(False)
    assert not probes[1].is_active()


def test_mirrored_replicas_sum_terms_before_squaring():
    strategy = mirrored_strategy()
    if strategy is None:
        pytest.skip("needs two logical CPU devices (set up in conftest.py)")
    x, y = xor_data(256)
    batches = list(dataset(x, y, 32).take(4).as_numpy_iterator())
    single = mlp((3, 16, 8, 1))
    single.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
    expected = _extra_pass_scores(single, batches)
    with strategy.scope():
        model = mlp((3, 16, 8, 1))  # same seed: same weights
        model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
        probes = [StepTaylorProbe(n, f"m{k}") for k, n in enumerate((16, 8))]
    for name, probe in zip(("d0", "d1"), probes):
        model.get_layer(name).set_taylor_probe(probe)
    model.fit(dataset(x, y, 32).take(4), verbose=0)
    for probe, want in zip(probes, expected):
        # Squares of per-replica halves would differ from the global term's.
        np.testing.assert_allclose(probe.scores(), want, rtol=1e-4)


def test_a_scoring_window_survives_a_checkpoint_in_its_middle():
    x, y = xor_data(384)
    schedule = schedules.pruning_only(0.5, start=0.5)  # prune at step 6, scored on 3-5

    def fresh():
        model = mlp((3, 16, 8, 1))
        model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy")
        return model

    def callback():
        return agp_tf.GrowPruneCallback(schedule, None, total_steps=12, importance_batches=3)

    whole = callback()
    fresh().fit(dataset(x, y).take(12), callbacks=[whole], verbose=0)
    model, first = fresh(), callback()
    model.fit(dataset(x, y).take(4), callbacks=[first], verbose=0)
    state = first.get_state()
    assert state["probe"]["d0"]["steps"] == 1  # step 3 scored, 4 and 5 to come
    second = callback()
    second.set_state(state)
    model.fit(dataset(x, y).skip(4).take(8), callbacks=[second], verbose=0)
    assert [e.step for e in second.flips] == [e.step for e in whole.flips] == [6]
    for name in ("d0", "d1"):
        np.testing.assert_allclose(second.flips[0].scores[name], whole.flips[0].scores[name],
                                   rtol=1e-6)


def test_a_prune_inside_a_compact_sparse_phase_scores_the_kept_neurons():
    model = mlp((3, 16, 8, 1))
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy", jit_compile=True)
    x, y = xor_data(320)
    rising = schedules.PhaseSchedule([(0.0, 0.0), (0.3, 0.25), (0.6, 0.5)])
    callback = agp_tf.GrowPruneCallback(rising, None, importance_batches=3, compact=True)
    model.fit(dataset(x, y, 32), epochs=3, callbacks=[callback], verbose=0)
    # 30 steps: prunes at 9 and 18; the second is scored on compact steps 15-17.
    assert [(e.step, e.to_sparsity) for e in callback.flips] == [(9, 0.25), (18, 0.5)]
    first, second = (e.scores["d0"] for e in callback.flips)
    kept_before = first > np.sort(first)[3]  # the 12 of 16 kept at the first prune
    assert np.all(second[~kept_before] == 0.0) and np.all(second[kept_before] > 0.0)
    assert model.get_layer("d0").active_units == 8
