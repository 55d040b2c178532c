"""A vault's inventory valued as a whole: reading portfolio files and adding up their values.

**Portfolio files** (`landing/portfolios/<name>.csv` or `.json`): one line per item, with its
`asset_class`, what is known of it (the attributes `appraisal.item_from_attributes` reads:
player, set, year, grade, a sneaker's name and size...; either as columns or as an
`attributes` JSON object), and optionally `label` and `cost_basis_usd`. A JSON file is a list of
such objects. Lines that cannot be read are reported with the file, line and rule, and the rest
of the portfolio is still valued.

**The total's interval.** Each item's interval holds its next sale 90 % of the time, but item
errors are not independent: a market move lifts or sinks every item of a class together. The
total's interval is therefore the sum of the item bounds, which is exactly the 90 % interval of
the total if all item errors go the same way (comonotone), the case a lender has to survive.
For comparison, `independent_lower`/`independent_upper` give the interval if errors were
independent (the value plus or minus the root sum of squares of each side's distance to the
bounds): narrower, and optimistic for a vault concentrated in one market.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cardvalue_dagster.asset_classes import ASSET_CLASSES

logger = logging.getLogger(__name__)

RESERVED_COLUMNS = ("asset_class", "label", "cost_basis_usd", "attributes")
"""Portfolio columns that are not item attributes."""

NOT_CONFIDENT = ("low", "none")
"""Confidence tiers whose value a lender should not lean on."""


@dataclass(frozen=True)
class PortfolioLine:
    """One readable line of a portfolio file."""

    line: int
    asset_class: str
    attributes: dict[str, Any]
    label: str | None
    cost_basis_usd: float | None


@dataclass(frozen=True)
class BadLine:
    """A line that could not be read, and why."""

    file: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.rule}"


def read_portfolio(path: Path) -> tuple[list[PortfolioLine], list[BadLine]]:
    """The readable lines of a portfolio file, and the lines that broke a rule.

    Line numbers count from 1 at the first item (a CSV's header is line 0).
    """
    records = _records(path)
    lines, bad = [], []
    for number, record in enumerate(records, start=1):
        try:
            lines.append(_line(number, record))
        except ValueError as problem:
            bad.append(BadLine(path.name, number, str(problem)))
    if bad:
        logger.warning("%s: %d unreadable lines: %s", path.name, len(bad), "; ".join(map(str, bad)))
    return lines, bad


def _records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{path.name}: a JSON portfolio is a list of items")
        return [item if isinstance(item, dict) else {"_not_an_object": item} for item in data]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [{str(k): v for k, v in row.items() if v != ""} for row in frame.to_dict("records")]


def _line(number: int, record: dict[str, Any]) -> PortfolioLine:
    if "_not_an_object" in record:
        raise ValueError("an item must be an object")
    asset_class = str(record.get("asset_class", "")).strip().lower()
    if asset_class not in ASSET_CLASSES:
        raise ValueError(f"asset_class {record.get('asset_class')!r} is not one of the 12 classes")

    attributes = _attributes(record)
    if not attributes:
        raise ValueError("no attributes to identify the item")
    return PortfolioLine(
        line=number,
        asset_class=asset_class,
        attributes=attributes,
        label=None if record.get("label") is None else str(record["label"]),
        cost_basis_usd=_cost(record.get("cost_basis_usd")),
    )


def _attributes(record: dict[str, Any]) -> dict[str, Any]:
    given = record.get("attributes") or {}
    if isinstance(given, str):
        try:
            given = json.loads(given)
        except json.JSONDecodeError as error:
            raise ValueError(f"attributes is not valid JSON: {error.msg}") from error
    if not isinstance(given, dict):
        raise ValueError("attributes must be an object")
    loose = {k: v for k, v in record.items() if k not in RESERVED_COLUMNS}
    return {**loose, **given}


def _cost(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        cost = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"cost_basis_usd {value!r} is not a number") from error
    if not math.isfinite(cost) or cost < 0:
        raise ValueError(f"cost_basis_usd {value!r} must be a non-negative number")
    return cost


def portfolio_summary(valued: pd.DataFrame) -> dict[str, Any]:
    """The total, its intervals and the share of value the model is not confident about.

    Only valued lines enter the total and its intervals; how many were left out, and their
    cost basis where the file gave one, are reported beside it, so a total is never read as
    the whole vault when it is not.

    `valued` has one row per line with `status` ("valued" or why not), `value`, `lower`,
    `upper`, `confidence` and `cost_basis_usd`.
    """
    done = valued[valued["status"] == "valued"]
    total = float(done["value"].sum())
    below = (done["value"] - done["lower"]).clip(lower=0)
    above = (done["upper"] - done["value"]).clip(lower=0)
    shaky = done["confidence"].isin(NOT_CONFIDENT)
    costs = done["cost_basis_usd"].dropna()
    left_out = valued.loc[valued["status"] != "valued", "cost_basis_usd"].dropna()
    return {
        "items": len(valued),
        "valued_items": len(done),
        "unvalued_items": len(valued) - len(done),
        "total_value": total,
        "total_lower": float(done["lower"].sum()),
        "total_upper": float(done["upper"].sum()),
        "independent_lower": total - math.sqrt(float((below**2).sum())),
        "independent_upper": total + math.sqrt(float((above**2).sum())),
        "not_confident_share": float(done.loc[shaky, "value"].sum() / total) if total else None,
        "cost_basis_usd": float(costs.sum()) if not costs.empty else None,
        "unvalued_cost_basis_usd": float(left_out.sum()) if not left_out.empty else None,
    }
