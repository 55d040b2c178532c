"""Accuracy and interval metrics of valuations, all percentage-like figures as fractions.

`mdape` (median absolute percentage error) is the headline figure: it is what a collector means
by "usually within x %", and unlike MAPE it is not dominated by a handful of mispriced sales.
Coverage and median relative width describe the intervals: a 90 % interval should hold about 90 %
of later sales, and among intervals that do, narrower is more useful.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ArrayLike = np.ndarray | pd.Series


def _arrays(*values: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def mae(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute error, in the unit of the prices (USD)."""
    y, p = _arrays(actual, predicted)
    return float(np.mean(np.abs(p - y)))


def mape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute percentage error |p - y| / y, as a fraction."""
    y, p = _arrays(actual, predicted)
    return float(np.mean(np.abs(p - y) / y))


def mdape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Median absolute percentage error |p - y| / y, as a fraction."""
    y, p = _arrays(actual, predicted)
    return float(np.median(np.abs(p - y) / y))


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actual prices inside [lower, upper] (bounds included)."""
    y, lo, hi = _arrays(actual, lower, upper)
    return float(np.mean((y >= lo) & (y <= hi)))


def median_width(lower: ArrayLike, upper: ArrayLike, value: ArrayLike) -> float:
    """Median of (upper - lower) / value: how wide intervals are relative to the valuation."""
    lo, hi, v = _arrays(lower, upper, value)
    return float(np.median((hi - lo) / v))


def summarize(
    actual: ArrayLike,
    value: ArrayLike,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
) -> dict[str, float | None]:
    """mae, mape, mdape, and coverage / median_width (None without an interval).

    Sales without a valuation (NaN) are left out; an empty selection gives NaN figures.
    """
    y, v = _arrays(actual, value)
    keep = np.isfinite(y) & np.isfinite(v) & (y > 0)
    if not keep.any():
        nan = float("nan")
        return {"mae": nan, "mape": nan, "mdape": nan, "coverage": None, "median_width": None}

    result: dict[str, float | None] = {
        "mae": mae(y[keep], v[keep]),
        "mape": mape(y[keep], v[keep]),
        "mdape": mdape(y[keep], v[keep]),
        "coverage": None,
        "median_width": None,
    }
    if lower is not None and upper is not None:
        lo, hi = _arrays(lower, upper)
        result["coverage"] = coverage(y[keep], lo[keep], hi[keep])
        result["median_width"] = median_width(lo[keep], hi[keep], v[keep])
    return result
