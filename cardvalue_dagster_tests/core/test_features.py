"""Point-in-time features: no leakage from the sale's own day or later, hand-checked values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cardvalue_dagster.core.features import (
    CATEGORICAL_COLUMNS,
    COMPS_COLUMNS,
    FEATURE_COLUMNS,
    ID_COLUMNS,
    build_features,
    build_features_pandas,
)
from cardvalue_dagster_tests.core.helpers import START, features_of, frame, sale

DAY = 20
"""The sale day whose features the leakage tests watch."""

HISTORY_COLUMNS = [*COMPS_COLUMNS, "class_med_30d", "class_n_30d", "item_first_age_days"]


def _market() -> pd.DataFrame:
    """Item a in sizes 9 ($100) and 10 ($200) and item b ($50), one sale each per day."""
    rows = []
    for day in range(0, 40):
        rows.append(sale(day, 100, "a", "size 9"))
        rows.append(sale(day, 200, "a", "size 10"))
        rows.append(sale(day, 50, "b", "size 9"))
    return frame(rows)


def _day_rows(features: pd.DataFrame, day: int = DAY) -> pd.DataFrame:
    date = pd.Timestamp(START + dt.timedelta(days=day))
    return features[features["sale_date"] == date].set_index("sale_id").sort_index()


def _only(rows: pd.DataFrame, item_id: str, variant: str) -> pd.Series:
    match = rows[(rows["item_id"] == item_id) & (rows["variant"] == variant)]
    assert len(match) == 1
    return match.iloc[0]


def test_columns_and_types() -> None:
    features = features_of(_market())

    assert list(features.columns) == [*ID_COLUMNS, *FEATURE_COLUMNS]
    assert len(features) == 120
    for column in CATEGORICAL_COLUMNS:
        assert isinstance(features[column].dtype, pd.CategoricalDtype)
    assert features["brand"].iloc[0] == "Yeezy"


def test_future_and_same_day_sales_do_not_change_features() -> None:
    market = _market()
    later = market["sale_date"] >= pd.Timestamp(START + dt.timedelta(days=DAY))
    shocked = market.copy()
    shocked.loc[later, "price_usd"] = 1_000_000.0
    extra = frame(sale(day, 5, "a", "size 9", sale_id="extra") for day in range(DAY, 40))
    shocked = pd.concat([shocked, extra], ignore_index=True)

    before = _day_rows(features_of(market))
    after = _day_rows(features_of(shocked)).loc[before.index]

    pd.testing.assert_frame_equal(before[HISTORY_COLUMNS], after[HISTORY_COLUMNS])


def test_hand_computed_windows_last_price_and_levels() -> None:
    rows = _day_rows(features_of(_market()))
    size_9, size_10 = _only(rows, "sneakers:a", "size 9"), _only(rows, "sneakers:a", "size 10")

    assert size_9["iv_n_7d"] == 7  # days 13..19: the window ends the day before
    assert size_9["iv_n_30d"] == DAY  # days 0..19
    assert size_9["iv_med_30d"] == pytest.approx(100)
    assert size_10["iv_med_30d"] == pytest.approx(200)
    assert size_9["iv_last_price"] == pytest.approx(100)
    assert size_9["iv_last_age_days"] == 1
    assert size_9["iv_n_before"] == DAY
    assert size_9["iv_iqr_30d"] == pytest.approx(0)
    # item level mixes both sizes of item a, never item b
    assert size_9["item_n_7d"] == 14
    assert size_9["item_last_price"] == pytest.approx(np.sqrt(100 * 200))  # median in log space
    assert size_9["item_iqr_30d"] == pytest.approx(np.log(2))
    assert size_9["item_first_age_days"] == DAY
    assert size_9["class_n_30d"] == 3 * DAY


def test_first_sale_has_no_comps() -> None:
    first = features_of(_market()).iloc[0]

    assert first["iv_n_30d"] == 0
    assert np.isnan(first["iv_med_30d"]) and np.isnan(first["iv_last_price"])
    assert np.isnan(first["item_first_age_days"])


def test_days_selects_sales_with_identical_features() -> None:
    market = _market()
    wanted = [START + dt.timedelta(days=DAY), START + dt.timedelta(days=35)]
    full = features_of(market).set_index("sale_id")
    some = features_of(market, days=wanted).set_index("sale_id")

    assert len(some) == 6
    pd.testing.assert_frame_equal(some[HISTORY_COLUMNS], full.loc[some.index, HISTORY_COLUMNS])


def test_batches_of_items_give_the_same_features() -> None:
    market = _market()
    whole = features_of(market)
    batched = features_of(market, batch_rows=10)  # one item per batch

    pd.testing.assert_frame_equal(whole, batched)


def test_asset_classes_filter() -> None:
    market = pd.concat(
        [_market(), frame([sale(3, 10, "c", "", asset_class="art", attributes={})])],
        ignore_index=True,
    )
    features = features_of(market, asset_classes=["art"])

    assert features["asset_class"].tolist() == ["art"]


def test_duckdb_and_pandas_agree_on_random_sales() -> None:
    rng = np.random.default_rng(7)
    rows = [
        sale(
            int(rng.integers(0, 400)),
            float(np.round(rng.lognormal(5, 0.4), 2)),
            f"i{rng.integers(3)}",
            f"size {rng.integers(3)}",
        )
        for _ in range(600)
    ]
    sales = frame(rows)

    duck = features_of(sales)
    pandas = build_features_pandas(sales)

    assert duck["sale_id"].tolist() == pandas["sale_id"].tolist()
    for column in COMPS_COLUMNS:
        np.testing.assert_allclose(
            duck[column].to_numpy(float), pandas[column].to_numpy(float), rtol=1e-9, err_msg=column
        )


def test_player_stats_and_reference_prices_as_of_the_sale_day() -> None:
    card = {"player_id": "nba:p1", "year": 2018, "rookie": True}
    sales = frame(
        [
            sale(5, 10, "card", "PSA 10", asset_class="nba", attributes=card),
            sale(5, 10, "pika", "", asset_class="pokemon", attributes={}),
        ]
    )
    stats = pd.DataFrame(
        {
            "asset_class": ["nba", "nba"],
            "as_of_date": [START + dt.timedelta(days=d) for d in (4, 6)],
            "player_id": ["nba:p1", "nba:p1"],
            "performance": [0.8, 0.1],
            "form": [0.2, -0.5],
            "headline_stat": [25.0, 3.0],
            "seasons_played": [3, 4],
        }
    )
    prices = pd.DataFrame(
        {
            "asset_class": ["pokemon"] * 3,
            "as_of_date": [START + dt.timedelta(days=d) for d in (2, 5, 9)],
            "card_id": ["pokemon:pika"] * 3,
            "observed_on": [START + dt.timedelta(days=d) for d in (1, 3, 9)],
            "price_usd": [7.0, 8.0, 99.0],
        }
    )
    with duckdb.connect() as con:
        for name, table in (("raw_sales", sales), ("stats", stats), ("prices", prices)):
            con.register(name, table)
        features = build_features(con, stats="stats", prices="prices")

    card_row = features[features["item_id"] == "nba:card"].iloc[0]
    pika_row = features[features["item_id"] == "pokemon:pika"].iloc[0]
    assert card_row["player_performance"] == pytest.approx(0.8)
    assert card_row["player_seasons_played"] == 3
    assert card_row["card_year"] == 2018 and card_row["rookie"] == 1
    assert np.isnan(card_row["ref_price_usd"])
    assert pika_row["ref_price_usd"] == pytest.approx(8.0)
    assert pika_row["ref_price_age_days"] == 2


def test_spill_directory_leaves_settings_and_features_unchanged(tmp_path: Path) -> None:
    market = _market()
    spill = tmp_path / "spill"
    with duckdb.connect() as con:
        con.register("raw_sales", market)
        before = _settings(con)
        features = build_features(con, spill_directory=spill, batch_rows=10)
        after = _settings(con)

    assert after == before
    pd.testing.assert_frame_equal(features, features_of(market))


def _settings(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT current_setting('temp_directory'), current_setting('preserve_insertion_order')"
    ).fetchall()


def test_pandas_batches_and_days_give_the_same_comps() -> None:
    market = _market()
    whole = build_features_pandas(market)
    batched = build_features_pandas(market, batch_rows=10)  # one item per batch
    wanted = [START + dt.timedelta(days=DAY), START + dt.timedelta(days=35)]
    some = build_features_pandas(market, days=wanted).set_index("sale_id")

    pd.testing.assert_frame_equal(whole, batched)
    assert len(some) == 6
    pd.testing.assert_frame_equal(some, whole.set_index("sale_id").loc[some.index])
