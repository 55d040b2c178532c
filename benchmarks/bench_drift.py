"""Benchmark of the drift core: report time on 100,000 rows × 30 features, and its calibration.

Two parts, on features of the shared StockX sample (`/work/shared/data/sneakers/...`, built once
with `build_features`), each measured within this one execution:

(a) time of `drift_report` and `save_html` on a reference and a current of 100,000 rows × 30
    feature columns each (26 numeric, 4 categorical, the columns the drift core judges for
    sneakers), resampled with a seed from the real features before and after 2018-11-01; with
    the default reference sample (MAX_REFERENCE_ROWS), with 20,000 rows, and with all 100,000
    (Evidently's large-sample rule), plus Evidently's import time;
(b) the drifted share of same-market draws (sales drawn at random from the 60-day reference
    window itself) by size, with the default reference sample and with the whole window, of
    real November 2018 days, and of a day with every price raised by 25 %: the figures behind
    DEFAULT_MIN_ROWS, MAX_REFERENCE_ROWS and DRIFT_SHARE_WARNING.

It writes its figures to stdout and replaces its own section of RESULTS.md. It asserts nothing.

    .venv/bin/python benchmarks/bench_drift.py             # ~6 minutes
    .venv/bin/python benchmarks/bench_drift.py --draws 1   # a quicker calibration
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import command, machine, now, write_section
from bench_valuator import _features, load_stockx

from cardvalue_dagster.core.drift import (
    CATEGORICAL_DRIFT_COLUMNS,
    DRIFT_COLUMNS,
    MAX_REFERENCE_ROWS,
    NUMERIC_DRIFT_COLUMNS,
    DriftResult,
    drift_report,
    save_html,
)
from cardvalue_dagster.core.valuator import USD_FEATURES

logger = logging.getLogger("benchmarks.bench_drift")

SECTION = "bench_drift"
SPLIT = pd.Timestamp("2018-11-01")
"""Reference: sales before this day; current: sales from it on."""
WINDOW_DAYS = 60
"""Length of the reference window of part (b)."""
ROWS = 100_000
N_FEATURES = 30


def main() -> None:
    args = _arguments()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("cardvalue_dagster").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    started_machine, started = machine(), now()

    import_seconds = _import_seconds()
    features = _features(load_stockx())
    logger.info("features of %d StockX sales", len(features))
    parts = [timings(features, import_seconds), calibration(features, args.draws)]
    body = _section(parts, started, started_machine)
    sys.stdout.write(body + "\n")
    write_section(SECTION, body)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--draws", type=int, default=3, help="same-market draws per size in part (b)"
    )
    return parser.parse_args()


def _import_seconds() -> float:
    """Seconds to import Evidently and its drift preset in this fresh process."""
    started = time.perf_counter()
    from evidently import Report  # noqa: F401
    from evidently.presets import DataDriftPreset  # noqa: F401

    return time.perf_counter() - started


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# (a) time on 100,000 rows × 30 features


def bench_columns(features: pd.DataFrame) -> list[str]:
    """30 judged columns with values for sneakers: the first 26 numeric, the 4 categorical."""
    filled = [c for c in DRIFT_COLUMNS if features[c].notna().any()]
    categorical = [c for c in filled if c in CATEGORICAL_DRIFT_COLUMNS]
    numeric = [c for c in filled if c in NUMERIC_DRIFT_COLUMNS]
    return numeric[: N_FEATURES - len(categorical)] + categorical


def resampled(features: pd.DataFrame, columns: list[str], n: int, seed: int) -> pd.DataFrame:
    """`n` rows drawn with replacement from `features`, only `columns` kept."""
    rng = np.random.default_rng(seed)
    return features[columns].iloc[rng.integers(0, len(features), n)].reset_index(drop=True)


def timings(features: pd.DataFrame, import_seconds: float) -> str:
    """Time drift_report and save_html with three reference sizes on 100,000 × 30 frames."""
    columns = bench_columns(features)
    reference = resampled(features[features["sale_date"] < SPLIT], columns, ROWS, seed=1)
    current = resampled(features[features["sale_date"] >= SPLIT], columns, ROWS, seed=2)
    logger.info("reference and current: %d × %d", *reference.shape)

    rows = []
    for cap in (MAX_REFERENCE_ROWS, 20_000, None):
        result, seconds = _timed(
            lambda cap=cap: drift_report(reference, current, 1, max_reference_rows=cap)
        )
        html_seconds, html_mib = _html(result)
        logger.info("reference cap %s: %.1f s, HTML %.1f s", cap, seconds, html_seconds)
        rows.append(_timing_row(cap, result, seconds, html_seconds, html_mib))

    return "\n".join(
        [
            f"### (a) `drift_report` on {ROWS:,} current × {ROWS:,} reference rows, "
            f"{len(columns)} features",
            "",
            f"Rows resampled with a seed from the StockX features before {SPLIT.date()} "
            f"(reference) and from it on (current); columns: {', '.join(columns)}. "
            f"Importing Evidently first (not included below): {import_seconds:.1f} s.",
            "",
            "| reference compared | tests Evidently chose | drifted share | report s | "
            "save_html s | HTML MiB |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )


def _html(result: DriftResult) -> tuple[float, float]:
    """Seconds to write the report's HTML and its size in MiB."""
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as folder:
        path, seconds = _timed(lambda: save_html(result, Path(folder) / "drift.html"))
        return seconds, path.stat().st_size / 2**20


def _timing_row(
    cap: int | None, result: DriftResult, seconds: float, html_seconds: float, html_mib: float
) -> str:
    what = "all rows" if cap is None else f"seeded sample of {cap:,}"
    if cap == MAX_REFERENCE_ROWS:
        what += " (default)"
    return (
        f"| {what} ({result.n_reference_used:,} rows) | {', '.join(result.methods_used)} | "
        f"{result.drifted_share:.2f} | {seconds:.1f} | {html_seconds:.1f} | {html_mib:.1f} |"
    )


# --------------------------------------------------------------------------------------------
# (b) calibration


def calibration(features: pd.DataFrame, draws: int) -> str:
    """Drifted shares of same-market draws, real days and a price rise, for both rules."""
    window = features[
        (features["sale_date"] < SPLIT)
        & (features["sale_date"] >= SPLIT - pd.Timedelta(days=WINDOW_DAYS))
    ]
    rules = {"small-sample tests (default sample)": MAX_REFERENCE_ROWS, "whole window": None}
    lines = [
        f"### (b) Drifted share against the {WINDOW_DAYS} days before {SPLIT.date()} "
        f"({len(window):,} StockX sales)",
        "",
        "Same-market draws are sales drawn at random from that window itself, so any drift "
        "found in them is noise. Each cell lists the draws' shares.",
        "",
        "| current | " + " | ".join(rules) + " |",
        "|---|" + "---|" * len(rules),
    ]
    for n in (30, 50, 100, 300):
        draws_of_n = [window.sample(n=n, random_state=100 + k) for k in range(draws)]
        cells = [_shares(window, draws_of_n, cap) for cap in rules.values()]
        lines.append(f"| same-market draws of {n} sales | " + " | ".join(cells) + " |")

    days = [g for _, g in features[features["sale_date"] >= SPLIT].groupby("sale_date")]
    real = days[:30:6]
    cells = [_shares(window, real, cap) for cap in rules.values()]
    sizes = ", ".join(str(len(g)) for g in real)
    lines.append(
        f"| real days {real[0]['sale_date'].iloc[0].date()}, every 6th ({sizes} sales) | "
        + " | ".join(cells)
        + " |"
    )

    raised = [_raised(g) for g in real[:2]]
    cells = [_shares(window, raised, cap) for cap in rules.values()]
    lines.append("| the first two of those days, prices × 1.25 | " + " | ".join(cells) + " |")

    for n in (30, 50):
        draws_of_n = [_raised(window.sample(n=n, random_state=200 + k), 1.1) for k in range(draws)]
        cells = [_shares(window, draws_of_n, cap, flag="price_usd") for cap in rules.values()]
        lines.append(
            f"| same-market draws of {n}, prices × 1.1 (share; price_usd flagged?) | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def _raised(day: pd.DataFrame, factor: float = 1.25) -> pd.DataFrame:
    """`day` with its price and every USD feature multiplied by `factor`."""
    out = day.copy()
    for column in ("price_usd", *USD_FEATURES):
        out[column] = out[column] * factor
    return out


def _shares(
    window: pd.DataFrame, currents: list[pd.DataFrame], cap: int | None, flag: str | None = None
) -> str:
    """The drifted share of each current against `window`, comma-separated."""
    shares = []
    for current in currents:
        result = drift_report(window, current, 1, max_reference_rows=cap)
        text = f"{result.drifted_share:.2f}"
        if flag is not None:
            text += " yes" if flag in result.drifted_columns else " no"
        shares.append(text)
    logger.info("reference cap %s: %s", cap, shares)
    return ", ".join(shares)


def _section(parts: list[str], started: str, started_machine: str) -> str:
    import evidently

    header = [
        "## Drift core: Evidently data-drift report (bench_drift.py)",
        "",
        f"- command: `{command()}`",
        f"- date: {started}",
        f"- machine at start: {started_machine}; Evidently {evidently.__version__}",
        f"- machine at end: {machine()}",
        "",
    ]
    return "\n".join(header) + "\n\n".join(parts)


if __name__ == "__main__":
    main()
