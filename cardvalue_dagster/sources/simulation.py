"""The price process behind every simulated asset class.

Some classes have no real sales in the bundled data (see `cardvalue_dagster/sources/bundled/
PROVENANCE.md`). For those, class-specific modules build a *catalog* from real reference data
(player statistics, card catalogs, auction results, listings): one row per item and variant with
a base price that the real data justifies. This module turns a catalog into daily sales.

The model, per class, with t the day index and i the catalog row:

    log price(i, t) = log base_price(i) + market(t) + drift(i, t) + noise
    market(t)   random walk, daily step ~ N(0, market_step)      (the class's market mood)
    drift(i, t) random walk, daily step ~ N(0, item_step)        (an item's own hype or fade)
    noise       ~ N(0, sale_noise)                               (one buyer, one seller)

The number of sales on day t is Poisson(daily_sales * weekday factor), weekends 20 % busier;
each sale picks catalog row i with probability proportional to its `popularity`, and a venue by
the given weights. Everything is drawn from one `numpy.random.Generator` seeded by `seed`, so the
same arguments always give the same rows. Every row is flagged `is_simulated`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardvalue_dagster.sources.canonical import SALE_CONTENT_COLUMNS, attributes_json

CATALOG_COLUMNS: tuple[str, ...] = (
    "item_id",
    "item_name",
    "variant",
    "base_price_usd",
    "popularity",
    "grade",
    "grading_company",
    "condition",
    "attributes",
)
"""What a class-specific catalog must hold; `attributes` is a dict per row."""

SIMULATED_SALE_COLUMNS: tuple[str, ...] = tuple(c for c in SALE_CONTENT_COLUMNS if c != "sale_id")
"""The canonical landing contract without the columns the loader fills (ids and provenance)."""


@dataclass(frozen=True)
class PriceProcess:
    """Volatility and volume of one class's simulated market."""

    daily_sales: float
    market_step: float = 0.004
    item_step: float = 0.008
    sale_noise: float = 0.12


def simulate_sales(
    catalog: pd.DataFrame,
    asset_class: str,
    start: dt.date,
    end: dt.date,
    process: PriceProcess,
    venues: Mapping[str, float],
    seed: int,
) -> pd.DataFrame:
    """Draw the sales of `catalog` between `start` and `end` (inclusive) under `process`."""
    _require_catalog(catalog)
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")

    market = np.cumsum(rng.normal(0.0, process.market_step, len(days)))
    drift = np.cumsum(rng.normal(0.0, process.item_step, (len(days), len(catalog))), axis=0)

    weekday_factor = np.where(days.dayofweek >= 5, 1.2, 1.0)
    counts = rng.poisson(process.daily_sales * weekday_factor)
    day_index = np.repeat(np.arange(len(days)), counts)

    weights = catalog["popularity"].to_numpy(dtype=float)
    item_index = rng.choice(len(catalog), size=len(day_index), p=weights / weights.sum())

    log_price = (
        np.log(catalog["base_price_usd"].to_numpy(dtype=float))[item_index]
        + market[day_index]
        + drift[day_index, item_index]
        + rng.normal(0.0, process.sale_noise, len(day_index))
    )
    venue_names = list(venues)
    venue_p = np.array([venues[v] for v in venue_names], dtype=float)
    venue_index = rng.choice(len(venue_names), size=len(day_index), p=venue_p / venue_p.sum())

    chosen = catalog.iloc[item_index].reset_index(drop=True)
    return pd.DataFrame(
        {
            "asset_class": asset_class,
            "item_id": chosen["item_id"],
            "item_name": chosen["item_name"],
            "variant": chosen["variant"].fillna(""),
            "sale_date": days[day_index],
            "price_usd": np.round(np.exp(log_price), 2),
            "venue": np.array(venue_names, dtype=object)[venue_index],
            "grade": chosen["grade"].astype(float),
            "grading_company": chosen["grading_company"],
            "condition": chosen["condition"],
            "attributes": chosen["attributes"].map(attributes_json),
            "is_simulated": True,
        },
        columns=list(SIMULATED_SALE_COLUMNS),
    )


def _require_catalog(catalog: pd.DataFrame) -> None:
    missing = [c for c in CATALOG_COLUMNS if c not in catalog.columns]
    if missing:
        raise ValueError(f"simulation catalog lacks columns {missing}")
    if catalog.empty:
        raise ValueError("simulation catalog is empty")
    if (catalog["base_price_usd"] <= 0).any() or catalog["base_price_usd"].isna().any():
        raise ValueError("simulation catalog has a base price that is not positive")
    if (catalog["popularity"] <= 0).any():
        raise ValueError("simulation catalog has a popularity that is not positive")
