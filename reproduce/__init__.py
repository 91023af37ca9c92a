"""The code of `scripts/reproduce_paper.py`: the paper's experiments, seeded.

A checkout-only package for the script, like `benchmarks/`: `setup.py` does
not install it, and the script puts the repository root on `sys.path`.
Its modules (importing them loads no TensorFlow; `runs`, `static_smaller`
and the plots import what they need when called):

    experiments.py  the configurations of Table I, Table II, Fig. 5 and the
                    capacity check, as `train.py` flags; the run sizes
    runs.py         one configuration and seed as a `train.py` process; its
                    record (seed, data, schedule, FLOPs, wall-clock, revision)
    stats.py        mean and spread over seeds, paired relative changes and
                    the significance rule
    tables.py       the markdown tables and the JSON of every figure in them
    plots.py        Fig. 5 and Fig. 6 as PNG files (matplotlib, imported lazily)
"""
