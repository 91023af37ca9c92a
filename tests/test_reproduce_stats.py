"""reproduce.stats: spread over seeds, paired changes, the significance rule."""

import math

import pytest

from reproduce import stats
from reproduce.stats import Estimate


def test_estimate_by_hand():
    value = stats.estimate([1.0, 2.0, 3.0])
    assert value == Estimate(2.0, 1.0, 3)
    assert value.standard_error == pytest.approx(1.0 / math.sqrt(3))
    single = stats.estimate([5.0])
    assert single.mean == 5.0 and math.isnan(single.std) and math.isnan(single.standard_error)
    with pytest.raises(ValueError, match="at least one value"):
        stats.estimate([])


def test_paired_change_pairs_seeds_and_ignores_unpaired_ones():
    change = stats.paired_relative_change({0: 1.01, 1: 1.02, 2: 9.0}, {0: 1.0, 1: 1.0})
    assert change.count == 2
    assert change.mean == pytest.approx(0.015)
    assert change.std == pytest.approx(math.sqrt(2) * 0.005)
    with pytest.raises(ValueError, match="no seed in common"):
        stats.paired_relative_change({0: 1.0}, {1: 1.0})


@pytest.mark.parametrize("change, significant", [
    (Estimate(0.003, 0.001, 3), True),     # beyond 0.1% and two standard errors
    (Estimate(-0.003, 0.001, 3), True),
    (Estimate(0.003, 0.004, 3), False),    # within two standard errors
    (Estimate(0.0008, 0.00001, 3), False),  # below the 0.1% bar, however certain
    (Estimate(0.01, math.nan, 1), False),  # one seed: no claim
])
def test_significance_needs_both_the_bar_and_two_standard_errors(change, significant):
    assert stats.is_significant(change) is significant
