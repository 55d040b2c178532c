"""Benchmark of the valuation core: training time, feature throughput, walk-forward backtests.

Three parts, all on the shared StockX sample (`/work/shared/data/sneakers/...`, 79,952 sales
2017-09-01..2018-12-25), each measured within this one execution:

(a) training time of the valuator (LightGBM point + two quantile models; with and without the
    calibration tail) against the prototype random forest, both on all shared sales;
(b) feature-engineering throughput on 1 M and 10 M synthetic sales made by resampling the real
    rows across a longer date range (see `synthetic_sales`), DuckDB `build_features` (all
    FEATURE_COLUMNS) against the pandas `build_features_pandas` (only the COMPS_COLUMNS);
(c) walk-forward backtests on time splits (train on earlier sales, value later ones day by day;
    never random splits), with the metrics of the valuator, recent comps and the prototype, and
    the wall time of each walk-forward.

It writes its figures to stdout and replaces its own section of RESULTS.md (between the
`<!-- BEGIN bench_valuator -->` / `<!-- END bench_valuator -->` markers). It asserts nothing
about timings.

    .venv/bin/python benchmarks/bench_valuator.py                 # everything, ~30 minutes
    .venv/bin/python benchmarks/bench_valuator.py --sizes 1000000 --splits novdec
"""

from __future__ import annotations

import argparse
import gc
import logging
import multiprocessing
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from _common import command, machine, now, write_section

from cardvalue_dagster.core.backtest import BacktestResult, walk_forward
from cardvalue_dagster.core.baselines import ForestParams, PrototypeForest
from cardvalue_dagster.core.features import build_features, build_features_pandas
from cardvalue_dagster.core.valuator import Valuator
from cardvalue_dagster.sources.landing_formats import parse_landing_file

logger = logging.getLogger("benchmarks.bench_valuator")

STOCKX = Path("/work/shared/data/sneakers/stockx_2019_contest_train.csv")
SECTION = "bench_valuator"
SPLITS: dict[str, tuple[str, str, str]] = {
    "novdec": ("2018-10-31", "2018-11-01", "2018-12-25"),
    "sepoct": ("2018-08-31", "2018-09-01", "2018-10-31"),
    "julaug": ("2018-06-30", "2018-07-01", "2018-08-31"),
}
"""Time splits: history through the first date, test sales from the second to the third."""

PERIOD_DAYS = 481
"""Length of the real sample's date range; synthetic copies are shifted by multiples of it."""


def main() -> None:
    args = _arguments()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("cardvalue_dagster").setLevel(logging.WARNING)
    started_machine, started = machine(), now()

    sales = load_stockx()
    parts = [
        training_times(sales),
        feature_throughput(
            args.sizes, args.pandas_limit, args.memory_limit_gib, args.duckdb_memory_gib
        ),
        backtests(sales, args.splits),
    ]
    body = _section(parts, started, started_machine)
    sys.stdout.write(body + "\n")
    write_section(SECTION, body)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1_000_000, 10_000_000],
        help="synthetic sales counts for the feature throughput, comma-separated",
    )
    parser.add_argument(
        "--pandas-limit",
        type=int,
        default=10_000_000,
        help="largest size the pandas implementation is timed on (larger ones are skipped "
        "and reported as such)",
    )
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=10.0,
        help="resident memory at which a feature-throughput child process is stopped",
    )
    parser.add_argument(
        "--duckdb-memory-gib",
        type=float,
        default=2.0,
        help="DuckDB's memory_limit in the feature throughput (it spills the rest to a "
        "temporary folder); the features themselves are held in NumPy outside it",
    )
    parser.add_argument(
        "--splits",
        type=lambda text: text.split(","),
        default=list(SPLITS),
        help=f"time splits to backtest, comma-separated, of {', '.join(SPLITS)}",
    )
    return parser.parse_args()


def load_stockx() -> pd.DataFrame:
    """The shared StockX sample as canonical sales, parsed by the landing parser."""
    parsed = parse_landing_file(STOCKX, STOCKX.parent, "sneakers")
    logger.info("parsed %d StockX sales", len(parsed.rows))
    return parsed.rows.drop(columns="parse_problem")


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def _features(sales: pd.DataFrame) -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.register("sales_frame", sales)
        con.execute("CREATE TABLE sales AS SELECT * FROM sales_frame")
        return build_features(con, "sales")


# --------------------------------------------------------------------------------------------
# (a) training time


def training_times(sales: pd.DataFrame) -> str:
    """Fit the valuator (with and without the calibration tail) and the prototype on all."""
    features, feature_seconds = _timed(lambda: _features(sales))
    logger.info("features of %d sales in %.1f s", len(features), feature_seconds)

    calibrated, with_tail = _timed(lambda: Valuator().fit(features))
    _, refit = _timed(lambda: calibrated.fit(features, calibrate=False))
    forest_params = ForestParams()
    _, forest = _timed(lambda: PrototypeForest(forest_params).fit(features))
    logger.info("valuator %.1f s (+tail) / %.1f s; forest %.1f s", with_tail, refit, forest)

    p = calibrated.params
    rows = [
        ("point features for all sales (DuckDB, once)", feature_seconds),
        (
            f"valuator fit with calibration tail ({p.calibration_days} d): 3 LightGBM models "
            "on the head, then on everything",
            with_tail,
        ),
        (
            f"valuator refit (point {p.n_estimators} trees + 2 quantile models × "
            f"{p.quantile_estimators} trees), as in the weekly walk-forward refits",
            refit,
        ),
        (
            f"prototype RandomForestRegressor ({forest_params.n_estimators} trees, "
            f"max_features={forest_params.max_features}, unlimited depth, "
            f"min_samples_leaf={forest_params.min_samples_leaf})",
            forest,
        ),
    ]
    lines = [
        f"### (a) Training time on all {len(sales):,} shared StockX sales",
        "",
        "| what | seconds |",
        "|---|---|",
        *(f"| {what} | {seconds:.1f} |" for what, seconds in rows),
        "",
        f"Prototype / valuator refit: {forest / refit:.1f}×.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# (b) feature throughput


def synthetic_sales(real: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """`n` sales resampled from the real rows, spread over a longer date range.

    Each draw keeps a real row's item, size, price and attributes, and moves its date by a
    random whole number of sample periods (0-7, i.e. about 10.5 years in all) plus a jitter of
    -3..+3 days, so the resampled copies do not pile up on the real days. Every started million
    of sales adds a copy of the catalogue (item ids suffixed `#k`), so that 10 M sales are 10
    catalogues at the density of one, rather than ten times as many sales per item and day.
    """
    rng = np.random.default_rng(seed)
    rows = real.iloc[rng.integers(0, len(real), n)].reset_index(drop=True)
    shift = rng.integers(0, 8, n) * PERIOD_DAYS + rng.integers(-3, 4, n)
    rows["sale_date"] = rows["sale_date"] + pd.to_timedelta(shift, unit="D")
    copies = max(1, n // 1_000_000)
    rows["item_id"] = rows["item_id"] + "#" + rng.integers(0, copies, n).astype(str)
    rows["sale_id"] = pd.RangeIndex(n).astype(str)
    return rows


def feature_throughput(
    sizes: list[int], pandas_limit: int, memory_limit_gib: float, duckdb_memory_gib: float
) -> str:
    """DuckDB vs pandas on synthetic sales of each size, in the same run.

    Each measurement runs in a child process that builds its own synthetic sales, so one does
    not inherit the other's memory, and the parent kills a child whose resident memory passes
    `memory_limit_gib` (the machine is shared: an out-of-memory kill could hit someone else's
    process). DuckDB's own `memory_limit` is `duckdb_memory_gib`, the rest spilled to a
    temporary folder. The peak resident memory of each child is reported.
    """
    lines = [
        "### (b) Feature throughput on synthetic sales (resampled StockX rows)",
        "",
        "Synthetic sales: real rows resampled, dates shifted by whole 481-day periods (0-7) plus "
        "-3..+3 days of jitter (about 10.5 years), one catalogue copy per started million. "
        "DuckDB computes all FEATURE_COLUMNS (comps, class median, JSON attributes, calendar) "
        "from a table loaded beforehand (loading not timed); pandas only the COMPS_COLUMNS "
        "(the same rolling windows, last prices and trends), so the comparison flatters pandas "
        "a little. Each measurement runs in its own process, killed if its resident memory "
        f"passes {memory_limit_gib:g} GiB; peak RSS is that process's, synthetic data included. "
        f"DuckDB runs with `memory_limit` {duckdb_memory_gib:g} GiB and spills the rest to a "
        "temporary folder; both implementations work through batches of whole items of about "
        "1 M sales (`batch_rows`, the default).",
        "",
        "| sales | DuckDB build_features | DuckDB sales/s | DuckDB peak RSS | "
        "pandas build_features_pandas | pandas sales/s | pandas peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        cells = [f"{n:,}"]
        for kind in ("duckdb", "pandas"):
            if kind == "pandas" and n > pandas_limit:
                cells += [f"not run (above --pandas-limit {pandas_limit:,})", "–", "–"]
                continue
            seconds, peak, note = _measure_in_child(kind, n, memory_limit_gib, duckdb_memory_gib)
            logger.info("%s features of %d synthetic sales: %s (%s)", kind, n, seconds, note)
            if seconds is None:
                cells += [note, "–", f"{peak:.1f} GiB"]
            else:
                cells += [f"{seconds:.1f} s", f"{n / seconds:,.0f}", f"{peak:.1f} GiB"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _measure_in_child(
    kind: str, n: int, limit_gib: float, duckdb_gib: float
) -> tuple[float | None, float, str]:
    """(seconds or None, peak RSS in GiB, note) of one measurement in a child process."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_throughput_child, args=(kind, n, duckdb_gib, sender))
    child.start()
    peak, killed = 0.0, False
    while child.is_alive():
        peak = max(peak, _rss_gib(child.pid))
        if peak > limit_gib:
            child.kill()
            killed = True
        child.join(0.25)

    if killed:
        return None, peak, f"stopped at {limit_gib:g} GiB of memory"
    if receiver.poll():
        seconds, note = receiver.recv()
        return seconds, peak, note
    return None, peak, f"failed (exit code {child.exitcode})"


def _rss_gib(pid: int | None) -> float:
    """Resident memory of a process in GiB, 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) / 2**20 if match else 0.0


def _throughput_child(kind: str, n: int, duckdb_gib: float, sender: Any) -> None:
    """Child process: build the synthetic sales, time one implementation, send the result."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("cardvalue_dagster").setLevel(logging.WARNING)
    try:
        if kind == "duckdb":
            seconds = _duckdb_seconds(n, memory_gib=duckdb_gib)
        else:
            seconds = _pandas_seconds(n)
        sender.send((seconds, "ok"))
    except (duckdb.Error, MemoryError) as error:
        sender.send((None, f"failed: {type(error).__name__}"))


def _pandas_seconds(n: int) -> float:
    """Seconds of build_features_pandas on `n` synthetic sales (building them not timed)."""
    sales = synthetic_sales(load_stockx(), n)
    frame, seconds = _timed(lambda: build_features_pandas(sales))
    logger.info("pandas comps: %d rows × %d columns", *frame.shape)
    return seconds


def _duckdb_seconds(n: int, memory_gib: float) -> float:
    """Seconds of build_features on `n` synthetic sales loaded into DuckDB beforehand.

    Building and loading the sales is not timed; the pandas frame is dropped once loaded, and
    DuckDB's own memory is capped at `memory_gib`, spilling to a temporary folder (the load
    too, so the folder is the connection's; `build_features(spill_directory=...)` sets it for
    the build alone).
    """
    with tempfile.TemporaryDirectory(prefix="bench-valuator-") as spill, duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = '{memory_gib:.1f}GiB'")
        con.execute(f"SET temp_directory = '{spill}'")
        sales = synthetic_sales(load_stockx(), n)
        con.register("sales_frame", sales)
        con.execute("CREATE TABLE sales AS SELECT * FROM sales_frame")
        con.unregister("sales_frame")
        del sales
        gc.collect()
        frame, seconds = _timed(lambda: build_features(con, "sales"))
        logger.info("DuckDB features: %d rows × %d columns", *frame.shape)
        return seconds


# --------------------------------------------------------------------------------------------
# (c) backtests


def backtests(sales: pd.DataFrame, splits: list[str]) -> str:
    """Walk-forward backtests of the three methods on each time split."""
    lines = [
        "### (c) Walk-forward backtests on time splits of the shared StockX sales",
        "",
        "Each test day is valued from sales of earlier days only (history + earlier test days); "
        "the valuator and the prototype are refitted weekly, the valuator recalibrated daily "
        "with the previous day's out-of-sample results. Nominal interval coverage 90 %.",
    ]
    for name in splits:
        history_end, test_start, test_end = SPLITS[name]
        dates = sales["sale_date"]
        history = sales[dates <= history_end]
        test = sales[(dates >= test_start) & (dates <= test_end)]
        logger.info("split %s: %d history, %d test sales", name, len(history), len(test))
        started = time.perf_counter()
        result = walk_forward(history, test, progress=logger.info)
        seconds = time.perf_counter() - started
        lines += ["", *_split_lines(name, result, len(history), seconds)]
    return "\n".join(lines)


def _split_lines(name: str, result: BacktestResult, n_history: int, seconds: float) -> list[str]:
    history_end, test_start, test_end = SPLITS[name]
    metrics = result.metrics()
    comps, valuator = metrics["comps"]["mdape"], metrics["valuator"]["mdape"]
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    tiers = result.metrics_by_tier()
    tier_rows = [
        f"| {r['tier']} | {r['n']:,} | {100 * r['valuator_mdape']:.2f} % | "
        f"{100 * r['comps_mdape']:.2f} % | {100 * r['coverage']:.1f} % | "
        f"{100 * r['median_width']:.1f} % |"
        for r in tiers.to_dict("records")
    ]
    return [
        f"#### Split `{name}`: history ≤ {history_end} ({n_history:,} sales), "
        f"test {test_start}..{test_end}",
        "",
        result.markdown_table(),
        "",
        f"Valuator MdAPE vs recent comps: {100 * (valuator / comps - 1):+.1f} %. "
        f"Walk-forward wall time {seconds:.0f} s ({timings}); "
        f"{len(result.refit_days)} refits.",
        "",
        "| tier | sales | valuator MdAPE | comps MdAPE | coverage | median width |",
        "|---|---|---|---|---|---|",
        *tier_rows,
    ]


def _section(parts: list[str], started: str, started_machine: str) -> str:
    header = [
        "## Valuation core: valuator vs recent comps vs prototype (bench_valuator.py)",
        "",
        f"- command: `{command()}`",
        f"- date: {started}",
        f"- machine at start: {started_machine}",
        f"- machine at end: {machine()}",
        "",
    ]
    return "\n".join(header) + "\n\n".join(parts)


if __name__ == "__main__":
    main()
