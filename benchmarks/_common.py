"""Shared plumbing for the benchmarks: logging, a throw-away home, the machine, RESULTS.md.

Not a benchmark itself. The scripts in this folder import it as `_common` (Python puts the
script's own folder first on `sys.path`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_HEADER = """\
# Benchmark results

Written by the scripts in this folder (see README.md); each script replaces its own section and
leaves the others alone. Timings come from a shared, noisy machine: compare the ratios measured
within one section, not absolute seconds across sections or days.
"""
STATED_MACHINE = "2 cores, 24 GiB"
RUN_ENDS = ("RUN_SUCCESS", "RUN_FAILURE", "PIPELINE_SUCCESS", "PIPELINE_FAILURE")

logger = logging.getLogger("benchmarks")


def setup_logging() -> None:
    """Progress to stderr; Dagster's beta/preview warnings about our own definitions muted."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # The package's own INFO lines (one per landing file parsed) and alembic's (one per run's
    # event-log database) would drown the progress lines.
    logging.getLogger("cardvalue_dagster").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from dagster import BetaWarning, PreviewWarning

    warnings.filterwarnings("ignore", category=BetaWarning)
    warnings.filterwarnings("ignore", category=PreviewWarning)


@contextmanager
def temporary_home(prefix: str) -> Iterator:
    """A fresh CARDVALUE home in a temporary folder, removed afterwards (even on failure)."""
    from cardvalue_dagster.home import HOME_ENV_VAR, Home

    previous = os.environ.get(HOME_ENV_VAR)
    with tempfile.TemporaryDirectory(prefix=f"cardvalue-{prefix}-") as folder:
        os.environ[HOME_ENV_VAR] = folder
        try:
            home = Home(Path(folder)).create()
            logger.info("fresh home %s", home.root)
            yield home
        finally:
            if previous is None:
                os.environ.pop(HOME_ENV_VAR, None)
            else:
                os.environ[HOME_ENV_VAR] = previous
    logger.info("removed %s", folder)


def clear_source_caches() -> int:
    """Empty the in-memory caches of the bundled statistics, so two timed passes start equal.

    Seeding the landing zone fills them (the sports simulator reads the same season lines that
    `sports_stats` does); both the Dagster pass and the plain pass should pay to fill them.
    """
    from cardvalue_dagster.sources import sports_reference

    cleared = 0
    for value in vars(sports_reference).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()
            cleared += 1
    return cleared


def machine() -> str:
    """The machine line of a results section, read at run time."""
    import dagster
    import duckdb
    import pandas as pd

    cpus = len(os.sched_getaffinity(0))
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
        if match:
            memory = f"{int(match.group(1)) / 2**20:.1f} GiB"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{STATED_MACHINE} (read at run time: nproc {cpus}, MemTotal {memory}, "
        f"{platform.system()} {platform.machine()}, load average {load}); "
        f"Python {platform.python_version()}, Dagster {dagster.__version__}, "
        f"pandas {pd.__version__}, DuckDB {duckdb.__version__}"
    )


def command() -> str:
    """The command line that started this process, as it could be typed again."""
    return f"cd {Path.cwd()} && {shlex.join([sys.executable, *sys.argv])}"


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section `name` of RESULTS.md with `body`."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    section = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)
    logger.info("wrote section %s of %s", name, RESULTS)


@dataclass
class RunEvents:
    """What one run left in the instance's event log."""

    run_id: str
    events: int = 0
    by_type: Counter = field(default_factory=Counter)
    run_seconds: float | None = None
    """Run start to run success/failure, as the event log timestamps them."""
    step_seconds: dict[str, float] = field(default_factory=dict)
    """Per step key, STEP_START to STEP_SUCCESS/STEP_FAILURE."""
    failed_steps: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Each failed step with the first line of its error."""
    started_steps: list[str] = field(default_factory=list)
    """Step keys in the order the run started them."""

    @property
    def materializations(self) -> int:
        return self.by_type["ASSET_MATERIALIZATION"]

    @property
    def steps_total(self) -> float:
        return sum(self.step_seconds.values())


def run_events(instance, run_id: str) -> RunEvents:
    """Count a run's event-log entries by type and time its run and steps from their stamps."""
    summary = RunEvents(run_id)
    run_start = None
    step_start: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        summary.events += 1
        event = entry.dagster_event
        kind = event.event_type_value if event is not None else "LOG_MESSAGE"
        summary.by_type[kind] += 1
        # Dagster still stores run starts and ends under their old names (PIPELINE_*).
        if kind in ("RUN_START", "PIPELINE_START"):
            run_start = entry.timestamp
        elif kind in RUN_ENDS and run_start is not None:
            summary.run_seconds = entry.timestamp - run_start
        elif kind == "STEP_START":
            step_start[entry.step_key] = entry.timestamp
            summary.started_steps.append(entry.step_key)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in step_start:
            summary.step_seconds[entry.step_key] = entry.timestamp - step_start[entry.step_key]
        if kind == "STEP_FAILURE":
            summary.failed_steps.append(entry.step_key)
            error = getattr(event.event_specific_data, "error", None)
            while getattr(error, "cause", None) is not None:  # the user code's own exception
                error = error.cause
            message = (getattr(error, "message", "") or "").strip().splitlines()
            first = message[0] if message else "?"
            first = first if len(first) <= 300 else first[:286] + " …(truncated)"
            summary.failures.append(f"{entry.step_key}: {first}")
    return summary


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def section_header(title: str, started: str, started_machine: str, seconds: float) -> list[str]:
    """The lines every results section opens with: title, command, date, machine, wall time."""
    return [
        f"## {title}",
        "",
        f"- command: `{command()}`",
        f"- date: {started}",
        f"- machine at start: {started_machine}",
        f"- machine at end: {machine()}",
        f"- wall time: {seconds:.0f} s",
        "",
    ]


def emit(body: str) -> None:
    """The final figures, on stdout."""
    sys.stdout.write(body.rstrip() + "\n")
    sys.stdout.flush()
