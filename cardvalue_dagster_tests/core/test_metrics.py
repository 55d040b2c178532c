"""Metrics on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from cardvalue_dagster.core.metrics import (
    coverage,
    mae,
    mape,
    mdape,
    median_width,
    summarize,
)

ACTUAL = np.array([100.0, 200.0, 400.0, 50.0])
PREDICTED = np.array([110.0, 180.0, 400.0, 75.0])


def test_point_metrics() -> None:
    # errors 10, 20, 0, 25; relative 0.10, 0.10, 0.00, 0.50
    assert mae(ACTUAL, PREDICTED) == pytest.approx(13.75)
    assert mape(ACTUAL, PREDICTED) == pytest.approx(0.175)
    assert mdape(ACTUAL, PREDICTED) == pytest.approx(0.10)


def test_interval_metrics() -> None:
    lower = np.array([90.0, 190.0, 300.0, 40.0])
    upper = np.array([110.0, 250.0, 400.0, 45.0])

    assert coverage(ACTUAL, lower, upper) == pytest.approx(0.75)  # bounds included, 50 misses
    # widths relative to the value: 20/110, 60/180, 100/400, 5/75 -> median of the middle two
    expected = np.median([20 / 110, 60 / 180, 100 / 400, 5 / 75])
    assert median_width(lower, upper, PREDICTED) == pytest.approx(expected)


def test_summarize_skips_missing_values_and_intervals() -> None:
    predicted = PREDICTED.copy()
    predicted[3] = np.nan

    result = summarize(ACTUAL, predicted)

    assert result["mdape"] == pytest.approx(0.10)
    assert result["coverage"] is None and result["median_width"] is None
