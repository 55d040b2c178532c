"""Simulated yugioh / art / luxury sales: determinism, contract, and the real reference parsing.

The parsing tests read real rows of the bundled reference files (copies of the shared data); the
bundle-equality tests compare them with the shared originals when those are on disk.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from cardvalue_dagster.sources import simulate_collectibles as sc
from cardvalue_dagster.sources.simulation import CATALOG_COLUMNS, SIMULATED_SALE_COLUMNS

CLASSES = ("yugioh", "art", "luxury")
SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared source data not on disk")


@pytest.fixture(scope="module")
def sales() -> dict[str, pd.DataFrame]:
    return {c: sc.simulate_collectible_sales(c) for c in CLASSES}


def _categories(frame: pd.DataFrame) -> pd.Series:
    return frame["attributes"].map(
        lambda a: (a if isinstance(a, dict) else json.loads(a))["category"]
    )


# --- simulation contract --------------------------------------------------------------------


@pytest.mark.parametrize("asset_class", CLASSES)
def test_same_seed_same_rows_other_seed_other_rows(asset_class: str) -> None:
    first = sc.simulate_collectible_sales(asset_class, seed=7)
    again = sc.simulate_collectible_sales(asset_class, seed=7)
    other = sc.simulate_collectible_sales(asset_class, seed=8)

    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert len(first) != len(other) or not (first["price_usd"] == other["price_usd"]).all()


@pytest.mark.parametrize("asset_class", CLASSES)
def test_rows_are_simulated_dated_in_window_and_priced(
    sales: dict[str, pd.DataFrame], asset_class: str
) -> None:
    frame = sales[asset_class]
    start, end = sc.SIMULATION_WINDOWS[asset_class]

    assert list(frame.columns) == list(SIMULATED_SALE_COLUMNS)
    assert frame["is_simulated"].all()
    assert (frame["asset_class"] == asset_class).all()
    assert frame["sale_date"].min() >= pd.Timestamp(start)
    assert frame["sale_date"].max() <= pd.Timestamp(end)
    assert frame["sale_date"].is_monotonic_increasing
    assert (frame["price_usd"] > 0).all()
    assert frame["item_id"].str.startswith(f"{asset_class}:").all()


def test_windows_are_the_agreed_ones() -> None:
    assert {
        "yugioh": (pd.Timestamp("2021-07-01").date(), pd.Timestamp("2021-12-31").date()),
        "art": (pd.Timestamp("2026-06-01").date(), pd.Timestamp("2026-11-30").date()),
        "luxury": (pd.Timestamp("2026-06-01").date(), pd.Timestamp("2026-11-30").date()),
    } == sc.SIMULATION_WINDOWS


@pytest.mark.parametrize(
    ("asset_class", "low", "high"), [("yugioh", 35, 48), ("art", 4, 9), ("luxury", 44, 58)]
)
def test_daily_volume_matches_the_class(
    sales: dict[str, pd.DataFrame], asset_class: str, low: float, high: float
) -> None:
    start, end = sc.SIMULATION_WINDOWS[asset_class]
    per_day = len(sales[asset_class]) / ((end - start).days + 1)
    assert low < per_day < high


@pytest.mark.parametrize("asset_class", ["nba", "sneakers", "pokemon", "Luxury"])
def test_other_classes_are_refused(asset_class: str) -> None:
    with pytest.raises(ValueError, match="no collectible simulation"):
        sc.simulate_collectible_sales(asset_class)


@pytest.mark.parametrize(("asset_class", "min_sales"), [("yugioh", 5), ("art", 3), ("luxury", 5)])
def test_item_medians_track_real_base_prices(
    sales: dict[str, pd.DataFrame], asset_class: str, min_sales: int
) -> None:
    catalog = sc.collectible_catalog(asset_class)
    stats = (
        sales[asset_class]
        .groupby(["item_id", "variant"])["price_usd"]
        .agg(["median", "size"])
        .reset_index()
        .merge(catalog[["item_id", "variant", "base_price_usd"]], on=["item_id", "variant"])
    )
    busy = stats[stats["size"] >= min_sales]

    assert len(busy) >= 20
    assert busy["median"].corr(busy["base_price_usd"], method="spearman") > 0.8


def test_every_luxury_category_sells_on_its_own_venues(sales: dict[str, pd.DataFrame]) -> None:
    luxury = sales["luxury"]
    categories = _categories(luxury)

    assert set(categories) == {"watch", "handbag", "wine"}
    venues = luxury.groupby(categories)["venue"].agg(set).to_dict()
    assert venues["watch"] <= {"Chrono24", "eBay"}
    assert venues["handbag"] <= {"Christie's", "eBay"}
    assert venues["wine"] == {"Vivino"}
    assert luxury["item_id"].str.match(r"luxury:(watch|handbag|wine)-").all()


@pytest.mark.parametrize("asset_class", CLASSES)
def test_catalogs_have_the_contract_and_unique_keys(asset_class: str) -> None:
    catalog = sc.collectible_catalog(asset_class)

    assert list(catalog.columns) == list(CATALOG_COLUMNS)
    assert not catalog.duplicated(["item_id", "variant"]).any()
    assert (catalog["base_price_usd"] > 0).all()
    assert (catalog["popularity"] > 0).all()


# --- yugioh ----------------------------------------------------------------------------------


def test_yugioh_prices_come_from_set_price_else_tcgplayer() -> None:
    printings = sc.read_yugioh_printings()
    by_key = {(row["set_code"], row["rarity"]): row for row in printings.to_dict(orient="records")}

    dtp1 = by_key[("DTP1-EN001", "Duel Terminal Normal Parallel")]
    assert pd.isna(dtp1["set_price_usd"])
    assert dtp1["raw_price_usd"] == 0.25
    assert dtp1["price_source"] == "tcgplayer_price"

    lob = by_key[("LOB-E001", "Ultra Rare")]
    assert lob["raw_price_usd"] == 53.04
    assert lob["price_source"] == "set_price"

    assert len(printings) == len(by_key) == 61
    assert 1.03 <= by_key[("SS02-ENCS1", "Common")]["raw_price_usd"] <= 1.08


def test_yugioh_catalog_applies_grades_and_floors() -> None:
    catalog = sc.collectible_catalog("yugioh")
    price = catalog.set_index(["item_name", "variant"])["base_price_usd"].to_dict()
    promo = "Blue-Eyes White Dragon (DDS-001, Prismatic Secret Rare)"
    common = '"A" Cell Breeding Device (FOTB-EN043, Common)'

    assert price[(promo, "raw near mint")] == 1959.19
    assert price[(promo, "psa 9")] == pytest.approx(1959.19 * 1.8, abs=0.01)
    assert price[(promo, "psa 10")] == pytest.approx(7836.76)
    assert price[(common, "psa 10")] == 30.0
    assert set(catalog.loc[catalog["variant"] == "psa 10", "grading_company"]) == {"PSA"}
    assert catalog.groupby("item_id").size().eq(3).all()
    assert catalog["attributes"].map(lambda a: a["card_name"]).nunique() == 8


# --- art -------------------------------------------------------------------------------------


def test_art_prices_use_a_dot_thousands_separator() -> None:
    art = sc.read_artworks().set_index("source_row")

    assert sc.parse_art_price("28.500 USD") == 28500.0
    assert art.loc[0, "price_usd"] == 28500.0
    assert art.loc[0, "artist"] == "Tommaso Ottieri"
    assert art["price_usd"].min() == 595.0
    assert art["price_usd"].max() == 160000.0
    with pytest.raises(ValueError):
        sc.parse_art_price("28,500 EUR")


def test_art_years_signatures_and_missing_markers() -> None:
    art = sc.read_artworks().set_index("source_row")

    assert art.loc[0, "year_created"] == 2021
    assert art.loc[1, "year_created"] == "First Half 20th Century"
    assert art.loc[0, "signed"] is True
    assert art.loc[32, "signed"] is None
    assert art.loc[12, "year_created"] is None
    assert (art["artist"] == "Günther Förg").sum() >= 2
    assert not art.isin(["[nan]"]).any().any()


# --- luxury ----------------------------------------------------------------------------------


def test_watch_prices_convert_pounds_and_drop_price_on_request() -> None:
    listings = sc.read_watch_listings().set_index("watch_id")

    assert sc.money_to_usd("£6,800.00") == pytest.approx(6800 * 1.27)
    assert sc.money_to_usd("               -") is None
    assert sc.money_to_usd("Price on request") is None
    assert listings.loc["W0", "asking_usd"] == 7900.0
    assert listings.loc["W0", "retail_usd"] == pytest.approx(6800 * sc.USD_PER_GBP)
    assert listings.loc["W0", "brand"] == "Cartier"
    assert listings.loc["W440", "asking_usd"] == pytest.approx(40750 * sc.USD_PER_GBP)
    assert listings.loc["W440", "brand"] == "Audemars Piguet"
    assert listings.loc["W440", "condition"] == "Very good"
    assert len(listings) == 929 - 106
    with pytest.raises(ValueError):
        sc.money_to_usd("CHF 6,800")


def test_watch_base_is_the_stated_discount_on_median_asking() -> None:
    catalog = sc.collectible_catalog("luxury")
    watches = catalog[catalog["item_id"].str.startswith("luxury:watch-")]
    asking = watches["attributes"].map(lambda a: a["median_asking_usd"])

    assert len(watches) > 30
    ratio = watches["base_price_usd"] / asking
    assert ratio.between(0.919, 0.921).all()


def test_handbag_estimates_use_the_unicode_minus_and_unsold_lots_drop() -> None:
    lots = sc.read_handbag_lots().set_index("lot")

    assert sc.parse_estimate("5,100\u22127,700") == (5100.0, 7700.0)
    assert lots.loc[1, "estimate_low_usd"] == 5100.0
    assert lots.loc[1, "estimate_high_usd"] == 7700.0
    assert lots.loc[1, "price_realized_usd"] == 6100.0
    assert lots.loc[1, "brand"] == "Hermès"
    assert len(lots) == 242 - 12
    assert (lots["price_realized_usd"] > 0).all()


@needs_shared
def test_handbag_estimates_agree_with_the_authors_cleaned_file() -> None:
    enhanced = pd.read_csv(SHARED / "handbags/christies_hk_march2025_handbags_enhanced.csv")
    ours = sc.read_handbag_lots().set_index("lot")
    theirs = enhanced.set_index("Lot").loc[ours.index]

    assert (ours["estimate_low_usd"] == theirs["Lower Estimate (USD)"]).all()
    assert (ours["estimate_high_usd"] == theirs["Higher Estimate (USD)"]).all()
    assert (ours["price_realized_usd"] == theirs["Price Realized (USD)"]).all()


def test_wine_reads_past_the_bom_and_keeps_non_vintage() -> None:
    wines = sc.read_wines()
    overture = wines[(wines["winery"] == "Opus One") & (wines["wine"] == "Overture")].iloc[0]

    assert len(wines) == 1500
    assert wines["number_of_ratings"].min() == 588
    assert overture["vintage_label"] == "N.V."
    assert overture["vintage"] is None or pd.isna(overture["vintage"])
    assert overture["price_usd"] == pytest.approx(154.99 * sc.USD_PER_EUR, abs=0.01)
    assert sc.parse_vintage("N.V.") is None
    assert sc.parse_vintage("2011") == 2011

    names = pd.read_csv(sc.REFERENCE_DIR / sc.WINE_FILE, encoding="utf-8-sig")["Name"]
    assert (wines["wine"] + " " + wines["vintage_label"] == names).all()
    assert "Merlot - Petit Verdot Penedès 3055" in set(wines["wine"])


def test_wine_variants_are_vintages() -> None:
    catalog = sc.collectible_catalog("luxury")
    wines = catalog[catalog["item_id"].str.startswith("luxury:wine-")]
    vintages = wines["attributes"].map(lambda a: a.get("vintage"))

    assert len(wines) == 1500
    assert (wines["variant"] == "N.V.").sum() == 6
    numbered = wines[wines["variant"] != "N.V."]
    assert (numbered["variant"].astype(int) == vintages[numbered.index]).all()


# --- the bundle ------------------------------------------------------------------------------


def test_bundle_is_small() -> None:
    total = sum(p.stat().st_size for p in sc.REFERENCE_DIR.iterdir() if p.is_file())
    assert total < 1_000_000


@needs_shared
def test_bundled_art_and_handbags_are_the_shared_files() -> None:
    pairs = [
        (sc.ART_FILE, "art/artDataset.csv"),
        (sc.HANDBAG_FILE, "handbags/christies_hk_march2025_handbags.csv"),
    ]
    for bundled, shared in pairs:
        data = gzip.decompress((sc.REFERENCE_DIR / bundled).read_bytes())
        assert data == (SHARED / shared).read_bytes()


@needs_shared
def test_bundled_wines_are_the_most_rated_source_lines() -> None:
    source = (SHARED / "wine/vivino_red.csv").read_bytes()
    bundled = gzip.decompress((sc.REFERENCE_DIR / sc.WINE_FILE).read_bytes())
    source_lines = source.decode("utf-8").splitlines()
    bundled_lines = bundled.decode("utf-8").splitlines()

    assert bundled.startswith(b"\xef\xbb\xbf")
    assert bundled_lines[0] == source_lines[0]
    assert set(bundled_lines[1:]) <= set(source_lines[1:])

    full = pd.read_csv(SHARED / "wine/vivino_red.csv", encoding="utf-8-sig")
    assert len(bundled_lines) - 1 == 1500
    assert (full["NumberOfRatings"] > 588).sum() < 1500


@needs_shared
def test_bundled_watches_are_the_shared_rows_without_seller_columns() -> None:
    shared = pd.read_csv(SHARED / "watches/chrono24_listings_with_retail_2022.csv", dtype=str)
    text = gzip.decompress((sc.REFERENCE_DIR / sc.WATCH_FILE).read_bytes()).decode("utf-8")
    bundled = pd.read_csv(io.StringIO(text), dtype=str)

    kept = [c for c in shared.columns if not c.startswith("seller_")]
    pd.testing.assert_frame_equal(bundled, shared[kept])
    assert next(csv.reader(io.StringIO(text)))[0] == ""
