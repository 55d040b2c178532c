"""The canonical tables every source is mapped to, and the stable identity of a sale.

A parser's job is to turn one source format into frames with exactly these columns. Validation
(pandera contracts) lives in `cardvalue_dagster.contracts`; this module only names the columns and
builds identifiers, so that it can be imported cheaply anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

SALE_COLUMNS: dict[str, str] = {
    "sale_id": "stable 20-hex id: the same sale in a re-ingested file gets the same id",
    "asset_class": "one of the twelve asset-class keys",
    "item_id": "canonical item identity, '<class>:<slug>' (a shoe model, a card, an artwork)",
    "item_name": "human-readable item name as the source spells it",
    "variant": "what splits an item into comparable lots: shoe size, grade, vintage ('' if none)",
    "sale_date": "calendar date of the sale (the partition date)",
    "price_usd": "price paid in US dollars, > 0",
    "venue": "where it sold: StockX, eBay, Christie's, ...",
    "grade": "numeric grade (PSA 1-10, ...) or null for ungraded items",
    "grading_company": "PSA, BGS, SGC, ... or null",
    "condition": "free-text condition where the source gives one (new, used, raw), else null",
    "attributes": "JSON object of class-specific attributes (size, player, set, year, ...)",
    "is_simulated": "true for rows made by the documented simulator, false for real sales",
    "source_format": "the landing format the row was parsed from",
    "source_file": "path of the landing file, relative to the landing root",
    "source_row": "1-based data-row number in that file (the header is not counted)",
}

PROVENANCE_COLUMNS: tuple[str, ...] = ("source_format", "source_file", "source_row")
SALE_CONTENT_COLUMNS: tuple[str, ...] = tuple(
    c for c in SALE_COLUMNS if c not in PROVENANCE_COLUMNS
)
"""What a sale is, without where it was read from: the columns models and backtests need."""

PRICE_COLUMNS: dict[str, str] = {
    "asset_class": "the game: mtg, pokemon or yugioh",
    "card_id": "canonical card identity, '<class>:<slug>'",
    "card_name": "card or product name as the source spells it",
    "set_name": "set or expansion name",
    "printing": "printing or grade the price is for: normal, holofoil, 1st edition, psa 10, ...",
    "observed_on": "date the source observed the price",
    "price_usd": "market (or mid) reference price in US dollars, > 0",
    "low_usd": "low price if the source gives one, else null",
    "high_usd": "high price if the source gives one, else null",
    "volume": "units sold in the source's period if it says, else null",
    "source": "tcgplayer_history, pricecharting, scryfall, ygoprodeck, pokemontcg, ...",
    "source_file": "path of the landing file, relative to the landing root",
    "source_row": "1-based data-row number in that file",
}

STATS_COLUMNS: dict[str, str] = {
    "asset_class": "the sport: nba, nfl, mlb, nhl, soccer or ufc",
    "as_of_date": "the date these statistics were known on (the partition date)",
    "player_id": "the source's stable player id, '<sport>:<id>'",
    "player_name": "player name as the source spells it",
    "team": "team (or camp) of the latest season line, null if unknown",
    "position": "position or weight class, null if unknown",
    "last_season": "label of the latest completed season known on as_of_date ('2017-18', '2015')",
    "seasons_played": "number of seasons (UFC: fights) known for the player by as_of_date",
    "games_played": "games (UFC: fights) in the latest season line",
    "headline_stat_name": "the sport's headline metric: points per game, OPS, passing EPA, ...",
    "headline_stat": "value of that metric in the latest season line",
    "performance": "percentile (0-1) of headline_stat among the sport's players that season",
    "form": "latest percentile minus the mean of earlier ones (null with one season): recent form",
    "stats": "JSON object of the latest season line as the source gives it",
}


def slugify(text: str) -> str:
    """Lower-case `text` and keep runs of letters and digits joined by single dashes."""
    out: list[str] = []
    dash = False
    for ch in str(text).strip().lower():
        if ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")


def item_id(asset_class: str, *parts: object) -> str:
    """Build the canonical item identity '<class>:<slug of parts>'."""
    slug = "-".join(slugify(str(p)) for p in parts if p is not None and str(p).strip())
    return f"{asset_class}:{slug}"


def attributes_json(values: Mapping[str, Any]) -> str:
    """Serialise class-specific attributes deterministically, dropping nulls."""
    clean = {k: v for k, v in values.items() if v is not None and not _is_nan(v)}
    return json.dumps(clean, sort_keys=True, default=str, ensure_ascii=False)


def assign_sale_ids(sales: pd.DataFrame) -> pd.Series:
    """Stable ids from what a sale is, not where it sits in a file.

    The id hashes the format, class, item, variant, date, price and venue, plus the occurrence
    number among identical rows of the same file (two identical StockX sales on one day are two
    sales). Re-ingesting a file, or the same file under another name, yields the same ids;
    appending rows to a file does not change the ids of the rows already there.
    """
    if sales.empty:
        return pd.Series([], dtype="string", index=sales.index)

    dates = pd.to_datetime(sales["sale_date"], errors="coerce")
    prices = pd.to_numeric(sales["price_usd"], errors="coerce")
    identity = (
        sales["source_format"].astype(str)
        + "|"
        + sales["asset_class"].astype(str)
        + "|"
        + sales["item_id"].astype(str)
        + "|"
        + sales["variant"].fillna("").astype(str)
        + "|"
        + dates.dt.strftime("%Y-%m-%d").fillna("")
        + "|"
        + prices.round(2).map("{:.2f}".format)
        + "|"
        + sales["venue"].fillna("").astype(str)
    )
    occurrence = identity.groupby(identity).cumcount().astype(str)
    ids = (identity + "|" + occurrence).map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:20])

    # A sale without a date or a price has no identity yet; the contract quarantines it.
    return ids.where(dates.notna() & prices.notna()).astype("string")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value
