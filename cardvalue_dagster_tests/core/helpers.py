"""Small builders of canonical sales frames for the core tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cardvalue_dagster.core.features import build_features

START = dt.date(2024, 1, 1)


def sale(
    day: int,
    price: float,
    item: str = "a",
    variant: str = "size 9",
    *,
    asset_class: str = "sneakers",
    attributes: dict[str, Any] | None = None,
    sale_id: str | None = None,
) -> dict[str, Any]:
    """One canonical sale `day` days after START."""
    date = START + dt.timedelta(days=day)
    return {
        "sale_id": sale_id or f"{item}|{variant}|{day}|{price}",
        "asset_class": asset_class,
        "item_id": f"{asset_class}:{item}",
        "item_name": item,
        "variant": variant,
        "sale_date": pd.Timestamp(date),
        "price_usd": float(price),
        "venue": "StockX",
        "grade": None,
        "grading_company": None,
        "condition": "new",
        "attributes": json.dumps(attributes or {"brand": "Yeezy", "size": 9.0}),
        "is_simulated": False,
        "source_format": "canonical",
        "source_file": "test.csv",
        "source_row": 1,
    }


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Canonical sales with unique sale ids (a counter is appended to repeated ids)."""
    sales = pd.DataFrame(list(rows))
    counts = sales.groupby("sale_id").cumcount().astype(str)
    sales["sale_id"] = sales["sale_id"] + "#" + counts
    return sales


def features_of(sales: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """`build_features` on `sales` registered as raw_sales in a fresh in-memory DuckDB."""
    with duckdb.connect() as con:
        con.register("raw_sales", sales)
        return build_features(con, "raw_sales", **kwargs)


def synthetic_market(
    days: int, per_day: int, *, seed: int = 0, items: int = 4, variants: int = 3
) -> pd.DataFrame:
    """Exchangeable sales: stable item × variant levels and iid log-normal noise."""
    rng = np.random.default_rng(seed)
    level = {(i, v): 100.0 * (1 + i) * (1 + 0.1 * v) for i in range(items) for v in range(variants)}
    rows = []
    for day in range(days):
        for n in range(per_day):
            i, v = int(rng.integers(items)), int(rng.integers(variants))
            noise = rng.normal(0.0, 0.05 + 0.05 * i)
            price = round(level[(i, v)] * float(np.exp(noise)), 2)
            attributes = {"brand": "Yeezy" if i % 2 else "Off-White", "size": 8.0 + v}
            rows.append(
                sale(
                    day,
                    price,
                    f"item{i}",
                    f"size {8 + v}",
                    attributes=attributes,
                    sale_id=f"s{day}-{n}",
                )
            )
    return frame(rows)
