"""Benchmark of the calibrated warning share: how often `drift_sensor` would retrain on StockX.

`drift_report` judges a day's features against the valuator's training window; a day warns from
a share of drifted columns, and `drift_sensor` asks for a retraining when 3 of the last 5 judged
days under the newest version warned. This script replays that sensor on the real StockX sales
of two periods, day by day, for two warning rules, within this one execution:

- **fixed floor**: every day warns from `DRIFT_SHARE_WARNING` (0.3);
- **calibrated**: each version warns from its `drift_baseline` share, computed when it is
  trained (its training window's latest `BASELINE_DAYS` judged days against that window).

Whenever the rule fires after a day d, the model is "retrained" through d, as the sensor's run
would do: the reference becomes the window through d, the count restarts, and under the
calibrated rule a new baseline is computed. It reports days judged, days warned, retrainings
and the baseline shares; then (part 2) whether a fresh price jump on a same-market draw still
warns under each rule. It asserts nothing; it writes its section of RESULTS.md.

    .venv/bin/python benchmarks/bench_drift_baseline.py          # about 8 minutes
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import pandas as pd
from _common import emit, machine, now, section_header, setup_logging, write_section
from bench_valuator import _features, load_stockx

from cardvalue_dagster.core.drift import (
    BASELINE_DAYS,
    DEFAULT_MIN_ROWS,
    DRIFT_SHARE_WARNING,
    drift_baseline,
    drift_report,
)
from cardvalue_dagster.retraining import (
    DRIFT_PERSIST_DAYS,
    DRIFT_WINDOW_DAYS,
    DriftDay,
    retraining_reason,
)

logger = logging.getLogger("benchmarks.bench_drift_baseline")

SECTION = "bench_drift_baseline"
PERIODS = (
    ("holiday season", pd.Timestamp("2018-11-01"), pd.Timestamp("2018-12-25")),
    ("quieter summer", pd.Timestamp("2018-07-01"), pd.Timestamp("2018-08-31")),
)
JUMP_THROUGH = pd.Timestamp("2018-10-31")
JUMP_SIZES = (50, 150)
JUMP_FACTORS = (1.0, 1.25, 1.5)
JUMP_DRAWS = 3


@dataclass
class Replay:
    """One rule over one period: what the sensor saw and did."""

    judged: int = 0
    warned: int = 0
    retrainings: list[pd.Timestamp] = field(default_factory=list)
    warning_shares: list[float] = field(default_factory=list)
    """The warning share of each version used (first, then one per retraining)."""
    shares: list[float] = field(default_factory=list)
    baseline_seconds: float = 0.0


class Sensor:
    """Replays drift_report and drift_sensor over a period for one warning rule."""

    def __init__(self, features: pd.DataFrame, calibrated: bool) -> None:
        self.features = features
        self.dates = features["sale_date"]
        self.calibrated = calibrated
        self.reports = 0

    def warning_share(self, through: pd.Timestamp, replay: Replay) -> float:
        if not self.calibrated:
            return DRIFT_SHARE_WARNING
        started = time.perf_counter()
        baseline = drift_baseline(self.features[self.dates <= through])
        replay.baseline_seconds += time.perf_counter() - started
        self.reports += len(baseline.shares)
        logger.info("baseline through %s: %s", through.date(), baseline.describe())
        return baseline.warning_share

    def replay(self, first: pd.Timestamp, last: pd.Timestamp) -> Replay:
        replay = Replay()
        through, version = first - pd.Timedelta(days=1), 1
        warning = self.warning_share(through, replay)
        replay.warning_shares.append(warning)
        history: list[DriftDay] = []
        for day in pd.date_range(first, last):
            current = self.features[self.dates == day]
            if len(current) < DEFAULT_MIN_ROWS:
                continue
            result = drift_report(self.features[self.dates <= through], current, seed=0)
            self.reports += 1
            share = float(result.drifted_share or 0.0)
            replay.judged += 1
            replay.shares.append(share)
            replay.warned += share >= warning
            history.append(DriftDay(day.date(), str(version), True, share, warning))
            if retraining_reason(history, str(version), None, DRIFT_SHARE_WARNING) is None:
                continue
            replay.retrainings.append(day)
            through, version = day, version + 1
            warning = self.warning_share(through, replay)
            replay.warning_shares.append(warning)
        return replay


def main() -> None:
    setup_logging()
    warnings.filterwarnings("ignore")  # Evidently's and SciPy's, once per report
    started, started_machine, clock = now(), machine(), time.perf_counter()

    features = _features(load_stockx())
    features["sale_date"] = pd.to_datetime(features["sale_date"])
    logger.info("features of %d StockX sales", len(features))

    parts = [_replays(features), _jumps(features)]
    title = (
        "Calibrated warning share vs the fixed floor: drift_sensor replayed on StockX "
        "(bench_drift_baseline.py)"
    )
    header = [
        *section_header(title, started, started_machine, time.perf_counter() - clock),
        f"Features of all {len(features):,} shared StockX sales. The sensor rule: a retraining "
        f"when {DRIFT_PERSIST_DAYS} of the last {DRIFT_WINDOW_DAYS} judged days under the "
        f"newest version warned (days with at least {DEFAULT_MIN_ROWS} sales). Fixed floor: a "
        f"day warns from {DRIFT_SHARE_WARNING}. Calibrated: from `drift_baseline`'s share, "
        f"computed per version over its window's latest {BASELINE_DAYS} judged days.",
        "",
    ]
    text = "\n".join(header) + "\n\n".join(parts)
    emit(text)
    write_section(SECTION, text)


def _replays(features: pd.DataFrame) -> str:
    lines = [
        "### (1) The sensor replayed, retraining whenever it fires",
        "",
        "| period | rule | days judged | days warned | retrainings | first retraining "
        "| warning share per version | median day share | baseline time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, first, last in PERIODS:
        for calibrated in (False, True):
            replay = Sensor(features, calibrated).replay(first, last)
            rule = "calibrated" if calibrated else "fixed floor"
            shares = ", ".join(f"{s:.2f}" for s in replay.warning_shares)
            first_retraining = str(replay.retrainings[0].date()) if replay.retrainings else "none"
            lines.append(
                f"| {name} ({first.date()}..{last.date()}) | {rule} | {replay.judged} "
                f"| {replay.warned} | {len(replay.retrainings)} | {first_retraining} "
                f"| {shares} | {pd.Series(replay.shares).median():.2f} "
                f"| {replay.baseline_seconds:.0f} s |"
            )
            logger.info("%s, %s: %s retrainings", name, rule, len(replay.retrainings))
    return "\n".join(lines)


def _jumps(features: pd.DataFrame) -> str:
    """A fresh price jump on same-market draws: does each rule still warn?"""
    dates = features["sale_date"]
    window = features[dates <= JUMP_THROUGH]
    baseline = drift_baseline(window)
    market = window[dates > JUMP_THROUGH - pd.Timedelta(days=28)]
    lines = [
        f"### (2) A fresh price jump: draws from the 28 days through {JUMP_THROUGH.date()}",
        "",
        f"Window through {JUMP_THROUGH.date()}; {baseline.describe()}. Each draw takes sales "
        f"of that window's latest 28 days at random and multiplies `price_usd` alone (comps "
        f"and retail price not caught up, as on the day a market jumps). Cells: the draws' "
        f"shares; 'floor' and 'calibrated' count the draws that warn under each rule.",
        "",
        "| draw | shares | warn (floor) | warn (calibrated) |",
        "|---|---|---|---|",
    ]
    for size in JUMP_SIZES:
        for factor in JUMP_FACTORS:
            shares = []
            for seed in range(JUMP_DRAWS):
                draw = market.sample(n=size, random_state=seed).copy()
                draw["price_usd"] = draw["price_usd"] * factor
                result = drift_report(window, draw, seed=0)
                shares.append(float(result.drifted_share or 0.0))
            floor = sum(s >= DRIFT_SHARE_WARNING for s in shares)
            calibrated = sum(s >= baseline.warning_share for s in shares)
            lines.append(
                f"| {size} sales, price × {factor} | {', '.join(f'{s:.2f}' for s in shares)} "
                f"| {floor}/{JUMP_DRAWS} | {calibrated}/{JUMP_DRAWS} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
