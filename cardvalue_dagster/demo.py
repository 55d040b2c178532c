"""`cardvalue demo`: seed the landing zone with the bundled default and materialize the graph.

The demo materializes, for every class, the most recent `days` days that hold its bundled sales
(and the same days of player statistics, reference prices and features), then trains, backtests
and promotes each class's valuator on those days, explains it, and reports the drift of its
last week; last, it values the bundled sample portfolio as of the day after the newest sale.
One run per class and stage:
a run costs about 3 s of Dagster bookkeeping and a partition 0.1-0.3 s (its events), so a
window of days is one run, not one run per day (30 one-day runs took 7.6 x one 30-day run).
Older days stay in the landing zone, unmaterialized, for a backfill from the UI (or the landing
sensor) to pick up.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cardvalue_dagster.asset_classes import ASSET_CLASSES, HOBBY_GAMES, SPORTS
from cardvalue_dagster.automation import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from cardvalue_dagster.home import Home
from cardvalue_dagster.partitions import FIRST_DATE, partition_key
from cardvalue_dagster.sources.bundled_default import DEFAULT_SEED, seed_landing_zone
from cardvalue_dagster.sources.ingest import SALES_FORMATS
from cardvalue_dagster.sources.landing import BadLandingPath, iter_landing_paths, locate

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 120
DRIFT_DAYS = 7
"""Drift is reported for the last week of each class's window, the days automation refreshes."""
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class PlannedRun:
    """One run of the demo: a job over one class and a window of days, or over a whole class."""

    job_name: str
    asset_class: str
    start: dt.date | None = None
    end: dt.date | None = None
    day: dt.date | None = None
    """For jobs partitioned by day alone (portfolio valuations)."""

    @property
    def tags(self) -> dict[str, str]:
        tags = {"cardvalue/launched_by": "cardvalue demo"}
        if self.start is not None and self.end is not None:
            tags[PARTITION_RANGE_START_TAG] = partition_key(self.asset_class, self.start)
            tags[PARTITION_RANGE_END_TAG] = partition_key(self.asset_class, self.end)
        return tags

    @property
    def partition_key(self) -> str | None:
        """The day, for jobs by day alone; the class, for jobs by class alone."""
        if self.day is not None:
            return self.day.isoformat()
        return self.asset_class if self.start is None else None

    def describe(self) -> str:
        if self.day is not None:
            return f"{self.job_name} {self.day}"
        days = "" if self.start is None else f" {self.start}..{self.end}"
        return f"{self.job_name} {self.asset_class}{days}"


@dataclass(frozen=True)
class RunOutcome:
    run: PlannedRun
    run_id: str
    success: bool
    rows: int | None
    seconds: float


def plan_demo(landing: Path, days: int) -> list[PlannedRun]:
    """The runs that materialize each class's latest `days` days of data, ingest stage first."""
    windows = _latest_windows(_newest_dates(landing, sales=True), days)
    price_windows = _latest_windows(_newest_dates(landing, sales=False), days)

    plan = [PlannedRun("ingest_sales", c, *windows[c]) for c in ASSET_CLASSES if c in windows]
    plan += [PlannedRun("build_sports_stats", s, *windows[s]) for s in SPORTS if s in windows]
    for game in HOBBY_GAMES:
        game_windows = {w for w in (windows.get(game), price_windows.get(game)) if w is not None}
        plan += [PlannedRun("build_hobby_prices", game, *w) for w in sorted(game_windows)]
    plan += [PlannedRun("build_features", c, *windows[c]) for c in ASSET_CLASSES if c in windows]
    plan += [PlannedRun("train_valuator", c) for c in ASSET_CLASSES if c in windows]
    plan += [
        PlannedRun("report_drift", c, max(start, end - dt.timedelta(days=DRIFT_DAYS - 1)), end)
        for c, (start, end) in ((c, windows[c]) for c in ASSET_CLASSES if c in windows)
    ]
    if windows:
        newest = max(end for _, end in windows.values())
        plan.append(PlannedRun("value_portfolios", "all", day=newest + dt.timedelta(days=1)))
    return plan


def run_demo(
    home: Home,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] = logger.info,
) -> list[RunOutcome]:
    """Seed `home`, then execute the demo plan in its Dagster instance, reporting progress."""
    from dagster import DagsterInstance

    from cardvalue_dagster.definitions import build_definitions

    home.create()
    written = seed_landing_zone(home.landing, seed)
    progress(f"landing zone {home.landing}: {len(written)} bundled files added")

    defs = build_definitions(home)
    plan = plan_demo(home.landing, days)
    outcomes = []
    with DagsterInstance.from_config(str(home.dagster)) as instance:
        for number, run in enumerate(plan, start=1):
            outcome = _execute(defs, instance, run)
            outcomes.append(outcome)
            rows = "" if outcome.rows is None else f", {outcome.rows:,} rows"
            status = "ok" if outcome.success else "FAILED"
            progress(
                f"[{number}/{len(plan)}] {run.describe()}: {status}{rows} in {outcome.seconds:.1f}s"
            )
    return outcomes


def _execute(defs, instance, run: PlannedRun) -> RunOutcome:
    started = time.perf_counter()
    result = defs.resolve_job_def(run.job_name).execute_in_process(
        instance=instance,
        tags=run.tags,
        partition_key=run.partition_key,
        run_config=QUIET_LOGS,
        raise_on_error=False,
    )
    rows = None
    for event in result.get_asset_materialization_events():
        value = event.event_specific_data.materialization.metadata.get("dagster/row_count")
        rows = int(value.value) if value is not None else rows
        break
    return RunOutcome(run, result.run_id, result.success, rows, time.perf_counter() - started)


def _newest_dates(landing: Path, sales: bool) -> dict[str, dt.date]:
    """Per class, the newest sale date (or price observation date) in its landing files."""
    from cardvalue_dagster.sources.landing_formats import detect_format, parse_landing_file

    newest: dict[str, dt.date] = {}
    for path in iter_landing_paths(landing):
        try:
            file = locate(path, landing)
        except BadLandingPath:
            continue
        if (detect_format(path) in SALES_FORMATS) != sales:
            continue
        rows = parse_landing_file(path, landing, file.asset_class, file.drop_date).rows
        column = "sale_date" if sales else "observed_on"
        latest = pd.to_datetime(rows[column], errors="coerce").max()
        if pd.notna(latest):
            day = latest.date()
            newest[file.asset_class] = max(day, newest.get(file.asset_class, day))
    return newest


def _latest_windows(newest: dict[str, dt.date], days: int) -> dict[str, tuple[dt.date, dt.date]]:
    return {
        c: (max(FIRST_DATE, end - dt.timedelta(days=days - 1)), end)
        for c, end in newest.items()
        if end >= FIRST_DATE
    }
