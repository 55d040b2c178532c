"""Collect what the landing zone holds for a set of partitions: sales, reference prices, rejects.

Pure functions over the landing folder, used by the assets and the sensor alike; nothing here
knows about Dagster or writes to the warehouse.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cardvalue_dagster.contracts import QUARANTINE_COLUMNS, split_sales
from cardvalue_dagster.sources.canonical import PRICE_COLUMNS, SALE_COLUMNS
from cardvalue_dagster.sources.landing import (
    BadLandingPath,
    LandingFile,
    fingerprint,
    iter_landing_paths,
    locate,
    row_days,
)

logger = logging.getLogger(__name__)

SALES_FORMATS = frozenset({"canonical", "stockx", "ebay_130point", "psa_apr"})
"""Landing formats that hold sales; every other known format holds reference prices."""

PRICE_STALENESS_DAYS = 365
"""A reference price older than this on a given day is no longer reported for that day."""


@dataclass
class FileContribution:
    """What one landing file version gave to a run."""

    file: LandingFile
    sha256: str
    format: str
    days: set[dt.date] = field(default_factory=set)
    kept_rows: int = 0
    quarantined_rows: int = 0


@dataclass
class SalesBatch:
    """The sales of one class for a set of days, and what was set aside."""

    kept: pd.DataFrame
    quarantined: pd.DataFrame
    contributions: list[FileContribution]
    skipped_paths: list[str]
    duplicates_dropped: int


def collect_sales(landing_root: Path, asset_class: str, days: Collection[dt.date]) -> SalesBatch:
    """Parse every sales file of `asset_class` and keep the rows of `days`.

    A file that cannot be read at all raises `LandingFileError` naming it: a run must not build
    partitions from a landing folder it could only partly read. The same sale in two files (a
    file dropped twice under two names) is kept once, from the first file in path order.
    """
    from cardvalue_dagster.sources.landing_formats import detect_format, parse_landing_file

    wanted = set(days)
    kept_parts, quarantined_parts = [], []
    contributions: list[FileContribution] = []
    skipped: list[str] = []

    for path in iter_landing_paths(landing_root, asset_class):
        try:
            file = locate(path, landing_root)
        except BadLandingPath as bad_path:
            skipped.append(str(bad_path))
            continue
        if file.drop_date is not None and file.drop_date not in wanted:
            continue
        if detect_format(path) not in SALES_FORMATS:
            continue

        parsed = parse_landing_file(path, landing_root, asset_class, file.drop_date)
        split = split_sales(parsed.rows, asset_class, file.drop_date)
        kept = split.kept[split.kept["sale_date"].dt.date.isin(wanted)]
        quarantined = _quarantine_for_days(split.quarantined, wanted, row_days(kept, "sale_date"))
        if kept.empty and quarantined.empty:
            continue

        contributions.append(
            FileContribution(
                file=file,
                sha256=fingerprint(path),
                format=parsed.format,
                days=row_days(kept, "sale_date") | row_days(quarantined, "partition_date"),
                kept_rows=len(kept),
                quarantined_rows=len(quarantined),
            )
        )
        kept_parts.append(kept)
        quarantined_parts.append(quarantined)

    kept_all = _concat(kept_parts, list(SALE_COLUMNS))
    before = len(kept_all)
    kept_all = kept_all.drop_duplicates(subset="sale_id", keep="first").reset_index(drop=True)
    return SalesBatch(
        kept=kept_all,
        quarantined=_concat(quarantined_parts, QUARANTINE_COLUMNS),
        contributions=contributions,
        skipped_paths=skipped,
        duplicates_dropped=before - len(kept_all),
    )


def collect_price_observations(landing_root: Path, game: str, until: dt.date) -> pd.DataFrame:
    """Every reference-price observation of `game` made on or before `until`, from all files."""
    from cardvalue_dagster.sources.landing_formats import detect_format, parse_landing_file

    parts = []
    for path in iter_landing_paths(landing_root, game):
        try:
            file = locate(path, landing_root)
        except BadLandingPath:
            continue
        if detect_format(path) in SALES_FORMATS:
            continue

        parsed = parse_landing_file(path, landing_root, game, file.drop_date)
        rows = parsed.rows
        usable = rows["parse_problem"].isna() if "parse_problem" in rows else True
        rows = rows[usable & (rows["price_usd"] > 0) & rows["observed_on"].notna()]
        parts.append(rows[rows["observed_on"].dt.date <= until])

    return _concat(parts, list(PRICE_COLUMNS))


def price_snapshot(observations: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The latest price of every card and printing known on `day`, per source.

    Observations older than PRICE_STALENESS_DAYS are dropped: a price from years ago says little
    about the market on `day`, and `observed_on` stays in the row so readers can judge age.
    """
    timestamp = pd.Timestamp(day)
    window = observations[
        (observations["observed_on"] <= timestamp)
        & (observations["observed_on"] > timestamp - pd.Timedelta(days=PRICE_STALENESS_DAYS))
    ]
    if window.empty:
        return window.assign(as_of_date=pd.Series(dtype="datetime64[ns]"))

    keys = ["card_id", "printing", "source"]
    ordered = window.sort_values(["observed_on", "source_file", "source_row"])
    latest = ordered.drop_duplicates(subset=keys, keep="last")
    return latest.assign(as_of_date=timestamp).reset_index(drop=True)


def _quarantine_for_days(
    quarantined: pd.DataFrame, wanted: set[dt.date], file_days: set[dt.date]
) -> pd.DataFrame:
    """Rejected rows that belong to the run: those of its days, and dateless ones of its files.

    A row whose date cannot be read belongs to no day; it is filed under the earliest day its
    file contributes to in this run, so the contract check of that partition reports it and a
    re-run of the partition replaces it.
    """
    if quarantined.empty:
        return quarantined
    days = pd.to_datetime(quarantined["partition_date"], errors="coerce")
    in_run = days.dt.date.isin(wanted)
    dateless = days.isna() & bool(file_days)
    selected = quarantined[in_run | dateless].copy()
    if file_days:
        selected.loc[days[in_run | dateless].isna(), "partition_date"] = pd.Timestamp(
            min(file_days)
        )
    return selected


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    non_empty = [p for p in parts if not p.empty]
    if not non_empty:
        return pd.DataFrame(columns=columns)
    return pd.concat(non_empty, ignore_index=True)
