"""The warehouse as serving reads it: per-class in-memory snapshots behind short read-only opens.

DuckDB lets no process read a database file while another process writes it, so serving never
keeps the file open: a snapshot of one class (its sales, and its sport's statistics or its
game's reference prices) is copied into an in-memory DuckDB through one short read-only attach,
and requests read the copy. The copy is refreshed when the file's version (size and modification
time of the file and its write-ahead log) changes. An open that finds the file locked is retried
with backoff; if it stays locked, a class that already has a snapshot keeps serving it (a
little stale) and tries again a second later, and one without raises WarehouseBusy.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cardvalue_dagster.asset_classes import HOBBY_GAMES, SPORTS

logger = logging.getLogger(__name__)

RETRY_DELAYS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.4)
"""Waits between attempts to open a locked warehouse (0.77 s in all), then WarehouseBusy."""

STALE_RETRY_SECONDS = 1.0
"""How long a stale snapshot is served before the next attempt to refresh it."""


MAX_CACHED_DAYS = 400
"""Valuation days whose class figures a snapshot keeps (requests may name any day)."""


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse file (a run writing it); try again shortly."""


class WarehouseMissing(FileNotFoundError):
    """There is no warehouse file yet: nothing has been materialized in this home."""


def file_version(path: Path) -> tuple[int, ...]:
    """Size and mtime of the database file and its write-ahead log (zeros where absent)."""
    version: list[int] = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            stat = candidate.stat()
        except FileNotFoundError:
            version += [0, 0]
            continue
        version += [stat.st_size, stat.st_mtime_ns]
    return tuple(version)


@contextmanager
def read_only(
    path: Path, delays: tuple[float, ...] = RETRY_DELAYS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection to the warehouse, retried while the file is locked."""
    if not path.exists():
        raise WarehouseMissing(f"no warehouse at {path}: materialize raw_sales first")
    con = _connect(path, delays)
    try:
        yield con
    finally:
        con.close()


def _connect(path: Path, delays: tuple[float, ...]) -> duckdb.DuckDBPyConnection:
    for attempt, delay in enumerate((*delays, None)):
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if delay is None:
                raise WarehouseBusy(
                    f"warehouse busy: {path.name} is held by another process ({exc})"
                ) from exc
            logger.debug("warehouse locked (attempt %d), retrying in %.2f s", attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


@dataclass
class Snapshot:
    """One class's rows in an in-memory DuckDB: raw_sales, and sports_stats or hobby_prices."""

    asset_class: str
    con: duckdb.DuckDBPyConnection
    version: tuple[int, ...]
    newest_sale: dt.date | None
    sales: int
    _figures: dict[dt.date, tuple[float | None, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def default_as_of(self) -> dt.date:
        """The day after the newest known sale: the market as last seen (today if none)."""
        if self.newest_sale is None:
            return dt.date.today()
        return self.newest_sale + dt.timedelta(days=1)

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for one request (DuckDB connections are not shared by threads)."""
        with self._lock:
            cursor = self.con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def class_figures(self, as_of: dt.date) -> tuple[float | None, int]:
        """The class's 30-day median and count before `as_of`, computed once per day."""
        from cardvalue_dagster.core.appraisal import class_window

        if as_of not in self._figures:
            if len(self._figures) > MAX_CACHED_DAYS:
                self._figures.clear()
            with self.cursor() as cursor:
                self._figures[as_of] = class_window(cursor, self.asset_class, as_of)
        return self._figures[as_of]


@dataclass
class _Slot:
    snapshot: Snapshot | None = None
    retry_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SnapshotCache:
    """Per-class snapshots of one warehouse file, refreshed when the file changes."""

    def __init__(self, path: Path, delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.path = path
        self.delays = delays
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def get(self, asset_class: str) -> Snapshot:
        """The class's snapshot, refreshed first if the warehouse file changed since."""
        slot = self._slot(asset_class)
        version = file_version(self.path)
        current = slot.snapshot
        if current is not None and (current.version == version or time.monotonic() < slot.retry_at):
            return current

        with slot.lock:
            current = slot.snapshot
            if current is not None and current.version == version:
                return current
            return self._refresh(asset_class, slot, version)

    def _slot(self, asset_class: str) -> _Slot:
        with self._lock:
            return self._slots.setdefault(asset_class, _Slot())

    def _refresh(self, asset_class: str, slot: _Slot, version: tuple[int, ...]) -> Snapshot:
        """Copy the class's rows; on a locked file keep a stale snapshot if there is one."""
        delays = self.delays if slot.snapshot is None else ()
        try:
            snapshot = take_snapshot(self.path, asset_class, version, delays)
        except WarehouseBusy:
            if slot.snapshot is None:
                raise
            logger.warning("%s: warehouse busy, serving the previous snapshot", asset_class)
            slot.retry_at = time.monotonic() + STALE_RETRY_SECONDS
            return slot.snapshot

        # The previous snapshot is not closed here: a request may still be reading it. Its
        # in-memory connection is closed when the last reference to it goes.
        slot.snapshot = snapshot
        return snapshot


def take_snapshot(
    path: Path, asset_class: str, version: tuple[int, ...], delays: tuple[float, ...] = RETRY_DELAYS
) -> Snapshot:
    """One class's rows copied from the warehouse file into a new in-memory DuckDB."""
    started = time.perf_counter()
    memory = duckdb.connect()
    with read_only(path, delays) as source:
        _copy(source, memory, "raw_sales", asset_class)
        if asset_class in SPORTS:
            _copy(source, memory, "sports_stats", asset_class)
        if asset_class in HOBBY_GAMES:
            _copy(source, memory, "hobby_prices", asset_class)

    found = memory.execute("SELECT max(sale_date), count(*) FROM raw_sales").fetchone()
    newest, count = found if found else (None, 0)
    logger.info(
        "%s: snapshot of %d sales through %s in %.2f s",
        asset_class,
        count,
        newest,
        time.perf_counter() - started,
    )
    return Snapshot(asset_class, memory, version, newest, int(count))


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the warehouse has `table` (every row fetched: DuckDB 2 refuses new work on a
    connection with a pending result)."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchall()
    return bool(found and found[0][0])


def _copy(
    source: duckdb.DuckDBPyConnection,
    memory: duckdb.DuckDBPyConnection,
    table: str,
    asset_class: str,
) -> None:
    """The class's rows of `table` (an empty table with its columns if the file lacks it)."""
    from cardvalue_dagster.warehouse import TABLES

    if not has_table(source, table):
        ddl = ", ".join(
            f"{name} {kind.replace(' NOT NULL', '')}" for name, kind in TABLES[table].items()
        )
        memory.execute(f"CREATE TABLE {table} ({ddl})")
        return
    query = f"SELECT * FROM {table} WHERE asset_class = $1"
    rows = source.sql(query, params=[asset_class]).to_arrow_table()
    memory.register("_incoming", rows)
    memory.execute(f"CREATE TABLE {table} AS SELECT * FROM _incoming")
    memory.unregister("_incoming")
