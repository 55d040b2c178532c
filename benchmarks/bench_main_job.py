"""Benchmark the main job (`cardvalue demo`) and how much of it is Dagster's own overhead.

    .venv/bin/python benchmarks/bench_main_job.py [--days N]

In a fresh temporary CARDVALUE home:

1. seed the landing zone with the bundled default (timed on its own: copying and simulating);
2. `run_demo(home, days)`: the demo plan, one in-process run per job and class (and window);
3. read every run's event log back from the instance: events by type, the run's span
   (its start to success events) and each step's span (STEP_START to STEP_SUCCESS);
4. re-execute the identical work without Dagster, in the same process: for every run, call the
   very functions its steps called, in the order the run started them (the undecorated functions
   behind `@asset` / `@asset_check`), with the same partition keys and resources, against a
   second warehouse, receipts folder and MLflow store that read the same landing zone. Where a
   step uses dagster-mlflow's resource, the plain pass does what a plain program would: create
   the experiment and start an MLflow run, and hands the body the `mlflow` module.

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
import sys
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

import _common
from _common import Stopwatch

logger = logging.getLogger("benchmarks.main_job")
SECTION = "bench_main_job"


@dataclass
class PlainRun:
    """One run's steps executed without Dagster."""

    seconds: float
    rows: int | None
    error: str | None = None


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
    # Dagster's default SQLite event log keeps one database file per run.
    shards = (home.dagster / "history" / "runs").glob("*.db")
    event_dbs = len([p for p in shards if p.stem != "index"])

    with Stopwatch() as planning:
        plan = plan_demo(home.landing, days)
    if plan != [o.run for o in outcomes]:
        logger.warning("plan_demo gave a different plan the second time")

    _common.clear_source_caches()
    end_mlflow_run()  # a failed Dagster run leaves dagster-mlflow's MLflow run active
    logger.info("re-executing the same %d runs' steps without Dagster", len(outcomes))
    plain = plain_pass(home, outcomes, events)

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
        event_dbs=event_dbs,
    )


def plain_pass(home, outcomes, events) -> list[PlainRun]:
    """Each run's step functions, called directly in the run's own step order, timed per run."""
    from cardvalue_dagster.definitions import build_definitions
    from cardvalue_dagster.home import Home
    from cardvalue_dagster.resources import HomeResource
    from cardvalue_dagster.warehouse import Warehouse

    # A second home that reads the demo's landing zone but writes its own warehouse, receipts and
    # MLflow store, so the plain pass starts from the same empty state the demo started from.
    plain_home = Home(home.root / "plain-pass")
    for folder in (plain_home.receipts, plain_home.mlflow, plain_home.reports):
        folder.mkdir(parents=True)
    os.symlink(home.landing, plain_home.landing, target_is_directory=True)
    resources = {
        "home": HomeResource(path=str(plain_home.root)),
        "warehouse": Warehouse(database=str(plain_home.warehouse)),
    }
    quiet = logging.getLogger("benchmarks.plain_pass.context_log")
    quiet.setLevel(logging.WARNING)
    functions = step_functions(build_definitions(home))

    results = []
    for number, (outcome, run_events) in enumerate(zip(outcomes, events, strict=True), start=1):
        run = outcome.run
        unknown = [s for s in run_events.started_steps if s not in functions]
        if unknown:
            raise RuntimeError(f"{run.job_name}: no asset or check function for steps {unknown}")
        definitions = [functions[s] for s in run_events.started_steps]
        context = plain_context(run, quiet, f"plain-pass-{number}")
        result = time_steps(definitions, context, resources, plain_home)
        results.append(result)
        logger.info(
            "[%d/%d] plain %s: %s rows in %.2f s%s",
            number,
            len(outcomes),
            _describe(run),
            result.rows,
            result.seconds,
            f" (raised {result.error})" if result.error else "",
        )
    return results


def step_functions(defs) -> dict:
    """Every executable asset and check definition of the code location, by its step key."""
    from dagster import AssetsDefinition

    found = {}
    for definition in [*(defs.assets or []), *(defs.asset_checks or [])]:
        if isinstance(definition, AssetsDefinition) and definition.is_executable:
            found[definition.op.name] = definition
    return found


def plain_context(run, log: logging.Logger, run_id: str) -> SimpleNamespace:
    """What the bodies read from their Dagster context, without Dagster."""
    if run.start is None:
        key = run.partition_key  # the class, or the day of a job partitioned by day alone
        keys = [key]
    else:
        keys, key = partition_keys(run.asset_class, run.start, run.end), None
    return SimpleNamespace(
        partition_keys=keys,
        partition_key=key,
        log=log,
        run_id=run_id,
        run=SimpleNamespace(run_id=run_id),
    )


def time_steps(definitions: list, context, resources: dict, plain_home) -> PlainRun:
    """Call the steps' functions in the run's order (only the steps the run started)."""
    from dagster import AssetChecksDefinition

    rows, errors = None, []
    assets = [d for d in definitions if not isinstance(d, AssetChecksDefinition)]
    needs_mlflow = any("mlflow" in _parameters(d) for d in definitions)
    with Stopwatch() as watch:
        run_resources = dict(resources)
        if needs_mlflow:
            run_resources["mlflow"] = start_mlflow_run(plain_home)
        for definition in definitions:
            if not isinstance(definition, AssetChecksDefinition):
                context.asset_key = definition.key  # read by assets that log per partition
            try:
                result = call_body(definition, context, run_resources)
            except Exception as exc:  # the Dagster step failed too, or the plain pass differs
                errors.append(f"{definition.op.name}: {type(exc).__name__}: {_clip(str(exc))}")
                continue
            if assets and definition is assets[0]:
                rows = _row_count(result)
        if needs_mlflow:
            end_mlflow_run()
    return PlainRun(watch.seconds, rows, "; ".join(errors) or None)


def start_mlflow_run(plain_home):
    """What dagster-mlflow's resource does at run start, as a plain MLflow program does it."""
    import mlflow

    from cardvalue_dagster.tracking import EXPERIMENT, ensure_experiment, tracking_uri

    ensure_experiment(tracking_uri(plain_home), EXPERIMENT, plain_home.mlflow / "artifacts")
    mlflow.set_experiment(EXPERIMENT)
    mlflow.start_run()
    return mlflow


def end_mlflow_run() -> None:
    mlflow = sys.modules.get("mlflow")  # no need to import it if nothing used it
    while mlflow is not None and mlflow.active_run() is not None:
        mlflow.end_run()


def call_body(definition, context, resources: dict):
    """Call the function behind `@asset`/`@asset_check` as Dagster would, minus Dagster."""
    compute = definition.op.compute_fn
    function = compute.decorated_fn
    kwargs = {n: resources[n] for n in _parameters(definition) if n in resources}
    result = function(context, **kwargs) if compute.has_context_arg() else function(**kwargs)
    return list(result) if inspect.isgenerator(result) else result


def partition_keys(asset_class: str, start: dt.date, end: dt.date) -> list[str]:
    from cardvalue_dagster.partitions import partition_key

    days = (end - start).days + 1
    return [partition_key(asset_class, start + dt.timedelta(days=i)) for i in range(days)]


def _parameters(definition) -> list[str]:
    return list(inspect.signature(definition.op.compute_fn.decorated_fn).parameters)


def _row_count(result) -> int | None:
    metadata = getattr(result, "metadata", None) or {}
    value = metadata.get("dagster/row_count")
    return None if value is None else int(getattr(value, "value", value))


def _describe(run) -> str:
    return run.describe()


def _days(run) -> int | None:
    return None if run.start is None else (run.end - run.start).days + 1


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
    event_dbs,
) -> str:
    plain_seconds = sum(p.seconds for p in plain)
    overhead = runs_seconds - plain_seconds
    total_events = sum(e.events for e in events)
    partitions = sum(e.materializations for e in events)
    windows = sum(_days(o.run) or 0 for o in outcomes)
    steps = sum(e.steps_total for e in events)
    spans = sum(e.run_seconds or 0.0 for e in events)
    rows = sum(o.rows or 0 for o in outcomes)
    mismatched = [
        _describe(o.run) for o, p in zip(outcomes, plain, strict=True) if o.rows != p.rows
    ]
    by_type: Counter = Counter()
    for e in events:
        by_type.update(e.by_type)
    jobs = Counter(o.run.job_name for o in outcomes)
    per_job = Counter()
    per_job_plain = Counter()
    for o, p in zip(outcomes, plain, strict=True):
        per_job[o.run.job_name] += o.seconds
        per_job_plain[o.run.job_name] += p.seconds

    lines = [
        f"Demo window: the latest {days} days of each class; {len(outcomes)} runs "
        f"({', '.join(f'{n} {job}' for job, n in jobs.items())}); {len(failed)} failed"
        f"{': ' + ', '.join(_describe(f.run) for f in failed) if failed else ''}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| seeding the landing zone (copy + simulate, {written} files; not timed below) "
        f"| {seeding:.1f} s |",
        f"| **`run_demo` total wall time** | **{demo_seconds:.1f} s** "
        f"({demo_seconds / 60:.1f} min) |",
        f"| of which the {len(outcomes)} runs (`execute_in_process` calls) "
        f"| {runs_seconds:.1f} s |",
        f"| of which the rest: `build_definitions`, `plan_demo`, opening the instance "
        f"| {demo_seconds - runs_seconds:.1f} s "
        f"(`plan_demo` alone, timed again: {planning:.1f} s) |",
        f"| the same runs' steps without Dagster (plain pass) | {plain_seconds:.1f} s |",
        f"| **Dagster overhead** = runs − plain pass | **{overhead:.1f} s = "
        f"{_share(overhead, runs_seconds)} of the runs, {_share(overhead, demo_seconds)} of "
        f"`run_demo`** |",
        f"| Dagster overhead per run | {overhead / max(len(outcomes), 1):.2f} s |",
        f"| asset partitions materialized (ASSET_MATERIALIZATION events; days in the "
        f"windowed runs: {windows:,}) | {partitions:,} |",
        f"| rows written (sum of the runs' first `dagster/row_count`) | {rows:,} |",
        f"| events written to the event log (all entries of these runs) | {total_events:,} |",
        f"| Dagster overhead per event | {1000 * overhead / max(total_events, 1):.2f} ms |",
        f"| run wall time per materialized partition "
        f"| {1000 * runs_seconds / max(partitions, 1):.1f} ms |",
        f"| event-log view: sum of run spans (PIPELINE_START→PIPELINE_SUCCESS/FAILURE) "
        f"| {spans:.1f} s |",
        f"| event-log view: sum of step spans (STEP_START→STEP_SUCCESS/FAILURE) | {steps:.1f} s |",
        f"| plain-pass rows equal the Dagster runs' rows | "
        f"{'yes' if not mismatched else 'NO: ' + ', '.join(mismatched)} |",
    ]
    clean = [
        (o, e, p)
        for o, e, p in zip(outcomes, events, plain, strict=True)
        if o.success and not p.error
    ]
    if len(clean) < len(outcomes):
        # A run that failed in Dagster stopped early (or failed differently) while the plain
        # pass may have done the whole work, or the reverse: compare only runs that did the same.
        clean_wall = sum(o.seconds for o, _, _ in clean)
        clean_plain = sum(p.seconds for _, _, p in clean)
        clean_events = sum(e.events for _, e, _ in clean)
        lines += [
            f"| **only the {len(clean)} runs that succeeded in Dagster and raised nothing in "
            f"the plain pass**: wall / plain / overhead | **{clean_wall:.1f} s / "
            f"{clean_plain:.1f} s / {clean_wall - clean_plain:.1f} s = "
            f"{_share(clean_wall - clean_plain, clean_wall)}** |",
            f"| the same runs: overhead per run, per event "
            f"| {(clean_wall - clean_plain) / max(len(clean), 1):.2f} s, "
            f"{1000 * (clean_wall - clean_plain) / max(clean_events, 1):.2f} ms |",
        ]
    lines += [
        "",
        "| job | runs | failed in Dagster | raised in plain pass | wall s | plain s "
        "| overhead s | overhead share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for job, n in jobs.items():
        extra = per_job[job] - per_job_plain[job]
        pairs = [(o, p) for o, p in zip(outcomes, plain, strict=True) if o.run.job_name == job]
        lines.append(
            f"| {job} | {n} | {sum(not o.success for o, _ in pairs)} | "
            f"{sum(bool(p.error) for _, p in pairs)} | {per_job[job]:.1f} | "
            f"{per_job_plain[job]:.1f} | {extra:.1f} | {_share(extra, per_job[job])} |"
        )
    slower = [job for job in jobs if per_job_plain[job] > per_job[job]]
    if slower:
        lines += [
            "",
            f"Negative overhead ({', '.join(slower)}): the plain pass was slower than the Dagster "
            "pass there. Those runs are long and CPU-bound; this benchmark does not isolate why "
            "(the machine's load during each pass is one candidate, see the load averages). "
            "Their overhead is below what this measurement resolves, and it pulls the totals "
            "above down: read the per-job rows of the short runs for Dagster's own cost.",
        ]
    lines += [
        "",
        "How the overhead splits (all from this one execution): outside Dagster's run span "
        f"(creating the run, resolving the job, tearing down) {runs_seconds - spans:.1f} s; "
        f"inside the run span but outside any step {spans - steps:.1f} s; inside steps but "
        f"not in the package's functions (step spans − plain pass) {steps - plain_seconds:.1f} s. "
        "The last one holds writing each step's events (one materialization per partition, one "
        "check evaluation per partition per check) and Dagster's per-step context and resource "
        "setup.",
        "",
        f"The instance is the one `Home.create()` configures (SQLite storage): its event log "
        f"keeps one SQLite database per run ({event_dbs} files under `dagster/history/runs/` "
        "here), each created and migrated when its run starts.",
        "",
        "Events by type: "
        + ", ".join(f"{kind} {count:,}" for kind, count in by_type.most_common())
        + ".",
        "",
        "Per run (wall = the `execute_in_process` call; steps = sum of its step spans from the "
        "event log; plain = the same step functions without Dagster; overhead = wall − plain):",
        "",
        "| # | job | class | window | days | rows | events | wall s | steps s | plain s "
        "| overhead s | overhead share |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, (o, e, p) in enumerate(zip(outcomes, events, plain, strict=True), start=1):
        run = o.run
        if run.start is not None:
            window = f"{run.start}..{run.end}"
        else:
            window = f"day {run.day}" if run.day is not None else "whole class"
        status = "" if o.success else " (FAILED)"
        lines.append(
            f"| {number} | {run.job_name}{status} | {run.asset_class} | {window} | "
            f"{_num(_days(run))} | {_num(o.rows)} | {e.events:,} | "
            f"{o.seconds:.2f} | {e.steps_total:.2f} | {p.seconds:.2f} | "
            f"{o.seconds - p.seconds:.2f} | {_share(o.seconds - p.seconds, o.seconds)} |"
        )
    failures = [(o, e) for o, e in zip(outcomes, events, strict=True) if e.failures]
    if failures:
        lines += ["", "Failed steps in the Dagster runs (first line of the underlying error):"]
        lines += [f"- {_describe(o.run)}: {'; '.join(e.failures)}" for o, e in failures]
    errors = [(o, p) for o, p in zip(outcomes, plain, strict=True) if p.error]
    if errors:
        lines += ["", "Plain-pass steps that raised (compare the runs' failed steps):"]
        lines += [f"- {_describe(o.run)}: {p.error}" for o, p in errors]
    lines += [
        "",
        "Caveats: the plain pass runs second, so the operating system's file cache is warm for "
        "it (it was warm for the demo too: seeding had just written the files); both passes "
        "start with the statistics caches empty and an empty warehouse and MLflow store of "
        "their own. The two passes run minutes apart on a shared machine: compare the load "
        "averages above.",
    ]
    return "\n".join(lines) + "\n"


def _clip(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters (DuckDB lists every enum value in its errors)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 14] + " …(truncated)"


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a"


def _num(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


if __name__ == "__main__":
    main()
