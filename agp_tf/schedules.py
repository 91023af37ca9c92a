"""Phase schedules: training progress in [0, 1] -> target neuron sparsity.

A schedule is a pure function. Sparsity 0.0 means a dense phase; any other
value means a sparse phase in which that fraction of every prunable layer's
neurons is pruned. The named constructors give the schemes of the paper's
Table II.
"""

import math


class PhaseSchedule:
    """Piecewise-constant target sparsity over training progress.

    Args:
        boundaries: List of `(start_fraction, sparsity)` pairs. The first
            phase must start at 0.0; starts must be strictly increasing and
            below 1.0; each sparsity must lie in [0, 1). A phase lasts from
            its start (inclusive) to the next start (exclusive); the last one
            lasts to the end of training.

    Example:

    ```python
    schedule = PhaseSchedule([(0.0, 0.0), (0.5, 0.7)])
    schedule(0.0), schedule(0.5), schedule(1.0)   # (0.0, 0.7, 0.7)
    ```
    """

    def __init__(self, boundaries):
        try:
            pairs = [(float(start), float(sparsity)) for start, sparsity in boundaries]
        except (TypeError, ValueError):
            raise ValueError(
                "`boundaries` must be a list of (start_fraction, sparsity) pairs. "
                f"Received: boundaries={boundaries!r}"
            ) from None
        if not pairs:
            raise ValueError(f"`boundaries` must not be empty. Received: boundaries={boundaries!r}")
        if pairs[0][0] != 0.0:
            raise ValueError(
                "The first phase must start at 0.0. "
                f"Received: boundaries[0]={boundaries[0]!r}"
            )
        for index, (start, sparsity) in enumerate(pairs):
            if not 0.0 <= start < 1.0:
                raise ValueError(
                    f"Phase starts must lie in [0, 1). Received: boundaries[{index}]"
                    f"={boundaries[index]!r}"
                )
            if not 0.0 <= sparsity < 1.0 or math.isnan(sparsity):
                raise ValueError(
                    f"Phase sparsity must lie in [0, 1). Received: boundaries[{index}]"
                    f"={boundaries[index]!r}"
                )
            if index and start <= pairs[index - 1][0]:
                raise ValueError(
                    "Phase starts must be strictly increasing (no overlapping or "
                    f"unsorted phases). Received: boundaries[{index - 1}]="
                    f"{boundaries[index - 1]!r}, boundaries[{index}]={boundaries[index]!r}"
                )
        self.boundaries = tuple(pairs)

    def __call__(self, progress):
        """Target sparsity at `progress` (fraction of training done).

        Progress past 1.0 (training beyond the planned steps) stays in the
        last phase.
        """
        return self.boundaries[self.phase_index(progress)][1]

    def phase_index(self, progress):
        """Index into `boundaries` of the phase that holds `progress`."""
        progress = float(progress)
        if not progress >= 0.0:  # also rejects NaN
            raise ValueError(f"`progress` must be >= 0. Received: progress={progress}")
        index = 0
        for position, (start, _) in enumerate(self.boundaries):
            if progress >= start:
                index = position
        return index

    def phases(self):
        """List of `(start, end, sparsity)` triples covering [0, 1]."""
        ends = [start for start, _ in self.boundaries[1:]] + [1.0]
        return [(start, end, s) for (start, s), end in zip(self.boundaries, ends)]

    def sparse_fraction(self):
        """Fraction of training spent in sparse phases."""
        return sum(end - start for start, end, s in self.phases() if s > 0.0)

    @property
    def ends_dense(self):
        return self.boundaries[-1][1] == 0.0

    def get_config(self):
        return {"boundaries": [list(pair) for pair in self.boundaries]}

    @classmethod
    def from_config(cls, config):
        return cls(config["boundaries"])

    def __eq__(self, other):
        return isinstance(other, PhaseSchedule) and self.boundaries == other.boundaries

    def __repr__(self):
        return f"PhaseSchedule({[list(pair) for pair in self.boundaries]})"


def _check_sparsity(sparsity):
    sparsity = float(sparsity)
    if not 0.0 < sparsity < 1.0:
        raise ValueError(f"`sparsity` must lie in (0, 1). Received: sparsity={sparsity}")
    return sparsity


def _check_fraction(name, value):
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must lie in (0, 1). Received: {name}={value}")
    return value


def alternate(sparsity, phase_fraction=0.2):
    """Dense, sparse, dense, ..., dense: equal phases, starting and ending dense.

    With the default `phase_fraction=0.2`: dense, sparse, dense, sparse,
    dense, 20% of training each. `1 / phase_fraction` must be an odd integer
    (3, 5, 7, ...) so that training ends dense.
    """
    sparsity = _check_sparsity(sparsity)
    phase_fraction = _check_fraction("phase_fraction", phase_fraction)
    count = round(1.0 / phase_fraction)
    if abs(count * phase_fraction - 1.0) > 1e-9 or count % 2 == 0 or count < 3:
        raise ValueError(
            "`phase_fraction` must divide training into an odd number (>= 3) of "
            f"equal phases, e.g. 0.2 or 1/3. Received: phase_fraction={phase_fraction}"
        )
    return PhaseSchedule(
        [(k / count, sparsity if k % 2 else 0.0) for k in range(count)]
    )


def pruning_only(sparsity, start=0.6):
    """Dense until `start`, then sparse to the end of training."""
    sparsity = _check_sparsity(sparsity)
    start = _check_fraction("start", start)
    return PhaseSchedule([(0.0, 0.0), (start, sparsity)])


def growth_only(sparsity, end=0.4):
    """Sparse from the start until `end`, then dense.

    The kept neurons of the first phase are chosen at random (seeded): there
    are no trained weights to score at step 0.
    """
    sparsity = _check_sparsity(sparsity)
    end = _check_fraction("end", end)
    return PhaseSchedule([(0.0, sparsity), (end, 0.0)])


def dsd(sparsity, start=0.3, end=0.7):
    """Dense-sparse-dense: sparse between `start` and `end`."""
    sparsity = _check_sparsity(sparsity)
    start = _check_fraction("start", start)
    end = _check_fraction("end", end)
    if not start < end:
        raise ValueError(
            f"`start` must be before `end`. Received: start={start}, end={end}"
        )
    return PhaseSchedule([(0.0, 0.0), (start, sparsity), (end, 0.0)])


def dense():
    """The dense baseline: no pruning at all."""
    return PhaseSchedule([(0.0, 0.0)])


SCHEMES = {
    "alternate": alternate,
    "pruning_only": pruning_only,
    "growth_only": growth_only,
    "dsd": dsd,
    "dense": dense,
}
