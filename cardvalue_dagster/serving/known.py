"""Valuations of every known item+variant, precomputed once per class snapshot and model.

A query about an item that has sold before, on the class's default day (the day after its
newest sale) at the default coverage, is the common request; computing its point-in-time
features (DuckDB window quantiles) and three LightGBM predictions one at a time costs tens of
milliseconds, mostly fixed overhead. So when a class's snapshot or promoted model changes, the
rows such queries map to (`core.appraisal.known_item_rows`: identity, sale record, what a
collector types) are valued together, in chunks, by the same `appraise` the request path calls,
and kept by `valuation_key`: a request then costs the identity mapping and a dictionary lookup.
A valuation of a pseudo-sale depends on no other pseudo-sale of its batch (windows end the day
before), so the answers are the ones the request path would give.

The build runs on a background thread; until it is done (and for other days, coverages,
items never sold, or attributes a collector adds) requests take the request path.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from cardvalue_dagster.core.appraisal import appraise, known_item_rows, valuation_key
from cardvalue_dagster.serving.models import LoadedModel
from cardvalue_dagster.serving.snapshots import Snapshot

logger = logging.getLogger(__name__)

DEFAULT_COVERAGE = 0.9
"""The coverage valuations are precomputed for (the API's default)."""

MAX_KNOWN_ITEMS = 20_000
"""Item+variants precomputed per class, most recently sold first (up to three rows each)."""

CHUNK_ROWS = 5_000
"""Rows valued per `appraise` call: bounds the pseudo-sales and features held at once."""

RETRY_SECONDS = 30.0
"""After a failed build, how long requests of the class wait before starting another."""


@dataclass(frozen=True)
class KnownValuations:
    """The precomputed valuations of one class for one model version, snapshot and day."""

    model_version: str
    snapshot_version: tuple[int, ...]
    as_of: dt.date
    coverage: float
    results: dict[str, dict[str, Any]]
    seconds: float

    def serves(self, model: LoadedModel, snapshot: Snapshot) -> bool:
        """Whether these valuations belong to this model and snapshot."""
        return (self.model_version, self.snapshot_version) == (model.version, snapshot.version)


def precompute(model: LoadedModel, snapshot: Snapshot) -> KnownValuations:
    """Value every known item+variant of the snapshot's class on its default day, in chunks."""
    started = time.perf_counter()
    day = snapshot.default_as_of
    rows = _known_rows(snapshot)
    figures = snapshot.class_figures(day)
    results: dict[str, dict[str, Any]] = {}
    for first in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[first : first + CHUNK_ROWS]
        with snapshot.cursor() as cursor:
            valued = appraise(
                model.valuator,
                cursor,
                snapshot.asset_class,
                [row for _, row in chunk],
                day,
                coverage=DEFAULT_COVERAGE,
                class_figures=figures,
            )
        for (key, _), result in zip(chunk, valued, strict=True):
            results[key] = {**result, "model_version": model.version}

    seconds = time.perf_counter() - started
    logger.info(
        "%s: %d valuations of known items for %s precomputed in %.2f s",
        snapshot.asset_class,
        len(results),
        day,
        seconds,
    )
    return KnownValuations(model.version, snapshot.version, day, DEFAULT_COVERAGE, results, seconds)


def _known_rows(snapshot: Snapshot) -> list[tuple[str, dict[str, Any]]]:
    """(valuation key, row) of the likely queries about each known item+variant."""
    with snapshot.cursor() as cursor:
        latest = _latest_sales(cursor)
    rows: list[tuple[str, dict[str, Any]]] = []
    for sale in latest:
        rows += [(valuation_key(r), r) for r in known_item_rows(snapshot.asset_class, sale)]
    return rows


def _latest_sales(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The newest sale of each item+variant, the most recently sold MAX_KNOWN_ITEMS of them."""
    frame = cursor.execute(
        "SELECT * FROM raw_sales WHERE price_usd > 0 "
        "QUALIFY row_number() OVER (PARTITION BY item_id, coalesce(variant, '') "
        "ORDER BY sale_date DESC, sale_id DESC) = 1 "
        "ORDER BY sale_date DESC, item_id, variant LIMIT ?",
        [MAX_KNOWN_ITEMS],
    ).df()
    return [{str(k): _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    """NaN and NaT as None (a missing grade is not a grade)."""
    return None if value is None or value != value else value


class KnownCache:
    """The latest precomputed valuations per class, rebuilt in the background when stale."""

    def __init__(self, build: Callable[[LoadedModel, Snapshot], KnownValuations] = precompute):
        self._build = build
        self._ready: dict[str, KnownValuations] = {}
        self._building: set[str] = set()
        self._failed_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, model: LoadedModel, snapshot: Snapshot) -> KnownValuations | None:
        """The class's valuations for this model and snapshot; None (and a build begun) if stale."""
        ready = self._ready.get(snapshot.asset_class)
        if ready is not None and ready.serves(model, snapshot):
            return ready
        with self._lock:
            failed_at = self._failed_at.get(snapshot.asset_class, -RETRY_SECONDS)
            if snapshot.asset_class in self._building or _since(failed_at) < RETRY_SECONDS:
                return None
            self._building.add(snapshot.asset_class)
        worker = threading.Thread(
            target=self._run, args=(model, snapshot), name="known-valuations", daemon=True
        )
        worker.start()
        return None

    def prepare(self, model: LoadedModel, snapshot: Snapshot) -> KnownValuations:
        """Build now, in this thread, unless the class's valuations are current."""
        ready = self._ready.get(snapshot.asset_class)
        if ready is not None and ready.serves(model, snapshot):
            return ready
        built = self._build(model, snapshot)
        self._ready[snapshot.asset_class] = built
        return built

    def counts(self) -> dict[str, int]:
        """Precomputed valuations per class, as now in memory."""
        return {c: len(k.results) for c, k in self._ready.items()}

    def _run(self, model: LoadedModel, snapshot: Snapshot) -> None:
        try:
            self._ready[snapshot.asset_class] = self._build(model, snapshot)
        except Exception:  # e.g. a snapshot replaced (closed) mid-build: retried later
            logger.exception("%s: precomputing known valuations failed", snapshot.asset_class)
            self._failed_at[snapshot.asset_class] = time.monotonic()
        finally:
            with self._lock:
                self._building.discard(snapshot.asset_class)


def _since(moment: float) -> float:
    """Seconds since `moment` (a `time.monotonic()` reading)."""
    return time.monotonic() - moment
