"""Shared fixtures: a CardValue home in a temporary folder, and small canonical landing files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import DagsterInstance

from cardvalue_dagster.automation import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from cardvalue_dagster.home import Home
from cardvalue_dagster.partitions import partition_key

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


def run_range(defs, instance, job, first_class, start, end, last_class=None):
    """Execute `job` in-process over one class (or a rectangle of classes) and a day range."""
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        tags={
            PARTITION_RANGE_START_TAG: partition_key(first_class, start),
            PARTITION_RANGE_END_TAG: partition_key(last_class or first_class, end),
        },
        raise_on_error=False,
    )


def query(home: Home, sql: str) -> pd.DataFrame:
    """Read the home's warehouse the way a user would, read-only."""
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def days_from(start: dt.date, count: int) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range(count)]
