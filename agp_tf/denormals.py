"""Checks that denormal floats are flushed to zero where training runs.

Regrown neurons start from zero, so their weights, gradients and optimizer
slots pass through tiny values; on x86 CPUs arithmetic on denormal floats
can be many times slower. TensorFlow sets flush-to-zero and
denormals-are-zero in its own thread pools (eager ops, graphs, XLA); these
helpers check that this holds and measure what it would cost if not.
"""

import time

import keras
import numpy as np
import tensorflow as tf

_TINY = np.float32(1e-38)  # smallest normal float32 is ~1.18e-38
_SCALE = np.float32(1e-3)  # _TINY * _SCALE = 1e-41 is denormal unless flushed


def flush_to_zero_in_effect():
    """Whether a product that would be denormal comes out as 0, per context.

    Returns:
        Dict context -> bool, for "eager", "tf.function", "xla" and
        "keras_predict" (a Dense layer run by a compiled Keras function).
    """
    tiny = tf.constant([_TINY])
    scale = tf.constant([_SCALE])
    multiply = lambda a, b: a * b  # noqa: E731
    results = {
        "eager": multiply(tiny, scale),
        "tf.function": tf.function(multiply)(tiny, scale),
        "xla": tf.function(multiply, jit_compile=True)(tiny, scale),
    }
    inputs = keras.Input((1,))
    layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    model = keras.Model(inputs, layer(inputs))
    layer.kernel.assign([[_SCALE]])
    results["keras_predict"] = model.predict(np.array([[_TINY]], np.float32), verbose=0)
    return {name: bool(np.all(np.asarray(value) == 0.0)) for name, value in results.items()}


def denormal_matmul_slowdown(size=256, repeats=20):
    """Time of a matmul on denormal inputs relative to normal inputs.

    Measured with TensorFlow and with NumPy (which does not flush), median of
    `repeats`. A ratio near 1.0 means denormals cost nothing.

    Returns:
        Dict with "tensorflow" and "numpy" ratios.
    """
    rng = np.random.default_rng(0)
    normal = rng.uniform(0.5, 1.0, size=(size, size)).astype(np.float32)
    denormal = (normal * np.float32(1e-40)).astype(np.float32)
    other = rng.uniform(0.5, 1.0, size=(size, size)).astype(np.float32)

    def median_seconds(fn):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    def tf_time(a):
        a, b = tf.constant(a), tf.constant(other)
        return median_seconds(lambda: tf.matmul(a, b).numpy())

    def numpy_time(a):
        # Elementwise work: NumPy's BLAS may flush on its own, plain ufuncs do not.
        return median_seconds(lambda: np.multiply(a, other) + a)

    return {
        "tensorflow": tf_time(denormal) / tf_time(normal),
        "numpy": numpy_time(denormal) / numpy_time(normal),
    }
