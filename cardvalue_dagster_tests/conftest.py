"""Shared fixtures: a CardValue home in a temporary folder, and small canonical landing files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from cardvalue_dagster.home import Home

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").create()


@pytest.fixture
def instance(home: Home):
    with DagsterInstance.from_config(str(home.dagster)) as dagster_instance:
        yield dagster_instance


def canonical_sales(asset_class: str, days: list[dt.date], per_day: int = 3, price: float = 100.0):
    """A few well-formed canonical sales of one class per day (prices vary by a few dollars)."""
    rows = []
    for day in days:
        for n in range(per_day):
            rows.append(
                {
                    "asset_class": asset_class,
                    "item_id": f"{asset_class}:item-{n % 2}",
                    "item_name": f"Item {n % 2}",
                    "variant": "",
                    "sale_date": day.isoformat(),
                    "price_usd": price + n,
                    "venue": "eBay",
                    "grade": None,
                    "grading_company": None,
                    "condition": None,
                    "attributes": "{}",
                    "is_simulated": False,
                }
            )
    return pd.DataFrame(rows)


def write_landing_csv(home: Home, relative: str, frame: pd.DataFrame) -> Path:
    path = home.landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
