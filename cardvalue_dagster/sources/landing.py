"""The landing zone: where files are dropped, what their paths mean, and what was ingested.

Layout: `landing/<asset_class>/[<YYYY-MM-DD>/]<any name>`. The class folder decides the class of
every row; an optional date folder says the file holds that day's rows only. Files are read, never
moved, changed or deleted. After a run ingests a file version, a small receipt under
`state/ingested/` records which partitions were built from it, so a sensor that starts late does
not request them again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cardvalue_dagster.asset_classes import ASSET_CLASSES

logger = logging.getLogger(__name__)

IGNORED_NAMES = ("README", "readme")


class BadLandingPath(ValueError):
    """A path in the landing zone that says nothing usable about its rows' class or day."""


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing zone and what its path says about it."""

    path: Path
    relative_path: str
    asset_class: str
    drop_date: dt.date | None


def locate(path: Path, landing_root: Path) -> LandingFile:
    """Read the class (and optional day) from a file's place under the landing root."""
    root = landing_root.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise BadLandingPath(f"{path}: resolves outside the landing root {root}")

    parts = resolved.relative_to(root).parts
    relative = "/".join(parts)
    if len(parts) < 2:
        raise BadLandingPath(f"{relative}: files go in landing/<asset_class>/, not the root")
    if parts[0] not in ASSET_CLASSES:
        known = ", ".join(ASSET_CLASSES)
        raise BadLandingPath(f"{relative}: '{parts[0]}' is not an asset class ({known})")
    if len(parts) > 3:
        raise BadLandingPath(f"{relative}: too deep; use <asset_class>/[<YYYY-MM-DD>/]<file>")

    drop_date = None
    if len(parts) == 3:
        try:
            drop_date = dt.date.fromisoformat(parts[1])
        except ValueError:
            raise BadLandingPath(f"{relative}: '{parts[1]}' is not a YYYY-MM-DD date") from None
    return LandingFile(resolved, relative, parts[0], drop_date)


def iter_landing_paths(landing_root: Path, asset_class: str | None = None) -> Iterator[Path]:
    """Every candidate file under the landing root (or one class's folder), in a stable order."""
    base = landing_root / asset_class if asset_class else landing_root
    if not base.exists():
        return
    for path in sorted(base.rglob("*")):
        if path.name.startswith(".") or path.name.startswith(IGNORED_NAMES):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes: a file's version is its content, not its timestamp."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_receipt(
    receipts: Path, file: LandingFile, sha256: str, days: Iterable[dt.date], run_id: str
) -> None:
    """Record that `run_id` built the partitions of `days` from this version of `file`."""
    folder = receipts / sha256
    folder.mkdir(parents=True, exist_ok=True)
    receipt = {
        "file": file.relative_path,
        "asset_class": file.asset_class,
        "sha256": sha256,
        "run_id": run_id,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "days": sorted(d.isoformat() for d in set(days)),
    }
    (folder / f"{run_id}.json").write_text(json.dumps(receipt, indent=1))


def ingested_days(receipts: Path, sha256: str, asset_class: str) -> set[dt.date]:
    """The days of `asset_class` already built from the file version `sha256`."""
    days: set[dt.date] = set()
    for receipt_path in sorted((receipts / sha256).glob("*.json")):
        receipt = json.loads(receipt_path.read_text())
        if receipt.get("asset_class") == asset_class:
            days.update(dt.date.fromisoformat(d) for d in receipt["days"])
    return days


def latest_receipt_time(receipts: Path, asset_class: str) -> dt.datetime | None:
    """When a file of `asset_class` was last ingested, from the receipts (None if never)."""
    latest: dt.datetime | None = None
    for receipt_path in receipts.glob("*/*.json"):
        receipt = json.loads(receipt_path.read_text())
        if receipt.get("asset_class") != asset_class:
            continue
        written = dt.datetime.fromisoformat(receipt["written_at"])
        latest = written if latest is None or written > latest else latest
    return latest


def row_days(rows: pd.DataFrame, column: str) -> set[dt.date]:
    """The distinct calendar days in a date column, ignoring rows whose date is unknown."""
    values = pd.to_datetime(rows[column], errors="coerce").dropna()
    return set(values.dt.date.unique())
