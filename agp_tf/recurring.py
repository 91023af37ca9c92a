"""A resumable training run over data windows, with look-ahead evaluation.

`WindowedRun` walks a window source (see `agp_tf.data.windows`): for each
window it first evaluates the model on it (the look-ahead loss: data the
model has not seen, as in online training of click models), then trains on
it with `model.fit`, then checkpoints. Killed at any point, the same run
started again resumes after the last finished window, from the same model,
optimizer, masks and FLOPs count, and so ends with the same result.

Files in `run_dir`:

    checkpoint-<k>.keras   model + optimizer + masks after k windows (the
                           newest `keep_checkpoints`, default 1; an older
                           one is removed only once the newer one has been
                           written, checked and recorded)
    state.json             windows done, look-ahead results, FLOPs counter,
                           the settings the run was started with, and the
                           same for the checkpoint before (`previous`), so a
                           corrupt newest checkpoint falls back to it when
                           it is kept (`keep_checkpoints >= 2`)
    history.csv            one row per window: its data, look-ahead metrics,
                           the training logs of its epoch (loss, metrics,
                           sparsity and FLOPs scalars) and the seconds spent
    tensorboard/           Keras and agp scalars
"""

import csv
import dataclasses
import json
import logging
import math
import os
import sys
import time
import zipfile

import keras
import numpy as np
import tensorflow as tf

from agp_tf.data.batches import full_batches, pads_exactly, without_autotune

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
    train: dict = dataclasses.field(default_factory=dict)  # the epoch's training logs
    checkpoint_seconds: float = 0.0  # writing and checking the window's checkpoint
    # This process's CPU time (all threads) while training: on a shared
    # machine it moves less with other processes' load than wall-clock does.
    train_cpu_seconds: float = 0.0

    def history_row(self):
        """The window's row of `history.csv`."""
        return {
            "window": self.index + 1, "data": self.description, "rows": self.rows,
            **{f"lookahead_{k}": v for k, v in self.lookahead.items()},
            **{f"train_{k}": v for k, v in self.train.items()},
            "train_seconds": self.train_seconds, "eval_seconds": self.eval_seconds,
            "checkpoint_seconds": self.checkpoint_seconds,
            "train_cpu_seconds": self.train_cpu_seconds,
        }


def append_history(path, result):
    """Appends `result`'s row to the CSV at `path` (with a header when new)."""
    row = result.history_row()
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if not new:
        with open(path, newline="") as handle:
            columns = next(csv.reader(handle), None) or list(row)
    else:
        columns = list(row)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


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


class WindowProgress(keras.callbacks.Callback):
    """One progress line per window: window k/n, its data, the phase in words,
    step, loss and speed.

    verbose 1 rewrites the line in place while the window trains (on a
    terminal; elsewhere it prints the finished line only), verbose 2 prints
    it once when the window is done.
    """

    def __init__(self, label, grow_prune, total_steps, batch_size, verbose, stream=None,
                 refresh_seconds=0.5):
        super().__init__()
        self.label = label
        self.grow_prune = grow_prune
        self.total_steps = total_steps
        self.batch_size = batch_size
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.refresh_seconds = refresh_seconds
        self._live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()

    def line(self, logs):
        step = self.grow_prune.step
        schedule = self.grow_prune.schedule
        # The phase of the step just run (the counter already points past it).
        phase = schedule.describe_phase(
            schedule.phase_at_step(max(step - 1, 0), self.total_steps)
        )
        text = f"{self.label}  {phase}  step {step:,}/{self.total_steps:,}"
        if logs and "loss" in logs:
            text += f"  loss {float(logs['loss']):.4f}"
        seconds = time.perf_counter() - self._started
        rows = (step - self._first_step) * self.batch_size
        if seconds > 0 and rows:
            text += f"  {rows / seconds:,.0f} rows/s"
        return text

    def on_train_begin(self, logs=None):
        self._started = self._shown = time.perf_counter()
        self._first_step = self.grow_prune.step

    def on_train_batch_end(self, batch, logs=None):
        if self._live and time.perf_counter() - self._shown >= self.refresh_seconds:
            self._shown = time.perf_counter()
            self.stream.write("\r" + self.line(logs) + "\033[K")
            self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose:
            # On a terminal, overwrite the live line and clear its tail.
            text = f"\r{self.line(logs)}\033[K" if self._live else self.line(logs)
            self.stream.write(text + "\n")
            self.stream.flush()


def mean_lookahead(results, name):
    """Row-weighted mean of a look-ahead metric over windows."""
    rows = sum(r.rows for r in results)
    return sum(r.lookahead[name] * r.rows for r in results) / rows if rows else float("nan")


class KerasEngine:
    """How `WindowedRun` trains and evaluates: `model.fit` and `model.evaluate`.

    The default; `agp_tf.distribute.ParameterServerEngine` is the other one
    (Keras' `fit` has no parameter-server path).
    """

    def evaluate(self, model, data):
        """Dict metric name -> float over `data` (the compiled loss and metrics)."""
        return evaluate(model, data)

    def fit_window(self, model, data, epoch, callbacks, steps=None):
        """Trains one pass over `data` as epoch `epoch`; returns its logs as floats."""
        history = model.fit(
            data, initial_epoch=epoch, epochs=epoch + 1, callbacks=callbacks, verbose=0,
            shuffle=False,  # windows come in order (the tf.data source decides)
        )
        return {k: float(v[-1]) for k, v in history.history.items()}


class WindowedRun:
    """Trains window by window with look-ahead evaluation and checkpoints.

    Args:
        source: A window source (`agp_tf.data.windows`).
        run_dir: Directory for checkpoints, state and logs.
        batch_size: Training batch size.
        settings: JSON-able dict of the run's settings. A run directory is
            only resumed with the same settings.
        callback: A `GrowPruneCallback` (its `total_steps` is set here).
        extra_callbacks: More Keras callbacks for `fit`.
        verbose: 0 silent; 1 a live progress line per window (`WindowProgress`);
            2 one line per finished window.
        keep_checkpoints: Newest checkpoints kept (>= 1). With 1 a corrupt
            newest checkpoint cannot fall back to an earlier one.
        history_path: Optional CSV file that gets one row per window
            (`WindowResult.history_row`), written with its checkpoint.
        eval_batch_size: Rows per look-ahead evaluation batch (the window's
            training batches joined by `rebatch`); default: the training
            batch size. Larger batches evaluate faster; the metrics are
            streaming sums, equal up to float rounding.
        engine: What trains and evaluates (`KerasEngine()`, the default, or
            `agp_tf.distribute.ParameterServerEngine`).
        writer: Whether this process writes checkpoints, state and history
            (False on the non-chief workers of a cluster: they read the
            chief's files to resume and write none).

    Example:

    ```python
    run = WindowedRun(source, "runs/a", 128, settings, callback)
    model = run.restore_or(lambda: build_and_compile())
    results = run.train(model)
    ```
    """

    def __init__(self, source, run_dir, batch_size, settings, callback, extra_callbacks=(),
                 verbose=1, keep_checkpoints=1, history_path=None, eval_batch_size=None,
                 engine=None, writer=True):
        if not isinstance(keep_checkpoints, int) or keep_checkpoints < 1:
            raise ValueError(
                f"`keep_checkpoints` must be an integer >= 1. Received: {keep_checkpoints!r}"
            )
        self.keep_checkpoints = keep_checkpoints
        self.engine = engine or KerasEngine()
        self.writer = bool(writer)
        self.history_path = history_path
        self.eval_batch_size = eval_batch_size
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
        if self.writer:
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
                    "there is no earlier checkpoint to fall back to (keep more with "
                    "keep_checkpoints / --keep_checkpoints). Start again with --restart."
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
        count = len(self.source.window_rows)
        for index in range(self.windows_done, count):
            # Two iterators per window: an autotuned one can take 0.5 s to end.
            data = without_autotune(self.source.window(index, self.batch_size))
            started = time.perf_counter()
            lookahead = self.engine.evaluate(
                model, rebatch(data, self.eval_batch_size, self.source.window_rows[index])
            )
            evaluated = time.perf_counter()
            if self.callback.taylor_source == "data":
                # Extra-pass scores read the window being trained on.
                self.callback.importance_data = data
            progress = WindowProgress(
                f"window {index + 1}/{count}  {self.source.describe(index)}",
                self.callback, self.total_steps, self.batch_size, self.verbose,
            )
            if getattr(model, "jit_compile", False) is True and pads_exactly(model.loss):
                # One batch shape: a window's short last batch would compile
                # every training function a second time (`full_batches`).
                data = full_batches(data, self.batch_size)
            cpu_started = time.process_time()
            train_logs = self.engine.fit_window(
                model, data, index, [self.callback, *self.extra_callbacks, progress],
                steps=math.ceil(self.source.window_rows[index] / self.batch_size),
            )
            trained, cpu_trained = time.perf_counter(), time.process_time()
            self.results.append(
                WindowResult(
                    index=index,
                    description=self.source.describe(index),
                    rows=self.source.window_rows[index],
                    lookahead={k: float(v) for k, v in lookahead.items()},
                    train_loss=float(train_logs["loss"]),
                    train_seconds=trained - evaluated,
                    eval_seconds=evaluated - started,
                    train=train_logs,
                    train_cpu_seconds=cpu_trained - cpu_started,
                )
            )
            self._checkpoint(model, index + 1)
        return self.results

    def _checkpoint(self, model, windows_done):
        """Writes and checks the checkpoint, then the state and the history row."""
        if not self.writer:
            self.windows_done = windows_done
            return
        started = time.perf_counter()
        path = _checkpoint_path(self.run_dir, windows_done)
        model.save(path + ".tmp.keras")
        _check_archive(path + ".tmp.keras")
        os.replace(path + ".tmp.keras", path)
        # Recorded before the state and history are written, which keep it.
        self.results[-1].checkpoint_seconds = time.perf_counter() - started
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
        if self.history_path:
            # After the state: a window redone after a kill is not listed twice.
            append_history(self.history_path, self.results[-1])
        # Only now, with the new checkpoint checked and recorded, may older
        # ones go.
        for old in range(windows_done - self.keep_checkpoints, -1, -1):
            stale = _checkpoint_path(self.run_dir, old)
            if not os.path.exists(stale):
                break
            os.remove(stale)
        self.windows_done = windows_done


def _check_archive(path):
    """Raises OSError unless `path` is a complete zip archive (a `.keras` file)."""
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except zipfile.BadZipFile as error:
        raise OSError(f"The checkpoint just written, {path}, is not a valid archive: {error}")
    if broken is not None:
        raise OSError(f"The checkpoint just written, {path}, is corrupt (member {broken}).")


def rebatch(data, batch_size, rows):
    """`data` (a batched `tf.data.Dataset` of `rows` rows) in batches of
    `batch_size` rows (None: as it is)."""
    if batch_size is None:
        return data
    # Known length: Keras ends the epoch without an "ran out of data" warning.
    batches = -(-rows // batch_size)
    return data.rebatch(batch_size).apply(tf.data.experimental.assert_cardinality(batches))


def evaluate(model, data):
    """`model.evaluate` as a dict of floats (the compiled CTR metrics)."""
    return {k: float(v) for k, v in model.evaluate(data, return_dict=True, verbose=0).items()}


def relative_change(value, baseline):
    """`value / baseline - 1`, NaN without a baseline."""
    if baseline is None or not np.isfinite(baseline) or baseline == 0:
        return float("nan")
    return value / baseline - 1.0


__all__ = ["KerasEngine", "WindowProgress", "WindowedRun", "WindowResult", "append_history", "evaluate", "rebatch", "load_state", "mean_lookahead",
           "relative_change"]
