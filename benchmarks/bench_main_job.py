"""Benchmark the main job (`cardvalue demo`) and how much of it is Dagster's own overhead.

    .venv/bin/python benchmarks/bench_main_job.py [--days N]

In a fresh temporary CARDVALUE home:

1. seed the landing zone with the bundled default (timed on its own: copying and simulating);
2. `run_demo(home, days)`: the demo plan, one in-process run per job, class and window;
3. read every run's event log back from the instance: events by type, the run's span
   (its start to success events) and each step's span (STEP_START to STEP_SUCCESS);
4. re-execute the identical work without Dagster, in the same process: for every planned run,
   call the very functions Dagster calls, the asset body and each of its check bodies (the
   undecorated functions behind `@asset` / `@asset_check`), with the same partition keys and
   resources, against a second warehouse and receipts folder reading the same landing zone.

Dagster overhead = (wall time of the demo's runs) − (wall time of the same bodies without
Dagster). It holds everything Dagster adds around the package's code: building and launching the
run, resource setup, step orchestration, and writing every event (one per partition and check)
to the instance's SQLite event log. The in-memory caches of the bundled statistics are emptied
before each pass, so both pay to fill them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import logging
import os
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

import _common
from _common import Stopwatch

logger = logging.getLogger("benchmarks.main_job")
SECTION = "bench_main_job"


@dataclass
class PlainRun:
    """One planned run executed without Dagster."""

    seconds: float
    rows: int | None


def main() -> None:
    from cardvalue_dagster.demo import DEFAULT_DAYS
    from cardvalue_dagster.sources.bundled_default import DEFAULT_SEED

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="the demo's window")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the simulation seed")
    args = parser.parse_args()
    _common.setup_logging()
    started_at, machine_before = _common.now(), _common.machine()

    with _common.temporary_home("bench-main-job") as home:
        body = benchmark(home, args.days, args.seed)

    section = (
        f"## Main job: `cardvalue demo` ({SECTION}.py)\n\n"
        f"- command: `{_common.command()}`\n"
        f"- date: {started_at}\n"
        f"- machine at start: {machine_before}\n"
        f"- machine at end: {_common.machine()}\n\n{body}"
    )
    _common.emit(section)
    _common.write_section(SECTION, section)


def benchmark(home, days: int, seed: int) -> str:
    from dagster import DagsterInstance

    from cardvalue_dagster.demo import plan_demo, run_demo
    from cardvalue_dagster.sources.bundled_default import seed_landing_zone

    with Stopwatch() as seeding:
        written = seed_landing_zone(home.landing, seed)
    logger.info("seeded %d landing files in %.1f s", len(written), seeding.seconds)

    _common.clear_source_caches()
    logger.info("run_demo(home, days=%d): the timed Dagster pass", days)
    with Stopwatch() as demo:
        outcomes = run_demo(home, days, seed, progress=logger.info)
    runs_seconds = sum(o.seconds for o in outcomes)
    failed = [o for o in outcomes if not o.success]
    logger.info("demo: %d runs in %.1f s (%d failed)", len(outcomes), demo.seconds, len(failed))

    with DagsterInstance.from_config(str(home.dagster)) as instance:
        events = [_common.run_events(instance, o.run_id) for o in outcomes]

    with Stopwatch() as planning:
        plan = plan_demo(home.landing, days)
    if plan != [o.run for o in outcomes]:
        logger.warning("plan_demo gave a different plan the second time")

    _common.clear_source_caches()
    logger.info("re-executing the same %d runs' bodies without Dagster", len(plan))
    plain = plain_pass(home, [o.run for o in outcomes])

    return report(
        days=days,
        seeding=seeding.seconds,
        written=len(written),
        demo_seconds=demo.seconds,
        runs_seconds=runs_seconds,
        planning=planning.seconds,
        outcomes=outcomes,
        events=events,
        plain=plain,
        failed=failed,
    )


def plain_pass(home, runs) -> list[PlainRun]:
    """Each planned run's asset and check bodies, called directly, timed per run."""
    from cardvalue_dagster.definitions import build_definitions
    from cardvalue_dagster.home import Home
    from cardvalue_dagster.resources import HomeResource
    from cardvalue_dagster.warehouse import Warehouse

    # A second home that reads the demo's landing zone but writes its own warehouse and receipts,
    # so the plain pass starts from the same empty state the demo started from.
    plain_home = Home(home.root / "plain-pass")
    plain_home.receipts.mkdir(parents=True)
    os.symlink(home.landing, plain_home.landing, target_is_directory=True)
    resources = {
        "home": HomeResource(path=str(plain_home.root)),
        "warehouse": Warehouse(database=str(plain_home.warehouse)),
    }
    quiet = logging.getLogger("benchmarks.plain_pass.context_log")
    quiet.setLevel(logging.WARNING)
    defs = build_definitions(home)

    results = []
    for number, run in enumerate(runs, start=1):
        bodies = bodies_of(run.job_name)
        job_nodes = len(defs.resolve_job_def(run.job_name).graph.node_defs)
        if job_nodes != len(bodies):
            raise RuntimeError(f"{run.job_name} has {job_nodes} steps, found {len(bodies)} bodies")
        context = SimpleNamespace(
            partition_keys=partition_keys(run.asset_class, run.start, run.end),
            log=quiet,
            run=SimpleNamespace(run_id=f"plain-pass-{number}"),
        )
        rows = None
        with Stopwatch() as watch:
            for definition in bodies:
                result = call_body(definition, context, resources)
                if definition is bodies[0]:
                    rows = int(result.metadata["dagster/row_count"])
        results.append(PlainRun(watch.seconds, rows))
        logger.info(
            "[%d/%d] plain %s %s %s..%s: %s rows in %.2f s",
            number,
            len(runs),
            run.job_name,
            run.asset_class,
            run.start,
            run.end,
            rows,
            watch.seconds,
        )
    return results


def bodies_of(job_name: str) -> list:
    """The asset a job materializes, then every check on that asset (what the job's steps run)."""
    from cardvalue_dagster.assets.checks import INGEST_CHECKS
    from cardvalue_dagster.assets.ingest import hobby_prices, raw_sales, sports_stats

    asset = {
        "ingest_sales": raw_sales,
        "build_sports_stats": sports_stats,
        "build_hobby_prices": hobby_prices,
    }[job_name]
    checks = [c for c in INGEST_CHECKS if any(k.asset_key == asset.key for k in c.check_keys)]
    return [asset, *checks]


def call_body(definition, context, resources: dict):
    """Call the function behind `@asset`/`@asset_check` as Dagster would, minus Dagster."""
    compute = definition.op.compute_fn
    function = compute.decorated_fn
    kwargs = {n: resources[n] for n in inspect.signature(function).parameters if n in resources}
    result = function(context, **kwargs) if compute.has_context_arg() else function(**kwargs)
    return list(result) if inspect.isgenerator(result) else result


def partition_keys(asset_class: str, start: dt.date, end: dt.date) -> list[str]:
    from cardvalue_dagster.partitions import partition_key

    days = (end - start).days + 1
    return [partition_key(asset_class, start + dt.timedelta(days=i)) for i in range(days)]


def report(
    *,
    days,
    seeding,
    written,
    demo_seconds,
    runs_seconds,
    planning,
    outcomes,
    events,
    plain,
    failed,
) -> str:
    plain_seconds = sum(p.seconds for p in plain)
    overhead = runs_seconds - plain_seconds
    total_events = sum(e.events for e in events)
    partitions = sum(e.materializations for e in events)
    windows = sum((o.run.end - o.run.start).days + 1 for o in outcomes)
    steps = sum(e.steps_total for e in events)
    spans = sum(e.run_seconds or 0.0 for e in events)
    rows = sum(o.rows or 0 for o in outcomes)
    mismatched = [
        f"{o.run.job_name} {o.run.asset_class}"
        for o, p in zip(outcomes, plain, strict=True)
        if o.rows != p.rows
    ]
    by_type = Counter()
    for e in events:
        by_type.update(e.by_type)

    lines = [
        f"Demo window: the latest {days} days of each class; {len(outcomes)} runs "
        f"({len(failed)} failed{': ' + ', '.join(f.run_id for f in failed) if failed else ''}).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| seeding the landing zone (copy + simulate, {written} files; not timed below) "
        f"| {seeding:.1f} s |",
        f"| **`run_demo` total wall time** | **{demo_seconds:.1f} s** |",
        f"| of which the {len(outcomes)} runs (`execute_in_process` calls) "
        f"| {runs_seconds:.1f} s |",
        f"| of which the rest: `build_definitions`, `plan_demo`, opening the instance "
        f"| {demo_seconds - runs_seconds:.1f} s "
        f"(`plan_demo` alone, timed again: {planning:.1f} s) |",
        f"| the same runs' asset + check bodies without Dagster (plain pass) "
        f"| {plain_seconds:.1f} s |",
        f"| **Dagster overhead** = runs − plain pass | **{overhead:.1f} s = "
        f"{_share(overhead, runs_seconds)} of the runs, {_share(overhead, demo_seconds)} of "
        f"`run_demo`** |",
        f"| Dagster overhead per run | {overhead / max(len(outcomes), 1):.2f} s |",
        f"| partitions materialized (ASSET_MATERIALIZATION events; planned days: {windows:,}) "
        f"| {partitions:,} |",
        f"| rows written (sum of the runs' `dagster/row_count`) | {rows:,} |",
        f"| events written to the event log (all entries of these runs) | {total_events:,} |",
        f"| Dagster overhead per event | {1000 * overhead / max(total_events, 1):.2f} ms |",
        f"| run wall time per partition | {1000 * runs_seconds / max(partitions, 1):.1f} ms |",
        f"| event-log view: sum of run spans (PIPELINE_START→PIPELINE_SUCCESS) | {spans:.1f} s |",
        f"| event-log view: sum of step spans (STEP_START→STEP_SUCCESS) | {steps:.1f} s |",
        f"| plain-pass rows equal the Dagster runs' rows | "
        f"{'yes' if not mismatched else 'NO: ' + ', '.join(mismatched)} |",
        "",
        "How the overhead splits (all from this one execution): outside Dagster's run span "
        f"(creating the run, resolving the job, tearing down) {runs_seconds - spans:.1f} s; "
        f"inside the run span but outside any step {spans - steps:.1f} s; inside steps but "
        f"not in the package's bodies (step spans − plain pass) {steps - plain_seconds:.1f} s. "
        "The last one holds writing each step's events (one materialization and one check "
        "evaluation per partition per check) and Dagster's per-step context and resource setup.",
        "",
        "Events by type: "
        + ", ".join(f"{kind} {count:,}" for kind, count in by_type.most_common())
        + ".",
        "",
        "Per run (wall = the `execute_in_process` call; steps = sum of its step spans from the "
        "event log; plain = the same bodies without Dagster; overhead = wall − plain):",
        "",
        "| # | job | class | window | days | rows | events | wall s | steps s | plain s "
        "| overhead s | overhead share |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, (o, e, p) in enumerate(zip(outcomes, events, plain, strict=True), start=1):
        run = o.run
        lines.append(
            f"| {number} | {run.job_name} | {run.asset_class} | {run.start}..{run.end} | "
            f"{(run.end - run.start).days + 1} | {_num(o.rows)} | {e.events:,} | "
            f"{o.seconds:.2f} | {e.steps_total:.2f} | {p.seconds:.2f} | "
            f"{o.seconds - p.seconds:.2f} | {_share(o.seconds - p.seconds, o.seconds)} |"
        )
    lines += [
        "",
        "Caveats: the plain pass runs second, so the operating system's file cache is warm for "
        "it (it was warm for the demo too: seeding had just written the files); both passes "
        "start with the statistics caches empty and an empty warehouse of their own.",
    ]
    return "\n".join(lines) + "\n"


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a"


def _num(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


if __name__ == "__main__":
    main()
