"""Asset checks: the contracts of the ingest tables, and warnings about what the data looks like.

Checks on partitioned assets judge every partition of their run and report one evaluation per
partition, so the UI shows a verdict for each class and day even when a run covers a year.
Blocking checks (the contracts) stop everything downstream in the run when a partition fails.
"""

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    Output,
    asset_check,
)

from cardvalue_dagster.asset_classes import ASSET_CLASSES
from cardvalue_dagster.assets.ingest import WAREHOUSE_POOL, hobby_prices, raw_sales, sports_stats
from cardvalue_dagster.contracts import HobbyPricesContract, SalesContract, SportsStatsContract
from cardvalue_dagster.partitions import (
    class_date_partitions,
    game_date_partitions,
    partition_key,
    split_partition_keys,
    sport_date_partitions,
)
from cardvalue_dagster.resources import HomeResource
from cardvalue_dagster.sources.landing import latest_receipt_time
from cardvalue_dagster.warehouse import PARTITION_DATE_COLUMN, Warehouse

CheckFunction = Callable[..., Iterator[AssetCheckEvaluation | Output]]

OUTLIER_Z = 4.5
"""Robust z-score (|log price − item median| / (1.4826 × MAD)) above which a sale is an outlier."""
OUTLIER_LOOKBACK_DAYS = 90
OUTLIER_MIN_SALES = 8
"""An item needs this many sales in the look-back window before any of its sales is judged."""

ROW_COUNT_LOOKBACK_DAYS = 28
ROW_COUNT_MIN_MEAN = 5.0
"""Below this trailing mean of sales per day, a class is too thin to call a count anomalous."""
ROW_COUNT_LOW, ROW_COUNT_HIGH = 0.25, 4.0
"""A day with fewer than 25 % or more than 4 × the trailing daily mean is anomalous."""

FRESHNESS_HOURS = 48
"""A class whose last ingested file is older than this is stale."""


def per_partition_check(**kwargs: Any) -> Callable[[CheckFunction], AssetChecksDefinition]:
    """`asset_check` for a check that reports each partition of its run separately.

    Dagster types a check function as returning one AssetCheckResult, whose partition is the
    run's single partition key; over a range run that would be no partition at all. The runtime
    accepts AssetCheckEvaluation events with an explicit partition (what these checks yield), so
    only the decorator's type hint disagrees.
    """
    return asset_check(**kwargs)  # type: ignore[return-value]


@dataclass
class Verdict:
    """One partition's check result."""

    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


@per_partition_check(
    asset=raw_sales, blocking=True, partitions_def=class_date_partitions, pool=WAREHOUSE_POOL
)
def raw_sales_contract(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[AssetCheckEvaluation | Output]:
    """Blocking: stored rows satisfy the sales contract and no row of the day was quarantined.

    The contract: types, non-null keys, unique sale_id, price > 0, a known asset class, the sale
    date inside the partition. A day with quarantined rows fails, naming file, row and rule.
    """
    partitions = split_partition_keys(context.partition_keys)
    stored = _stored_rows(warehouse, "raw_sales", partitions)
    quarantined = _stored_rows(warehouse, "quarantine", partitions)
    verdicts = {}

    for asset_class, day in partitions:
        rows = _rows_of(stored, "sale_date", asset_class, day)
        rejects = _rows_of(quarantined, "partition_date", asset_class, day)
        verdicts[partition_key(asset_class, day)] = _sales_contract_verdict(rows, rejects, day)

    yield from partition_evaluations(raw_sales.key, "raw_sales_contract", verdicts, blocking=True)


@per_partition_check(asset=raw_sales, partitions_def=class_date_partitions, pool=WAREHOUSE_POOL)
def raw_sales_price_outliers(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[AssetCheckEvaluation | Output]:
    """Warns when a sale's price is far from its item's recent prices (robust z-score).

    For each item, the median and MAD of log prices over the 90 days up to the day; a sale with
    |z| > 4.5 is flagged. Items with fewer than 8 such sales are not judged.
    """
    partitions = split_partition_keys(context.partition_keys)
    scored = _robust_scores(warehouse, partitions)
    verdicts = {}

    for asset_class, day in partitions:
        day_scores = _rows_of(scored, "sale_date", asset_class, day)
        outliers = day_scores[day_scores["robust_z"].abs() > OUTLIER_Z]
        verdicts[partition_key(asset_class, day)] = Verdict(
            passed=outliers.empty,
            metadata={
                "sales_judged": int(day_scores["robust_z"].notna().sum()),
                "outliers": len(outliers),
                "threshold_z": OUTLIER_Z,
                "examples": _examples(outliers, ["item_id", "variant", "price_usd", "robust_z"]),
            },
        )

    yield from partition_evaluations(
        raw_sales.key, "raw_sales_price_outliers", verdicts, blocking=False
    )


@per_partition_check(asset=raw_sales, partitions_def=class_date_partitions, pool=WAREHOUSE_POOL)
def raw_sales_row_count(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[AssetCheckEvaluation | Output]:
    """Warns when a day's sale count is far from the class's trailing 28-day daily mean.

    Anomalous: under 25 % or over 4 × the mean; classes averaging under 5 sales a day are too
    thin to judge and pass with that said in the metadata.
    """
    partitions = split_partition_keys(context.partition_keys)
    daily = _daily_counts(warehouse, partitions)
    verdicts = {}

    for asset_class, day in partitions:
        counts = daily.get(asset_class, pd.Series(dtype=float))
        count = float(counts.get(pd.Timestamp(day), 0.0))
        window = pd.date_range(
            day - dt.timedelta(days=ROW_COUNT_LOOKBACK_DAYS), periods=ROW_COUNT_LOOKBACK_DAYS
        )
        trailing_mean = float(counts.reindex(window, fill_value=0.0).mean())
        judged = trailing_mean >= ROW_COUNT_MIN_MEAN
        anomalous = judged and not (
            ROW_COUNT_LOW * trailing_mean <= count <= ROW_COUNT_HIGH * trailing_mean
        )
        verdicts[partition_key(asset_class, day)] = Verdict(
            passed=not anomalous,
            metadata={
                "rows": int(count),
                "trailing_mean": round(trailing_mean, 2),
                "judged": judged,
            },
        )

    yield from partition_evaluations(raw_sales.key, "raw_sales_row_count", verdicts, blocking=False)


@asset_check(asset=raw_sales)
def raw_sales_freshness(home: HomeResource) -> AssetCheckResult:
    """Warns when a class that has ingested files has not ingested one for 48 hours."""
    now = dt.datetime.now(dt.UTC)
    ages = {}
    for asset_class in ASSET_CLASSES:
        latest = latest_receipt_time(home.layout.receipts, asset_class)
        if latest is not None:
            ages[asset_class] = round((now - latest).total_seconds() / 3600, 1)

    stale = {c: age for c, age in ages.items() if age > FRESHNESS_HOURS}
    return AssetCheckResult(
        passed=bool(ages) and not stale,
        severity=AssetCheckSeverity.WARN,
        description=(
            "nothing has been ingested yet"
            if not ages
            else f"stale classes: {', '.join(stale)}"
            if stale
            else f"every ingesting class had a file within {FRESHNESS_HOURS} hours"
        ),
        metadata={
            "hours_since_last_file": MetadataValue.json(ages),
            "threshold_hours": FRESHNESS_HOURS,
        },
    )


@per_partition_check(
    asset=sports_stats, blocking=True, partitions_def=sport_date_partitions, pool=WAREHOUSE_POOL
)
def sports_stats_contract(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[AssetCheckEvaluation | Output]:
    """Blocking: each day's player rows satisfy the contract (one per player, 0-1 percentiles)."""
    verdicts = _table_contract_verdicts(context, warehouse, "sports_stats", SportsStatsContract)
    yield from partition_evaluations(
        sports_stats.key, "sports_stats_contract", verdicts, blocking=True
    )


@per_partition_check(
    asset=hobby_prices, blocking=True, partitions_def=game_date_partitions, pool=WAREHOUSE_POOL
)
def hobby_prices_contract(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[AssetCheckEvaluation | Output]:
    """Blocking: each day's prices satisfy the contract (positive; one per card and printing)."""
    verdicts = _table_contract_verdicts(context, warehouse, "hobby_prices", HobbyPricesContract)
    yield from partition_evaluations(
        hobby_prices.key, "hobby_prices_contract", verdicts, blocking=True
    )


def _table_contract_verdicts(
    context: AssetCheckExecutionContext,
    warehouse: Warehouse,
    table: str,
    model: type[pa.DataFrameModel],
) -> dict[str, Verdict]:
    """The contract verdict of every partition of the run, for a table with one row kind."""
    partitions = split_partition_keys(context.partition_keys)
    date_column = PARTITION_DATE_COLUMN[table]
    stored = _stored_rows(warehouse, table, partitions)
    return {
        partition_key(asset_class, day): _contract_verdict(
            model, _rows_of(stored, date_column, asset_class, day), day, date_column
        )
        for asset_class, day in partitions
    }


def _sales_contract_verdict(rows: pd.DataFrame, rejects: pd.DataFrame, day: dt.date) -> Verdict:
    verdict = _contract_verdict(SalesContract, rows, day, "sale_date")
    verdict.metadata["quarantined_rows"] = len(rejects)
    if not rejects.empty:
        verdict.passed = False
        verdict.metadata["quarantined"] = _examples(
            rejects, ["source_file", "source_row", "rule", "detail"]
        )
        first = rejects.iloc[0]
        verdict.metadata["first_problem"] = (
            f"{first['source_file']} row {first['source_row']}: {first['rule']} ({first['detail']})"
        )
    return verdict


def _contract_verdict(
    model: type[pa.DataFrameModel], rows: pd.DataFrame, day: dt.date, date_column: str
) -> Verdict:
    """Validate one partition's stored rows against `model`, and their dates against the day."""
    problems: list[str] = []
    if not rows.empty:
        try:
            model.validate(rows, lazy=True)
        except pa.errors.SchemaErrors as errors:
            problems.extend(_summarise_failures(errors.failure_cases))
        outside = rows[pd.to_datetime(rows[date_column]).dt.date != day]
        if not outside.empty:
            problems.append(f"{len(outside)} rows dated outside {day}")

    return Verdict(
        passed=not problems,
        metadata={"rows": len(rows), "problems": MetadataValue.json(problems)},
    )


def _summarise_failures(cases: pd.DataFrame, examples: int = 3) -> list[str]:
    """One line per column and rule: the rule, how many rows broke it, and a few of their values.

    A multi-column uniqueness failure lists every column of every duplicated row; grouping keeps
    the identifying column (player_id, card_id) visible instead of the first few cases only.
    """
    lines = []
    for (column, rule), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        values = ", ".join(repr(v) for v in group["failure_case"].head(examples))
        count = "" if len(group) == 1 else f"{len(group)} rows, e.g. "
        lines.append(f"{column}: {rule} ({count}{values})")
    return lines


def partition_evaluations(
    asset_key: AssetKey, check_name: str, verdicts: Mapping[str, Verdict], blocking: bool
) -> Iterator[AssetCheckEvaluation | Output]:
    """One evaluation per partition, then the check's own (empty) output."""
    severity = AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN
    for key, verdict in verdicts.items():
        yield AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=check_name,
            passed=verdict.passed,
            partition=key,
            blocking=blocking,
            severity=severity,
            metadata=verdict.metadata,
        )
    yield Output(None)


def _stored_rows(
    warehouse: Warehouse, table: str, partitions: list[tuple[str, dt.date]]
) -> pd.DataFrame:
    date_column = PARTITION_DATE_COLUMN[table]
    keys = pd.DataFrame(partitions, columns=["asset_class", "partition_date"])
    with warehouse.connection() as con:
        con.register("run_partitions", keys)
        frame = con.execute(
            f"SELECT t.* FROM {table} t JOIN run_partitions p "
            f"ON t.asset_class = p.asset_class AND t.{date_column} = p.partition_date"
        ).df()
    return frame


def _rows_of(frame: pd.DataFrame, date_column: str, asset_class: str, day: dt.date) -> pd.DataFrame:
    if frame.empty:
        return frame
    mask = (frame["asset_class"] == asset_class) & (
        pd.to_datetime(frame[date_column]).dt.date == day
    )
    return frame[mask]


def _robust_scores(warehouse: Warehouse, partitions: list[tuple[str, dt.date]]) -> pd.DataFrame:
    """Each sale of the run's days with its robust z-score against its item's recent sales."""
    keys = pd.DataFrame(partitions, columns=["asset_class", "partition_date"])
    with warehouse.connection() as con:
        con.register("run_partitions", keys)
        return con.execute(
            f"""
            WITH day_sales AS (
                SELECT s.* FROM raw_sales s JOIN run_partitions p
                  ON s.asset_class = p.asset_class AND s.sale_date = p.partition_date
            ),
            reference AS (
                SELECT d.sale_id, ln(h.price_usd) AS log_price
                FROM day_sales d JOIN raw_sales h
                  ON h.asset_class = d.asset_class AND h.item_id = d.item_id
                 AND coalesce(h.variant, '') = coalesce(d.variant, '')
                 AND h.sale_date BETWEEN d.sale_date - INTERVAL {OUTLIER_LOOKBACK_DAYS} DAY
                                     AND d.sale_date
            ),
            stats AS (
                SELECT sale_id, count(*) AS n, median(log_price) AS med,
                       median(abs(log_price - med_all)) AS mad
                FROM (SELECT *, median(log_price) OVER (PARTITION BY sale_id) AS med_all
                      FROM reference)
                GROUP BY sale_id
            )
            SELECT d.asset_class, d.sale_date, d.item_id, d.variant, d.price_usd,
                   CASE WHEN st.n >= {OUTLIER_MIN_SALES} AND st.mad > 0
                        THEN (ln(d.price_usd) - st.med) / (1.4826 * st.mad) END AS robust_z
            FROM day_sales d JOIN stats st USING (sale_id)
            """
        ).df()


def _daily_counts(
    warehouse: Warehouse, partitions: list[tuple[str, dt.date]]
) -> dict[str, pd.Series]:
    """Sales per day for each class of the run, over the run's days and the look-back before."""
    first = min(day for _, day in partitions) - dt.timedelta(days=ROW_COUNT_LOOKBACK_DAYS)
    last = max(day for _, day in partitions)
    classes = sorted({c for c, _ in partitions})
    counts = warehouse.query(
        "SELECT asset_class, sale_date, count(*) AS n FROM raw_sales "
        "WHERE asset_class IN (SELECT unnest(?)) AND sale_date BETWEEN ? AND ? "
        "GROUP BY ALL",
        [classes, first, last],
    )
    return {
        str(c): group.set_index(pd.to_datetime(group["sale_date"]))["n"].astype(float)
        for c, group in counts.groupby("asset_class")
    }


def _examples(frame: pd.DataFrame, columns: list[str], limit: int = 10) -> MetadataValue:
    if frame.empty:
        return MetadataValue.md("_none_")
    shown = frame[columns].head(limit).copy()
    for column in shown.select_dtypes(include=[np.floating]).columns:
        shown[column] = shown[column].round(2)
    return MetadataValue.md(shown.to_markdown(index=False))


INGEST_CHECKS = [
    raw_sales_contract,
    raw_sales_price_outliers,
    raw_sales_row_count,
    raw_sales_freshness,
    sports_stats_contract,
    hobby_prices_contract,
]
