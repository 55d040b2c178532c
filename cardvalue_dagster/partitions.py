"""How CardValue's assets are partitioned: asset class × sale date, and the mappings between them.

Every partition key reads `<asset_class>|<YYYY-MM-DD>` (Dagster joins multi-partition dimensions in
alphabetical order of their names). Grade, venue, size and the like are columns, never partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from dagster import (
    DailyPartitionsDefinition,
    DimensionPartitionMapping,
    IdentityPartitionMapping,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    StaticPartitionMapping,
    StaticPartitionsDefinition,
    TimeWindowPartitionMapping,
)

from cardvalue_dagster.asset_classes import ASSET_CLASSES, HOBBY_GAMES, SPORTS

FIRST_DATE = dt.date(2016, 9, 1)
"""The first daily partition: early enough for the oldest bundled real sale (PSA, 2016-09-10).

Twelve classes × daily partitions from here to the end of 2026 is about 45 k partitions per
asset, under half of Dagster's 100 k limit; move this date forward before that limit nears.
"""

ASSET_CLASS_DIMENSION = "asset_class"
DATE_DIMENSION = "date"

daily = DailyPartitionsDefinition(start_date=FIRST_DATE.isoformat(), end_offset=1)
"""Daily partitions up to and including today, so sales landing today have a partition."""


def _by_class_and_date(classes: Sequence[str]) -> MultiPartitionsDefinition:
    return MultiPartitionsDefinition(
        {
            ASSET_CLASS_DIMENSION: StaticPartitionsDefinition(list(classes)),
            DATE_DIMENSION: daily,
        }
    )


class_date_partitions = _by_class_and_date(ASSET_CLASSES)
"""All twelve asset classes × date: `raw_sales` and everything per sale downstream of it."""

sport_date_partitions = _by_class_and_date(SPORTS)
"""The six sports × date: `sports_stats`."""

game_date_partitions = _by_class_and_date(HOBBY_GAMES)
"""The three trading-card games × date: `hobby_prices`."""


class_partitions = StaticPartitionsDefinition(list(ASSET_CLASSES))
"""One partition per asset class: the valuator and its backtest, which use all of its days."""


def history_mapping(lookback_days: int) -> MultiPartitionMapping:
    """The same class's days from `lookback_days` before a day up to and including that day.

    A feature of a sale on day d reads the sales of d (the rows themselves) and of the days
    before it (its comparable sales), so this is the true upstream of a feature partition.
    """
    return MultiPartitionMapping(
        {
            ASSET_CLASS_DIMENSION: DimensionPartitionMapping(
                dimension_name=ASSET_CLASS_DIMENSION, partition_mapping=IdentityPartitionMapping()
            ),
            DATE_DIMENSION: DimensionPartitionMapping(
                dimension_name=DATE_DIMENSION,
                partition_mapping=TimeWindowPartitionMapping(start_offset=-lookback_days),
            ),
        }
    )


def subset_mapping(classes: Sequence[str]) -> MultiPartitionMapping:
    """Map a class-subset partition (a sport or a game) onto the same class and date downstream.

    The downstream asset has all twelve classes; classes outside `classes` map to nothing, which
    is why such dependencies are declared with `deps` and read with SQL, never through an IO
    manager (dagster-io/dagster#26398).
    """
    return MultiPartitionMapping(
        {
            ASSET_CLASS_DIMENSION: DimensionPartitionMapping(
                dimension_name=ASSET_CLASS_DIMENSION,
                partition_mapping=StaticPartitionMapping({c: c for c in classes}),
            ),
            DATE_DIMENSION: DimensionPartitionMapping(
                dimension_name=DATE_DIMENSION, partition_mapping=IdentityPartitionMapping()
            ),
        }
    )


def partition_key(asset_class: str, day: dt.date) -> str:
    """The multi-partition key string of one class and day."""
    return MultiPartitionKey({ASSET_CLASS_DIMENSION: asset_class, DATE_DIMENSION: day.isoformat()})


def split_partition_keys(keys: Iterable[str]) -> list[tuple[str, dt.date]]:
    """Turn multi-partition keys into (asset_class, date) pairs."""
    pairs = []
    for key in keys:
        asset_class, day = str(key).split("|")
        pairs.append((asset_class, dt.date.fromisoformat(day)))
    return pairs


def contiguous_date_ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Group days into maximal runs of consecutive days, in order."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


__all__ = [
    "ASSET_CLASS_DIMENSION",
    "DATE_DIMENSION",
    "FIRST_DATE",
    "class_date_partitions",
    "contiguous_date_ranges",
    "daily",
    "game_date_partitions",
    "partition_key",
    "split_partition_keys",
    "sport_date_partitions",
    "subset_mapping",
]
