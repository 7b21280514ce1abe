"""Small statistics for judging claims: intervals over seeds, rank correlation, verdicts.

Pure functions of plain numbers (numpy/scipy only). An interval is undefined (NaN bounds)
with fewer than two values; with zero spread it is a point.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


class Interval(NamedTuple):
    mean: float
    lo: float
    hi: float
    n: int


def t_interval(values, level: float = 0.95) -> Interval:
    """Mean of `values` and its two-sided Student-t confidence interval at `level`."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    if np.isinf(x).all() and len(set(x.tolist())) == 1:      # every value the same infinity (never reached)
        return Interval(mean, mean, mean, n)
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


def paired_t_interval(a, b, level: float = 0.95) -> Interval:
    """t interval of the mean difference a - b over pairs (a[i], b[i]) that share their noise."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length ({len(a)} vs {len(b)})")
    return t_interval(a - b, level)


def spearman(xs, ys) -> float:
    """Spearman rank correlation (ties get average ranks). 0.0 when either side is constant:
    no rank association to speak of (scipy returns NaN there)."""
    rx, ry = stats.rankdata(xs), stats.rankdata(ys)
    if len(rx) < 2 or np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def verdict(lo: float, hi: float, threshold: float, direction: str) -> str:
    """Judge a claim "effect > threshold" (direction "greater") or "effect < threshold" ("less")
    by the interval [lo, hi] of the effect: holds when the whole interval lies on the claimed
    side, does not hold when none of it does, inconclusive otherwise (the interval contains the
    threshold with room on the claimed side) or when the interval is undefined (NaN)."""
    if math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    if direction == "greater":
        return HOLDS if lo > threshold else FAILS if hi <= threshold else INCONCLUSIVE
    if direction == "less":
        return HOLDS if hi < threshold else FAILS if lo >= threshold else INCONCLUSIVE
    raise ValueError(f"direction must be 'greater' or 'less', not {direction!r}")
