"""The ingest stage: sales, player statistics and card reference prices, per class and day.

Each asset computes the rows of every partition in its run, then replaces exactly those
partitions in the warehouse in one transaction. All three accept a range or rectangle of
partitions in one run (`BackfillPolicy.single_run`), because a run costs about 3 s of
bookkeeping before any partition is written: a year of one class is one run.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from cardvalue_dagster.assets.metadata import OWNER, preview, table_metadata
from cardvalue_dagster.assets.sources import landing_zone, player_statistics
from cardvalue_dagster.partitions import (
    class_date_partitions,
    game_date_partitions,
    split_partition_keys,
    sport_date_partitions,
)
from cardvalue_dagster.resources import HomeResource
from cardvalue_dagster.sources.canonical import PRICE_COLUMNS, SALE_COLUMNS, STATS_COLUMNS
from cardvalue_dagster.sources.ingest import (
    collect_price_observations,
    collect_sales,
    price_snapshot,
)
from cardvalue_dagster.sources.landing import write_receipt
from cardvalue_dagster.warehouse import Warehouse

HOBBY_PRICE_COLUMNS = {**PRICE_COLUMNS, "as_of_date": "the day these prices were known on"}

INGEST_GROUP = "ingest"
WAREHOUSE_POOL = "warehouse"


def _ingest_table(
    table: str, partitions_def: Any, source: AssetSpec, columns: dict[str, str]
) -> dict[str, Any]:
    """What every ingest asset declares: its source, partitions, run shape, pool and lineage."""
    return {
        "deps": [source],
        "partitions_def": partitions_def,
        "backfill_policy": BackfillPolicy.single_run(),
        "pool": WAREHOUSE_POOL,
        "group_name": INGEST_GROUP,
        "owners": [OWNER],
        "kinds": {"duckdb", "pandas"},
        "metadata": table_metadata(table, columns),
        "tags": {"layer": "raw"},
    }


@asset(**_ingest_table("raw_sales", class_date_partitions, landing_zone, SALE_COLUMNS))
def raw_sales(
    context: AssetExecutionContext, home: HomeResource, warehouse: Warehouse
) -> MaterializeResult:
    """Every sale of a class on a day, from all landing files, in one canonical contract.

    Real sales keep their source's dates and prices; rows from the documented simulator (classes
    with no real sales in the bundled data) have `is_simulated = true`. Rows that break the
    contract are written to the `quarantine` table with their file, row and rule instead.
    """
    layout = home.layout
    partitions = split_partition_keys(context.partition_keys)
    kept, quarantined, contributions = [], [], []

    for asset_class, days in _days_by_class(partitions).items():
        batch = collect_sales(layout.landing, asset_class, days)
        for reason in batch.skipped_paths:
            context.log.warning(f"skipped landing path: {reason}")
        context.log.info(
            f"{asset_class}: {len(batch.kept):,} sales from {len(batch.contributions)} files over "
            f"{len(days)} days; {len(batch.quarantined)} rows quarantined, "
            f"{batch.duplicates_dropped} duplicate sales dropped"
        )
        kept.append(batch.kept)
        quarantined.append(batch.quarantined.assign(run_id=context.run.run_id))
        contributions.extend(batch.contributions)

    sales = _concat(kept, list(SALE_COLUMNS))
    rejects = _concat(quarantined, [])
    if not rejects.empty:
        rejects["quarantined_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
    warehouse.replace_partitions("raw_sales", sales, partitions)
    warehouse.replace_partitions("quarantine", rejects, partitions)

    for part in contributions:
        write_receipt(layout.receipts, part.file, part.sha256, part.days, context.run.run_id)

    return MaterializeResult(
        metadata={
            "dagster/row_count": len(sales),
            "partitions": len(partitions),
            "quarantined_rows": len(rejects),
            "simulated_rows": int(sales["is_simulated"].sum()) if not sales.empty else 0,
            "files": MetadataValue.md(_contributions_table(contributions)),
            "preview": preview(sales.drop(columns=["attributes"], errors="ignore")),
        }
    )


@asset(**_ingest_table("sports_stats", sport_date_partitions, player_statistics, STATS_COLUMNS))
def sports_stats(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Player statistics as known on each day, per sport: latest season line, percentile, form.

    Built from the bundled real statistics (see the bundled PROVENANCE.md); a season counts only
    from the day it was complete, so a card sold on day d is never priced with later seasons.
    """
    from cardvalue_dagster.sources.sports_reference import stats_known_on

    partitions = split_partition_keys(context.partition_keys)
    frames = [stats_known_on(sport, day) for sport, day in partitions]
    stats = _concat(frames, list(STATS_COLUMNS))
    warehouse.replace_partitions("sports_stats", stats, partitions)

    context.log.info(f"{len(stats):,} player rows over {len(partitions)} sport-days")
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(stats),
            "partitions": len(partitions),
            "players_per_day": _per_partition_counts(stats, "as_of_date"),
            "preview": preview(stats.drop(columns=["stats"], errors="ignore")),
        }
    )


@asset(**_ingest_table("hobby_prices", game_date_partitions, landing_zone, HOBBY_PRICE_COLUMNS))
def hobby_prices(
    context: AssetExecutionContext, home: HomeResource, warehouse: Warehouse
) -> MaterializeResult:
    """Market reference prices of MTG, Pokémon and Yu-Gi-Oh! cards as known on each day.

    For every card and printing, the latest price any source (TCGplayer history, PriceCharting,
    Scryfall, YGOPRODeck, PokemonTCG.io files in the landing zone) observed on or before the
    day, and at most a year before it.
    """
    layout = home.layout
    partitions = split_partition_keys(context.partition_keys)
    frames: list[pd.DataFrame] = []

    for game, days in _days_by_class(partitions).items():
        observations = collect_price_observations(layout.landing, game, max(days))
        context.log.info(f"{game}: {len(observations):,} price observations up to {max(days)}")
        frames.extend(price_snapshot(observations, day) for day in sorted(days))

    prices = _concat(frames, [*PRICE_COLUMNS, "as_of_date"])
    warehouse.replace_partitions("hobby_prices", prices, partitions)
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(prices),
            "partitions": len(partitions),
            "preview": preview(prices),
        }
    )


def _days_by_class(partitions: Iterable[tuple[str, dt.date]]) -> dict[str, set[dt.date]]:
    grouped: dict[str, set[dt.date]] = defaultdict(set)
    for asset_class, day in partitions:
        grouped[asset_class].add(day)
    return dict(grouped)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    non_empty = [f for f in frames if not f.empty]
    if not non_empty:
        return pd.DataFrame(columns=columns)
    return pd.concat(non_empty, ignore_index=True)


def _per_partition_counts(frame: pd.DataFrame, date_column: str) -> MetadataValue:
    if frame.empty:
        return MetadataValue.md("_no rows_")
    counts = frame.groupby(["asset_class", date_column]).size().rename("rows").reset_index()
    return MetadataValue.md(counts.tail(15).to_markdown(index=False))


def _contributions_table(contributions: list) -> str:
    if not contributions:
        return "_no landing file holds sales for these partitions_"
    lines = ["| file | format | days | rows kept | rows quarantined |", "|---|---|---|---|---|"]
    for part in contributions:
        lines.append(
            f"| {part.file.relative_path} | {part.format} | {len(part.days)} | "
            f"{part.kept_rows:,} | {part.quarantined_rows:,} |"
        )
    return "\n".join(lines)
