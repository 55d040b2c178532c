"""Data contracts: a pandera model per warehouse table, and the split of rows into kept/quarantined.

The models state what every row must satisfy. `split_sales` applies the sales contract, plus the
two rules that depend on where a row came from (its landing folder's class and, for a dated
folder, its day), before anything is written: rows that fail go to the quarantine table with
their file, row number and rule, and never reach `raw_sales`. The asset checks in
`cardvalue_dagster.assets.checks` re-validate what was stored and report per partition.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from cardvalue_dagster.asset_classes import ASSET_CLASSES, HOBBY_GAMES, SPORTS


class SalesContract(pa.DataFrameModel):
    """One row per sale, as stored in `raw_sales`."""

    sale_id: Series[str] = pa.Field(nullable=False, unique=True, str_length={"min_value": 1})
    asset_class: Series[str] = pa.Field(isin=list(ASSET_CLASSES))
    item_id: Series[str] = pa.Field(nullable=False, str_length={"min_value": 3})
    item_name: Series[str] = pa.Field(nullable=False, str_length={"min_value": 1})
    variant: Series[str] = pa.Field(nullable=True)
    sale_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    price_usd: Series[float] = pa.Field(nullable=False, gt=0)
    venue: Series[str] = pa.Field(nullable=False)
    grade: Series[float] = pa.Field(nullable=True, ge=0, le=10)
    grading_company: Series[str] = pa.Field(nullable=True)
    condition: Series[str] = pa.Field(nullable=True)
    attributes: Series[str] = pa.Field(nullable=False)
    is_simulated: Series[bool] = pa.Field(nullable=False)
    source_format: Series[str] = pa.Field(nullable=False)
    source_file: Series[str] = pa.Field(nullable=False)
    source_row: Series[int] = pa.Field(nullable=False, ge=1)

    class Config:
        strict = True
        coerce = True


class SportsStatsContract(pa.DataFrameModel):
    """One row per player and day in `sports_stats`: what was known about the player that day."""

    asset_class: Series[str] = pa.Field(isin=list(SPORTS))
    as_of_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    player_id: Series[str] = pa.Field(nullable=False)
    player_name: Series[str] = pa.Field(nullable=True)
    team: Series[str] = pa.Field(nullable=True)
    position: Series[str] = pa.Field(nullable=True)
    last_season: Series[str] = pa.Field(nullable=False)
    seasons_played: Series[int] = pa.Field(ge=1)
    games_played: Series[float] = pa.Field(nullable=True, ge=0)
    headline_stat_name: Series[str] = pa.Field(nullable=False)
    headline_stat: Series[float] = pa.Field(nullable=True)
    performance: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    form: Series[float] = pa.Field(nullable=True, ge=-1, le=1)
    stats: Series[str] = pa.Field(nullable=False)

    class Config:
        strict = True
        coerce = True
        unique = ["asset_class", "as_of_date", "player_id"]


class HobbyPricesContract(pa.DataFrameModel):
    """One row per card, printing and day in `hobby_prices`: its latest known market price."""

    asset_class: Series[str] = pa.Field(isin=list(HOBBY_GAMES))
    as_of_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    card_id: Series[str] = pa.Field(nullable=False)
    card_name: Series[str] = pa.Field(nullable=True)
    set_name: Series[str] = pa.Field(nullable=True)
    printing: Series[str] = pa.Field(nullable=True)
    observed_on: Series[pd.Timestamp] = pa.Field(nullable=False)
    price_usd: Series[float] = pa.Field(nullable=False, gt=0)
    low_usd: Series[float] = pa.Field(nullable=True, ge=0)
    high_usd: Series[float] = pa.Field(nullable=True, ge=0)
    volume: Series[float] = pa.Field(nullable=True, ge=0)
    source: Series[str] = pa.Field(nullable=False)
    source_file: Series[str] = pa.Field(nullable=True)
    source_row: Series[int] = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = True
        unique = ["asset_class", "as_of_date", "card_id", "printing", "source"]


@dataclass(frozen=True)
class ContractSplit:
    """Rows that satisfy the contract, and the rows quarantined with the rule each broke."""

    kept: pd.DataFrame
    quarantined: pd.DataFrame


QUARANTINE_COLUMNS = [
    "asset_class",
    "partition_date",
    "source_file",
    "source_row",
    "rule",
    "detail",
    "row_values",
]


def split_sales(
    sales: pd.DataFrame, folder_class: str, drop_date: dt.date | None = None
) -> ContractSplit:
    """Check parsed sales against the contract and set aside every row that breaks a rule.

    `sales` holds the canonical columns plus `parse_problem` (the parser's note on a cell it could
    not read). A row is quarantined for the first rule it breaks, in this order: unreadable cell,
    pandera contract, class of its landing folder, day of its dated folder.
    """
    frame = sales.reset_index(drop=True)
    reasons = pd.Series(pd.NA, index=frame.index, dtype="object")
    details = pd.Series(pd.NA, index=frame.index, dtype="object")

    if "parse_problem" in frame:
        unreadable = frame["parse_problem"].notna()
        reasons[unreadable] = "parseable"
        details[unreadable] = frame.loc[unreadable, "parse_problem"]

    _mark_contract_failures(
        frame.drop(columns=["parse_problem"], errors="ignore"), reasons, details
    )

    wrong_class = reasons.isna() & (frame["asset_class"] != folder_class)
    reasons[wrong_class] = "asset_class matches landing folder"
    details[wrong_class] = "asset_class is '" + frame.loc[wrong_class, "asset_class"].astype(str)
    details[wrong_class] += f"', the file sits in landing/{folder_class}/"

    if drop_date is not None:
        days = pd.to_datetime(frame["sale_date"], errors="coerce").dt.date
        outside = reasons.isna() & (days != drop_date)
        reasons[outside] = "sale_date inside partition"
        details[outside] = "sale_date " + days[outside].astype(str) + f" is not {drop_date}"

    bad = reasons.notna()
    kept = frame.loc[~bad].drop(columns=["parse_problem"], errors="ignore")
    kept = SalesContract.validate(kept) if not kept.empty else kept
    return ContractSplit(
        kept=kept.reset_index(drop=True),
        quarantined=_quarantine_rows(
            frame.loc[bad], reasons[bad], details[bad], folder_class, drop_date
        ),
    )


def _mark_contract_failures(frame: pd.DataFrame, reasons: pd.Series, details: pd.Series) -> None:
    """Record, per row, the first pandera check it fails (rows already marked keep their reason)."""
    try:
        SalesContract.validate(frame, lazy=True)
        return
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases

    row_failures = failures[failures["index"].notna()]
    for _, failure in row_failures.iterrows():
        index = int(failure["index"])
        if index in reasons.index and pd.isna(reasons[index]):
            column = failure["column"] if pd.notna(failure["column"]) else "row"
            reasons[index] = f"{column}: {failure['check']}"
            details[index] = f"value {failure['failure_case']!r}"

    whole_frame = failures[failures["index"].isna()]
    if not whole_frame.empty:
        problems = "; ".join(f"{r.column}: {r.check}" for r in whole_frame.itertuples())
        raise ValueError(f"the parsed sales do not fit the contract's shape: {problems}")


def _quarantine_rows(
    bad: pd.DataFrame,
    reasons: pd.Series,
    details: pd.Series,
    folder_class: str,
    drop_date: dt.date | None,
) -> pd.DataFrame:
    """Quarantine records: where the row is, which rule it broke, and all of its values."""
    if bad.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)

    row_dates = pd.to_datetime(bad["sale_date"], errors="coerce")
    partition_date = (
        row_dates if drop_date is None else pd.Series(pd.Timestamp(drop_date), index=bad.index)
    )
    values = bad.drop(columns=["parse_problem"], errors="ignore").astype(object)
    values = values.where(values.notna(), None)
    return pd.DataFrame(
        {
            "asset_class": folder_class,
            "partition_date": partition_date,
            "source_file": bad["source_file"],
            "source_row": bad["source_row"],
            "rule": reasons,
            "detail": details,
            "row_values": [json.dumps(r, default=str) for r in values.to_dict("records")],
        },
        columns=QUARANTINE_COLUMNS,
    ).reset_index(drop=True)
