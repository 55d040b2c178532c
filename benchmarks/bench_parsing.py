"""Benchmark of the landing parsers on the full shared files: rows per second, file by file.

Each file of `../shared/data` that a landing format reads is parsed with `parse_landing_file`
(detect the format, read, check every row against the contract, assign stable sale ids) a few
times in this one process; the first parse also pays for the file cache and imports, so the
best and the median of the repeats are reported apart from it.

It writes its figures to stdout and replaces its own section of RESULTS.md. It asserts nothing.

    .venv/bin/python benchmarks/bench_parsing.py             # ~1 minute
    .venv/bin/python benchmarks/bench_parsing.py --repeats 5
"""

from __future__ import annotations

import argparse
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path

from _common import Stopwatch, command, emit, machine, now, setup_logging, write_section

from cardvalue_dagster.sources.landing_formats import parse_landing_file

logger = logging.getLogger("benchmarks.bench_parsing")

SECTION = "bench_parsing"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

FILES: tuple[tuple[str, str, str], ...] = (
    ("stockx", "sneakers", "sneakers/stockx_2019_contest_train.csv"),
    ("ebay_130point", "mlb", "sports_cards/ebay_topps_chrome_psa10_sales_train.csv"),
    ("psa_apr", "pokemon", "tcg_graded_sales/psa_apr_pokemon_mtg_train.csv"),
    (
        "tcgplayer_history",
        "pokemon",
        "pokemon_tcg_price_history/tcgplayer_pokemon_price_history_train.csv",
    ),
    (
        "pricecharting_graded",
        "pokemon",
        "pokemon_graded_prices/pricecharting_pokemon_graded_train.csv",
    ),
)
"""(format, asset class, path under shared/data) of each file parsed."""


@dataclass(frozen=True)
class Timing:
    name: str
    asset_class: str
    rows: int
    problems: int
    first: float
    repeats: list[float]

    def row(self) -> str:
        best, median = min(self.repeats), statistics.median(self.repeats)
        return (
            f"| {self.name} | {self.asset_class} | {self.rows:,} | {self.problems:,} "
            f"| {self.first:.2f} | {best:.2f} | {median:.2f} | {self.rows / best:,.0f} |"
        )


def main() -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed parses after the first")
    args = parser.parse_args()

    started_machine, started = machine(), now()
    timings = [time_file(name, cls, SHARED / path, args.repeats) for name, cls, path in FILES]
    body = report(timings, started, started_machine, machine())
    emit(body)
    write_section(SECTION, body)


def time_file(name: str, asset_class: str, path: Path, repeats: int) -> Timing:
    """Parse `path` once cold, then `repeats` times, and time each."""
    with Stopwatch() as first:
        parsed = parse_landing_file(path, SHARED, asset_class)
    seconds = []
    for _ in range(repeats):
        with Stopwatch() as watch:
            parse_landing_file(path, SHARED, asset_class)
        seconds.append(watch.seconds)

    problems = int(parsed.rows["parse_problem"].notna().sum())
    logger.info("%s: %d rows, best %.2f s", name, len(parsed.rows), min(seconds))
    return Timing(name, asset_class, len(parsed.rows), problems, first.seconds, seconds)


def report(timings: list[Timing], started: str, at_start: str, at_end: str) -> str:
    lines = [
        "## Landing parsers on the full shared files (bench_parsing.py)",
        "",
        f"- command: `{command()}`",
        f"- date: {started}",
        f"- machine at start: {at_start}",
        f"- machine at end: {at_end}",
        "",
        "`parse_landing_file`: format detection, reading, the row contract (problems are rows "
        "kept and flagged for quarantine), stable sale ids. Seconds; rows/s from the best repeat.",
        "",
        "| format | class | rows | rows with a problem | first s | best s | median s | rows/s |",
        "|---|---|---|---|---|---|---|---|",
        *(t.row() for t in timings),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
