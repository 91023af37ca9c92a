"""The code of `scripts/benchmark.py`: DLRM step times and whole runs, AGP against dense.

A checkout-only package for the scripts: `setup.py` does not install it, and
`scripts/benchmark.py` puts the repository root on `sys.path` to import it
(tests import it from the root as well). Importing this package loads
nothing; its modules:

    settings.py    Settings: the script's flags, checked and parsed; VARIANTS
    timing.py      a step timer for either Keras, timed `fit` runs, median, load average
    progress.py    progress lines with a rough time left (work units)
    data.py        the synthetic stream and whole in-memory batches cut from it
    models.py      the Keras 3 DLRMs measured: full, kept (static) and floor widths, flipped
    tfmot_peer.py  the peer: DLRM in tf_keras with TFMOT magnitude pruning (peers extra,
                   imported lazily, so this module imports without it)
    step_times.py  part 1: every configuration's median step time in interleaved rounds,
                   the ratios between configurations
    end_to_end.py  part 2: alternate vs dense through `fit`, taking turns in chunks; the
                   ideal saving, flip costs and extrapolated run lengths as plain functions
    report.py      the markdown tables, targets, summary and note lines, the JSON file

The modules that import Keras are imported by the script only after it has
set TensorFlow's thread counts.
"""
