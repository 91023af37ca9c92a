"""A resumable training run over data windows, with look-ahead evaluation.

`WindowedRun` walks a window source (see `agp_tf.data.windows`): for each
window it first evaluates the model on it (the look-ahead loss: data the
model has not seen, as in online training of click models), then trains on
it with `model.fit`, then checkpoints. Killed at any point, the same run
started again resumes after the last finished window, from the same model,
optimizer, masks and FLOPs count, and so ends with the same result.

Files in `run_dir`:

    checkpoint-<k>.keras   model + optimizer + masks after k windows (the
                           newest two are kept)
    state.json             windows done, look-ahead results, FLOPs counter,
                           the settings the run was started with, and the
                           same for the checkpoint before (`previous`), so a
                           corrupt newest checkpoint falls back to it
    history.csv            per-window training logs (CSVLogger)
    tensorboard/           Keras and agp scalars
"""

import dataclasses
import json
import math
import os
import time

import logging

import keras
import numpy as np

logger = logging.getLogger("agp_tf")


STATE_FILE = "state.json"


@dataclasses.dataclass
class WindowResult:
    """Look-ahead and training figures of one window."""

    index: int
    description: str
    rows: int
    lookahead: dict  # metric name -> value, before training on the window
    train_loss: float
    train_seconds: float
    eval_seconds: float


def _checkpoint_path(run_dir, windows_done):
    return os.path.join(run_dir, f"checkpoint-{windows_done}.keras")


def _atomic_json(path, value):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)
    os.replace(temporary, path)


def load_state(run_dir):
    """The saved `state.json` of a run directory, or None."""
    path = os.path.join(run_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            state = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Cannot read the run state {path}: {error}. Remove the run directory (or pass "
            "--restart) to start the run again."
        ) from None
    if not isinstance(state, dict) or "windows_done" not in state:
        raise ValueError(f"The run state {path} is not a state file of a windowed run.")
    return state


def mean_lookahead(results, name):
    """Row-weighted mean of a look-ahead metric over windows."""
    rows = sum(r.rows for r in results)
    return sum(r.lookahead[name] * r.rows for r in results) / rows if rows else float("nan")


class WindowedRun:
    """Trains window by window with look-ahead evaluation and checkpoints.

    Args:
        source: A window source (`agp_tf.data.windows`).
        run_dir: Directory for checkpoints, state and logs.
        batch_size: Training batch size.
        settings: JSON-able dict of the run's settings. A run directory is
            only resumed with the same settings.
        callback: A `GrowPruneCallback` (its `total_steps` is set here).
        extra_callbacks: More Keras callbacks for `fit` (progress bar aside).
        verbose: Keras `fit` verbosity (1 = progress bar).

    Example:

    ```python
    run = WindowedRun(source, "runs/a", 128, settings, callback)
    model = run.restore_or(lambda: build_and_compile())
    results = run.train(model)
    ```
    """

    def __init__(self, source, run_dir, batch_size, settings, callback, extra_callbacks=(),
                 verbose=1):
        self.source = source
        self.run_dir = run_dir
        self.batch_size = batch_size
        self.settings = settings
        self.callback = callback
        self.extra_callbacks = list(extra_callbacks)
        self.verbose = verbose
        self.results = []
        self.windows_done = 0
        self._last_saved = None  # the state of the newest checkpoint, once one is written
        self.total_steps = sum(math.ceil(rows / batch_size) for rows in source.window_rows)
        os.makedirs(run_dir, exist_ok=True)

    def restore_or(self, build_model):
        """The model saved after the last finished window, or `build_model()`.

        Raises:
            ValueError: the run directory holds a run with other settings.
        """
        state = load_state(self.run_dir)
        if state is None:
            return build_model()
        if state["settings"] != self.settings:
            changed = sorted(
                key for key in set(state["settings"]) | set(self.settings)
                if state["settings"].get(key) != self.settings.get(key)
            )
            raise ValueError(
                f"{self.run_dir} holds a run with other settings ({', '.join(changed)}): "
                "use another run directory or --restart."
            )
        path = _checkpoint_path(self.run_dir, state["windows_done"])
        try:
            model = keras.models.load_model(path)
        except Exception as error:  # a corrupt or missing file: say which, try the one before
            previous = state.get("previous")
            fallback = previous and _checkpoint_path(self.run_dir, previous["windows_done"])
            if not fallback or not os.path.exists(fallback):
                raise ValueError(
                    f"Cannot load the checkpoint {path} named by {STATE_FILE} ({error}), and "
                    "there is no earlier checkpoint to fall back to."
                ) from error
            logger.warning(
                "Cannot load the checkpoint %s (%s); resuming from the one before, %s.",
                path, error, fallback,
            )
            print(f"warning: cannot load {path}; resuming from {fallback}", flush=True)
            model = keras.models.load_model(fallback)
            state = previous
        self.windows_done = state["windows_done"]
        self.results = [WindowResult(**r) for r in state["results"]]
        self.callback.set_state(state["callback"])
        self._last_saved = {key: state[key] for key in ("windows_done", "results", "callback")}
        return model

    def train(self, model):
        """Trains on the remaining windows; returns all `WindowResult`s."""
        self.callback.total_steps = self.total_steps
        callbacks = [self.callback] + self.extra_callbacks
        count = len(self.source.window_rows)
        for index in range(self.windows_done, count):
            data = self.source.window(index, self.batch_size)
            started = time.perf_counter()
            lookahead = model.evaluate(data, return_dict=True, verbose=0)
            evaluated = time.perf_counter()
            self.callback.importance_data = data
            history = model.fit(
                data, initial_epoch=index, epochs=index + 1, callbacks=callbacks,
                verbose=self.verbose,
            )
            trained = time.perf_counter()
            self.results.append(
                WindowResult(
                    index=index,
                    description=self.source.describe(index),
                    rows=self.source.window_rows[index],
                    lookahead={k: float(v) for k, v in lookahead.items()},
                    train_loss=float(history.history["loss"][-1]),
                    train_seconds=trained - evaluated,
                    eval_seconds=evaluated - started,
                )
            )
            self._checkpoint(model, index + 1)
        return self.results

    def _checkpoint(self, model, windows_done):
        path = _checkpoint_path(self.run_dir, windows_done)
        model.save(path + ".tmp.keras")
        os.replace(path + ".tmp.keras", path)
        current = {
            "windows_done": windows_done,
            "results": [dataclasses.asdict(r) for r in self.results],
            "callback": self.callback.get_state(),
        }
        _atomic_json(
            os.path.join(self.run_dir, STATE_FILE),
            {**current, "settings": self.settings, "previous": self._last_saved},
        )
        self._last_saved = current
        # Keep the newest two checkpoints: the state may point at either.
        stale = _checkpoint_path(self.run_dir, windows_done - 2)
        if os.path.exists(stale):
            os.remove(stale)
        self.windows_done = windows_done


def evaluate(model, data):
    """`model.evaluate` as a dict of floats (the compiled CTR metrics)."""
    return {k: float(v) for k, v in model.evaluate(data, return_dict=True, verbose=0).items()}


def relative_change(value, baseline):
    """`value / baseline - 1`, NaN without a baseline."""
    if baseline is None or not np.isfinite(baseline) or baseline == 0:
        return float("nan")
    return value / baseline - 1.0


__all__ = ["WindowedRun", "WindowResult", "evaluate", "load_state", "mean_lookahead",
           "relative_change"]
