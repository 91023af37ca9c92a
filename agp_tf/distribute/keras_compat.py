"""Two fixes that let Keras 3 `model.fit` train under a multi-worker MultiWorkerMirroredStrategy.

The only module of agp_tf that touches private Keras for multi-worker
training. It stands in for two upstream bugs, both still open for Keras
3.15 with TensorFlow 2.21:

1. keras-team/keras#20585 (also tensorflow/tensorflow#72388):
   `TensorFlowTrainer._maybe_symbolic_build` reduces the first distributed
   batch with `strategy.reduce("MEAN", batch, axis=None)` to get a batch to
   build the model's metrics and optimizer on. With several workers this
   fails ("Attempt to convert a value (PerReplica...) with an unsupported
   type"). Fix: build on one local replica's batch
   (`strategy.experimental_local_results(value)[0]`); the build only needs
   its shapes and dtypes.
2. `keras.src.backend.tensorflow.trainer.reduce_per_replica` reduces every
   log value of a multi-worker collective strategy with
   `strategy.reduce("MEAN", value, axis=0)`, which fails for the scalar
   (rank-0) losses and metrics that `fit` logs: "Invalid reduction
   dimension 0 for input with 0 dimensions". Fix: reduce rank-0 values with
   `axis=None` (the mean over replicas); values of rank >= 1 keep `axis=0`.

Both replacements hand every call that is not from a multi-worker
`MultiWorkerMirroredStrategy` (Keras' own `_collective_all_reduce_multi_worker`
test) to the original function unchanged, so single-process training, the
default strategy and `MirroredStrategy` behave exactly as in stock Keras.

`apply()` patches the functions in place (idempotent). It refuses Keras
versions outside `TESTED_KERAS` with an error naming the installed version:
the private functions differ between releases. `ORIGINAL_FINGERPRINTS`
holds sha256 digests of the original sources that the replacements were
written against; `tests/test_distribute_keras_compat.py` fails when a new
Keras changes them. Delete this module once the upstream issues are fixed
in the pinned Keras.
"""

import hashlib
import inspect
import re

import keras
import tensorflow as tf

# [first, last) release series this module was written and tested against.
TESTED_KERAS = ((3, 15), (3, 16))

# sha256 of `inspect.getsource(...)` of the original private functions, Keras 3.15.1.
ORIGINAL_FINGERPRINTS = {
    "TensorFlowTrainer._maybe_symbolic_build": (
        "92a504f5eba9b29f81f1bf26180bdd5bf5186b06b7bda426534b90d2d02bc1c2"
    ),
    "reduce_per_replica": "2e7d54b1e6edc29a8c6a7e6b66cd4c8be3ba7842412c93753ac3afe169fa7fb8",
    "_collective_all_reduce_multi_worker": (
        "0302369d850e6694978fa7691c0e97b79cd0cf83a6bbef7caed8738e1f1a5c24"
    ),
}


def keras_version():
    """The installed Keras version as a tuple of ints, e.g. `(3, 15, 1)`."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", keras.__version__)
    if match is None:
        raise RuntimeError(f"Cannot read the Keras version {keras.__version__!r}.")
    return tuple(int(part) for part in match.groups() if part is not None)


def tested_range_text():
    (low_major, low_minor), (high_major, high_minor) = TESTED_KERAS
    return f">={low_major}.{low_minor},<{high_major}.{high_minor}"


def check_version(version=None):
    """Raises RuntimeError unless `version` (default: the installed Keras) was tested."""
    version = keras_version() if version is None else tuple(version)
    low, high = TESTED_KERAS
    if not low <= tuple(version[:2]) < high:
        installed = ".".join(str(part) for part in version)
        raise RuntimeError(
            f"agp_tf.distribute.keras_compat patches private Keras functions for "
            f"multi-worker `fit` and was tested with Keras {tested_range_text()} only; "
            f"the installed Keras is {installed}. Re-check keras-team/keras#20585 and the "
            "rank-0 reduction in keras/src/backend/tensorflow/trainer.py "
            "(`_maybe_symbolic_build`, `reduce_per_replica`) against this version, then "
            "update TESTED_KERAS and ORIGINAL_FINGERPRINTS."
        )


def _trainer_module():
    from keras.src.backend.tensorflow import trainer  # private: pinned by check_version

    return trainer


def patched_functions():
    """Dict name -> the private Keras function (or method) this module relies on."""
    trainer = _trainer_module()
    return {
        "TensorFlowTrainer._maybe_symbolic_build": _original(
            trainer.TensorFlowTrainer, "_maybe_symbolic_build"
        ),
        "reduce_per_replica": _original(trainer, "reduce_per_replica"),
        "_collective_all_reduce_multi_worker": trainer._collective_all_reduce_multi_worker,
    }


def fingerprint(function):
    """sha256 of a function's source text."""
    return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()


def _original(owner, name):
    function = getattr(owner, name)
    return getattr(function, "_agp_original", function)


def _is_multi_worker(strategy):
    return strategy is not None and _trainer_module()._collective_all_reduce_multi_worker(strategy)


def _local_value(value, strategy):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _make_symbolic_build(original):
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or not _is_multi_worker(strategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        # As the original, but one local replica's batch instead of a
        # cross-worker reduction of the batch (keras-team/keras#20585).
        for _, _, it in iterator:
            batch = next(it)
            data_batch = keras.tree.map_structure(
                lambda value: _local_value(value, strategy), batch
            )
            break
        return original(self, iterator=None, data_batch=data_batch)

    _maybe_symbolic_build._agp_original = original
    return _maybe_symbolic_build


def _make_reduce_per_replica(original):
    def reduce_per_replica(values, strategy, reduction):
        # "auto" means "mean" on every strategy but TPUStrategy.
        if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
            return original(values, strategy, reduction)

        def _reduce(value):
            rank = strategy.experimental_local_results(value)[0].shape.rank
            # axis=0 on a scalar is "Invalid reduction dimension 0".
            return strategy.reduce("MEAN", value, axis=None if rank == 0 else 0)

        return keras.tree.map_structure(_reduce, values)

    reduce_per_replica._agp_original = original
    reduce_per_replica.__doc__ = original.__doc__
    return reduce_per_replica


def is_applied():
    """Whether `apply()` has patched the installed Keras."""
    trainer = _trainer_module()
    return hasattr(trainer.reduce_per_replica, "_agp_original") and hasattr(
        trainer.TensorFlowTrainer._maybe_symbolic_build, "_agp_original"
    )


def apply():
    """Patches Keras for multi-worker `fit` (see the module docstring); idempotent.

    Raises:
        RuntimeError: The installed Keras is outside `TESTED_KERAS`.
    """
    check_version()
    trainer = _trainer_module()
    if not hasattr(trainer.TensorFlowTrainer._maybe_symbolic_build, "_agp_original"):
        trainer.TensorFlowTrainer._maybe_symbolic_build = _make_symbolic_build(
            trainer.TensorFlowTrainer._maybe_symbolic_build
        )
    # The train/test/predict functions look `reduce_per_replica` up in the
    # module's globals at each trace, so replacing the module attribute is enough.
    if not hasattr(trainer.reduce_per_replica, "_agp_original"):
        trainer.reduce_per_replica = _make_reduce_per_replica(trainer.reduce_per_replica)


def restore():
    """Undoes `apply()` (for tests); a no-op when not applied."""
    trainer = _trainer_module()
    build = trainer.TensorFlowTrainer._maybe_symbolic_build
    if hasattr(build, "_agp_original"):
        trainer.TensorFlowTrainer._maybe_symbolic_build = build._agp_original
    if hasattr(trainer.reduce_per_replica, "_agp_original"):
        trainer.reduce_per_replica = trainer.reduce_per_replica._agp_original


__all__ = [
    "ORIGINAL_FINGERPRINTS",
    "TESTED_KERAS",
    "apply",
    "check_version",
    "fingerprint",
    "is_applied",
    "keras_version",
    "patched_functions",
    "restore",
]
