"""The statistics behind the verdicts, checked against values worked out by hand.

Book: The paper's claims, checked ("What three seeds can resolve").
"""

from __future__ import annotations

import math

import pytest

from qpconv.replication.statistics import mean_interval, resolvable_difference, sd_interval, welch, welch_from_summary


def test_welch_on_a_textbook_case():
    # a = 1, 2, 3 and b = 4, 5, 6: difference -3, standard error sqrt(1/3 + 1/3) = 0.8165,
    # t = -3.674 on 4 degrees of freedom (equal variances and sizes), t_0.975(4) = 2.7764
    result = welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert result.difference == pytest.approx(-3.0)
    assert result.dof == pytest.approx(4.0)
    assert (result.low, result.high) == pytest.approx((-3 - 2.7764 * 0.81650, -3 + 2.7764 * 0.81650), abs=1e-3)
    assert result.p_value == pytest.approx(0.02131, abs=2e-4)
    assert welch_from_summary(2.0, 1.0, 3, 5.0, 1.0, 3) == pytest.approx(result)


def test_unequal_variances_use_the_welch_satterthwaite_degrees_of_freedom():
    # sd 1 and 3 with 3 values each: dof = (1/3 + 3)^2 / ((1/3)^2 / 2 + 3^2 / 2) = 2.439
    assert welch_from_summary(0.0, 1.0, 3, 0.0, 3.0, 3).dof == pytest.approx((1 / 3 + 3) ** 2 / ((1 / 9) / 2 + 9 / 2))


def test_one_value_on_a_side_has_no_interval():
    result = welch([1.0], [2.0, 3.0])
    assert not result.defined and math.isnan(result.p_value)
    assert result.text == "-1.50 (no interval: one seed)"


def test_the_t_interval_of_a_mean():
    interval = mean_interval([1.0, 2.0, 3.0])  # sd 1, t_0.975(2) = 4.3027
    assert (interval.low, interval.high) == pytest.approx((2 - 4.3027 / math.sqrt(3), 2 + 4.3027 / math.sqrt(3)), abs=1e-3)


def test_what_three_and_five_seeds_can_resolve():
    # half-width of the interval of a difference of two means of n seeds each, sd s: t(2n - 2) * s * sqrt(2 / n)
    assert resolvable_difference(1.0, 3) == pytest.approx(2.7764 * math.sqrt(2 / 3), abs=1e-3)
    assert resolvable_difference(1.0, 5) == pytest.approx(2.3060 * math.sqrt(2 / 5), abs=1e-3)


def test_the_uncertainty_of_an_sd_from_few_seeds():
    # sqrt((n - 1) / chi2) at the 0.975 and 0.025 quantiles: chi2(2) = 7.3778 and 0.050636
    low, high = sd_interval(3)
    assert (low, high) == pytest.approx((math.sqrt(2 / 7.3778), math.sqrt(2 / 0.050636)), abs=1e-3)
    assert (round(low, 2), round(high, 1)) == (0.52, 6.3)
