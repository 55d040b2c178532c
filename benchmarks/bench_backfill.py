"""Benchmark a one-year backfill of `raw_sales`, and what splitting it into daily runs costs.

    .venv/bin/python benchmarks/bench_backfill.py [--days 365] [--split-days 30] [--class C]

In a fresh temporary CARDVALUE home seeded with the bundled default (seeding timed on its own):

1. the backfill: for each of the twelve classes, one single-run range of `--days` days ending
   at the class's newest sale date (`plan_demo(landing, days)` filtered to `ingest_sales`, which
   plans exactly that; `raw_sales` has `BackfillPolicy.single_run()`, so a backfill launched
   from the UI also gives one run per class range). Each run is executed in-process exactly as
   `cardvalue demo` does (`cardvalue_dagster.demo._execute`: `execute_in_process` with the
   partition-range tags), with its asset checks;
2. in the same home right after, for one class (default: the one with the most rows in the
   backfill), the last `--split-days` days of its year: once as one range run, then as that many
   one-day runs, then as one range run again. From these, with run = fixed + days × marginal,
   the fixed cost of a run and the marginal cost of a partition.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections import Counter

import _common
from _common import Stopwatch

logger = logging.getLogger("benchmarks.backfill")
SECTION = "bench_backfill"
JOB = "ingest_sales"


def main() -> None:
    from cardvalue_dagster.asset_classes import ASSET_CLASSES
    from cardvalue_dagster.sources.bundled_default import DEFAULT_SEED

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days per class in the backfill")
    parser.add_argument(
        "--split-days", type=int, default=30, help="days run as one range vs as one-day runs"
    )
    parser.add_argument(
        "--class",
        dest="asset_class",
        choices=ASSET_CLASSES,
        help="class of the split comparison (default: the one with the most backfilled rows)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the simulation seed")
    args = parser.parse_args()
    _common.setup_logging()
    started_at, machine_before = _common.now(), _common.machine()

    with _common.temporary_home("bench-backfill") as home:
        body = benchmark(home, args.days, args.split_days, args.asset_class, args.seed)

    section = (
        f"## Backfill: a year of `raw_sales` for all classes ({SECTION}.py)\n\n"
        f"- command: `{_common.command()}`\n"
        f"- date: {started_at}\n"
        f"- machine at start: {machine_before}\n"
        f"- machine at end: {_common.machine()}\n\n{body}"
    )
    _common.emit(section)
    _common.write_section(SECTION, section)


def benchmark(home, days: int, split_days: int, split_class: str | None, seed: int) -> str:
    from dagster import DagsterInstance

    from cardvalue_dagster.definitions import build_definitions
    from cardvalue_dagster.demo import PlannedRun, plan_demo
    from cardvalue_dagster.sources.bundled_default import seed_landing_zone

    with Stopwatch() as seeding:
        written = seed_landing_zone(home.landing, seed)
    logger.info("seeded %d landing files in %.1f s", len(written), seeding.seconds)

    with Stopwatch() as setup:
        defs = build_definitions(home)
        plan = [r for r in plan_demo(home.landing, days) if r.job_name == JOB]
    logger.info("planned %d %s runs in %.1f s", len(plan), JOB, setup.seconds)

    with DagsterInstance.from_config(str(home.dagster)) as instance:
        with Stopwatch() as backfill:
            outcomes = [execute(defs, instance, run, i, len(plan)) for i, run in enumerate(plan, 1)]
        events = [_common.run_events(instance, o.run_id) for o in outcomes]

        chosen = split_class or max(outcomes, key=lambda o: o.rows or 0).run.asset_class
        year = next(o for o in outcomes if o.run.asset_class == chosen)
        end = year.run.end
        start = max(year.run.start, end - dt.timedelta(days=split_days - 1))
        split_days = (end - start).days + 1
        whole = PlannedRun(JOB, chosen, start, end)
        singles = [PlannedRun(JOB, chosen, day, day) for day in _days(start, end)]
        n = len(singles)
        logger.info("split comparison: %s %s..%s (%d days)", chosen, start, end, split_days)

        first = execute(defs, instance, whole, "one range run, first")
        with Stopwatch() as split:
            one_day = [execute(defs, instance, r, i, n) for i, r in enumerate(singles, 1)]
        second = execute(defs, instance, whole, "one range run, second")
        split_events = [_common.run_events(instance, o.run_id) for o in [first, *one_day, second]]

    return report(
        days=days,
        seeding=seeding.seconds,
        written=len(written),
        setup=setup.seconds,
        backfill=backfill.seconds,
        outcomes=outcomes,
        events=events,
        year=year,
        ranges=(first, second),
        one_day=one_day,
        split_seconds=split.seconds,
        split_events=split_events,
    )


def execute(defs, instance, run, number, total=None):
    """One run, exactly as `cardvalue demo` executes it."""
    from cardvalue_dagster.demo import _execute

    outcome = _execute(defs, instance, run)
    status = "ok" if outcome.success else "FAILED"
    logger.info(
        "[%s] %s %s %s..%s: %s, %s rows in %.2f s",
        number if total is None else f"{number}/{total}",
        run.job_name,
        run.asset_class,
        run.start,
        run.end,
        status,
        outcome.rows,
        outcome.seconds,
    )
    return outcome


def report(
    *,
    days,
    seeding,
    written,
    setup,
    backfill,
    outcomes,
    events,
    year,
    ranges,
    one_day,
    split_seconds,
    split_events,
) -> str:
    runs = len(outcomes)
    planned = sum(_length(o.run) for o in outcomes)
    partitions = sum(e.materializations for e in events)
    rows = sum(o.rows or 0 for o in outcomes)
    total_events = sum(e.events for e in events)
    run_seconds = sum(o.seconds for o in outcomes)
    failed = [o for o in outcomes + list(ranges) + one_day if not o.success]
    by_type: Counter = Counter()
    for e in events:
        by_type.update(e.by_type)

    from cardvalue_dagster.partitions import FIRST_DATE

    run = year.run
    n = _length(ranges[0].run)
    range_mean = (ranges[0].seconds + ranges[1].seconds) / 2
    singles_sum = sum(o.seconds for o in one_day)
    single_mean = singles_sum / len(one_day)
    # run(d days) = fixed + d × marginal, from the two measured shapes: 1 day and n days.
    marginal = (range_mean - single_mean) / (n - 1) if n > 1 else float("nan")
    fixed = single_mean - marginal
    daily_year = _length(run) * single_mean
    split_partitions = sum(e.materializations for e in split_events[1:-1])
    split_event_count = sum(e.events for e in split_events[1:-1])
    range_event_count = split_events[0].events

    short = [o.run for o in outcomes if _length(o.run) < days]
    lines = [
        f"Backfill: each class's latest {days} days ending at its newest bundled sale, one run "
        f"per class; {len(failed)} of all the runs below failed.",
        "",
    ]
    if short:
        lines += [
            "Shorter windows: "
            + ", ".join(f"{r.asset_class} {_length(r)} days ({r.start}..{r.end})" for r in short)
            + f": the plan starts no window before the first daily partition, {FIRST_DATE}.",
            "",
        ]
    for o, e in zip(outcomes, events, strict=True):
        if not o.success:
            lines += [
                f"Failed run: {o.run.asset_class} {o.run.start}..{o.run.end} (run {o.run_id}), "
                f"failed steps: {', '.join(e.failed_steps) or 'none recorded'}. A blocking "
                "check fails the whole run when any one partition fails it; the asset's rows "
                f"({o.rows or 0:,}) were written before the check ran, and the run's time "
                "counts like the others.",
                "",
            ]
    lines += [
        "| figure | value |",
        "|---|---|",
        f"| seeding the landing zone (copy + simulate, {written} files; not timed below) "
        f"| {seeding:.1f} s |",
        f"| `build_definitions` + `plan_demo` (not timed below) | {setup:.1f} s |",
        f"| runs | {runs} |",
        f"| partitions materialized (ASSET_MATERIALIZATION events; planned days: {planned:,}) "
        f"| {partitions:,} |",
        f"| rows written | {rows:,} |",
        f"| events written to the event log | {total_events:,} |",
        f"| **backfill wall time** | **{backfill:.1f} s** ({backfill / 60:.1f} min) |",
        f"| seconds per run | {run_seconds / max(runs, 1):.1f} s |",
        f"| **ms per partition** | **{1000 * run_seconds / max(partitions, 1):.1f} ms** |",
        "",
        "Events by type: "
        + ", ".join(f"{kind} {count:,}" for kind, count in by_type.most_common())
        + ".",
        "",
        "| class | window | days | rows | events | seconds | ms per partition |",
        "|---|---|---|---|---|---|---|",
    ]
    for o, e in zip(outcomes, events, strict=True):
        lines.append(
            f"| {o.run.asset_class} | {o.run.start}..{o.run.end} | {_length(o.run)} | "
            f"{o.rows or 0:,} | {e.events:,} | {o.seconds:.1f} | "
            f"{1000 * o.seconds / max(e.materializations, 1):.1f} |"
        )

    lines += [
        "",
        f"### Why runs are the cost: {n} days of {run.asset_class} as 1 run vs {n} runs",
        "",
        f"Same home, right after the backfill; the last {n} days of {run.asset_class}'s year "
        f"({ranges[0].run.start}..{ranges[0].run.end}, {ranges[0].rows or 0:,} rows), "
        "re-materialized (replacing what the backfill wrote) in three passes: one range run, "
        f"{n} one-day runs, one range run again.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| one {n}-day run (first, second) | {ranges[0].seconds:.2f} s, {ranges[1].seconds:.2f} s "
        f"(mean {range_mean:.2f} s; {range_event_count:,} events) |",
        f"| {n} one-day runs | {singles_sum:.1f} s (wall {split_seconds:.1f} s; "
        f"{single_mean:.2f} s per run; {split_partitions} partitions; "
        f"{split_event_count:,} events) |",
        f"| **ratio: {n} one-day runs / one {n}-day run** | **{singles_sum / range_mean:.1f} ×** |",
        f"| fixed cost of a run (fit: run = fixed + days × marginal) | {fixed:.2f} s |",
        f"| marginal cost of a partition | {1000 * marginal:.1f} ms |",
        f"| {run.asset_class}'s year as measured: one {_length(run)}-day run | "
        f"{year.seconds:.1f} s |",
        f"| {run.asset_class}'s year as {_length(run)} one-day runs (extrapolated: "
        f"{_length(run)} × {single_mean:.2f} s) | {daily_year:.0f} s "
        f"({daily_year / 60:.1f} min, {daily_year / year.seconds:.0f} × the one run) |",
        "",
        "The fixed and marginal costs come from two shapes of the same work, so the marginal "
        "figure is the cost of one more day inside a run (the asset's share plus one check "
        "evaluation per partitioned check), and the fixed figure is what every run pays "
        "regardless of its size.",
    ]
    return "\n".join(lines) + "\n"


def _length(run) -> int:
    return (run.end - run.start).days + 1


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


if __name__ == "__main__":
    main()
