"""Appraisal: what a collector knows maps to the warehouse's items; pseudo-sales get exact
point-in-time features and honest intervals."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from cardvalue_dagster.core.appraisal import (
    UnknownItemError,
    appraise,
    comparable_sales,
    item_from_attributes,
    known_item_rows,
    pseudo_sales,
    query_features,
    valuation_key,
    with_known_facts,
)
from cardvalue_dagster.core.features import build_features
from cardvalue_dagster.core.valuator import Valuator, ValuatorParams
from cardvalue_dagster_tests.core import helpers
from cardvalue_dagster_tests.core.helpers import START, synthetic_market
from cardvalue_dagster_tests.serving.homes import bundled_sales


def _identity(row: dict) -> tuple[str, str]:
    return row["item_id"], row["variant"]


def test_stockx_names_and_sizes_meet_the_parsed_sales() -> None:
    sales = bundled_sales("sneakers", "stockx_2019_contest.csv.gz").sample(200, random_state=1)

    for sale in sales.itertuples(index=False):
        size = json.loads(sale.attributes)["size"]
        spelled = sale.item_name.replace("-", " ")  # a person types spaces, the export dashes
        row = item_from_attributes("sneakers", {"sneaker_name": spelled, "size": str(size)})
        assert _identity(row) == (sale.item_id, sale.variant)


def test_ebay_cards_meet_the_parsed_sales() -> None:
    sales = bundled_sales("mlb", "ebay_130point_topps_chrome_psa10.csv.gz")

    for sale in sales.drop_duplicates("item_id").itertuples(index=False):
        known = json.loads(sale.attributes)
        row = item_from_attributes(
            "mlb",
            {
                "player_name": known["player_name"],
                "year": known["year"],
                "set": known["set"].title(),
                "grade": sale.grade,
                "grading_company": sale.grading_company,
            },
        )
        assert _identity(row) == (sale.item_id, sale.variant)


def test_psa_auction_cards_meet_the_parsed_sales() -> None:
    sales = bundled_sales("pokemon", "psa_apr_pokemon.csv.gz").drop_duplicates("variant")

    for sale in sales.head(30).itertuples(index=False):
        known = json.loads(sale.attributes)
        grade = "Authentic" if sale.variant.startswith("PSA Authentic") else sale.grade
        attributes = {
            "set": known["set_slug"].replace("-", " ").title(),
            "card": known["card_slug"].replace("-", " "),
            "grade": grade,
            "qualifier": known.get("qualifier"),
        }
        assert _identity(item_from_attributes(sale.asset_class, attributes)) == (
            sale.item_id,
            sale.variant,
        )


@pytest.mark.parametrize("asset_class", ["nba", "nhl", "ufc"])
def test_simulated_sports_cards_meet_the_catalog(asset_class: str) -> None:
    from cardvalue_dagster.sources.simulate_sports import card_catalog

    catalog = card_catalog(asset_class).sample(40, random_state=2)

    for card in catalog.itertuples(index=False):
        known = json.loads(json.dumps(card.attributes))
        attributes = {
            "player_name": known["player_name"],
            "year": known["year"],
            "set": known["set"],
            "card_number": known["card_number"],
            "grade": card.grade,
        }
        assert _identity(item_from_attributes(asset_class, attributes)) == (
            card.item_id,
            card.variant,
        )


def test_collectibles_meet_their_catalogs() -> None:
    from cardvalue_dagster.sources import simulate_collectibles as sc

    for card in sc.yugioh_catalog().itertuples(index=False):
        a = card.attributes
        known = {"card_name": a["card_name"], "set_code": a["set_code"], "rarity": a["rarity"]}
        known["grade"] = card.grade
        assert _identity(item_from_attributes("yugioh", known)) == (card.item_id, card.variant)

    for watch in sc.watch_catalog().head(30).itertuples(index=False):
        a = watch.attributes
        known = {"category": "watch", "brand": a["brand"], "reference": a["reference"]}
        known["condition"] = watch.variant
        assert _identity(item_from_attributes("luxury", known)) == (watch.item_id, watch.variant)

    for wine in sc.wine_catalog().head(30).itertuples(index=False):
        a = wine.attributes
        known = {k: a[k] for k in ("winery", "wine", "region")}
        known |= {"category": "wine", "vintage": wine.variant}
        assert _identity(item_from_attributes("luxury", known)) == (wine.item_id, wine.variant)


def test_a_sale_record_keeps_its_identity() -> None:
    record = {
        "item_id": "sneakers:air-jordan-1",
        "variant": "size 9",
        "attributes": {"brand": "Nike", "size": 9},
        "sale_date": "2018-12-01",
        "price_usd": 300,
    }

    row = item_from_attributes("sneakers", record)

    assert _identity(row) == ("sneakers:air-jordan-1", "size 9")
    assert json.loads(row["attributes"]) == {"brand": "Nike", "size": 9}
    assert item_from_attributes("sneakers", row) == row  # idempotent


@pytest.mark.parametrize(
    ("asset_class", "attributes", "field"),
    [
        ("sneakers", {"sneaker_name": "Zebra"}, "size"),
        ("sneakers", {"size": 9}, "sneaker_name"),
        (
            "nba",
            {"player_name": "LeBron James", "set": "Panini Prizm", "year": 2017},
            "card_number",
        ),
        ("luxury", {"brand": "Cartier"}, "category"),
        ("art", {"title": "Untitled"}, "artist"),
    ],
)
def test_missing_fields_are_named(asset_class: str, attributes: dict, field: str) -> None:
    with pytest.raises(UnknownItemError, match=f"missing '{field}'") as raised:
        item_from_attributes(asset_class, attributes)
    assert raised.value.field == field


def test_unreadable_values_and_classes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="size: cannot read"):
        item_from_attributes("sneakers", {"sneaker_name": "Zebra", "size": "big"})
    with pytest.raises(ValueError, match="unknown asset class"):
        item_from_attributes("stamps", {"item_id": "stamps:penny-black"})
    with pytest.raises(ValueError, match="item_id"):
        item_from_attributes("sneakers", {"item_id": "mlb:aaron-judge"})


@pytest.fixture(scope="module")
def market() -> tuple[duckdb.DuckDBPyConnection, Valuator, dt.date]:
    """80 days of a synthetic market in raw_sales, and a valuator fitted on its features."""
    sales = synthetic_market(days=80, per_day=40, seed=4)
    con = duckdb.connect()
    con.register("market", sales)
    con.execute("CREATE TABLE raw_sales AS SELECT * FROM market")
    valuator = Valuator(ValuatorParams(n_estimators=80, quantile_estimators=40)).fit(
        build_features(con, "raw_sales")
    )
    return con, valuator, START + dt.timedelta(days=80)


def test_query_features_equal_those_of_the_whole_warehouse(market) -> None:
    """Features from the queried items' sales alone equal build_features over every sale."""
    con, _, as_of = market
    rows = [
        item_from_attributes("sneakers", {"item_id": "sneakers:item1", "variant": "size 9"}),
        item_from_attributes("sneakers", {"item_id": "sneakers:item3", "variant": "size 8"}),
        item_from_attributes("sneakers", {"sneaker_name": "never sold", "size": 9}),
    ]
    day = as_of - dt.timedelta(days=10)  # later sales exist: they must not be seen

    narrow = query_features(con, "sneakers", rows, day)

    history = con.execute("SELECT * FROM raw_sales WHERE sale_date < ?", [day]).df()
    queries = pseudo_sales(rows, day)
    with duckdb.connect() as whole:
        whole.register("everything", pd.concat([history[queries.columns], queries]))
        full = build_features(whole, "everything", days=[day])
    full = full[full["sale_id"].str.startswith("appraisal-")].sort_values("sale_id")
    for column in full.columns:
        expected, got = full[column].to_numpy(), narrow[column].to_numpy()
        if full[column].dtype.kind == "f":
            np.testing.assert_allclose(
                got.astype(float), expected.astype(float), equal_nan=True, err_msg=column
            )
        else:
            assert [str(v) for v in got] == [str(v) for v in expected], column


def test_appraise_values_known_and_unseen_items(market) -> None:
    con, valuator, as_of = market
    items = [
        {"item_id": "sneakers:item2", "variant": "size 10"},
        {"sneaker_name": "never sold", "size": 9},
    ]

    known, unseen = appraise(valuator, con, "sneakers", items, as_of)

    level = 100.0 * 3 * 1.2  # the synthetic market's price level of item2 in size 10
    assert known["lower"] <= known["value"] <= known["upper"]
    assert known["value"] == pytest.approx(level, rel=0.1)
    assert known["confidence"] == "high"
    assert unseen["confidence"] == "none"
    assert unseen["upper"] / unseen["lower"] > known["upper"] / known["lower"]


def test_appraise_with_reasons_lists_comparable_sales(market) -> None:
    con, valuator, as_of = market

    (result,) = appraise(
        valuator,
        con,
        "sneakers",
        [{"item_id": "sneakers:item0", "variant": "size 8"}],
        as_of,
        reasons=True,
        top=3,
    )

    assert result["reasons"][0]["feature"] == "reference"
    assert result["comparable_level"] == "item+variant"
    dates = [dt.date.fromisoformat(s["date"]) for s in result["comparable_sales"]]
    assert dates == sorted(dates, reverse=True)
    assert all(as_of - dt.timedelta(days=30) <= d < as_of for d in dates)
    assert {s["variant"] for s in result["comparable_sales"]} == {"size 8"}


def test_known_item_rows_map_back_to_the_sale_item() -> None:
    """Identity, sale record and what a collector types: each maps to the sale's item+variant.

    An eBay card's record often holds just what a collector types: then two distinct rows.
    """
    sales = bundled_sales("sneakers", "stockx_2019_contest.csv.gz").sample(50, random_state=3)
    sales = pd.concat([sales, bundled_sales("mlb", "ebay_130point_topps_chrome_psa10.csv.gz")])

    for sale in sales.to_dict("records"):
        rows = known_item_rows(sale["asset_class"], sale)
        assert len(rows) == 3 or (sale["asset_class"] == "mlb" and len(rows) == 2), sale
        assert {_identity(row) for row in rows} == {(sale["item_id"], sale["variant"])}
        assert len({valuation_key(row) for row in rows}) == len(rows)


def test_valuation_key_ignores_the_spelling_of_the_name() -> None:
    dashed = item_from_attributes("sneakers", {"sneaker_name": "Air-Jordan-1-Retro", "size": 9})
    spaced = item_from_attributes("sneakers", {"sneaker_name": "air jordan 1 retro", "size": "9"})

    assert dashed["item_name"] != spaced["item_name"]
    assert valuation_key(dashed) == valuation_key(spaced)


def test_a_query_borrows_what_its_item_is_known_to_be() -> None:
    """Item facts a collector leaves out come from the item's latest earlier sale; the query's
    own values win, per-sale attributes (buyer region) and later sales are never borrowed."""
    facts = {"brand": "Yeezy", "retail_price_usd": 220, "release_date": "2017-11-09"}
    sales = helpers.frame(
        [
            helpers.sale(1, 300, "zebra", attributes={**facts, "size": 9, "buyer_region": "OR"}),
            helpers.sale(9, 310, "zebra", attributes={**facts, "retail_price_usd": 999, "size": 9}),
        ]
    )
    con = duckdb.connect()
    con.register("raw_sales", sales)
    by_name = item_from_attributes("sneakers", {"sneaker_name": "zebra", "size": 9})
    own_brand = item_from_attributes(
        "sneakers", {"sneaker_name": "zebra", "size": 9, "brand": "Adidas"}
    )
    unseen = item_from_attributes("sneakers", {"sneaker_name": "never sold", "size": 9})
    as_of = START + dt.timedelta(days=5)  # before the second sale

    filled = with_known_facts(con, [by_name, own_brand, unseen], as_of)

    borrowed, kept, untouched = (json.loads(row["attributes"]) for row in filled)
    assert borrowed == {**facts, "size": 9.0}
    assert kept["brand"] == "Adidas" and kept["retail_price_usd"] == 220
    assert untouched == json.loads(unseen["attributes"])
    features = query_features(con, "sneakers", filled[:1], as_of)
    assert features.loc[0, "retail_price_usd"] == 220
    assert features.loc[0, "days_since_release"] == (as_of - dt.date(2017, 11, 9)).days


def test_comparable_sales_follow_the_reference_level(market) -> None:
    con, _, as_of = market
    item = {"asset_class": "sneakers", "item_id": "sneakers:item0", "variant": "size 8"}

    month = comparable_sales(con, item, as_of, "iv_30d")
    year = comparable_sales(con, item, as_of, "iv_365d")
    last = comparable_sales(con, item, as_of, "iv_last")
    whole_item = comparable_sales(con, item, as_of, "item_30d_adjusted")
    from_class = comparable_sales(con, item, as_of, "class_30d")

    def days(found: dict) -> list[dt.date]:
        return [dt.date.fromisoformat(s["date"]) for s in found["comparable_sales"]]

    assert min(days(year)) < as_of - dt.timedelta(days=30) <= min(days(month))
    assert len(set(days(last))) == 1 and days(last)[0] == max(days(month))
    assert {s["variant"] for s in whole_item["comparable_sales"]} > {"size 8"}
    assert whole_item["comparable_level"] == "item"
    assert from_class == {"comparable_level": "class", "comparable_sales": []}
