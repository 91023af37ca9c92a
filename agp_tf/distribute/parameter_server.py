"""Asynchronous growth and pruning on `ParameterServerStrategy`: the training loop.

Keras 3 `fit` has no parameter-server path (keras-team/keras#18624), so
this module is the loop: `ParameterServerTrainer` runs on the coordinator,
schedules one closure per training step with `ClusterCoordinator`, and drives
the same `GrowPruneController` as `GrowPruneCallback` does for `fit`.

- **Where state lives.** The model and optimizer are built under the
  strategy's scope (the optimizer eagerly: built lazily by its first
  `apply_gradients`, its slots would land on the coordinator), so weights,
  masks and slots live on the parameter servers; workers read them and push
  updates without waiting for each other.
- **Progress is counted on the coordinator**, in scheduled closures; each one
  runs exactly one step and the coordinator reschedules a closure whose
  worker failed. `optimizer.iterations` is not used: Keras' `assign_add` is a
  read-modify-write that loses increments under asynchronous workers.
- **Flips never race with steps in flight.** Before the controller acts (a
  phase boundary, the start of a scoring window) and before a checkpoint,
  the loop waits for every scheduled step to finish (`coordinator.join()`).
  A gradient computed under the old mask can then never land after the
  prune, and a regrown neuron starts from the growth rule's values, not from
  a late update. A drain idles the workers for at most one step each, a few
  times per run.
- **Taylor scores from the training steps** (`taylor_source="training"`)
  accumulate in `tf.Variable`s on the parameter servers with `assign_add`,
  which the servers apply atomically: no scored step is lost.
  `taylor_source="data"` scores on the coordinator at the prune.
- **Checkpoints** (`checkpoint_dir`) hold the model, the optimizer and the
  step count, written by the coordinator at drain points outside scoring
  windows. A parameter server that dies takes the run with it
  (`coordinator.join()` raises); start the job again and `fit` resumes from
  the last checkpoint. A worker that dies does not stop the run.

Example:

```python
strategy = tf.distribute.ParameterServerStrategy(resolver)
with strategy.scope():
    model = build_model()
    optimizer = keras.optimizers.SGD(0.1)
trainer = ParameterServerTrainer(strategy, model, optimizer,
                                 keras.losses.BinaryCrossentropy())
controller = trainer.make_controller(schedules.alternate(0.5), total_steps=1000)
trainer.fit(dataset_fn, total_steps=1000, controller=controller)
```
"""

import dataclasses
import logging
import time

import keras
import numpy as np
import tensorflow as tf

from agp_tf import optimizer_state

logger = logging.getLogger("agp_tf")


@dataclasses.dataclass
class TrainingLog:
    """What `ParameterServerTrainer.fit` did.

    Attributes:
        steps: Training steps finished, counted on the coordinator.
        losses: `(step, mean loss)` of the steps finished between drains.
        flips: `FlipEvent`s, in order.
        in_flight_at_flips: Per check point of the controller, whether steps
            were still running when it was due (they finished before it acted).
        drain_seconds: Per check point, the seconds spent waiting for them
            (mostly queued steps being trained, not idle time).
        check_seconds: Per check point, the seconds from the drain's end to
            the next step scheduled: the controller's work (scoring, applying
            a flip) and the tracing of a step function not traced before.
        check_steps: The steps of those check points.
        timeline: `(step, seconds since fit began)` at every drain, when
            every step before it had finished.
        pruned_magnitude: With `check_pruned=True`, the largest |value| any
            step saw in a pruned neuron's weights right after its update.
        steps_applied: Updates the parameter servers received in this `fit`
            (counted there, atomically). A worker killed after pushing its
            update but before reporting back has its step run again, so
            this can exceed the steps run.
        seconds: Wall-clock of the loop.
        resumed_from: Step restored from a checkpoint (0: started fresh).
    """

    steps: int = 0
    losses: list = dataclasses.field(default_factory=list)
    flips: list = dataclasses.field(default_factory=list)
    in_flight_at_flips: list = dataclasses.field(default_factory=list)
    drain_seconds: list = dataclasses.field(default_factory=list)
    check_seconds: list = dataclasses.field(default_factory=list)
    check_steps: list = dataclasses.field(default_factory=list)
    timeline: list = dataclasses.field(default_factory=list)
    started: float = dataclasses.field(default_factory=time.perf_counter)  # when `fit` began
    pruned_magnitude: float = 0.0
    steps_applied: int = 0
    seconds: float = 0.0
    resumed_from: int = 0


def build_optimizer(strategy, optimizer, model):
    """Builds `optimizer`'s slots for `model` under `strategy` (on the parameter servers)."""
    with strategy.scope():
        optimizer_state.unwrap(optimizer).build(model.trainable_variables)
    return optimizer


def pruned_weights(layers, consumers):
    """The largest |w| in pruned neurons' kernel columns, biases and consumer rows.

    Traceable (reads the masks as they are when it runs).

    Args:
        layers: Prunable layers.
        consumers: Dict layer name -> `topology.Link`s (the controller's).
    """
    largest = tf.constant(0.0)
    for layer in layers:
        pruned = 1.0 - tf.cast(layer.mask.value, tf.float32)  # (units,)
        for variable, axis, _ in layer.neuron_weights():
            shape = [1] * len(variable.shape)
            shape[axis] = -1
            value = tf.abs(tf.cast(variable.value, tf.float32)) * tf.reshape(pruned, shape)
            largest = tf.maximum(largest, tf.reduce_max(value))
        for link in consumers[layer.name]:
            kernel = tf.cast(link.consumer.kernel.value, tf.float32)
            rows = kernel[link.offset : link.offset + layer.units]
            largest = tf.maximum(largest, tf.reduce_max(tf.abs(rows) * pruned[:, None]))
    return largest


class ParameterServerTrainer:
    """Asynchronous training of a Keras model on a `ParameterServerStrategy`.

    Args:
        strategy: A `tf.distribute.ParameterServerStrategy`.
        model: A built Keras model, created under `strategy.scope()`.
        optimizer: A Keras optimizer created under `strategy.scope()`; its
            slots are built here (on the parameter servers).
        loss: A Keras loss `fn(y_true, y_pred, sample_weight)`.
        checkpoint_dir: Folder for coordinator checkpoints (None: none).
        checkpoint_every: Steps between checkpoints (taken at the first drain
            point after each multiple outside a scoring window; None: only at
            the end).
        keep_checkpoints: Checkpoints kept.
        check_pruned: Each step also returns the largest |value| of a pruned
            neuron's weights after its update (`TrainingLog.pruned_magnitude`);
            for tests, it costs a reduction per step.
        log_every: Steps between drains that report the loss (None: only at
            flips, checkpoints and the end). Every drain idles the workers.

    Steps run without XLA: XLA cannot read variables placed on another
    device ("Trying to access resource ... located in device /job:ps").
    """

    def __init__(
        self,
        strategy,
        model,
        optimizer,
        loss,
        checkpoint_dir=None,
        checkpoint_every=None,
        keep_checkpoints=2,
        check_pruned=False,
        log_every=None,
    ):
        if not isinstance(strategy, tf.distribute.ParameterServerStrategy):
            raise ValueError(
                "ParameterServerTrainer needs a tf.distribute.ParameterServerStrategy. "
                f"Received: strategy={type(strategy).__name__}"
            )
        for name, value in (("checkpoint_every", checkpoint_every), ("log_every", log_every)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer or None. Received: {name}={value!r}")
        self.strategy = strategy
        self.coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)
        self.model = model
        self.optimizer = build_optimizer(strategy, optimizer, model)
        self.loss = loss
        self.check_pruned = bool(check_pruned)
        self.checkpoint_every = checkpoint_every
        self.log_every = log_every
        # The count of finished steps, saved with the checkpoint; assigned by
        # the coordinator only, so it is exact.
        self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="agp_step")
        with strategy.scope():
            # On a parameter server: every step adds 1 (atomic for tf.Variable).
            self.applied_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="agp_applied")
        self.manager = None
        if checkpoint_dir:
            checkpoint = tf.train.Checkpoint(
                model=model, optimizer=self.optimizer, step=self.step_counter
            )
            self.manager = tf.train.CheckpointManager(
                checkpoint, checkpoint_dir, max_to_keep=keep_checkpoints
            )
        # Steps finished, counted here: restored at the first `fit`, carried
        # on by the next.
        self.steps_done = None
        self._step_fns = {}  # (step signature, fed) -> tf.function
        self._predict_fns = {}  # plan signature -> tf.function

    def make_controller(self, schedule, total_steps, **kwargs):
        """A `GrowPruneController` over this trainer's model, optimizer and loss.

        `kwargs` go to the controller (e.g. `importance_batches`, `compact`,
        `taylor_source`, `importance_data`).
        """
        from agp_tf.controller import GrowPruneController

        kwargs.setdefault("optimizer", self.optimizer)
        kwargs.setdefault("loss", self.loss)
        return GrowPruneController(self.model, schedule, total_steps=total_steps, **kwargs)

    # ---- checkpoints --------------------------------------------------------

    def restore(self):
        """Loads the latest checkpoint, if any; returns the step it holds (0: none)."""
        if self.manager is None or self.manager.latest_checkpoint is None:
            return 0
        self.manager.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
        step = int(self.step_counter.numpy())
        logger.info("restored %s at step %d", self.manager.latest_checkpoint, step)
        return step

    def save(self, step):
        """Writes a checkpoint at `step` (call only when no step is in flight)."""
        self.step_counter.assign(step)
        path = self.manager.save(checkpoint_number=step)
        logger.info("checkpoint %s", path)
        return path

    # ---- the step -----------------------------------------------------------

    def _step_fn(self, controller, fed=False):
        """The traced step for the current plans and Taylor probes
        (`controller.step_signature`); `fed`: takes a batch, not an iterator."""
        key = (controller.step_signature() if controller else None, fed)
        if key not in self._step_fns:
            self._step_fns[key] = self._make_step_fn(controller, fed)
        return self._step_fns[key]

    def _make_step_fn(self, controller, fed):
        model, optimizer, loss_fn, strategy = self.model, self.optimizer, self.loss, self.strategy
        check = self.check_pruned and controller is not None
        applied = self.applied_counter

        def replica_step(batch):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = loss_fn(y, y_pred, sample_weight=sample_weight)
                if model.losses:
                    loss = loss + tf.add_n(model.losses)
            variables = model.trainable_variables
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables))
            applied.assign_add(1)
            if check:
                return loss, pruned_weights(controller.layers, controller.consumers)
            return loss, tf.constant(0.0)

        def worker_step(iterator_or_batch):
            batch = iterator_or_batch if fed else next(iterator_or_batch)
            loss, pruned = strategy.run(replica_step, args=(batch,))
            return (
                strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, axis=None),
                tf.reduce_max(tf.stack(strategy.experimental_local_results(pruned))),
            )

        return tf.function(worker_step)

    # ---- the loop -----------------------------------------------------------

    def fit(self, dataset_fn, total_steps, controller=None, on_flip=None):
        """Trains until `total_steps` steps have finished (resuming from a checkpoint).

        Args:
            dataset_fn: `fn(input_context) -> tf.data.Dataset` of batches, run
                on every worker (`ClusterCoordinator.create_per_worker_dataset`);
                it must not run out before `total_steps` (repeat it).
            total_steps: Steps to train in all, including restored ones and
                those of earlier `fit` calls of this trainer.
            controller: Optional `GrowPruneController` over `model` (with
                `optimizer=` this trainer's optimizer).
            on_flip: Optional `fn(event)` called after each flip, before any
                later step is scheduled (e.g. to inspect the weights).

        Returns:
            A `TrainingLog`.
        """
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"`total_steps` must be a positive integer. Received: {total_steps!r}")
        log = TrainingLog()
        if self.steps_done is None:
            self.steps_done = log.resumed_from = self.restore()
        step = self.steps_done
        applied_before = int(self.applied_counter.numpy())
        if controller is not None:
            controller.sync_from_masks()
            controller.apply_compact_plans()
        strategy = self.strategy

        def per_worker_dataset():
            return strategy.distribute_datasets_from_function(dataset_fn)

        iterator = iter(self.coordinator.create_per_worker_dataset(per_worker_dataset))
        pending = []  # RemoteValues of the steps scheduled since the last drain
        next_check = self._next_check(controller, step - 1)
        next_checkpoint = self._next_multiple(step, self.checkpoint_every)
        next_log = self._next_multiple(step, self.log_every)
        while step < total_steps:
            checked = None
            if step >= next_check:
                log.in_flight_at_flips.append(not self.coordinator.done())
                waited = time.perf_counter()
                self._drain(pending, step, log)
                checked = time.perf_counter()
                log.drain_seconds.append(checked - waited)
                event = controller.on_step_begin(step)
                if event is not None:
                    log.flips.append(event)
                    if on_flip is not None:
                        on_flip(event)
                next_check = self._next_check(controller, step)
            elif step >= next_log:
                self._drain(pending, step, log)
                next_log = self._next_multiple(step, self.log_every)
            if self.manager is not None and step >= next_checkpoint and not (controller and controller.probing):
                self._drain(pending, step, log)
                self.save(step)
                next_checkpoint = self._next_multiple(step, self.checkpoint_every)
            step_fn = self._step_fn(controller)
            pending.append(self.coordinator.schedule(step_fn, args=(iterator,)))
            if checked is not None:  # the controller's work and a new step's tracing, if any
                log.check_seconds.append(time.perf_counter() - checked)
                log.check_steps.append(step)
            step += 1
        self._drain(pending, step, log)
        log.steps = self.steps_done = step
        log.steps_applied = int(self.applied_counter.numpy()) - applied_before
        if self.manager is not None:
            self.save(step)
        log.seconds = time.perf_counter() - log.started
        return log

    def fit_epoch(self, batches, callbacks=(), epoch=0, steps=None):
        """One pass over `batches` read on the coordinator, with Keras callbacks.

        The coordinator reads each batch and sends it with the step that
        trains on it, so any input pipeline works (a `from_generator`
        dataset cannot run on a remote worker); it is the path of
        `scripts/train.py --strategy=parameter_server`. A `GrowPruneCallback`
        among `callbacks` drives growth and pruning and owns the step count.

        Callbacks see `on_train_begin`, `on_epoch_begin`, `on_epoch_end` and
        `on_train_end` as under `fit`, and `on_train_batch_end` once per
        finished step, in order, delivered when the loop drains.
        `on_train_batch_begin` comes only at drain points: at the
        `GrowPruneCallback`'s check steps, where every earlier step has
        finished, so its flips see no step in flight.

        Args:
            batches: Iterable of `(x, y)` or `(x, y, sample_weight)` batches.
            callbacks: Keras callbacks (e.g. `GrowPruneCallback`, `TensorBoard`).
            epoch: Epoch index given to the callbacks.
            steps: Number of batches, when known (callbacks' `params`).

        Returns:
            The epoch's logs: `loss` (mean over its steps) plus what the
            callbacks add at `on_epoch_end`.
        """
        from agp_tf.callbacks import GrowPruneCallback  # the callback imports this package

        callbacks = list(callbacks)
        grow_prune = next((c for c in callbacks if isinstance(c, GrowPruneCallback)), None)
        # Last, so it sees the logs after every callback added to them.
        final_logs = _EpochLogs()
        callback_list = keras.callbacks.CallbackList(
            callbacks + [final_logs], model=self.model, epochs=epoch + 1, steps=steps, verbose=0
        )
        callback_list.on_train_begin()
        callback_list.on_epoch_begin(epoch)
        pending, totals = [], {"loss": 0.0, "steps": 0}

        def drain():
            self.coordinator.join()
            for value in pending:
                loss, _ = value.fetch()
                totals["loss"] += float(loss)
                totals["steps"] += 1
                logs = {"loss": totals["loss"] / totals["steps"]}
                callback_list.on_train_batch_end(totals["steps"] - 1, logs)
            pending.clear()

        for batch in batches:
            if grow_prune is not None and grow_prune.step + len(pending) >= grow_prune.next_check_step:
                drain()
                callback_list.on_train_batch_begin(totals["steps"])  # flips happen here
            controller = grow_prune.controller if grow_prune is not None else None
            pending.append(self.coordinator.schedule(self._step_fn(controller, fed=True), args=(batch,)))
        drain()
        logs = {"loss": totals["loss"] / max(totals["steps"], 1)}
        callback_list.on_epoch_end(epoch, logs)
        callback_list.on_train_end(final_logs.logs)
        return final_logs.logs

    def evaluate(self, batches, metrics=()):
        """Loss and `metrics` of `model` over `batches`, computed on the coordinator.

        Args:
            batches: Iterable of `(x, y)` or `(x, y, sample_weight)` batches.
            metrics: Fresh Keras metrics (`fn(y_true, y_pred, sample_weight)`),
                e.g. `agp_tf.metrics.ctr_metrics()`.

        Returns:
            Dict `loss` and each metric's name -> float, as `model.evaluate`.
        """
        from agp_tf import topology

        signature = topology.plan_signature(self.model)
        predict = self._predict_fns.get(signature)
        if predict is None:
            model = self.model
            predict = self._predict_fns[signature] = tf.function(lambda x: model(x, training=False))
        loss_mean = keras.metrics.Mean(name="loss")
        for batch in batches:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
            y_pred = predict(x)
            rows = tf.shape(tf.nest.flatten(x)[0])[0]
            loss_mean.update_state(self.loss(y, y_pred, sample_weight=sample_weight), sample_weight=rows)
            for metric in metrics:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        results = {"loss": float(loss_mean.result())}
        results.update({metric.name: float(metric.result()) for metric in metrics})
        return results

    @staticmethod
    def _next_multiple(step, every):
        return float("inf") if every is None else (step // every + 1) * every

    @staticmethod
    def _next_check(controller, step):
        if controller is None:
            return float("inf")
        if controller.total_steps is None:
            raise ValueError("The controller needs `total_steps`.")
        # The controller acts at the steps it names (and at the first one).
        return 0 if step < 0 else controller.next_check_step(step)

    def _drain(self, pending, step, log):
        """Waits for every scheduled step; records their mean loss at `step`."""
        self.coordinator.join()
        if not pending:
            return
        results = [value.fetch() for value in pending]
        losses = [float(loss) for loss, _ in results]
        log.pruned_magnitude = max([log.pruned_magnitude] + [float(p) for _, p in results])
        log.losses.append((step, float(np.mean(losses))))
        log.timeline.append((step, time.perf_counter() - log.started))
        pending.clear()


class _EpochLogs(keras.callbacks.Callback):
    """Keeps the logs of the last `on_epoch_end` as the callbacks left them."""

    logs = None

    def on_epoch_end(self, epoch, logs=None):
        self.logs = dict(logs or {})


class ParameterServerEngine:
    """`recurring.WindowedRun`'s trainer and evaluator on a parameter-server cluster.

    Args:
        trainer: A `ParameterServerTrainer`.
        metrics_fn: `fn() -> list of fresh Keras metrics` for evaluation
            (e.g. `agp_tf.metrics.ctr_metrics`).
    """

    def __init__(self, trainer, metrics_fn):
        self.trainer = trainer
        self.metrics_fn = metrics_fn

    def evaluate(self, model, data):
        return self.trainer.evaluate(data, self.metrics_fn())

    def fit_window(self, model, data, epoch, callbacks, steps=None):
        logs = self.trainer.fit_epoch(data, callbacks, epoch=epoch, steps=steps)
        return {key: float(value) for key, value in logs.items()}


__all__ = ["ParameterServerEngine", "ParameterServerTrainer", "TrainingLog", "build_optimizer", "pruned_weights"]
