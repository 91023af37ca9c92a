import numpy as np

from agp_tf import denormals


def test_flush_to_zero_is_in_effect_where_training_runs():
    contexts = denormals.flush_to_zero_in_effect()
    assert set(contexts) == {"eager", "tf.function", "xla", "keras_predict"}
    off = [name for name, flushed in contexts.items() if not flushed]
    assert not off, f"denormals are not flushed to zero in: {off}"


def test_numpy_does_not_flush_so_the_probe_can_fail():
    # The probe's input really produces a denormal where nothing flushes it.
    product = np.float32(1e-38) * np.float32(1e-3)
    assert product != 0.0 and product < np.finfo(np.float32).tiny


def test_slowdown_measurement_returns_ratios():
    ratios = denormals.denormal_matmul_slowdown(size=64, repeats=3)
    assert set(ratios) == {"tensorflow", "numpy"}
    assert all(ratio > 0 for ratio in ratios.values())
