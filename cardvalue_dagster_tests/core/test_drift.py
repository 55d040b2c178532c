"""The drift core on small synthetic markets: same market, a moved market, a thin day, the HTML.

Evidently takes several seconds to import and about a second per small report, so each report
is computed once per module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardvalue_dagster.core.drift import (
    BASELINE_MARGIN,
    DRIFT_COLUMNS,
    DRIFT_SHARE_WARNING,
    EMPTY_IN_CURRENT,
    MAX_REFERENCE_ROWS,
    PER_COLUMN_FIELDS,
    DriftResult,
    drift_baseline,
    drift_report,
    save_html,
    warning_share_for,
)
from cardvalue_dagster_tests.core.helpers import features_of, synthetic_market

PRICE_COLUMNS = ("price_usd", "price_to_comps")


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    """Features of 60 days × 20 sales of a stable market, from day 30 on (comps filled)."""
    features = features_of(synthetic_market(60, 20, seed=3))
    return features[features["sale_date"] >= features["sale_date"].min() + pd.Timedelta(days=30)]


@pytest.fixture(scope="module")
def split(market: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same market split at random: 150 current sales, the rest as reference."""
    current = market.sample(n=150, random_state=7)
    return market.drop(index=current.index), current


@pytest.fixture(scope="module")
def same(split: tuple[pd.DataFrame, pd.DataFrame]) -> DriftResult:
    reference, current = split
    return drift_report(reference, current)


@pytest.fixture(scope="module")
def moved(split: tuple[pd.DataFrame, pd.DataFrame]) -> DriftResult:
    """Reference as before; the current day is a pricier market of other items."""
    sales = synthetic_market(60, 20, seed=4, items=3)
    sales["price_usd"] *= 1.8
    sales["item_id"] = sales["item_id"] + "-new"
    sales["attributes"] = sales["attributes"].str.replace("Off-White", "Jordan")
    features = features_of(sales)
    current = features[features["sale_date"] == features["sale_date"].max()]
    current = pd.concat([current, features.iloc[-300:]]).drop_duplicates("sale_id")
    return drift_report(split[0], current)


def test_same_market_drifts_little(same: DriftResult) -> None:
    assert same.enough_data and same.reason is None
    assert same.drifted_share is not None
    assert same.drifted_share < DRIFT_SHARE_WARNING
    assert not set(PRICE_COLUMNS) & set(same.drifted_columns)


def test_evidently_chooses_its_small_sample_tests(same: DriftResult) -> None:
    assert same.n_reference_used <= MAX_REFERENCE_ROWS
    assert "K-S p_value" in same.methods_used
    assert not any("Wasserstein" in method for method in same.methods_used)


def test_per_column_table(same: DriftResult) -> None:
    table = same.per_column
    assert list(table.columns) == list(PER_COLUMN_FIELDS)
    assert set(table["column"]) <= set(DRIFT_COLUMNS)
    assert {"price_usd", "price_to_comps", "brand", "size"} <= set(table["column"])
    assert table["score"].between(0, 1).all()
    assert same.drifted_share == pytest.approx(table["drifted"].mean())
    assert set(table["method"]) == set(same.methods_used)


def test_ids_calendar_and_empty_columns_are_not_judged(same: DriftResult) -> None:
    judged = set(same.per_column["column"])
    assert not judged & {"sale_id", "item_id", "sale_date", "asset_class", "day_of_week"}
    assert not judged & {"iv_med_30d", "item_n_30d", "days_since_release", "ref_price_usd"}
    assert {"grade", "player_form"} <= set(same.skipped_columns)
    assert not judged & set(same.skipped_columns)


def test_drifted_share_matches_evidently(same: DriftResult) -> None:
    metrics = same.snapshot.dict()["metrics"]
    count = next(m for m in metrics if m["metric_name"].startswith("DriftedColumnsCount"))
    assert count["value"]["share"] == pytest.approx(same.drifted_share)


def test_moved_market_drifts_and_flags_prices(moved: DriftResult, same: DriftResult) -> None:
    assert moved.enough_data
    assert moved.drifted_share is not None and same.drifted_share is not None
    assert moved.drifted_share > DRIFT_SHARE_WARNING
    assert moved.drifted_share > 2 * same.drifted_share
    # Other items at other prices, priced consistently with their own comps: the price level
    # and the item mix moved, the price relative to comps did not.
    assert {"price_usd", "brand"} <= set(moved.drifted_columns)
    assert "price_to_comps" not in moved.drifted_columns


def test_too_few_sales_gives_no_report(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = split
    result = drift_report(reference, current.head(12), min_rows=50)

    assert not result.enough_data
    assert result.drifted_share is None and result.snapshot is None
    assert result.per_column.empty
    assert result.reason is not None and "12" in result.reason and "50" in result.reason
    with pytest.raises(ValueError, match="fewer than"):
        save_html(result, Path("unused.html"))


def test_empty_reference_gives_no_report(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    result = drift_report(split[0].head(0), split[1])
    assert not result.enough_data and result.reason is not None and "empty" in result.reason


def test_column_empty_in_current_counts_as_drifted(
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    reference, current = split
    result = drift_report(reference, current.assign(size=np.nan))

    row = result.per_column.set_index("column").loc["size"]
    assert row["method"] == EMPTY_IN_CURRENT and bool(row["drifted"])
    assert EMPTY_IN_CURRENT not in result.methods_used


def test_large_reference_is_sampled_by_seed(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = split
    first = drift_report(reference, current, max_reference_rows=300, seed=1)
    again = drift_report(reference, current, max_reference_rows=300, seed=1)

    assert first.n_reference == len(reference) and first.n_reference_used == 300
    pd.testing.assert_frame_equal(first.per_column, again.per_column)


def test_html_report_is_written(same: DriftResult, tmp_path: Path) -> None:
    path = save_html(same, tmp_path / "reports" / "drift.html")

    html = path.read_text(encoding="utf-8")
    assert path.exists() and len(html) > 100_000
    assert html.lstrip().lower().startswith("<html") or "<!doctype html" in html[:200].lower()
    assert "Share of Drifted Columns" in html
    assert "Value Drift for column price_to_comps" in html


def _volatile_market() -> pd.DataFrame:
    """A market whose every day has its own price level (±30 %) and item mix."""
    sales = synthetic_market(40, 30, seed=5, items=6)
    rng = np.random.default_rng(11)
    level = pd.Series(np.exp(rng.normal(0.0, 0.3, 40)))
    day_index = (sales["sale_date"] - sales["sale_date"].min()).dt.days
    sales["price_usd"] = (sales["price_usd"] * level.loc[day_index].to_numpy()).round(2)
    day_item = rng.integers(6, size=40)
    favourite = day_item[day_index.to_numpy()]
    bunched = np.arange(len(sales)) % 3 != 0
    sales.loc[bunched, "item_id"] = [f"item{i}" for i in favourite[bunched]]
    return sales


def test_steady_market_keeps_the_floor(market: pd.DataFrame) -> None:
    baseline = drift_baseline(market, days=4, min_rows=20)

    assert len(baseline.shares) == 4
    assert baseline.days == tuple(sorted(baseline.days))
    assert max(baseline.shares) + BASELINE_MARGIN <= DRIFT_SHARE_WARNING
    assert baseline.warning_share == DRIFT_SHARE_WARNING


def test_volatile_market_raises_the_warning_share_above_its_own_days() -> None:
    features = features_of(_volatile_market())
    features = features[
        features["sale_date"] >= features["sale_date"].min() + pd.Timedelta(days=30)
    ]

    baseline = drift_baseline(features, days=4, min_rows=20)

    assert len(baseline.shares) == 4
    assert baseline.highest_share is not None
    assert baseline.highest_share + BASELINE_MARGIN > DRIFT_SHARE_WARNING
    assert baseline.warning_share == pytest.approx(baseline.highest_share + BASELINE_MARGIN)
    assert all(share < baseline.warning_share for share in baseline.shares)
    assert f"{baseline.warning_share:.2f}" in baseline.describe()


def test_days_too_thin_for_a_baseline_keep_the_floor(market: pd.DataFrame) -> None:
    baseline = drift_baseline(market, days=4, min_rows=1_000)

    assert baseline.shares == ()
    assert baseline.warning_share == DRIFT_SHARE_WARNING
    assert "no training day" in baseline.describe()


def test_warning_share_rule() -> None:
    assert warning_share_for([]) == DRIFT_SHARE_WARNING
    assert warning_share_for([0.0, 0.1, 0.2]) == DRIFT_SHARE_WARNING
    assert warning_share_for([0.25, 0.5]) == pytest.approx(0.5 + BASELINE_MARGIN)
    assert warning_share_for([0.5, 1.0]) == 1.0  # a day with every column drifted still warns
