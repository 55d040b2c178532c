"""The bundled default: real rows unchanged, simulated rows flagged, seeding deterministic."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from cardvalue_dagster.asset_classes import ASSET_CLASSES
from cardvalue_dagster.home import Home
from cardvalue_dagster.sources.bundled_default import (
    SIMULATED_CLASSES,
    bundled_landing,
    seed_landing_zone,
)
from cardvalue_dagster.sources.landing_formats import parse_landing_file
from cardvalue_dagster_tests.conftest import SHARED_DATA

REAL_FILES = {
    "sneakers/stockx_2019_contest.csv.gz": "sneakers/stockx_2019_contest_train.csv",
    "mlb/ebay_130point_topps_chrome_psa10.csv.gz": (
        "sports_cards/ebay_topps_chrome_psa10_sales_train.csv"
    ),
}


@pytest.mark.parametrize(("bundled", "shared"), REAL_FILES.items())
def test_bundled_real_files_are_the_shared_files_byte_for_byte(bundled, shared):
    if not (SHARED_DATA / shared).exists():
        pytest.skip("../shared/data is not beside this checkout")

    with gzip.open(bundled_landing() / bundled, "rb") as packed:
        assert packed.read() == (SHARED_DATA / shared).read_bytes()


def test_bundled_sneaker_sales_keep_their_real_dates_and_prices():
    landing = bundled_landing()
    rows = parse_landing_file(
        landing / "sneakers/stockx_2019_contest.csv.gz", landing, "sneakers"
    ).rows

    assert len(rows) == 79_952
    assert not rows["is_simulated"].any()
    assert rows["sale_date"].min() == pd.Timestamp("2017-09-01")
    assert rows["sale_date"].max() == pd.Timestamp("2018-12-25")
    first = rows.iloc[0]
    assert (first["item_name"], first["price_usd"]) == (
        "Adidas-Yeezy-Boost-350-Low-V2-Beluga",
        1097.0,
    )


def test_seeding_writes_every_class_and_flags_exactly_the_simulated_ones(home):
    seed_landing_zone(home.landing, seed=7)

    for asset_class in ASSET_CLASSES:
        files = sorted((home.landing / asset_class).rglob("*"))
        sales = [
            parse_landing_file(f, home.landing, asset_class)
            for f in files
            if f.is_file() and f.parent.name == asset_class
        ]
        sales = [p.rows for p in sales if p.table == "sales"]
        assert sales, f"no bundled sales for {asset_class}"
        flags = pd.concat(sales)["is_simulated"]
        assert flags.all() == (asset_class in SIMULATED_CLASSES), asset_class
        assert flags.any() == (asset_class in SIMULATED_CLASSES), asset_class


def test_seeding_is_deterministic_and_never_overwrites(tmp_path):
    first, second = Home(tmp_path / "a").create(), Home(tmp_path / "b").create()
    seed_landing_zone(first.landing, seed=7)
    seed_landing_zone(second.landing, seed=7)
    users_file = first.landing / "nba" / "simulated_nba_seed7.csv.gz"
    users_file.write_bytes(b"edited by a user")

    again = seed_landing_zone(first.landing, seed=7)

    assert again == []
    assert users_file.read_bytes() == b"edited by a user"
    a = second.landing / "luxury" / "simulated_luxury_seed7.csv.gz"
    b = first.landing / "luxury" / "simulated_luxury_seed7.csv.gz"
    assert a.read_bytes() == b.read_bytes()
