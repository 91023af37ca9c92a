"""reproduce.experiments: the paper's configurations as train.py flags."""

import pytest

from reproduce import experiments
from reproduce.experiments import SIZES


def test_every_experiment_needs_each_configuration_once_baseline_first():
    configurations = experiments.configurations(experiments.PAPER_EXPERIMENTS, SIZES["default"])
    names = [c.name for c in configurations]
    assert names[0] == "dense" and len(names) == len(set(names)) == 23
    assert [c.name for c in configurations[1:10]] == [f"alternate-{s:g}" for s in experiments.TENTHS]
    assert {"pruning_only-0.7", "growth_only-0.7", "dsd-0.7", "static-0.7"} <= set(names)
    assert names.count("alternate-0.7") == 1  # Table I, Table II and Fig. 6 share it
    assert len(experiments.plan(configurations, SIZES["default"].seeds)) == 69
    quick = experiments.configurations(experiments.PAPER_EXPERIMENTS, SIZES["quick"])
    assert len(experiments.plan(quick, SIZES["quick"].seeds)) == 16
    with_variants = experiments.configurations(experiments.EXPERIMENTS, SIZES["default"])
    assert len(with_variants) == 23 + 10


def test_variants_change_one_setting_each():
    base = experiments.alternate(0.7)
    for variant in experiments.variants():
        changed = set(variant.flags) - set(base.flags)
        assert len(changed) == 1 and len(variant.flags) == len(base.flags) + (
            0 if variant.meta["variant"] == "phases-7" else 1), variant.flags
    from agp_tf import schedules

    (phases,) = [v for v in experiments.variants() if v.meta["variant"] == "phases-7"]
    fraction = float(dict(f[2:].split("=") for f in phases.flags)["phase_fraction"])
    assert schedules.alternate(0.7, fraction).sparse_fraction() == pytest.approx(3 / 7)


def test_schemes_have_40_percent_of_the_samples_sparse():
    from agp_tf import schedules

    by_flags = {
        "alternate": lambda f: schedules.alternate(f["sparsity"], f["phase_fraction"]),
        "pruning_only": lambda f: schedules.pruning_only(f["sparsity"], f["prune_start"]),
        "growth_only": lambda f: schedules.growth_only(f["sparsity"], f["prune_end"]),
        "dsd": lambda f: schedules.dsd(f["sparsity"], f["prune_start"], f["prune_end"]),
    }
    for configuration in experiments.schemes():
        flags = dict(flag[2:].split("=") for flag in configuration.flags)
        values = {k: float(v) for k, v in flags.items() if k != "schedule"}
        schedule = by_flags[flags["schedule"]](values)
        assert schedule.sparse_fraction() == pytest.approx(0.4), configuration.name
        assert values["sparsity"] == 0.7


def test_initial_capacity_and_static_model_flags():
    capacity = experiments.initial_capacity(0.3)
    assert capacity.flags == ("--schedule=growth_only", "--sparsity=0.7", "--prune_end=0.1")
    assert capacity.meta == {"scheme": "growth_only", "capacity": 0.3}
    static = experiments.static_smaller(0.7)
    # floor(0.3 * width) for the prunable layers; the last of each MLP kept.
    assert static.flags == ("--schedule=dense", "--bottom_mlp=76,38,19,4", "--top_mlp=76,38,1")


def test_plan_goes_seed_by_seed():
    configurations = [experiments.BASELINE, experiments.alternate(0.5)]
    assert [(c.name, s) for c, s in experiments.plan(configurations, 2)] == [
        ("dense", 0), ("alternate-0.5", 0), ("dense", 1), ("alternate-0.5", 1)]


def test_bad_choices_are_named():
    with pytest.raises(ValueError, match="experiments must be some of .* Received: table9"):
        experiments.configurations(["table9"], SIZES["quick"])
    with pytest.raises(ValueError, match="--data=shards needs --data_path"):
        experiments.data_flags(SIZES["quick"], "shards")
    with pytest.raises(ValueError, match="synthetic or shards. Received: 'text'"):
        experiments.data_flags(SIZES["quick"], "text")


def test_every_run_is_a_valid_train_py_command(train_flags):
    size = SIZES["default"]
    data = experiments.data_flags(size)
    assert "--synthetic_teacher=rich" in data
    for configuration in experiments.configurations(experiments.EXPERIMENTS, size):
        train = train_flags(*data, *configuration.flags)
        train.check_flags()  # raises train.SettingsError on a bad combination
    assert size.train_rows == 600_000
