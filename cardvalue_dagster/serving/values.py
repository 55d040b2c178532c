"""`cardvalue value`: the CLI's way into the Appraiser, without a server."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

from cardvalue_dagster.home import Home
from cardvalue_dagster.serving.models import NoPromotedModel, RegistryUnavailable
from cardvalue_dagster.serving.service import Appraiser, InvalidItem, Query
from cardvalue_dagster.serving.snapshots import WarehouseBusy, WarehouseMissing

TABLE_COLUMNS = ("asset_class", "item_id", "variant", "as_of", "value", "lower", "upper")


def read_queries(
    asset_class: str | None, attrs: tuple[str, ...], items_file: Path | None
) -> list[Query]:
    """The items of the command line: one from --asset-class/--attr, or those of --file."""
    if items_file is not None:
        if asset_class or attrs:
            raise click.UsageError("give either --file or --asset-class with --attr, not both")
        return _file_queries(items_file)
    if not asset_class:
        raise click.UsageError("give --asset-class and --attr KEY=VALUE ..., or --file")

    attributes: dict[str, Any] = {}
    for pair in attrs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--attr")
        attributes[key.strip()] = text.strip()
    return [Query(asset_class, attributes)]


def _file_queries(path: Path) -> list[Query]:
    """JSON (a list, or {"items": [...]}, of {asset_class, attributes}) or CSV rows."""
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "asset_class" not in frame:
            raise click.BadParameter(f"{path} has no asset_class column", param_hint="--file")
        records = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
        return [
            Query(r["asset_class"], {k: v for k, v in r.items() if k != "asset_class" and v})
            for r in records
        ]

    loaded = json.loads(path.read_text())
    items = loaded.get("items") if isinstance(loaded, dict) else loaded
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise click.BadParameter(f"{path} holds no list of items", param_hint="--file")
    return [Query(str(i.get("asset_class")), dict(i.get("attributes") or {})) for i in items]


def value_queries(home: Home, queries: list[Query], as_of: dt.date | None) -> list[dict[str, Any]]:
    """Valuations of `queries`; every reason not to value becomes a click error that says why."""
    try:
        return Appraiser(home).value(queries, as_of=as_of)
    except InvalidItem as exc:
        raise click.ClickException(f"item {exc.position + 1}: {exc}") from exc
    except (NoPromotedModel, RegistryUnavailable, WarehouseBusy, WarehouseMissing) as exc:
        raise click.ClickException(str(exc)) from exc


def valuation_table(valuations: list[dict[str, Any]]) -> str:
    """A plain-text table: identity, day, value and interval in USD, confidence, model."""
    from tabulate import tabulate

    rows = [
        [*(v[c] for c in TABLE_COLUMNS), v["confidence"], v["model_version"]] for v in valuations
    ]
    headers = [*TABLE_COLUMNS, "confidence", "model"]
    return tabulate(rows, headers=headers, floatfmt=",.2f")
