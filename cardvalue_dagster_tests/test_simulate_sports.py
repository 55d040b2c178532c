"""Simulated sports-card sales: contract, determinism, windows and the documented price model."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cardvalue_dagster.sources.simulate_sports import (
    SIMULATION_WINDOWS,
    card_catalog,
    simulate_sports_sales,
)
from cardvalue_dagster.sources.simulation import SIMULATED_SALE_COLUMNS
from cardvalue_dagster.sources.sports_reference import stats_known_on

CLASSES = list(SIMULATION_WINDOWS)


@pytest.fixture(scope="module")
def sales() -> dict[str, pd.DataFrame]:
    return {c: simulate_sports_sales(c) for c in CLASSES}


@pytest.mark.parametrize("asset_class", CLASSES)
def test_sales_follow_the_landing_contract(
    sales: dict[str, pd.DataFrame], asset_class: str
) -> None:
    rows = sales[asset_class]
    start, end = SIMULATION_WINDOWS[asset_class]

    assert list(rows.columns) == list(SIMULATED_SALE_COLUMNS)
    assert 8_000 <= len(rows) <= 15_000
    assert rows["is_simulated"].all()
    assert (rows["asset_class"] == asset_class).all()
    assert rows["sale_date"].between(pd.Timestamp(start), pd.Timestamp(end)).all()
    assert (rows["price_usd"] > 0).all()
    assert set(rows["variant"]) == {"raw", "PSA 8", "PSA 9", "PSA 10"}


@pytest.mark.parametrize("asset_class", CLASSES)
def test_grades_and_attributes_are_consistent(
    sales: dict[str, pd.DataFrame], asset_class: str
) -> None:
    rows = sales[asset_class]
    raw = rows["variant"] == "raw"

    assert rows.loc[raw, "grade"].isna().all()
    assert rows.loc[raw, "grading_company"].isna().all()
    assert (rows.loc[raw, "condition"] == "raw").all()
    assert (rows.loc[~raw, "grading_company"] == "PSA").all()
    graded = rows[~raw]
    assert (graded["variant"] == "PSA " + graded["grade"].astype(int).astype(str)).all()

    attributes = rows["attributes"].drop_duplicates().map(json.loads)
    keys = {"player_name", "player_id", "year", "set", "card_number", "rookie"}
    assert attributes.map(lambda a: set(a) == keys).all()

    known_ids = set(stats_known_on(asset_class, SIMULATION_WINDOWS[asset_class][0])["player_id"])
    assert attributes.map(lambda a: a["player_id"] in known_ids).all()


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = simulate_sports_sales("nhl", seed=7)
    again = simulate_sports_sales("nhl", seed=7)
    other = simulate_sports_sales("nhl", seed=8)

    pd.testing.assert_frame_equal(first, again)
    assert len(first) != len(other) or not first["price_usd"].equals(other["price_usd"])


@pytest.mark.parametrize("asset_class", CLASSES)
def test_price_rises_with_performance(sales: dict[str, pd.DataFrame], asset_class: str) -> None:
    rows = sales[asset_class]
    player = rows["attributes"].map(lambda a: json.loads(a)["player_id"])
    psa10 = rows[rows["variant"] == "PSA 10"].groupby(player)["price_usd"].mean()

    stats = stats_known_on(asset_class, SIMULATION_WINDOWS[asset_class][0])
    performance = stats.set_index("player_id")["performance"]
    joined = pd.concat([psa10.rename("price"), performance], axis=1, join="inner")

    assert len(joined) > 100
    assert joined["price"].corr(joined["performance"], method="spearman") > 0.3


@pytest.mark.parametrize("asset_class", CLASSES)
def test_price_rises_with_grade(sales: dict[str, pd.DataFrame], asset_class: str) -> None:
    median = sales[asset_class].groupby("variant")["price_usd"].median()
    assert median["raw"] < median["PSA 8"] < median["PSA 9"] < median["PSA 10"]


def test_catalog_has_top_players_and_a_tail() -> None:
    catalog = card_catalog("nba")
    players = catalog["attributes"].map(lambda a: a["player_id"]).unique()

    stats = stats_known_on("nba", SIMULATION_WINDOWS["nba"][0]).set_index("player_id")
    cutoff = stats["performance"].sort_values(ascending=False).iloc[200]
    stars = stats.index[stats["performance"] > cutoff]
    assert len(players) == 250
    assert set(stars) <= set(players)
    assert (stats.loc[players, "performance"] < 0.5).sum() > 10
    assert catalog.groupby("item_id").size().eq(4).all()


def test_unsimulated_class_is_refused() -> None:
    with pytest.raises(ValueError, match="not simulated"):
        simulate_sports_sales("mlb")
