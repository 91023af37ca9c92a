"""The Keras 3 models measured: DLRM at its full, kept and floor widths, flipped to a phase."""

import keras

from agp_tf import importance, schedules, topology
from agp_tf.controller import GrowPruneController
from agp_tf.models import dlrm

# Configurations built at their own widths; every other one uses the full widths.
_OWN_WIDTHS = ("static", "floor")


def kept_widths(bottom_mlp, top_mlp, sparsity):
    """Widths of the MLPs once every default-prunable layer is at `sparsity`."""
    prunable = set(dlrm.default_prunable_layers(bottom_mlp, top_mlp))

    def kept(prefix, widths):
        return tuple(
            importance.num_kept(units, sparsity) if f"{prefix}_{i}" in prunable else units
            for i, units in enumerate(widths)
        )

    return kept("bottom_mlp", bottom_mlp), kept("top_mlp", top_mlp)


def top_mlp_inputs(embedding_dim, tables):
    """Width of DLRM's top MLP input: the bottom output and one dot per pair of vectors."""
    return embedding_dim + (tables + 1) * tables // 2


def variant_mlps(settings):
    """`{"dense" | "static" | "floor": (bottom widths, top widths)}`."""
    return {
        "dense": (settings.bottom_mlp, settings.top_mlp),
        "static": kept_widths(settings.bottom_mlp, settings.top_mlp, settings.sparsity),
        # The smallest MLPs DLRM allows: the bottom one must end at the embedding width.
        "floor": ((settings.embedding_dim,), (1,)),
    }


def build_dlrm(settings, vocab_sizes, mlps):
    """`dlrm.build_dlrm` with MLP widths `mlps = (bottom, top)`."""
    bottom_mlp, top_mlp = mlps
    return dlrm.build_dlrm(
        vocab_sizes,
        embedding_dim=settings.embedding_dim,
        bottom_mlp=bottom_mlp,
        top_mlp=top_mlp,
        seed=settings.seed,
    )


def build_compiled_dlrm(settings, vocab_sizes, mlps, jit_compile, steps_per_execution=1):
    """`build_dlrm`, compiled with SGD and binary cross-entropy."""
    model = build_dlrm(settings, vocab_sizes, mlps)
    model.compile(
        optimizer=keras.optimizers.SGD(settings.learning_rate),
        loss="binary_crossentropy",
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def build_agp_variant(settings, variant, vocab_sizes, jit_compile, mlps):
    """A compiled Keras 3 model for `variant`, flipped to its phase."""
    widths = mlps[variant if variant in _OWN_WIDTHS else "dense"]
    model = build_compiled_dlrm(
        settings, vocab_sizes, widths, jit_compile, settings.steps_per_execution
    )
    if variant in ("dense",) + _OWN_WIDTHS:
        # Every neuron kept: the plain path (no mask multiply), the step of
        # a dense phase under GrowPruneCallback and of a plain smaller model.
        topology.set_compact_plans(model)
        model.make_train_function(force=True)
    if variant == "probed":
        # The controller installs Taylor probes, switched off until a
        # scoring window: the dense steps of a run that scores from training.
        GrowPruneController(model, schedules.alternate(settings.sparsity), total_steps=1_000_000,
                            taylor_source="training", seed=settings.seed)
        model.make_train_function(force=True)
    if variant in ("masked", "compact"):
        controller = GrowPruneController(
            model,
            schedules.pruning_only(settings.sparsity),
            total_steps=1_000_000,
            criterion=settings.flip_criterion,
            seed=settings.seed,
            compact=variant == "compact",
        )
        controller.flip_to(settings.sparsity, step=0)
        # Compact plans are static state of the traced step: trace anew.
        model.make_train_function(force=True)
    return model
