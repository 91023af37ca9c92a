"""TensorFlow start-up without its native log noise, for the entry-point scripts.

On a CPU machine, `import tensorflow` and the first device lookup print
lines such as "Could not find cuda drivers", "failed call to cuInit: ...
CUDA error" and "oneDNN custom operations are on" straight from C++ to
file descriptor 2. TensorFlow 2.21 writes them before its logging is set up,
so `TF_CPP_MIN_LOG_LEVEL` does not hide them. `import_tensorflow()` points
descriptor 2 at a temporary file while TensorFlow and Keras load and look up
their devices, then restores it and repeats every captured line that is not
known start-up noise, so a real error still shows.

Native INFO lines written later are hidden too (`TF_CPP_MIN_LOG_LEVEL`
defaults to 1). Set `AGP_TF_SHOW_STARTUP_LOGS=1` to see everything.
"""

import contextlib
import os
import re
import sys
import tempfile

# Lines TensorFlow prints at every CPU start-up; nothing a user can act on.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|cpu_feature_guard"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions:.*rebuild TensorFlow"
    r"|in other operations, rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    # The first XLA compilation's banner (see `import_tensorflow(xla=True)`).
    r"|XLA service 0x[0-9a-f]+ initialized for platform"
    r"|StreamExecutor \[\d+\]: Host"
    r"|disabling MLIR crash reproducer"
    r"|Compiled cluster using XLA!"
)


def filter_startup_noise(text):
    """`text` without the lines that match `STARTUP_NOISE`."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not STARTUP_NOISE.search(line)
    )


@contextlib.contextmanager
def quiet_native_stderr():
    """Holds back TensorFlow's native start-up noise written inside the block
    (e.g. while a cluster strategy starts its server); repeats the rest."""
    if os.environ.get("AGP_TF_SHOW_STARTUP_LOGS") == "1":
        yield
        return
    with _captured_native_stderr():
        yield


@contextlib.contextmanager
def _captured_native_stderr():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            rest = filter_startup_noise(capture.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


def import_tensorflow(xla=False, intra_op_threads=0, inter_op_threads=0):
    """Imports TensorFlow and Keras quietly and returns the `tensorflow` module.

    Args:
        xla: Also train a one-neuron Keras model for a step with XLA, so the
            banners XLA prints at its first compilation fall in the quiet part
            (about 0.4 s).
        intra_op_threads, inter_op_threads: Thread pool sizes (0: the
            default), set here because they must be set before the first op.
    """
    quiet = os.environ.get("AGP_TF_SHOW_STARTUP_LOGS") != "1"
    if quiet:
        # Native INFO lines after start-up (e.g. a cluster's at exit) are not
        # for users either; warnings and errors still show.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    with _captured_native_stderr() if quiet else contextlib.nullcontext():
        import keras  # noqa: F401  (its first import logs too)
        import tensorflow as tf

        if intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
        if inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
        tf.config.list_physical_devices()  # the CUDA probe happens here
        if xla:
            # A two-step Keras fit on a dataset with an AUC metric: plain XLA
            # functions do not reach every banner (AUC's ops reach the MLIR
            # one). Explicit names leave Keras' automatic names unchanged.
            model = keras.Sequential(
                [keras.Input((1,)), keras.layers.Dense(1, name="quiet_startup_dense")],
                name="quiet_startup",
            )
            model.compile("sgd", "mse", metrics=[keras.metrics.AUC()], jit_compile=True)
            data = tf.data.Dataset.from_tensor_slices((tf.ones((2, 1)), tf.ones((2, 1)))).batch(1)
            model.fit(data, verbose=0, shuffle=False)
    return tf
