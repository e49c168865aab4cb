"""The statistics behind every verdict: Welch intervals of differences, t intervals of means, and their rule.

Book: The paper's claims, checked (its introduction, and "What three seeds can resolve"); "What makes it work?".

A comparison of two models is the difference of their mean final test accuracies over
seeds, with its 95 % confidence interval by Welch's t test (unequal variances) and the
two-sided p-value. The rule (:func:`comparison_verdict`):

* **holds**: the interval excludes 0 in the claimed direction and, when the claim states
  a size ("~ 10 points better"), contains that size;
* **partly**: the direction holds, the stated size lies outside the interval;
* **not resolved**: the interval contains 0, the seeds cannot tell;
* **does not hold**: the interval excludes 0 in the other direction.

A level ("above 95 %", "about 90 %") uses the t interval of one model's mean
(:func:`level_verdict`): **holds** when the interval lies above the level (or inside the
band of ``+-APPROX_POINTS`` around an "about" value), **does not hold** when it lies
wholly on the wrong side (outside the band), **not resolved** otherwise.

What a few seeds can resolve: with ``n`` seeds per model and a seed-to-seed standard
deviation ``s``, differences smaller than about :func:`resolvable_difference` cannot be
told from zero; and ``s`` itself, estimated from ``n`` seeds, is uncertain by the factor
range of :func:`sd_interval` (for three seeds, 0.52 to 6.3 times the estimate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from scipy import stats

__all__ = [
    "APPROX_POINTS",
    "LEVEL",
    "Difference",
    "Interval",
    "Verdict",
    "comparison_verdict",
    "interval_from_summary",
    "level_verdict",
    "mean_interval",
    "resolvable_difference",
    "sd_interval",
    "welch",
    "welch_from_summary",
]

LEVEL = 0.95
"""Confidence level of every interval."""
APPROX_POINTS = 3.0
"""How close (percentage points) an accuracy must be to count as "about v"."""


class Verdict(str, Enum):
    """The verdict on a claim."""

    HOLDS = "holds"
    PARTLY = "partly"
    UNRESOLVED = "not resolved"
    FAILS = "does not hold"
    MISSING = "not measured"


@dataclass(frozen=True)
class Interval:
    """A mean and its ``LEVEL`` confidence interval (``low == high == mean`` for a single value)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def text(self) -> str:
        """``"76.51 [76.01, 77.01]"``, or the bare mean for one value."""
        return f"{self.mean:.2f}" if self.n < 2 else f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class Difference:
    """``mean(a) - mean(b)`` with its Welch interval and two-sided p-value.

    Attributes:
        difference: ``mean(a) - mean(b)``.
        low, high: the ``LEVEL`` confidence interval; NaN when either side has a single value.
        p_value: two-sided, Welch's t test; NaN when undefined.
        n_a, n_b: values on each side.
        dof: Welch-Satterthwaite degrees of freedom.
    """

    difference: float
    low: float
    high: float
    p_value: float
    n_a: int
    n_b: int
    dof: float

    @property
    def defined(self) -> bool:
        """Whether there is an interval (two or more values on each side)."""
        return not math.isnan(self.low)

    @property
    def text(self) -> str:
        """``"+1.48 [+0.41, +2.55], p = 0.02"``, or the bare difference when undefined."""
        if not self.defined:
            return f"{self.difference:+.2f} (no interval: one seed)"
        return f"{self.difference:+.2f} [{self.low:+.2f}, {self.high:+.2f}], p = {self.p_value:.2g}"


def interval_from_summary(mean: float, sd: float, n: int, level: float = LEVEL) -> Interval:
    """The t confidence interval of a mean of ``n`` values whose sample standard deviation is ``sd``."""
    if n < 2:
        return Interval(mean, mean, mean, n)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """The mean of ``values`` and its t confidence interval."""
    n = len(values)
    return interval_from_summary(sum(values) / n, stats.tstd(values) if n > 1 else 0.0, n, level)


def welch(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Difference:
    """Welch's comparison of the means of ``a`` and ``b`` (unequal variances)."""
    sd_a, sd_b = (stats.tstd(v) if len(v) > 1 else 0.0 for v in (a, b))
    return welch_from_summary(sum(a) / len(a), sd_a, len(a), sum(b) / len(b), sd_b, len(b), level)


def welch_from_summary(
    mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int, level: float = LEVEL
) -> Difference:
    """Welch's comparison from each side's mean, sample standard deviation and count."""
    difference = mean_a - mean_b
    if n_a < 2 or n_b < 2:
        return Difference(difference, math.nan, math.nan, math.nan, n_a, n_b, math.nan)
    var_a, var_b = sd_a**2 / n_a, sd_b**2 / n_b
    se = math.sqrt(var_a + var_b)
    if se == 0:
        p = 0.0 if difference != 0 else 1.0
        return Difference(difference, difference, difference, p, n_a, n_b, math.inf)
    dof = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    p = 2 * stats.t.sf(abs(difference) / se, dof)
    return Difference(difference, difference - half, difference + half, float(p), n_a, n_b, dof)


def comparison_verdict(result: Difference, direction: int = 1, size: float | None = None) -> Verdict:
    """The verdict on "a is better than b" (``direction=1``) or worse (``-1``), by the rule of the module docstring.

    Args:
        result: from :func:`welch`.
        direction: the sign the claim gives the difference.
        size: the difference the claim states, if any (in the same units).
    """
    if not result.defined:
        return Verdict.UNRESOLVED
    low, high = sorted((direction * result.low, direction * result.high))
    if high < 0:
        return Verdict.FAILS
    if low <= 0:
        return Verdict.UNRESOLVED
    if size is not None and not low <= direction * size <= high:
        return Verdict.PARTLY
    return Verdict.HOLDS


def level_verdict(interval: Interval, value: float, about: bool) -> Verdict:
    """The verdict on "the accuracy is above ``value``" (``about=False``) or "about ``value``" (``about=True``)."""
    if about:
        band_low, band_high = value - APPROX_POINTS, value + APPROX_POINTS
        if band_low <= interval.low and interval.high <= band_high:
            return Verdict.HOLDS
        if interval.high < band_low or interval.low > band_high:
            return Verdict.FAILS
        return Verdict.UNRESOLVED
    if interval.low > value:
        return Verdict.HOLDS
    if interval.high < value:
        return Verdict.FAILS
    return Verdict.UNRESOLVED


def resolvable_difference(sd: float, n: int, level: float = LEVEL) -> float:
    """The half-width of the Welch interval of two models with ``n`` seeds each and seed sd ``sd``.

    Differences smaller than this cannot be told from zero with ``n`` seeds.
    """
    dof = 2 * (n - 1)  # Welch's degrees of freedom for equal variances and sizes
    return float(stats.t.ppf(0.5 + level / 2, dof) * sd * math.sqrt(2 / n))


def sd_interval(n: int, level: float = LEVEL) -> tuple[float, float]:
    """The ``level`` interval of the true sd, as factors of an sd estimated from ``n`` values (chi-square)."""
    dof = n - 1
    low = math.sqrt(dof / stats.chi2.ppf(0.5 + level / 2, dof))
    high = math.sqrt(dof / stats.chi2.ppf(0.5 - level / 2, dof))
    return low, high
