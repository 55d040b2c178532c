"""Benchmark of `cardvalue evaluate` as a user runs it: a subprocess on two sales files.

Two runs, each timed from the outside (wall time and the child's peak RSS), with the JSON the
command printed:

(1) **the README's split**: train on the shared StockX sales of October-November 2018, test on
    1-14 December 2018;
(2) **80 k training + 20 k test sales**, the size the command must handle in under 10 minutes:
    all 79,952 shared StockX sales (Sep 2017 - Dec 2018) as training, and 20,000 test sales
    drawn (seeded, with replacement) from their last 60 days and moved 60 days later
    (27 Dec 2018 onwards), each with a new sale id: a realistic test market, since no real
    later sales are shared.

The files are written as canonical CSV to a temporary folder. It asserts nothing; it writes
its section of RESULTS.md.

    .venv/bin/python benchmarks/bench_evaluate.py          # about 8 minutes
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import emit, machine, now, section_header, setup_logging, write_section
from bench_valuator import load_stockx

logger = logging.getLogger("benchmarks.bench_evaluate")

SECTION = "bench_evaluate"
CARDVALUE = Path(sys.executable).with_name("cardvalue")
LARGE_TEST_SALES = 20_000
SHIFT_DAYS = 60


def main() -> None:
    setup_logging()
    started, started_machine, clock = now(), machine(), time.perf_counter()
    sales = load_stockx()
    sales["sale_date"] = pd.to_datetime(sales["sale_date"])

    rows = []
    with tempfile.TemporaryDirectory(prefix="cv-evaluate-") as folder:
        for name, train, test in (_readme_split(sales), _large_split(sales)):
            rows.append(_run(Path(folder), name, train, test))

    title = "`cardvalue evaluate` from the command line (bench_evaluate.py)"
    lines = [
        *section_header(title, started, started_machine, time.perf_counter() - clock),
        "Each run is `cardvalue evaluate --train T --test S --asset-class sneakers --json` in a "
        "subprocess; wall time and peak RSS are the child's. MdAPE and coverage are the JSON's "
        "(coverage of the nominal 90 % intervals).",
        "",
        "| split | train | test | wall time | peak RSS | valuator MdAPE | comps MdAPE "
        "| forest MdAPE | valuator coverage | forest coverage |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    text = "\n".join(lines)
    emit(text)
    write_section(SECTION, text)


def _readme_split(sales: pd.DataFrame) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    dates = sales["sale_date"]
    train = sales[(dates >= "2018-10-01") & (dates <= "2018-11-30")]
    test = sales[(dates >= "2018-12-01") & (dates <= "2018-12-14")]
    return "README: Oct-Nov 2018 → 1-14 Dec 2018 (real)", train, test


def _large_split(sales: pd.DataFrame) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    last_day = sales["sale_date"].max()
    recent = sales[sales["sale_date"] > last_day - pd.Timedelta(days=SHIFT_DAYS)]
    rng = np.random.default_rng(0)
    test = recent.iloc[rng.integers(0, len(recent), LARGE_TEST_SALES)].copy()
    test["sale_date"] = test["sale_date"] + pd.Timedelta(days=SHIFT_DAYS)
    test["sale_id"] = [f"later-{n}" for n in range(len(test))]
    return "all shared sales → 20 k resampled 60 days later", sales, test


def _run(folder: Path, name: str, train: pd.DataFrame, test: pd.DataFrame) -> str:
    train_path, test_path = folder / "train.csv", folder / "test.csv"
    for frame, path in ((train, train_path), (test, test_path)):
        frame.assign(sale_date=frame["sale_date"].dt.date.astype(str)).to_csv(path, index=False)
    args = [str(CARDVALUE), "evaluate", "--train", str(train_path), "--test", str(test_path)]
    args += ["--asset-class", "sneakers", "--json"]
    logger.info("%s: %d train, %d test sales", name, len(train), len(test))

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    watch = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - watch
    peak_gib = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 2**20
    metrics = json.loads(done.stdout)
    logger.info("%s: %.0f s, %s", name, seconds, done.stdout.strip())

    v, c, f = metrics["valuator"], metrics["comps"], metrics["rf"]
    return (
        f"| {name} | {len(train):,} | {metrics['n']:,} | {seconds:.0f} s | {peak_gib:.1f} GiB "
        f"| {_pct(v['mdape'])} | {_pct(c['mdape'])} | {_pct(f['mdape'])} "
        f"| {_pct(v['coverage'])} | {_pct(f['coverage'])} |"
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


if __name__ == "__main__":
    main()
