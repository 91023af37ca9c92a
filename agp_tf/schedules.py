"""Phase schedules: training progress in [0, 1] -> target neuron sparsity.

A schedule is a pure function. Sparsity 0.0 means a dense phase; any other
value means a sparse phase in which that fraction of every prunable layer's
neurons is pruned. The named constructors give the schemes of the paper's
Table II.

Training runs in whole steps, so a run of `total_steps` turns the fractions
into one table of integer boundary steps, once (`boundary_steps`): phase k
starts at step `floor(start_k * total_steps + 0.5)` (the nearest step, ties
up). Which phase a step is in (`phase_at_step`) and when the next one starts
(`next_boundary_step`) both read that table, so they can never disagree.
"""

import bisect
import math

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="agp_tf")
class PhaseSchedule:
    """Piecewise-constant target sparsity over training progress.

    Args:
        boundaries: List of `(start_fraction, sparsity)` pairs. The first
            phase must start at 0.0; starts must be strictly increasing and
            below 1.0; each sparsity must lie in [0, 1). A phase lasts from
            its start (inclusive) to the next start (exclusive); the last one
            lasts to the end of training.
        name: How the schedule was written (`"alternate(0.7)"`); the named
            constructors set it, and `repr` shows it. Not part of equality.

    Example:

    ```python
    schedule = PhaseSchedule([(0.0, 0.0), (0.5, 0.7)])
    schedule(0.0), schedule(0.5), schedule(1.0)   # (0.0, 0.7, 0.7)
    ```
    """

    def __init__(self, boundaries, name=None):
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
        self.name = name

    def __call__(self, progress):
        """Target sparsity at `progress` (fraction of training done).

        Progress past 1.0 (training beyond the planned steps) stays in the
        last phase. A run of whole steps reads `sparsity_at_step` instead,
        which rounds the phase starts to steps.
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

    def boundary_steps(self, total_steps):
        """The step at which each phase starts, for a run of `total_steps` steps.

        Phase k starts at `floor(start_k * total_steps + 0.5)`. Every phase
        must get at least one step.

        Returns:
            Tuple of ints, strictly increasing, the first one 0.

        Example:

        ```python
        PhaseSchedule([(0, 0), (0.1 + 0.2, 0.5), (0.6, 0)]).boundary_steps(10)
        # (0, 3, 6): 0.1 + 0.2 is 0.30000000000000004, still step 3
        ```
        """
        if (
            not isinstance(total_steps, (int, np.integer))
            or isinstance(total_steps, bool)
            or total_steps < 1
        ):
            raise ValueError(
                f"`total_steps` must be a positive integer. Received: total_steps={total_steps!r}"
            )
        steps = tuple(int(math.floor(start * total_steps + 0.5)) for start, _ in self.boundaries)
        for index in range(1, len(steps)):
            if steps[index] <= steps[index - 1]:
                raise ValueError(
                    f"`total_steps` is too small for this schedule: phases {index - 1} and "
                    f"{index} both start at step {steps[index]}. Every phase needs at least "
                    f"one step. Received: total_steps={total_steps}, schedule={self!r}"
                )
        return steps

    def scoring_windows(self, total_steps, batches):
        """Where the training steps that score each prune lie.

        A prune happens where a phase is sparser than the one before. Its
        scores come from the last `batches` steps before it, within the
        phase before (fewer when that phase is shorter).

        Returns:
            List of `(first_step, prune_step)` pairs: steps `first_step ..
            prune_step - 1` score the prune at `prune_step`.

        Example:

        ```python
        alternate(0.7).scoring_windows(100, 16)   # [(4, 20), (44, 60)]
        ```
        """
        steps = self.boundary_steps(total_steps)
        return [
            (max(steps[k] - batches, steps[k - 1]), steps[k])
            for k in range(1, len(steps))
            if self.boundaries[k][1] > self.boundaries[k - 1][1]
        ]

    def phase_at_step(self, step, total_steps):
        """Index of the phase that step `step` (0-based) of a run belongs to."""
        if step < 0:
            raise ValueError(f"`step` must be >= 0. Received: step={step}")
        return bisect.bisect_right(self.boundary_steps(total_steps), step) - 1

    def sparsity_at_step(self, step, total_steps):
        """Target sparsity of step `step` of a run of `total_steps` steps."""
        return self.boundaries[self.phase_at_step(step, total_steps)][1]

    def next_boundary_step(self, step, total_steps):
        """The first phase start after `step`, or None when `step` is in the last phase."""
        steps = self.boundary_steps(total_steps)
        index = bisect.bisect_right(steps, step)
        return steps[index] if index < len(steps) else None

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

    def describe_phase(self, index):
        """Phase `index` in words: `"dense warm-up"`, `"sparse (70% pruned)"`, ...

        Example:

        ```python
        [alternate(0.7).describe_phase(k) for k in range(3)]
        # ['dense warm-up', 'sparse (70% pruned)', 'dense (regrown)']
        ```
        """
        sparsity = self.boundaries[index][1]
        if sparsity > 0.0:
            return f"sparse ({sparsity:.0%} pruned)"
        if len(self.boundaries) == 1:
            return "dense"
        if index == 0:
            return "dense warm-up"
        return "dense (regrown)"

    def describe(self):
        """Every phase in words with its share of training, e.g. for a log line.

        Example:

        ```python
        dsd(0.7).describe()
        # 'dense warm-up 0-30%, sparse (70% pruned) 30-70%, dense (regrown) 70-100%'
        ```
        """
        return ", ".join(
            f"{self.describe_phase(k)} {start:.0%}-{end:.0%}".replace("%-", "-", 1)
            for k, (start, end, _) in enumerate(self.phases())
        )

    def get_config(self):
        return {"boundaries": [list(pair) for pair in self.boundaries], "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(config["boundaries"], config.get("name"))

    def __eq__(self, other):
        return isinstance(other, PhaseSchedule) and self.boundaries == other.boundaries

    def __repr__(self):
        if self.name:
            return self.name
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
        [(k / count, sparsity if k % 2 else 0.0) for k in range(count)],
        name=f"alternate({sparsity:g}, phase_fraction={phase_fraction:g})",
    )


def pruning_only(sparsity, start=0.6):
    """Dense until `start`, then sparse to the end of training."""
    sparsity = _check_sparsity(sparsity)
    start = _check_fraction("start", start)
    return PhaseSchedule(
        [(0.0, 0.0), (start, sparsity)], name=f"pruning_only({sparsity:g}, start={start:g})"
    )


def growth_only(sparsity, end=0.4):
    """Sparse from the start until `end`, then dense.

    The kept neurons of the first phase are chosen at random (seeded): there
    are no trained weights to score at step 0.
    """
    sparsity = _check_sparsity(sparsity)
    end = _check_fraction("end", end)
    return PhaseSchedule(
        [(0.0, sparsity), (end, 0.0)], name=f"growth_only({sparsity:g}, end={end:g})"
    )


def dsd(sparsity, start=0.3, end=0.7):
    """Dense-sparse-dense: sparse between `start` and `end`."""
    sparsity = _check_sparsity(sparsity)
    start = _check_fraction("start", start)
    end = _check_fraction("end", end)
    if not start < end:
        raise ValueError(
            f"`start` must be before `end`. Received: start={start}, end={end}"
        )
    return PhaseSchedule(
        [(0.0, 0.0), (start, sparsity), (end, 0.0)],
        name=f"dsd({sparsity:g}, start={start:g}, end={end:g})",
    )


def dense():
    """The dense baseline: no pruning at all."""
    return PhaseSchedule([(0.0, 0.0)], name="dense()")


SCHEMES = {
    "alternate": alternate,
    "pruning_only": pruning_only,
    "growth_only": growth_only,
    "dsd": dsd,
    "dense": dense,
}
