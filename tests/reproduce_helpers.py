"""Fake run records for the reproduce tests: what runs.make_record returns,
with chosen figures."""

from reproduce import experiments

FC_LAYERS = [
    {"name": "a", "input_dim": 3, "units": 4, "use_bias": True, "prunable": True, "producers": []},
    {"name": "b", "input_dim": 4, "units": 1, "use_bias": True, "prunable": False,
     "producers": ["a"]},
]


def fake_record(configuration, seed, ne=0.9, accuracy=0.75, flops_change=0.0, seconds=10.0,
                windows=3):
    curve = [{"rows_seen": 100 * i, "rows": 100, "lookahead_accuracy": accuracy,
              "lookahead_ne": ne, "active_fc_parameters_after": 21} for i in range(windows)]
    return {
        "configuration": configuration.name, "label": configuration.label,
        "meta": configuration.meta, "seed": seed, "revision": "abc", "command": [],
        "data_flags": ["--data=synthetic"], "schedule": "dense()", "settings": {},
        "train_rows": 100 * windows,
        "test": {"ne": ne, "accuracy": accuracy},
        "lookahead_ne": ne, "lookahead_bce": 0.5, "lookahead_accuracy": accuracy,
        "train_flops": 1e9 * (1 + flops_change), "dense_train_flops": 1e9,
        "train_flops_change": flops_change, "predicted_train_flops_change": flops_change,
        "flips": 0, "dense_fc_parameters": 21, "train_seconds": seconds,
        "train_cpu_seconds": 1.5 * seconds,
        "total_seconds": seconds + 5, "process_seconds": seconds + 8,
        "resumed_after_windows": 0, "curve": curve,
    }


def baseline_and(configuration, ne_changes, accuracy=0.75, flops_change=-0.3, seconds=8.0):
    """Baseline records for seeds 0.. and `configuration`'s, whose test NE is
    the baseline's times (1 + change) seed by seed."""
    records = []
    for seed, change in enumerate(ne_changes):
        base_ne = 0.9 + 0.01 * seed
        records.append(fake_record(experiments.BASELINE, seed, ne=base_ne))
        records.append(fake_record(configuration, seed, ne=base_ne * (1 + change),
                                   accuracy=accuracy, flops_change=flops_change,
                                   seconds=seconds))
    return records
