"""GrowPruneController: decides phase flips and applies them to a Keras model.

Framework-neutral core: `model.fit` uses it through `GrowPruneCallback`, a
custom training loop calls `on_step_begin()` before every train step.

At a dense -> sparse flip it scores every prunable layer's neurons on N
batches of importance data, keeps the top `num_kept(units, sparsity)` of each
layer and zeroes the rest: their kernel columns and biases, the matching rows
of the layer that consumes their output, and the optimizer slots of all of
these. At a sparse -> dense flip it reopens them with fresh optimizer slots.

Regrowth (`growth=`):

- `"zero_output"` (default): the regrown neuron's outgoing weights (the
  consumer's kernel rows) start at zero, its incoming weights are new draws
  from the layer's kernel initializer, seeded from `(seed, step, layer)`,
  and its bias is zero. Its contribution
  to the model output starts at exactly zero (the function is unchanged at
  growth) and it learns from there. `growth_scale` multiplies the
  kernel's draws: below 1, a regrown neuron starts with smaller activations, so its
  outgoing weights grow more slowly and perturb the trained model less.
- `"zero"`: incoming weights and bias start at zero as well. With ReLU (and
  any activation whose derivative at 0 is 0 in TensorFlow) such a neuron
  gets exactly zero gradient and never trains again; offered to reproduce
  the literal rule and to show that effect.

Consumers are read from the functional graph, through merges and
pass-through layers (`agp_tf.topology`); for a subclassed model pass
`links=` (the controller refuses to guess).

Steps: `on_step_begin(step)` takes the caller's count of steps trained
(`GrowPruneCallback` counts finished batches); without an argument it reads
`optimizer.iterations`, which Keras advances once more than the steps run
at the end of each epoch over data of unknown length when not compiled
with XLA.

Growth-only schedules start sparse before anything is trained: the first
kept neurons are then chosen at random from `seed`.

Compact execution (`compact=True`): after every flip each MaskedDense gets
a static `CompactPlan`, so a sparse phase multiplies only the kept blocks of
the kernels and a dense phase skips the mask entirely. Compiled functions
that call the model must then be re-traced; `FlipEvent.recompile` says
when. `GrowPruneCallback` does it for `fit`; a custom loop must rebuild its
`tf.function` itself, which is why the controller's default is off.
"""

import dataclasses
import logging
import time

import keras
import numpy as np
import tensorflow as tf

from agp_tf import flops, importance, optimizer_state, step_taylor, topology
from agp_tf.layers import replace_neurons

GROWTH_MODES = ("zero_output", "zero")


def check_growth(growth, growth_scale):
    """Raises ValueError unless `growth` is a mode and `growth_scale` a scale it uses."""
    if growth not in GROWTH_MODES:
        raise ValueError(f"`growth` must be one of {GROWTH_MODES}. Received: growth={growth!r}")
    if isinstance(growth_scale, bool) or not isinstance(growth_scale, (int, float)) or not (
        0 < growth_scale <= 1
    ):
        raise ValueError(f"`growth_scale` must be in (0, 1]. Received: growth_scale={growth_scale!r}")
    if growth == "zero" and growth_scale != 1:
        raise ValueError('`growth_scale` has no effect with growth="zero" (it draws nothing)')
TAYLOR_SOURCES = ("training", "data")

logger = logging.getLogger("agp_tf")


@dataclasses.dataclass
class FlipEvent:
    """What happened at one phase flip.

    Attributes:
        step: Global step (optimizer iterations) at which the flip happened.
        from_sparsity: Target sparsity before the flip.
        to_sparsity: Target sparsity after the flip.
        scores: Dict layer name -> importance scores `(units,)`, when scored.
        active_units: Dict layer name -> active neurons after the flip.
        seconds: Wall-clock time of scoring plus applying the flip.
        recompile: Whether the compact plans changed, so compiled functions
            calling the model must be re-traced.
    """

    step: int
    from_sparsity: float
    to_sparsity: float
    scores: dict
    active_units: dict
    seconds: float
    recompile: bool = False


def _seeded(initializer, seed):
    """`initializer` with its seed replaced, so each call draws new values.

    A Keras 3 initializer object returns the same values at every call; a
    regrown neuron would get its build-time weights back. Initializers
    without a seed (constants) are returned as they are.
    """
    initializer = keras.initializers.get(initializer)
    config = initializer.get_config()
    if "seed" not in config:
        return initializer
    config["seed"] = seed
    return initializer.__class__.from_config(config)


class GrowPruneController:
    """Applies a `PhaseSchedule` of neuron sparsity to a Keras model.

    Args:
        model: A built Keras model with at least one prunable `MaskedDense`.
        schedule: `agp_tf.schedules.PhaseSchedule`.
        total_steps: Planned number of training steps; progress is
            `(step - start_step) / total_steps`.
        importance_data: Iterable of `(x, y)` or `(x, y, sample_weight)`
            batches (e.g. a `tf.data.Dataset`) for the "taylor" criterion
            with `taylor_source="data"`. A fresh iterator is taken at each
            prune and must yield `importance_batches` batches.
        importance_batches: N, the number of mini-batches scored per prune.
        criterion: "taylor", "magnitude" or "random".
        growth: "zero_output" or "zero" (see the module docstring).
        growth_scale: Factor in (0, 1] on the regrown incoming weights'
            draws with `growth="zero_output"` (default 1: the initializer's scale).
        seed: Seed for random choices (growth-only start, "random"
            criterion, regrown incoming weights).
        optimizer: Optimizer whose slots are reset; defaults to
            `model.optimizer`. Its `iterations` is the global step.
        loss: Loss `fn(y_true, y_pred, sample_weight)` for Taylor scores;
            defaults to the loss the model was compiled with.
        compact: Whether to run sparse phases compactly (see the module
            docstring); compiled step functions must be re-traced on
            `FlipEvent.recompile`.
        start_step: Global step at which this schedule starts (e.g. the
            optimizer's iterations of a model resumed for recurring
            training on new data).
        links: For models without a functional graph (subclassed): dict
            prunable layer name -> the dense layers that read its output
            (a name, a list of names, or `(name, row_offset)` pairs; `[]`
            for none). Overrides the graph for the layers it names.
        include_regularization: Whether Taylor scores differentiate the
            model's regularization losses too (`taylor_source="data"`; the
            training steps always differentiate the loss they train on).
        taylor_source: Where "taylor" scores come from. `"training"`: the
            last `importance_batches` training steps before each prune, read
            off their own backward pass (`agp_tf.step_taylor`; no extra pass).
            The controller installs the probes in the phases that hold a
            scoring window and switches them on inside it, so one traced
            step serves every step of a phase. `"data"`: extra forward and
            backward passes over `importance_data` at the prune. Default:
            `"data"` when `importance_data` is given, else `"training"`.
            With `"training"`, call `on_step_begin` before every step, and
            trace the training step after making the controller (or
            whenever `train_step_changed` is set).

    Example:

    ```python
    controller = GrowPruneController(model, schedules.alternate(0.5),
                                     total_steps=1000, importance_data=ds)
    for x, y in train_ds:
        controller.on_step_begin()
        train_step(x, y)
    ```
    """

    def __init__(
        self,
        model,
        schedule,
        total_steps,
        importance_data=None,
        importance_batches=16,
        criterion="taylor",
        growth="zero_output",
        growth_scale=1.0,
        seed=0,
        optimizer=None,
        loss=None,
        compact=False,
        start_step=0,
        links=None,
        include_regularization=False,
        taylor_source=None,
    ):
        self.model = model
        self.include_regularization = bool(include_regularization)
        self.start_step = int(start_step)
        self.schedule = schedule
        self.criterion = importance.check_criterion(criterion)
        check_growth(growth, growth_scale)
        self.growth = growth
        self.growth_scale = float(growth_scale)
        if not isinstance(importance_batches, int) or importance_batches < 1:
            raise ValueError(
                "`importance_batches` must be a positive integer. "
                f"Received: importance_batches={importance_batches!r}"
            )
        self.importance_batches = importance_batches
        if taylor_source is None:
            taylor_source = "training" if importance_data is None else "data"
        if taylor_source not in TAYLOR_SOURCES:
            raise ValueError(
                f"`taylor_source` must be one of {TAYLOR_SOURCES}. "
                f"Received: taylor_source={taylor_source!r}"
            )
        self.taylor_source = taylor_source
        needs_data = criterion == "taylor" and taylor_source == "data"
        if needs_data and importance_data is None and schedule.sparse_fraction() > 0:
            raise ValueError(
                'The "taylor" criterion with taylor_source="data" needs `importance_data`. '
                "Received: importance_data=None"
            )
        self._loss_fn = importance.resolve_loss(model, loss) if needs_data else None
        self.importance_data = importance_data
        self.seed = int(seed)
        self.total_steps = None if total_steps is None else self._check_total_steps(total_steps)
        self._optimizer = optimizer
        if not model.built:
            raise ValueError("The model must be built (called once or given an Input) first.")
        self.layers = topology.prunable_layers(model)
        if not self.layers:
            raise ValueError(
                "The model has no prunable layer: use agp_tf.MaskedDense(..., prunable=True) "
                "for the layers to grow and prune."
            )
        unlinked = topology.unlinked_layers(model, links)
        if unlinked:
            raise ValueError(
                f"Prunable layer(s) {unlinked} were not called on a functional graph (a "
                "subclassed model?), so agp_tf cannot tell which layers read their outputs. "
                "Pass `links=` naming, for each of them, the dense layers that read its output, "
                "e.g. links={'hidden_1': 'hidden_2', 'hidden_2': []}; or build the model "
                "functionally (keras.Input + layer calls, or keras.Sequential)."
            )
        self.links = topology.consumers(model, links)
        self.consumers = {layer.name: self.links[layer.name] for layer in self.layers}
        orphans = [name for name, found in self.consumers.items() if not found]
        if orphans and growth == "zero_output":
            logger.warning(
                "No dense consumer found for prunable layer(s) %s: their regrown neurons "
                "cannot start with zero outgoing weights (links end at layers such as "
                "BatchNormalization that turn a zero into another value).",
                orphans,
            )
        self.scores_from_training = criterion == "taylor" and taylor_source == "training"
        if self.scores_from_training:
            unprobed = [layer.name for layer in self.layers if not hasattr(layer, "set_taylor_probe")]
            if unprobed:
                raise ValueError(
                    f"Layer(s) {unprobed} cannot score neurons from the training steps (only "
                    "MaskedDense can): pass importance_data= and taylor_source='data'."
                )
        self._probes = {}  # layer name -> StepTaylorProbe, installed below
        self._probing = False
        self.last_scored_steps = None  # training steps behind the last prune's scores
        # True when probes were installed or removed since the caller last
        # re-traced its training step.
        self.train_step_changed = False
        # On one replica the probes are in the training step of every phase
        # that holds a scoring window (`_sync_probes`), where a window switches
        # them on; on several, a probe's all-reduce would run in every step,
        # so they are installed for each window and removed after it.
        replicas = self._strategy().num_replicas_in_sync
        self._probes_by_phase = self.scores_from_training and replicas == 1
        if any(getattr(layer, "taylor_probe", None) is not None for layer in self.layers):
            self._remove_probes()  # an earlier controller's: this one decides now
        self.specs = flops.layer_specs(model, self.links)
        self.dense_flops_per_sample = flops.training_flops_per_sample(self.specs)
        self._terms_fns = {}  # plan signature -> traced scoring function
        self._optimizer_checked = False
        self.compact = bool(compact)
        # Growth-only starts sparse before any training: nothing to score.
        self._untrained = self.step_or_zero() == 0
        self.sync_from_masks()
        # True when plans changed since the caller last re-traced.
        self.needs_recompile = self.apply_compact_plans()
        if getattr(self._optimizer or getattr(model, "optimizer", None), "built", False):
            self.check_optimizer()

    @staticmethod
    def _check_total_steps(total_steps):
        if not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
            raise ValueError(
                f"`total_steps` must be a positive integer. Received: total_steps={total_steps!r}"
            )
        return int(total_steps)

    # ---- state --------------------------------------------------------------

    @property
    def optimizer(self):
        optimizer = self._optimizer or getattr(self.model, "optimizer", None)
        if optimizer is None:
            raise ValueError("No optimizer: compile the model or pass `optimizer=`.")
        return optimizer

    def check_optimizer(self):
        """Raises unless the optimizer's state of every pruned weight can be reset.

        Called at the start of training (the callback's `on_train_begin`,
        or the first flip of a custom loop), once the optimizer is built.
        """
        optimizer = self.optimizer
        if not optimizer_state.unwrap(optimizer).built:
            optimizer.build(self.model.trainable_variables)
        variables = []
        for layer in self.layers:
            variables += [variable for variable, _, _ in layer.neuron_weights()]
            variables += [link.consumer.kernel for link in self.consumers[layer.name]]
        optimizer_state.check_supported(optimizer, variables)
        self._optimizer_checked = True

    def plan_signature(self):
        """The key of the current compact plans (`topology.plan_signature`)."""
        return topology.plan_signature(self.model)

    def step_signature(self):
        """The key of what a traced training step depends on: the compact
        plans, and whether the Taylor probes are in it (installed)."""
        return self.plan_signature(), self._probes_installed()

    @property
    def step(self):
        """Global step: the optimizer's iterations (survives checkpoints)."""
        return int(keras.ops.convert_to_numpy(self.optimizer.iterations))

    def step_or_zero(self):
        """The global step, or 0 while the model has no optimizer yet."""
        optimizer = self._optimizer or getattr(self.model, "optimizer", None)
        return 0 if optimizer is None else self.step

    def sync_from_masks(self):
        """Re-reads the masks (after loading weights, say)."""
        self.active_units = {layer.name: layer.active_units for layer in self.layers}
        self.flops_per_sample = flops.training_flops_per_sample(
            self.specs, flops.current_active_units(self.model)
        )

    def apply_compact_plans(self):
        """Sets each MaskedDense's plan from the masks, and the Taylor probes
        the phase needs (`_sync_probes`); True if any changed (a traced
        training step no longer fits)."""
        changed = topology.set_compact_plans(self.model, self.compact)
        return self._sync_probes() or changed

    def _check_total_steps_set(self):
        if self.total_steps is None:
            raise ValueError("`total_steps` is not set.")

    def target_sparsity(self, step):
        """Target sparsity of global step `step` (the schedule's step table)."""
        self._check_total_steps_set()
        return self.schedule.sparsity_at_step(max(step - self.start_step, 0), self.total_steps)

    def phase_index(self, step):
        """Index of the schedule phase that global step `step` belongs to."""
        self._check_total_steps_set()
        return self.schedule.phase_at_step(max(step - self.start_step, 0), self.total_steps)

    def next_boundary_step(self, step):
        """The first global step after `step` at which a phase starts (inf: none)."""
        self._check_total_steps_set()
        boundary = self.schedule.next_boundary_step(
            max(step - self.start_step, 0), self.total_steps
        )
        return float("inf") if boundary is None else self.start_step + boundary

    def scoring_windows(self):
        """`(first_step, prune_step)` global steps of every training-step scoring window."""
        if not self.scores_from_training:
            return []
        self._check_total_steps_set()
        return [
            (self.start_step + first, self.start_step + prune)
            for first, prune in self.schedule.scoring_windows(
                self.total_steps, self.importance_batches
            )
        ]

    def next_check_step(self, step):
        """The first global step after `step` at which `on_step_begin` may act
        (a phase start or the start of a scoring window; inf: none)."""
        starts = [first for first, _ in self.scoring_windows() if first > step]
        return min([self.next_boundary_step(step)] + starts)

    @property
    def probing(self):
        """Whether the training steps are being scored now (probes switched on)."""
        return self._probing

    def _strategy(self):
        """The model's distribution strategy (the default one outside any)."""
        return getattr(self.model, "distribute_strategy", None) or tf.distribute.get_strategy()

    def _probes_installed(self):
        """Whether every prunable layer carries this controller's probe (an
        earlier controller's, on a model trained before, does not count)."""
        return bool(self._probes) and all(
            getattr(layer, "taylor_probe", None) is self._probes[layer.name] for layer in self.layers
        )

    def _phase_is_scored(self):
        """Whether a scoring window lies at the masks' sparsity (True when the
        schedule's length is not known yet)."""
        if self.total_steps is None:
            return True
        scored = {
            self.target_sparsity(step)
            for first, prune in self.scoring_windows()
            for step in range(first, prune)
        }
        return any(self._matches(sparsity) for sparsity in scored)

    def _sync_probes(self):
        """On one replica: probes in the phases that hold a scoring window,
        none in the others (a sparse phase of `alternate` scores nothing, and
        a switched-off probe on a compact layer still costs its scatter).
        Returns whether that changed what the training step must carry."""
        if not self._probes_by_phase or self._probing:
            return False
        wanted = self._phase_is_scored()
        if wanted == self._probes_installed():
            return False
        if wanted:
            self._install_probes()
        else:
            self._remove_probes()
        return True

    def _install_probes(self):
        """Puts a switched-off `StepTaylorProbe` on every prunable layer.

        A scoring window switches them on (`_set_probing`) without changing
        the traced training step.
        """
        if not self._probes:
            # Mirrored under the model's strategy: every replica adds the same.
            with self._strategy().scope():
                # One switch for all: a step reads one variable for every probe.
                active = tf.Variable(False, trainable=False, name="taylor_probes_active",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                self._probes = {
                    layer.name: step_taylor.StepTaylorProbe(
                        layer.units, f"{layer.name}_taylor", active=active
                    )
                    for layer in self.layers
                }
        for layer in self.layers:
            layer.set_taylor_probe(self._probes[layer.name])
        self.train_step_changed = True

    def _remove_probes(self):
        for layer in self.layers:
            layer.set_taylor_probe(None)
        self.train_step_changed = True

    def _set_probing(self, on):
        if on == self._probing:
            return
        if on and not self._probes_installed():
            self._install_probes()
        for probe in self._probes.values():
            if on:
                probe.reset()
        if self._probes:
            next(iter(self._probes.values())).set_active(on)  # the switch they share
        self._probing = on
        if not on and not self._probes_by_phase:
            self._remove_probes()
        # (By phase: the flip that ends a window re-syncs them for its phase.)

    def probe_state(self):
        """The scoring window in progress, for checkpoints (None when none)."""
        if not self._probing:
            return None
        return {name: probe.get_state() for name, probe in self._probes.items()}

    def set_probe_state(self, state):
        """Restores `probe_state()` (after loading a checkpoint taken mid-window)."""
        self._set_probing(state is not None)
        for name, probe_state in (state or {}).items():
            self._probes[name].set_state(probe_state)

    def _matches(self, sparsity):
        return all(
            self.active_units[layer.name] == importance.num_kept(layer.units, sparsity)
            for layer in self.layers
        )

    @property
    def applied_sparsity(self):
        """Sparsity the masks are at (0.0 when dense): mean over prunable neurons."""
        total = sum(layer.units for layer in self.layers)
        return 1.0 - sum(self.active_units.values()) / total

    # ---- flips --------------------------------------------------------------

    def on_step_begin(self, step=None):
        """Applies a phase flip if the step's target differs from the masks.

        Args:
            step: Global step about to run; defaults to `self.step`.

        Returns:
            A `FlipEvent`, or None when nothing changed.
        """
        step = self.step if step is None else int(step)
        target = self.target_sparsity(step)
        event = None if self._matches(target) else self.flip_to(target, step)
        # After the flip: a window may open at the step a phase starts.
        if self.scores_from_training and not self._probing:
            if any(first <= step < prune for first, prune in self.scoring_windows()):
                self._set_probing(True)
        return event

    def flip_to(self, sparsity, step=0):
        """Moves every prunable layer to `sparsity` now; returns a `FlipEvent`."""
        started = time.perf_counter()
        if not self._optimizer_checked:
            self.check_optimizer()
        before = self.applied_sparsity
        scores = {}
        if sparsity == 0.0:
            for layer in self.layers:
                self._grow(layer, np.ones(layer.units, dtype=bool), step)
        else:
            pruning = [
                layer
                for layer in self.layers
                if self.active_units[layer.name] > importance.num_kept(layer.units, sparsity)
            ]
            if pruning:
                scores = self.compute_scores(step)
            for layer in self.layers:
                want = importance.num_kept(layer.units, sparsity)
                keep = layer.mask_numpy()
                if want < keep.sum():
                    self._prune(layer, importance.keep_top(scores[layer.name], want, eligible=keep))
                elif want > keep.sum():
                    # Sparse -> less sparse: reopen a seeded random choice.
                    rng = np.random.default_rng([self.seed, step, 1])
                    reopen = rng.permutation(np.flatnonzero(~keep))[: want - keep.sum()]
                    grown = keep.copy()
                    grown[reopen] = True
                    self._grow(layer, grown, step)
        if self._probing and sparsity > 0.0:  # a window ends at its prune, scores used or not
            self._set_probing(False)
        self.sync_from_masks()
        recompile = self.apply_compact_plans()
        event = FlipEvent(
            step=step,
            from_sparsity=before,
            to_sparsity=float(sparsity),
            scores=scores,
            active_units=dict(self.active_units),
            seconds=time.perf_counter() - started,
            recompile=recompile,
        )
        logger.info(
            "step %d: sparsity %.3f -> %.3f in %.2fs", step, before, sparsity, event.seconds
        )
        return event

    def compute_scores(self, step=0):
        """Importance scores of every prunable layer: dict name -> `(units,)`."""
        criterion = self.criterion
        if criterion == "taylor" and step == self.start_step and self._untrained:
            # Nothing is trained yet (growth-only start): choose at random.
            criterion = "random"
        if criterion == "random":
            return {
                layer.name: importance.random_scores(layer.units, [self.seed, step, index])
                for index, layer in enumerate(self.layers)
            }
        if criterion == "magnitude":
            return {
                layer.name: importance.magnitude_scores(
                    layer.kernel.numpy(), layer.bias.numpy() if layer.use_bias else None
                )
                for layer in self.layers
            }
        if self.scores_from_training:
            return self._training_step_scores(step)
        return self._taylor_scores()

    def _training_step_scores(self, step):
        steps = self._probes[self.layers[0].name].num_steps() if self._probing else 0
        if steps == 0:
            raise ValueError(
                f"No training step was scored before the prune at step {step}: with "
                "taylor_source='training', call on_step_begin before every training step "
                "(GrowPruneCallback does) so that the scoring window "
                f"{self.scoring_windows()} is seen, or pass importance_data= with "
                "taylor_source='data'."
            )
        scores = {name: probe.scores() for name, probe in self._probes.items()}
        self.last_scored_steps = steps
        self._set_probing(False)
        return scores

    def _taylor_scores(self):
        # Traced per set of compact plans (static state baked into a trace),
        # and kept: the prunes of a schedule usually share the dense plans.
        signature = self.plan_signature()
        terms_fn = self._terms_fns.get(signature)
        if terms_fn is None:
            terms_fn = tf.function(self._batch_terms, reduce_retracing=True)
            self._terms_fns[signature] = terms_fn
        iterator = iter(self.importance_data)
        batch_terms = []
        for batch_index in range(self.importance_batches):
            try:
                batch = next(iterator)
            except StopIteration:
                raise ValueError(
                    f"`importance_data` ran out after {batch_index} of "
                    f"{self.importance_batches} batches: pass a longer (or repeated) "
                    "dataset or lower `importance_batches`."
                ) from None
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
            if y is None:
                raise ValueError("`importance_data` must yield labelled (x, y) batches.")
            batch_terms.append([np.asarray(t) for t in terms_fn(x, y, sample_weight)])
        batch_terms = self._mean_over_workers(batch_terms)
        # Square per batch, then add over batches.
        return {
            layer.name: importance.taylor_scores([terms[index] for terms in batch_terms])
            for index, layer in enumerate(self.layers)
        }

    def _mean_over_workers(self, batch_terms):
        """Each batch's terms averaged over the workers of a multi-worker strategy.

        Under `MultiWorkerMirroredStrategy` on several workers every worker
        scores the batches its own `importance_data` yields; the terms are
        all-reduced (one collective for all batches and layers) before
        squaring, so every worker squares the same numbers and keeps the
        same neurons. The mean, not the sum: workers scoring the same
        batches get exactly that batch's terms (what one process gets), and
        workers scoring equal shards of a global batch get the global
        batch's terms (the loss is a mean over the batch and the term is
        linear in it). Any other strategy: returned as they are.
        """
        from agp_tf.distribute import multi_worker  # the one place that knows strategies

        strategy = getattr(self.model, "distribute_strategy", None)
        if not multi_worker.is_multi_worker(strategy):
            return batch_terms
        sizes = [len(terms) for terms in batch_terms[0]]
        local = np.stack([np.concatenate(terms) for terms in batch_terms])  # (N, sum of units)
        # The same value on every local replica: the mean over replicas is
        # the mean over workers.
        values = strategy.experimental_distribute_values_from_function(
            lambda _: tf.constant(local)
        )
        mean = strategy.reduce(tf.distribute.ReduceOp.MEAN, values, axis=None)
        splits = np.cumsum(sizes)[:-1]
        return [np.split(row, splits) for row in keras.ops.convert_to_numpy(mean)]

    def _batch_terms(self, x, y, sample_weight):
        return importance.taylor_terms(
            self.model, self.layers, self._loss_fn, x, y, sample_weight,
            include_regularization=self.include_regularization,
        )

    # ---- applying masks -----------------------------------------------------

    def _reset_slots(self, variable, keep, axis):
        """Resets `variable`'s optimizer slots where `keep` is False along `axis`."""
        optimizer_state.reset_slots(self.optimizer, variable, np.asarray(keep, bool), axis)

    def _zero_consumer_rows(self, layer, keep):
        """Zeroes the consumers' kernel rows (and slots) of `layer`'s neurons not in `keep`."""
        for link in self.consumers[layer.name]:
            kernel = link.consumer.kernel
            rows = np.ones(kernel.shape[0], dtype=bool)
            rows[link.offset : link.offset + layer.units] = keep
            kernel.assign(kernel * rows.reshape(-1, 1).astype(kernel.dtype))
            self._reset_slots(kernel, rows, axis=0)

    def _prune(self, layer, keep):
        layer.set_mask(keep)  # zeroes the pruned neurons' own weights
        for variable, axis, _ in layer.neuron_weights():
            self._reset_slots(variable, keep, axis)
        self._zero_consumer_rows(layer, keep)

    def _grow(self, layer, new_keep, step):
        old_keep = layer.mask_numpy()
        regrown = new_keep & ~old_keep
        if not regrown.any():
            return
        layer_index = self.layers.index(layer)
        for weight_index, (variable, axis, initializer) in enumerate(layer.neuron_weights()):
            value = keras.ops.convert_to_numpy(variable)
            if self.growth == "zero":
                fresh = np.zeros_like(value)
            else:
                rng = np.random.default_rng([self.seed, step, layer_index, weight_index])
                draw = _seeded(initializer, int(rng.integers(2**31 - 1)))
                fresh = keras.ops.convert_to_numpy(draw(value.shape, dtype=variable.dtype))
                if variable is getattr(layer, "kernel", None):  # not biases, gates, ...
                    fresh = (fresh * self.growth_scale).astype(fresh.dtype, copy=False)
            variable.assign(replace_neurons(value, ~regrown, axis, fresh))
            self._reset_slots(variable, ~regrown, axis)
        layer.mask.assign(new_keep.astype(keras.ops.convert_to_numpy(layer.mask).dtype))
        # Outgoing weights start at zero so the model output is unchanged.
        self._zero_consumer_rows(layer, ~regrown)
