"""benchmarks.models: the widths of the measured models and one built configuration."""

import types

from benchmarks import models

SETTINGS = types.SimpleNamespace(
    embedding_dim=4, bottom_mlp=(16, 8, 4), top_mlp=(16, 8, 1), sparsity=0.7, seed=0,
    learning_rate=0.1, flip_criterion="magnitude", steps_per_execution=4,
)


def test_top_mlp_inputs_are_the_bottom_output_and_one_dot_per_pair():
    # Criteo: 26 tables and the bottom output, 27 * 26 / 2 = 351 dots.
    assert models.top_mlp_inputs(4, 26) == 355


def test_variant_mlps():
    mlps = models.variant_mlps(SETTINGS)
    assert mlps["dense"] == ((16, 8, 4), (16, 8, 1))
    # floor(0.3 * width) kept; each MLP's last layer is never pruned.
    assert mlps["static"] == ((4, 2, 4), (4, 2, 1))
    assert mlps["floor"] == ((4,), (1,))


def test_compact_variant_is_built_compiled_and_flipped():
    mlps = models.variant_mlps(SETTINGS)
    model = models.build_agp_variant(SETTINGS, "compact", [10, 20], False, mlps)
    layer = model.get_layer("bottom_mlp_0")
    assert model.optimizer is not None
    assert model.steps_per_execution == 4
    assert (layer.units, layer.active_units) == (16, 4)  # a mask at 0.7, not a smaller layer


def test_probed_variant_carries_switched_off_probes_on_every_prunable_layer():
    mlps = models.variant_mlps(SETTINGS)
    model = models.build_agp_variant(SETTINGS, "probed", [10, 20], False, mlps)
    probed = [layer.name for layer in model.layers if getattr(layer, "taylor_probe", None)]
    assert probed == ["bottom_mlp_0", "bottom_mlp_1", "top_mlp_0", "top_mlp_1"]
    probe = model.get_layer("top_mlp_0").taylor_probe
    assert not probe.is_active()
    assert model.get_layer("top_mlp_0").active_units == 16  # dense: nothing pruned


def test_dense_static_and_floor_run_the_plain_path_and_masked_runs_the_masks():
    from agp_tf.layers import CompactPlan

    mlps = models.variant_mlps(SETTINGS)
    for variant in ("dense", "static", "floor"):
        model = models.build_agp_variant(SETTINGS, variant, [10, 20], False, mlps)
        assert model.get_layer("top_mlp_0").compact_plan == CompactPlan(), variant
    masked = models.build_agp_variant(SETTINGS, "masked", [10, 20], False, mlps)
    assert masked.get_layer("top_mlp_0").compact_plan is None
