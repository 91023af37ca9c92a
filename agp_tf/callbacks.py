"""GrowPruneCallback: alternate growth and pruning inside `model.fit`."""

import keras
import numpy as np
import tensorflow as tf

from agp_tf import flops, importance, multi_step, topology
from agp_tf.controller import FlipEvent, GrowPruneController, check_growth


def describe_flip(event):
    """One line about a flip: what happened, at which step, to which layers, how long."""
    action = "prune" if event.to_sparsity > event.from_sparsity else "regrow"
    kept = ", ".join(f"{name} {units}" for name, units in event.active_units.items())
    return (
        f"step {event.step}: {action} to sparsity {event.to_sparsity:g} "
        f"(neurons kept: {kept}) in {event.seconds:.2f}s"
    )


class GrowPruneCallback(keras.callbacks.Callback):
    """Runs a `GrowPruneController` from `model.fit`.

    At each phase boundary of the schedule it asks the controller for a
    phase flip, and after every batch it counts training FLOPs. The callback
    owns the step count: the batches that finished training (times
    starting at `start_step`. It goes on across repeated `fit` calls and
    into `get_state()` for resumed runs. (`optimizer.iterations` is not
    used: without XLA Keras advances it once more than the steps trained at
    the end of each epoch over data of unknown length.)

    With `steps_per_execution=N > 1` the callback runs the model's training
    itself (`agp_tf.multi_step`): each call trains N steps as Keras' would,
    but stops at a step where the schedule acts (a flip, or a scoring window
    opening), flips, and trains the rest of the N steps with the next plan's
    function. Flips land on the schedule's step exactly, and no batch is
    skipped.

    The schedule's length is fixed at the first `fit`: `total_steps`, or
    `epochs * steps` of that `fit`. A later `fit` continues that schedule;
    one whose own `epochs * steps` says another length raises unless
    `total_steps` was given.

    At the end of each epoch it adds to `logs` (so `History`, `CSVLogger` and
    the progress bar see them; put this callback before those):
    `sparsity` (target of the current phase), `phase` (index of the current
    phase), `train_flops_per_sample`, `cumulative_train_flops` (per sample,
    summed over steps, times `batch_size` when given), `relative_train_flops`
    (actual / dense - 1, negative = saving), and per prunable layer
    `<name>/sparsity`, `<name>/active_units`. The progress bar also shows
    `sparsity` and `phase` per batch.

    With `log_dir`, the same scalars go to TensorBoard under `agp/`, plus a
    histogram of the importance scores of every layer at each prune; on the
    chief only when several workers train (`agp_tf.distribute.multi_worker`).

    Args:
        schedule: `agp_tf.schedules.PhaseSchedule`.
        importance_data: Batches to score neurons on (see
            `GrowPruneController`), or None to score them on the last
            `importance_batches` training steps before each prune (no extra
            passes; see `taylor_source`).
        total_steps: Planned training steps. Defaults to `epochs * steps`
            that `fit` knows; an error if neither gives it.
        importance_batches: N mini-batches scored per prune.
        criterion: "taylor", "magnitude" or "random".
        log_dir: Optional TensorBoard log directory.
        batch_size: Optional training batch size, to report cumulative
            FLOPs in FLOPs rather than FLOPs per sample.
        growth: "zero_output" or "zero" (see `GrowPruneController`).
        growth_scale: Scale of regrown incoming weights (see `GrowPruneController`).
        seed: Seed of random choices.
        compact: Run sparse phases compactly, multiplying only the kept
            blocks of the kernels (default). The model's train, test and
            predict functions are rebuilt at each flip.
        start_step: Step count at which the schedule starts (e.g. the
            optimizer's iterations of a model resumed for recurring
            training).
        links: Producer -> consumer links for subclassed models (see
            `GrowPruneController`).
        verbose: Print one line at every prune and regrowth (step, neurons
            kept per layer, seconds spent).
        taylor_source: `"training"` or `"data"` (see `GrowPruneController`);
            default: `"data"` with `importance_data`, else `"training"`. With
            `"training"` the probes are in the training step of every phase
            that holds a scoring window and switched on inside it: opening a
            window traces nothing.

    Example:

    ```python
    callback = agp_tf.GrowPruneCallback(agp_tf.schedules.alternate(0.7),
                                        importance_data=val_ds.take(16))
    model.fit(train_ds, epochs=5, callbacks=[callback])
    ```
    """

    def __init__(
        self,
        schedule,
        importance_data,
        total_steps=None,
        importance_batches=16,
        criterion="taylor",
        log_dir=None,
        batch_size=None,
        growth="zero_output",
        growth_scale=1.0,
        seed=0,
        compact=True,
        start_step=0,
        links=None,
        verbose=False,
        taylor_source=None,
    ):
        super().__init__()
        if taylor_source is None:
            taylor_source = "training" if importance_data is None else "data"
        self.taylor_source = taylor_source
        self._pending_probe_state = None
        self.links = links
        self.verbose = bool(verbose)
        importance.check_criterion(criterion)  # fail at construction, not in fit
        check_growth(growth, growth_scale)
        self.compact = compact
        self.start_step = start_step
        self.schedule = schedule
        self.importance_data = importance_data
        self.total_steps = total_steps
        self.importance_batches = importance_batches
        self.criterion = criterion
        self.log_dir = log_dir
        self.batch_size = batch_size
        self.growth = growth
        self.growth_scale = growth_scale
        self.seed = seed
        self.controller = None
        self.counter = None
        self.flips = []
        self._writer = None
        self._functions = {}  # step signature (plans, probes) -> training function
        self._signature = None
        self._step = None  # steps trained so far, counted here
        self._fit_total_steps = None  # the schedule length fixed by the first fit

    # ---- set-up -------------------------------------------------------------

    def _resolve_total_steps(self):
        if self.total_steps is not None:
            return self.total_steps
        steps = (self.params or {}).get("steps")
        epochs = (self.params or {}).get("epochs")
        if steps is None or epochs is None:
            raise ValueError(
                "GrowPruneCallback needs `total_steps`: `fit` does not know the number of "
                "steps (a dataset of unknown length?). Pass total_steps= to the callback or "
                "steps_per_epoch= to fit."
            )
        total = int(steps) * int(epochs)
        if self._fit_total_steps is not None and total != self._fit_total_steps:
            raise ValueError(
                f"This GrowPruneCallback's schedule was laid out over {self._fit_total_steps} "
                f"steps by its first fit, but this fit plans {total} (epochs * steps). Pass "
                "total_steps= to the callback for a schedule that spans several fit calls, "
                "or use a new callback for a new schedule."
            )
        self._fit_total_steps = total
        return total

    def on_train_begin(self, logs=None):
        total_steps = self._resolve_total_steps()
        # Before a new controller sets plans (every layer gets one, the plain
        # path in dense phases): an evaluation function Keras traced before
        # this fit is full width and is kept.
        self._install_full_width_evaluation()
        if self.controller is None or self.controller.model is not self.model:
            self.controller = GrowPruneController(
                self.model,
                self.schedule,
                total_steps=total_steps,
                importance_data=self.importance_data,
                importance_batches=self.importance_batches,
                criterion=self.criterion,
                growth=self.growth,
                growth_scale=self.growth_scale,
                seed=self.seed,
                compact=self.compact,
                start_step=self.start_step,
                links=self.links,
                taylor_source=self.taylor_source,
            )
            if self.counter is None:
                self.counter = flops.FlopsCounter(self.controller.dense_flops_per_sample)
            else:  # restored by set_state
                self.counter.dense_flops_per_sample = self.controller.dense_flops_per_sample
        else:
            self.controller.total_steps = total_steps
            self.controller.importance_data = self.importance_data
            self.controller.sync_from_masks()
            self.controller.needs_recompile |= self.controller.apply_compact_plans()
        # Unsupported optimizer state is an error now, not at the first prune.
        self.controller.check_optimizer()
        if self._pending_probe_state is not None:  # a checkpoint taken mid-window
            self.controller.set_probe_state(self._pending_probe_state)
            self._pending_probe_state = None
        if self._step is None:
            self._step = int(self.start_step)
        self._next_check = self._step  # check at the first step
        self._batch_logs = None
        self._steps_per_call = int(getattr(self.model, "steps_per_execution", 1) or 1)
        self._counted_in_call = False
        if self.controller.needs_recompile:
            # Functions the model has may predate these plans: never reuse them.
            self._rebuild_functions(reuse=False)
        elif self.controller.train_step_changed:
            self._rebuild_functions()
        elif self._steps_per_call > 1 and self.model.train_function != self._execute:
            # Keras' own multi-step function cannot stop at a flip: use ours.
            self._install_train_function(multi_step.make_train_steps(self.model))
        if self._signature is None:  # the model's own functions: traced under these plans
            self._signature = self.controller.step_signature()
        if self.log_dir and self._writer is None and self._is_chief():
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def _is_chief(self):
        """Whether this process writes `log_dir` (every worker of a cluster runs this callback)."""
        from agp_tf.distribute import multi_worker  # only with log_dir: keeps `import agp_tf` small

        return multi_worker.is_chief(getattr(self.model, "distribute_strategy", None))

    @property
    def step(self):
        """Steps trained so far (from `start_step`), as this callback counted them."""
        return self._step if self._step is not None else int(self.start_step)

    @property
    def next_check_step(self):
        """The next step at which `on_train_batch_begin` may flip or open a
        scoring window (a loop running steps asynchronously finishes every
        earlier step first: `ParameterServerTrainer.fit_epoch`)."""
        return getattr(self, "_next_check", self.step)

    # ---- per step -----------------------------------------------------------

    def _rebuild_functions(self, reuse=True):
        """Points the model's training function at the current plans and probes.

        Compact plans are static Python state, so each distinct set of plans
        needs its own traced (XLA-compiled) training function. They are kept
        per step signature: a run alternating dense and sparse phases of one
        sparsity compiles each only once. Taylor probes are in the functions
        of the phases that hold a scoring window, switched on only inside it
        (`agp_tf.step_taylor`); functions are kept per plans and probes.
        Evaluation needs nothing new at a flip
        (`_install_full_width_evaluation`).
        """
        if reuse and self._signature is not None:
            self._functions[self._signature] = self._train_function()
        self._signature = self.controller.step_signature()
        cached = self._functions.get(self._signature) if reuse else None
        self._install_train_function(cached if cached is not None else self._make_train_function())
        self.controller.needs_recompile = False
        self.controller.train_step_changed = False

    def _make_train_function(self):
        model = self.model
        if self._steps_per_call > 1:
            return multi_step.make_train_steps(model)
        model.make_train_function(force=True)
        return model.train_function

    def _install_full_width_evaluation(self):
        """Evaluation and prediction run without compact plans, in every phase.

        The masks make pruned neurons exactly 0 on the full-width path, so
        its outputs are the sparse model's, and one traced (compiled) test
        and predict function serves every phase: a flip compiles no
        evaluation function. (A sparse phase's evaluation then costs what a
        dense one does.) A function Keras made is kept when no layer has a
        plan (it was traced full width, an evaluation before the first fit,
        say); otherwise it is made again.
        """
        model = self.model
        for name in ("test_function", "predict_function"):
            function = getattr(model, name)
            if getattr(function, "full_width", False):
                continue
            if function is None or not topology.has_no_plans(model):
                getattr(model, f"make_{name}")(force=True)
                function = getattr(model, name)
            setattr(model, name, self._full_width(function))

    def _full_width(self, function):
        def full_width(iterator):
            with topology.without_compact_plans(self.model):
                return function(iterator)

        full_width.full_width = True
        full_width.wrapped = function
        return full_width

    def _train_function(self):
        """The current plans' training function: Keras' own, or with several
        steps per execution the `multi_step` function `_execute` calls."""
        if self._steps_per_call > 1:
            return getattr(self, "_train_steps", None)
        return self.model.train_function

    def _install_train_function(self, train):
        if self._steps_per_call > 1:
            self._train_steps = train
            self.model.train_function = self._execute
        else:
            self.model.train_function = train

    def _execute(self, iterator):
        """`model.train_function` with several steps per execution: runs up
        to `steps_per_execution` steps, split where the schedule acts."""
        remaining = self._steps_per_call
        logs = None
        while remaining > 0:
            if self._step >= self._next_check:
                self._check_schedule()  # may change self._train_steps
            steps = int(min(remaining, max(self._next_check - self._step, 1)))
            done, step_logs = self._train_steps(iterator, steps)
            self._count_steps(done)
            if done:
                logs = step_logs
            if done < steps:  # out of data
                break
            remaining -= steps
        self._counted_in_call = True
        if logs is None:
            raise StopIteration  # what Keras' function raises at the end of the data
        return logs

    def on_train_batch_begin(self, batch, logs=None):
        # The schedule only changes at phase boundaries: skip the check between.
        if self._step >= self._next_check:
            self._check_schedule()

    def _check_schedule(self):
        """At step `self._step`: flips or opens a scoring window when the schedule says."""
        event = self.controller.on_step_begin(self._step)
        self._next_check = self.controller.next_check_step(self._step)
        if event is not None:
            self.flips.append(event)
            self._write_flip(event)
            if self.verbose:
                print(describe_flip(event), flush=True)
            self._batch_logs = None
        if (event is not None and event.recompile) or self.controller.train_step_changed:
            self._rebuild_functions()

    def _count_steps(self, steps):
        self.counter.add_steps(self.controller.flops_per_sample, steps * (self.batch_size or 1))
        self._step += steps

    def on_train_batch_end(self, batch, logs=None):
        if self._counted_in_call:
            self._counted_in_call = False  # `_execute` counted its steps
        else:
            self._count_steps(1)  # one step per call: no read of the optimizer's step
        if logs is not None:  # shown by the progress bar
            if self._batch_logs is None or self._step >= self._next_check:
                self._batch_logs = {
                    "sparsity": self.controller.applied_sparsity,
                    "phase": self._phase_of_last_step(),
                }
            logs.update(self._batch_logs)

    def on_epoch_end(self, epoch, logs=None):
        scalars = self.scalars()
        if logs is not None:
            logs.update(scalars)
        self._write_scalars(scalars, self._step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    # ---- resumable state ----------------------------------------------------

    def get_state(self):
        """JSON-able state a resumed run needs: steps, the FLOPs counter and past flips."""
        return {
            "start_step": self.start_step,
            "step": self._step,
            "counter": self.counter.get_state() if self.counter else None,
            "probe": self.controller.probe_state() if self.controller else None,
            "flips": [
                {"step": e.step, "from_sparsity": e.from_sparsity,
                 "to_sparsity": e.to_sparsity, "seconds": e.seconds}
                for e in self.flips
            ],
        }

    def set_state(self, state):
        """Restores `get_state()` output (before or after training began)."""
        self.start_step = state.get("start_step", self.start_step)
        self._step = state.get("step", self._step)
        self.flips = [
            FlipEvent(f["step"], f["from_sparsity"], f["to_sparsity"], {}, {}, f["seconds"])
            for f in state.get("flips", [])
        ]
        probe = state.get("probe")
        if self.controller is not None:
            self.controller.set_probe_state(probe)
        else:
            self._pending_probe_state = probe
        if state.get("counter") is not None:
            if self.counter is None:
                self.counter = flops.FlopsCounter.from_state(state["counter"])
            else:
                self.counter.set_state(state["counter"])

    # ---- reporting ----------------------------------------------------------

    def scalars(self):
        """The current sparsity and FLOPs figures, as a flat dict of floats."""
        controller = self.controller
        values = {
            "sparsity": float(controller.applied_sparsity),
            "phase": self._phase_of_last_step(),
            "train_flops_per_sample": float(controller.flops_per_sample),
            "cumulative_train_flops": float(self.counter.actual),
            "dense_train_flops": float(self.counter.dense),
            "relative_train_flops": float(self.counter.relative_change),
        }
        for layer in controller.layers:
            values[f"{layer.name}/sparsity"] = float(layer.sparsity)
            values[f"{layer.name}/active_units"] = float(controller.active_units[layer.name])
        return values

    def _phase_of_last_step(self):
        """Index of the schedule phase of the last step run (not the next one)."""
        return float(self.controller.phase_index(max(self._step - 1, 0)))

    def _write_scalars(self, scalars, step):
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(f"agp/{name}", value)

    def _write_flip(self, event):
        if self._writer is None:
            return
        with self._writer.as_default(step=event.step):
            for name, scores in event.scores.items():
                tf.summary.histogram(f"agp/importance/{name}", np.asarray(scores))
        self._write_scalars(self.scalars(), event.step)

