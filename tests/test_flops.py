import keras
import pytest

import agp_tf
from agp_tf import flops, schedules
from agp_tf.flops import LayerSpec
from tests.helpers import dataset, mlp, xor_data

# 3 -> 4 (prunable) -> 2 (prunable) -> 1
SPECS = [
    LayerSpec("d0", 3, 4, prunable=True),
    LayerSpec("d1", 4, 2, prunable=True, producers=("d0",)),
    LayerSpec("d2", 2, 1, prunable=False, producers=("d1",)),
]


def test_dense_layer_flops_by_hand():
    assert flops.dense_layer_flops(3, 4) == (2 * 3 * 4 + 4, 4 * 3 * 4 + 4)
    assert flops.dense_layer_flops(3, 4, use_bias=False) == (24, 48)


def test_model_flops_by_hand_dense_and_sparse():
    # dense: (28 + 52) + (18 + 34) + (5 + 9)
    assert flops.training_flops_per_sample(SPECS) == 146
    active = flops.active_units_at(SPECS, 0.5)
    assert active == {"d0": 2, "d1": 1, "d2": 1}
    # d0: 3 -> 2: (14 + 26); d1: 2 -> 1: (5 + 9); d2: 1 -> 1: (3 + 5)
    assert flops.training_flops_per_sample(SPECS, active) == 62


def test_active_parameters_by_hand():
    # dense: 3*4 + 4, 4*2 + 2, 2*1 + 1
    assert flops.active_parameters(SPECS) == 16 + 10 + 3
    # at 0.5: 3 -> 2 -> 1 -> 1: (6 + 2) + (2 + 1) + (1 + 1)
    assert flops.active_parameters(SPECS, flops.active_units_at(SPECS, 0.5)) == 13


def test_prediction_by_hand():
    # alternate(0.5) over 10 steps: steps 2, 3, 6, 7 sparse.
    ratio = flops.predict_relative_training_flops(SPECS, schedules.alternate(0.5), 10)
    assert ratio == pytest.approx((6 * 146 + 4 * 62) / (10 * 146))
    assert flops.predict_relative_training_flops(SPECS, schedules.dense(), 7) == 1.0
    with pytest.raises(ValueError, match="total_steps=0"):
        flops.predict_relative_training_flops(SPECS, schedules.dense(), 0)


def test_layer_specs_read_off_a_model():
    model = mlp((3, 4, 2, 1))
    assert flops.layer_specs(model) == SPECS


def test_counter():
    counter = flops.FlopsCounter(dense_flops_per_sample=1000)
    counter.add_steps(700, samples=128)
    counter.add_steps(1000, samples=128)
    assert counter.actual == 1700 * 128 and counter.dense == 2000 * 128
    assert counter.relative_change == pytest.approx(-0.15)


@pytest.mark.parametrize("schedule", [schedules.alternate(0.5), schedules.growth_only(0.5)])
def test_prediction_equals_counter_of_a_real_run(schedule):
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy")
    x, y = xor_data(320)
    data = dataset(x, y, 32)  # 10 steps per epoch
    callback = agp_tf.GrowPruneCallback(schedule, data, importance_batches=2, batch_size=32)
    model.fit(data, epochs=3, callbacks=[callback], verbose=0)
    predicted = flops.predict_relative_training_flops(flops.layer_specs(model), schedule, 30)
    assert callback.counter.relative_change == pytest.approx(predicted - 1.0, rel=1e-12)
    assert callback.counter.relative_change < -0.1
    assert callback.counter.dense == 30 * 32 * flops.training_flops_per_sample(flops.layer_specs(model))


def test_counter_with_several_steps_per_execution():
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy", steps_per_execution=5)
    x, y = xor_data(320)
    data = dataset(x, y, 32)  # 10 steps per epoch, flips at multiples of 5
    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), data, importance_batches=2)
    model.fit(data, epochs=5, callbacks=[callback], verbose=0)
    assert [e.step for e in callback.flips] == [10, 20, 30, 40]
    predicted = flops.predict_relative_training_flops(flops.layer_specs(model), callback.schedule, 50)
    assert callback.counter.relative_change == pytest.approx(predicted - 1.0, rel=1e-12)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_counter_with_a_short_last_execution_per_epoch(jit_compile):
    model = mlp((3, 8, 8, 1))
    model.compile(
        keras.optimizers.SGD(0.05), "binary_crossentropy", steps_per_execution=3,
        jit_compile=jit_compile,
    )
    x, y = xor_data(224)
    data = dataset(x, y, 32).filter(lambda a, b: True)  # 7 steps, unknown length: 3 + 3 + 1
    callback = agp_tf.GrowPruneCallback(
        schedules.alternate(0.5), dataset(x, y, 32), total_steps=35, importance_batches=2
    )
    for epoch in range(5):
        model.fit(data, initial_epoch=epoch, epochs=epoch + 1, callbacks=[callback], verbose=0)
    assert callback.step == 35
    assert [e.step for e in callback.flips] == [7, 14, 21, 28]
    predicted = flops.predict_relative_training_flops(flops.layer_specs(model), callback.schedule, 35)
    assert callback.counter.relative_change == pytest.approx(predicted - 1.0, rel=1e-12)
