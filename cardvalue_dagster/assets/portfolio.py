"""`portfolio_valuations`: every portfolio file in the landing zone, valued as of a day.

A vault drops its inventory in `landing/portfolios/` (see `cardvalue_dagster.core.portfolio`
for the format); each day's partition values every line with the promoted valuator of its
class, from the sales known before that day, and adds the lines up into totals a lender can use.
"""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from cardvalue_dagster.assets.ingest import WAREHOUSE_POOL
from cardvalue_dagster.assets.metadata import OWNER, table_metadata
from cardvalue_dagster.assets.valuation import promoted_valuator
from cardvalue_dagster.partitions import FIRST_DATE
from cardvalue_dagster.resources import HomeResource
from cardvalue_dagster.tracking import tracking_uri
from cardvalue_dagster.warehouse import TABLES, Warehouse

PORTFOLIO_FOLDER = "portfolios"
"""The landing zone's folder of portfolio files (not an asset class)."""

portfolio_days = DailyPartitionsDefinition(start_date=FIRST_DATE.isoformat(), end_offset=1)

portfolio_files = AssetSpec(
    "portfolio_files",
    description=(
        "Vault inventories dropped in landing/portfolios/ as CSV or JSON: one line per item "
        "with its asset_class, attributes, and optionally label and cost_basis_usd."
    ),
    group_name="sources",
    owners=[OWNER],
    kinds={"csv", "json"},
)

PORTFOLIO_COLUMNS = {
    "as_of": "the valuation day: only sales before it are used",
    "portfolio": "the portfolio file's name without its extension",
    "line": "the item's line in the file, from 1",
    "status": "valued, or why the line was not (unreadable, no promoted model, unknown item)",
    "value": "fair value, USD",
    "lower": "lower bound of the 90 % interval, USD",
    "upper": "upper bound of the 90 % interval, USD",
    "confidence": "high, medium, low or none: how much recent data backs the value",
    "model_version": "the promoted valuator version used",
    "data_through": "the class's newest sale before the day: the line is valued as of the next day",
}


@asset(
    deps=[portfolio_files, AssetDep(promoted_valuator, partition_mapping=AllPartitionMapping())],
    partitions_def=portfolio_days,
    pool=WAREHOUSE_POOL,
    group_name="portfolios",
    owners=[OWNER],
    kinds={"duckdb", "lightgbm"},
    metadata=table_metadata("portfolio_valuations", PORTFOLIO_COLUMNS),
)
def portfolio_valuations(
    context: AssetExecutionContext, warehouse: Warehouse, home: HomeResource
) -> MaterializeResult:
    """Each vault's items valued as of the day, with the portfolio total and its interval.

    Every line is valued by the promoted (champion) valuator of its class from the sales known
    before the day, with its 90 % interval and confidence tier. A class whose newest sale is
    older than the day is valued as of the day after that sale (`data_through` says which), so
    a quiet market reads as last seen rather than as an empty comps window.

    Per portfolio: the total value; the total's interval as the **sum of the items' bounds**,
    which is the total's 90 % interval when item errors all go the same way (one market move
    hits every item, the case a lender must survive); beside it the narrower interval if errors
    were independent (root sum of squares); and the share of the value whose confidence is low
    or none. Lines that cannot be read or valued are kept with the reason, never dropped.
    """
    from cardvalue_dagster.core.portfolio import portfolio_summary

    as_of = dt.date.fromisoformat(context.partition_key)
    files = sorted(_portfolio_paths(home.layout.landing / PORTFOLIO_FOLDER))
    if not files:
        context.log.warning(f"no portfolio files in {home.layout.landing / PORTFOLIO_FOLDER}")

    frames = [_value_file(warehouse, home, path, as_of) for path in files]
    valued = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    warehouse.replace_rows_where("portfolio_valuations", valued, "as_of", as_of)

    summaries = {}
    if not valued.empty:
        for name, group in valued.groupby("portfolio", sort=True):
            summaries[str(name)] = portfolio_summary(group)
    for name, summary in summaries.items():
        context.log.info(f"{name}: {_summary_line(summary)}")
        if summary["unvalued_items"]:
            unvalued = valued[(valued["portfolio"] == name) & (valued["status"] != "valued")]
            reasons = "; ".join(f"line {r.line}: {r.status}" for r in unvalued.itertuples())
            context.log.warning(f"{name}: not in the total: {reasons}")
    return MaterializeResult(metadata=_metadata(summaries, valued))


def _portfolio_paths(folder: Path) -> Iterator[Path]:
    if folder.exists():
        yield from (p for p in folder.iterdir() if p.suffix in (".csv", ".json"))


def _value_file(
    warehouse: Warehouse, home: HomeResource, path: Path, as_of: dt.date
) -> pd.DataFrame:
    """One row per line of the file: valued, or the reason it is not."""
    from cardvalue_dagster.core.portfolio import BadLine, read_portfolio

    try:
        lines, bad = read_portfolio(path)
    except ValueError as problem:  # bad JSON, a CSV parser error and bad bytes are all these
        # One unreadable file is one failed portfolio, never a failed run for every vault.
        lines, bad = [], [BadLine(path.name, 0, f"the file cannot be read: {problem}")]
    rows: list[dict[str, Any]] = [{"line": b.line, "status": f"unreadable: {b.rule}"} for b in bad]
    by_class: dict[str, list[Any]] = {}
    for line in lines:
        by_class.setdefault(line.asset_class, []).append(line)
    for asset_class, class_lines in by_class.items():
        rows += _value_class(warehouse, home, asset_class, class_lines, as_of)

    frame = pd.DataFrame(rows)
    frame["as_of"] = as_of
    frame["portfolio"] = path.stem
    frame["source_file"] = f"{PORTFOLIO_FOLDER}/{path.name}"
    columns = list(TABLES["portfolio_valuations"])
    return frame.reindex(columns=columns).sort_values("line", ignore_index=True)


def _value_class(
    warehouse: Warehouse, home: HomeResource, asset_class: str, lines: list[Any], as_of: dt.date
) -> list[dict[str, Any]]:
    """The lines of one class, valued by its promoted valuator (never raising for one line)."""
    from cardvalue_dagster.model_registry import load_valuator, promoted_version

    base = [
        {
            "line": line.line,
            "label": line.label,
            "asset_class": asset_class,
            "cost_basis_usd": line.cost_basis_usd,
        }
        for line in lines
    ]
    uri = tracking_uri(home.layout)
    version = promoted_version(uri, asset_class)
    if version is None:
        reason = (
            f"no promoted {asset_class} valuator: no version passed its backtest gate yet "
            f"(materialize valuator[{asset_class}]; see valuator_backtest_gate)"
        )
        return [{**entry, "status": reason} for entry in base]

    through = _newest_sale_before(warehouse, asset_class, as_of)
    if through is None:
        return [{**entry, "status": f"no {asset_class} sales before {as_of}"} for entry in base]

    model = load_valuator(uri, asset_class, version)
    valued_on = through + dt.timedelta(days=1)
    with warehouse.connection() as con:
        outcomes = _appraise_lines(model, con, asset_class, lines, valued_on)
    return [
        {**entry, **outcome, "model_version": version, "data_through": through}
        for entry, outcome in zip(base, outcomes, strict=True)
    ]


def _newest_sale_before(warehouse: Warehouse, asset_class: str, day: dt.date) -> dt.date | None:
    """The class's newest sale day before `day`: what the market was last seen doing."""
    found = warehouse.query(
        "SELECT max(CAST(sale_date AS DATE)) AS newest FROM raw_sales "
        "WHERE asset_class = ? AND CAST(sale_date AS DATE) < ?",
        [asset_class, day],
    )["newest"].iloc[0]
    return None if pd.isna(found) else pd.Timestamp(found).date()


def _appraise_lines(
    model: Any, con: Any, asset_class: str, lines: list[Any], as_of: dt.date
) -> list[dict[str, Any]]:
    """All lines in one appraisal; if one cannot be identified, each line on its own."""
    from cardvalue_dagster.core.appraisal import appraise

    try:
        results = appraise(model, con, asset_class, [line.attributes for line in lines], as_of)
    except ValueError:
        return [_appraise_lines_one(model, con, asset_class, line, as_of) for line in lines]
    return [_valued(result) for result in results]


def _appraise_lines_one(
    model: Any, con: Any, asset_class: str, line: Any, as_of: dt.date
) -> dict[str, Any]:
    from cardvalue_dagster.core.appraisal import appraise

    try:
        [result] = appraise(model, con, asset_class, [line.attributes], as_of)
    except ValueError as problem:
        return {"status": f"not valued: {problem}"}
    return _valued(result)


def _valued(result: dict[str, Any]) -> dict[str, Any]:
    fields = ("item_id", "variant", "value", "lower", "upper", "confidence")
    return {"status": "valued", **{name: result[name] for name in fields}}


def _summary_line(summary: dict[str, Any]) -> str:
    share = summary["not_confident_share"]
    return (
        f"{summary['valued_items']} of {summary['items']} items valued at "
        f"${summary['total_value']:,.0f} (90 %: ${summary['total_lower']:,.0f}-"
        f"${summary['total_upper']:,.0f}); "
        + (f"{share:.0%} of the value has low or no confidence" if share is not None else "")
    )


def _metadata(summaries: dict[str, dict[str, Any]], valued: pd.DataFrame) -> dict[str, Any]:
    metadata: dict[str, Any] = {"portfolios": len(summaries), "dagster/row_count": len(valued)}
    if summaries:
        table = pd.DataFrame(summaries).T.reset_index(names="portfolio")
        metadata["totals"] = MetadataValue.md(table.to_markdown(index=False, floatfmt=",.2f"))
    for name, summary in summaries.items():
        for field in ("total_value", "total_lower", "total_upper", "not_confident_share"):
            if summary[field] is not None:
                metadata[f"{name}/{field}"] = float(summary[field])
    return metadata


PORTFOLIO_ASSETS: list[AssetSpec | AssetsDefinition] = [portfolio_files, portfolio_valuations]
