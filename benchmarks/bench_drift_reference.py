"""Benchmark of the drift reference: the whole training window against its latest N days.

`drift_report` of the `drift_report` asset compares a day's features with ALL the class's
feature rows up to the valuator's `trained_through` day. On real StockX days of Nov-Dec 2018
that reference warned on most days (DRIFT_SHARE_WARNING in `cardvalue_dagster.core.drift`), so
`drift_sensor` would ask for a sneakers retraining again and again, and a retraining barely
moves a year-long reference. The candidate fix is a reference of only the latest N days of the
training window (the market the model learned and was calibrated on most recently). This script
measures, on the features of all shared StockX sales (`/work/shared/data/sneakers/...`, built
once with `build_features`), for four reference policies (the whole window, its latest 90, 56
and 28 days), within this one execution:

(1) **not retrained**: the model trained through the day before a period; each day of the
    period with at least DEFAULT_MIN_ROWS sales judged against that one reference;
(2) **retrained the day before**: each day d judged against a training window ending at d-1,
    as right after a retraining: does a retraining reset the verdict?
(3) **sensor replay** (with `--replay` only, it needs ~300 more reports): as (1), but whenever
    `retraining_reason` asks for a retraining after a day d, the model is retrained through d
    under a new version, as `drift_sensor` would do: how many retrainings the period costs;

for two periods: 2018-11-01..2018-12-25 (holiday season) and 2018-07-01..2018-08-31 (quieter).
Per policy and scenario: days judged, days at or above the warning share, median and maximum
share, and on how many days `retraining_reason` (DriftDay objects with one version, coverage
None) returns a reason, plus how often each column drifted (and how often a categorical one
only because the day held a value the sampled reference lacks).

(4) **sensitivity**: seeded same-market draws of 50 and 150 sales from the 28 days before
    2018-11-01, as they are and with `price_usd` and every USD feature raised by 10 % and
    25 %, against each policy's reference (training window ending 2018-10-31). The draws come
    from inside every reference window (for the 28-day policy they ARE that window's market),
    as in bench_drift part (b): the alarm must still fire on a price move. Also with the
    sale price alone raised (a fresh jump that the comps, hence `price_to_comps`, show too).

Outcome: no reference policy helped (every one warned on most days), so the fix taken was a
per-version warning share calibrated on the window's own latest days (`drift_baseline`,
measured by bench_drift_baseline.py).

The reference is sampled to MAX_REFERENCE_ROWS by `drift_report` with the same seed everywhere.
It writes its figures to stdout and replaces its own section of RESULTS.md. It asserts nothing.

    .venv/bin/python benchmarks/bench_drift_reference.py                    # ~12 minutes
    .venv/bin/python benchmarks/bench_drift_reference.py --quick            # every 3rd day, ~5 min
    .venv/bin/python benchmarks/bench_drift_reference.py --quick --replay   # with (3), ~6 min
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from dataclasses import dataclass, field

import pandas as pd
from _common import command, emit, machine, now, setup_logging, write_section
from bench_valuator import _features, load_stockx

from cardvalue_dagster.core.drift import (
    CATEGORICAL_DRIFT_COLUMNS,
    DEFAULT_MIN_ROWS,
    DRIFT_SHARE_WARNING,
    MAX_REFERENCE_ROWS,
    drift_report,
)
from cardvalue_dagster.core.valuator import USD_FEATURES
from cardvalue_dagster.retraining import DRIFT_PERSIST_DAYS, DRIFT_WINDOW_DAYS, DriftDay
from cardvalue_dagster.retraining import retraining_reason as reason_for

logger = logging.getLogger("benchmarks.bench_drift_reference")

SECTION = "bench_drift_reference"
SEED = 0
"""Seed of the reference sample, passed to every `drift_report` call."""
POLICIES: dict[str, int | None] = {
    "whole training window": None,
    "latest 90 days": 90,
    "latest 56 days": 56,
    "latest 28 days": 28,
}
"""Reference policies: None keeps the whole window, N its latest N days (the day trained
through and the N-1 before it)."""
VERSION = "1"


@dataclass(frozen=True)
class Period:
    name: str
    first: pd.Timestamp
    last: pd.Timestamp

    @property
    def trained_through(self) -> pd.Timestamp:
        return self.first - pd.Timedelta(days=1)


PERIODS = (
    Period("holiday season", pd.Timestamp("2018-11-01"), pd.Timestamp("2018-12-25")),
    Period("quieter summer", pd.Timestamp("2018-07-01"), pd.Timestamp("2018-08-31")),
)
SENSITIVITY_THROUGH = pd.Timestamp("2018-10-31")
SENSITIVITY_DAYS = 28
SENSITIVITY_SIZES = (50, 150)
SENSITIVITY_FACTORS = (1.0, 1.1, 1.25)
SENSITIVITY_DRAWS = 3
PRICE_ONLY = ("price_usd",)
"""A fresh jump: only the sale price moves, its comps and the retail price not yet."""


@dataclass(frozen=True)
class Verdict:
    """What one drift comparison said (the Evidently snapshot itself is not kept)."""

    enough_data: bool
    share: float | None
    drifted: tuple[str, ...]
    judged: tuple[str, ...]
    n_reference: int
    unseen: tuple[str, ...] = ()
    """Categorical columns where the current holds a value absent from the sampled reference
    (Evidently's chi-squared then gives p = 0, whatever the other values say)."""


@dataclass
class Outcome:
    """One policy and scenario over one period: each judged day's verdict, in order."""

    days: list[tuple[pd.Timestamp, Verdict]] = field(default_factory=list)
    fires: int = 0
    """Days on which `retraining_reason` returned a reason (replay: retrainings requested)."""
    first_fire: pd.Timestamp | None = None

    @property
    def shares(self) -> list[float]:
        return [v.share for _, v in self.days if v.enough_data and v.share is not None]


class Judge:
    """Drift of a day against a policy's reference, cached by (policy, trained through, day)."""

    def __init__(self, features: pd.DataFrame) -> None:
        self.features = features
        self.by_day = {day: rows for day, rows in features.groupby("sale_date")}
        self.cache: dict[tuple[int | None, pd.Timestamp, pd.Timestamp], Verdict] = {}
        self.calls = 0
        self.seconds = 0.0

    def reference(self, through: pd.Timestamp, days: int | None) -> pd.DataFrame:
        """The features of the training window ending `through`, or of its latest `days`."""
        dates = self.features["sale_date"]
        keep = dates <= through
        if days is not None:
            keep &= dates > through - pd.Timedelta(days=days)
        return self.features[keep]

    def day(self, days: int | None, through: pd.Timestamp, day: pd.Timestamp) -> Verdict:
        key = (days, through, day)
        if key not in self.cache:
            reference = self.reference(through, days)
            current = self.by_day[day]
            self.cache[key] = self.compare(reference[reference["sale_date"] != day], current)
        return self.cache[key]

    def compare(self, reference: pd.DataFrame, current: pd.DataFrame) -> Verdict:
        started = time.perf_counter()
        result = drift_report(reference, current, DEFAULT_MIN_ROWS, seed=SEED)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        judged = tuple(result.per_column["column"]) if result.enough_data else ()
        return Verdict(
            result.enough_data,
            result.drifted_share,
            tuple(result.drifted_columns) if result.enough_data else (),
            judged,
            result.n_reference,
            _unseen(reference, current),
        )


def _unseen(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[str, ...]:
    """Categorical columns with a current value missing from the reference as sampled.

    The sample is drawn as `drift_report` draws it (uniform, MAX_REFERENCE_ROWS, SEED).
    """
    if len(reference) > MAX_REFERENCE_ROWS:
        reference = reference.sample(n=MAX_REFERENCE_ROWS, random_state=SEED)
    unseen = []
    for name in CATEGORICAL_DRIFT_COLUMNS:
        if name not in current or name not in reference:
            continue
        seen = set(reference[name].dropna().astype(str))
        if not seen:
            continue
        if not set(current[name].dropna().astype(str)) <= seen:
            unseen.append(name)
    return tuple(unseen)


def main() -> None:
    args = _arguments()
    setup_logging()
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    started_machine, started, clock = machine(), now(), time.perf_counter()

    features = _features(load_stockx())
    logger.info("features of %d StockX sales", len(features))
    judge = Judge(features)
    step = 3 if args.quick else 1
    parts = [period_part(judge, period, step, args.replay) for period in PERIODS]
    parts.append(sensitivity(judge))
    wall = time.perf_counter() - clock
    body = _section(parts, started, started_machine, judge, wall, args, len(features))
    emit(body)
    write_section(SECTION, body)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="judge every 3rd day of each period only"
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="also replay drift_sensor's retrainings over each period (~3 more minutes)",
    )
    return parser.parse_args()


# --------------------------------------------------------------------------------------------
# (1)-(3) real days of a period


def period_part(judge: Judge, period: Period, step: int, replay: bool) -> str:
    """The three scenarios of one period under every policy, as a markdown part."""
    days = [
        day
        for day in sorted(judge.by_day)
        if period.first <= day <= period.last and len(judge.by_day[day]) >= DEFAULT_MIN_ROWS
    ][::step]
    logger.info("%s: %d days to judge", period.name, len(days))
    outcomes: dict[tuple[str, str], Outcome] = {}
    for name, n_days in POLICIES.items():
        outcomes[(name, "not retrained")] = not_retrained(judge, n_days, period, days)
        outcomes[(name, "retrained the day before")] = retrained_before(judge, n_days, days)
        if replay:
            outcomes[(name, "sensor replay")] = sensor_replay(judge, n_days, period, days)
        for (policy, scenario), outcome in outcomes.items():
            if policy != name:
                continue
            logger.info(
                "%s, %s, %s: shares %s; fires %d",
                period.name,
                name,
                scenario,
                " ".join(f"{s:.2f}" for s in outcome.shares),
                outcome.fires,
            )
    return _period_tables(judge, period, days, outcomes, step, replay)


def not_retrained(
    judge: Judge, n_days: int | None, period: Period, days: list[pd.Timestamp]
) -> Outcome:
    """Every day against the one training window ending the day before the period."""
    outcome = Outcome()
    for day in days:
        outcome.days.append((day, judge.day(n_days, period.trained_through, day)))
    _count_reasons(outcome)
    return outcome


def retrained_before(judge: Judge, n_days: int | None, days: list[pd.Timestamp]) -> Outcome:
    """Every day d against a training window ending d-1 (a retraining the day before)."""
    outcome = Outcome()
    for day in days:
        outcome.days.append((day, judge.day(n_days, day - pd.Timedelta(days=1), day)))
    _count_reasons(outcome)
    return outcome


def _count_reasons(outcome: Outcome) -> None:
    """Days on which `retraining_reason` fires, all days counted under one version."""
    history: list[DriftDay] = []
    for day, verdict in outcome.days:
        history.append(_drift_day(day, verdict, VERSION))
        if reason_for(history, VERSION, None, DRIFT_SHARE_WARNING) is not None:
            outcome.fires += 1
            outcome.first_fire = outcome.first_fire or day


def sensor_replay(
    judge: Judge, n_days: int | None, period: Period, days: list[pd.Timestamp]
) -> Outcome:
    """As `drift_sensor` would run it: retrain through d (new version) when day d fires."""
    outcome = Outcome()
    version, through = 1, period.trained_through
    history: list[DriftDay] = []
    for day in days:
        verdict = judge.day(n_days, through, day)
        outcome.days.append((day, verdict))
        history.append(_drift_day(day, verdict, str(version)))
        if reason_for(history, str(version), None, DRIFT_SHARE_WARNING) is not None:
            outcome.fires += 1
            outcome.first_fire = outcome.first_fire or day
            version, through = version + 1, day
    return outcome


def _drift_day(day: pd.Timestamp, verdict: Verdict, version: str) -> DriftDay:
    return DriftDay(day.date(), version, verdict.enough_data, verdict.share)


def _period_tables(
    judge: Judge,
    period: Period,
    days: list[pd.Timestamp],
    outcomes: dict[tuple[str, str], Outcome],
    step: int,
    replay: bool,
) -> str:
    sizes = [len(judge.by_day[d]) for d in days]
    every = "every day" if step == 1 else f"every {step}rd day"
    lines = [
        f"### {period.name.capitalize()}: days {period.first.date()}..{period.last.date()} "
        f"({every} with ≥ {DEFAULT_MIN_ROWS} sales: {len(days)} days, "
        f"{min(sizes)}-{max(sizes)} sales, median {statistics.median(sizes):.0f})",
        "",
        f"Not retrained: one model trained through {period.trained_through.date()}. "
        "Retrained the day before: day d against a window ending d-1. In both, "
        "'rule fires' counts the days on which `retraining_reason` (all days under one "
        "version, coverage None) returns a reason. In the real sensor a retraining makes a "
        "new version and restarts the count, so for 'retrained the day before' this says "
        "whether drift would keep persisting after a retraining, not what the sensor "
        "would do. "
        + (
            "Sensor replay: as not retrained, but after each day on which the rule fires "
            "the model is retrained through that day (new version); 'rule fires' = "
            "retrainings requested in the period. "
            if replay
            else ""
        )
        + "Shares are drifted / judged columns; "
        f"a day warns at ≥ {DRIFT_SHARE_WARNING}.",
        "",
        "| reference | scenario | reference rows (median, before sampling) | days judged | "
        f"days ≥ {DRIFT_SHARE_WARNING} | median share | max share | rule fires on | "
        "first firing |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, scenario), outcome in outcomes.items():
        shares = outcome.shares
        warned = sum(s >= DRIFT_SHARE_WARNING for s in shares)
        n_ref = statistics.median(v.n_reference for _, v in outcome.days)
        lines.append(
            f"| {name} | {scenario} | {n_ref:,.0f} | {len(shares)} | {warned} | "
            f"{statistics.median(shares):.2f} | {max(shares):.2f} | {outcome.fires} days | "
            f"{outcome.first_fire.date() if outcome.first_fire is not None else '-'} |"
        )
    lines += ["", *_column_table(outcomes)]
    return "\n".join(lines)


def _column_table(outcomes: dict[tuple[str, str], Outcome]) -> list[str]:
    """Days on which each column drifted, per policy, in the first two scenarios."""
    shown = [k for k in outcomes if k[1] != "sensor replay"]
    columns: list[str] = []
    for key in shown:
        for _, verdict in outcomes[key].days:
            columns += [c for c in verdict.judged if c not in columns]
    short = {"not retrained": "not retr.", "retrained the day before": "retr. d-1"}
    header = [f"{name.replace(' training window', '')}, {short[s]}" for name, s in shown]
    lines = [
        "Days on which each judged column drifted (of the days judged); in brackets, of "
        "those, the days on which the current day held a value absent from the 1,000 "
        "sampled reference rows (chi-squared then returns p = 0 for that alone):",
        "",
        "| column | " + " | ".join(header) + " |",
        "|---|" + "---|" * len(shown),
    ]
    for column in columns:
        cells = []
        for key in shown:
            days = outcomes[key].days
            drifted = sum(column in v.drifted for _, v in days)
            unseen = sum(column in v.drifted and column in v.unseen for _, v in days)
            cells.append(f"{drifted} ({unseen})" if unseen else str(drifted))
        lines.append(f"| {column} | " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------------------------
# (4) sensitivity


def sensitivity(judge: Judge) -> str:
    """Shares of same-market draws, as they are and with prices raised, per policy."""
    window = judge.reference(SENSITIVITY_THROUGH, SENSITIVITY_DAYS)
    references = {
        name: judge.reference(SENSITIVITY_THROUGH, n_days) for name, n_days in POLICIES.items()
    }
    lines = [
        f"### (4) Sensitivity: draws from the {SENSITIVITY_DAYS} days before "
        f"{(SENSITIVITY_THROUGH + pd.Timedelta(days=1)).date()} ({len(window):,} sales), "
        f"against references of a window trained through {SENSITIVITY_THROUGH.date()}",
        "",
        f"{SENSITIVITY_DRAWS} seeded draws per size, each as drawn and with `price_usd` and "
        "every USD feature multiplied by the factor. The draws come from inside every "
        f"reference window (for 'latest {SENSITIVITY_DAYS} days' they are that very market, "
        "for the longer ones its newest part), so an as-drawn share is noise only against "
        f"the {SENSITIVITY_DAYS}-day reference. Each cell: the draws' shares, then on how many "
        "of them `price_usd` itself drifted. The 'price_usd only' rows raise the sale price "
        "alone (a fresh jump: comps and retail price not caught up, so `price_to_comps` "
        "moves too); the others raise every USD column together (a level the comps already "
        "reflect, as bench_drift does), which leaves `price_to_comps` unchanged.",
        "",
        "| current | " + " | ".join(POLICIES) + " |",
        "|---|" + "---|" * len(POLICIES),
    ]
    for n in SENSITIVITY_SIZES:
        draws = [window.sample(n=n, random_state=300 + k) for k in range(SENSITIVITY_DRAWS)]
        variants = [(f, None) for f in SENSITIVITY_FACTORS]
        variants += [(f, PRICE_ONLY) for f in SENSITIVITY_FACTORS if f != 1.0]
        for factor, columns in variants:
            currents = [_raised(d, factor, columns) for d in draws]
            cells = []
            for name, reference in references.items():
                verdicts = [judge.compare(reference, c) for c in currents]
                flagged = sum("price_usd" in v.drifted for v in verdicts)
                shares = ", ".join(f"{v.share:.2f}" for v in verdicts)
                cells.append(f"{shares} (price_usd {flagged}/{len(verdicts)})")
                logger.info("draws of %d × %.2f, %s: %s", n, factor, name, cells[-1])
            what = "as drawn" if factor == 1.0 else f"prices × {factor}"
            if columns is not None:
                what = f"price_usd only × {factor}"
            lines.append(f"| {n} sales, {what} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _raised(
    day: pd.DataFrame, factor: float, columns: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """`day` with `columns` multiplied by `factor`; by default the price and every USD
    feature, as bench_drift's `_raised`."""
    if factor == 1.0:
        return day
    out = day.copy()
    for column in columns or ("price_usd", *USD_FEATURES):
        out[column] = out[column] * factor
    return out


def _section(
    parts: list[str],
    started: str,
    started_machine: str,
    judge: Judge,
    wall: float,
    args: argparse.Namespace,
    n_features: int,
) -> str:
    import evidently

    judged = sorted({c for v in judge.cache.values() for c in v.judged})
    header = [
        "## Drift reference: whole training window vs its latest N days (bench_drift_reference.py)",
        "",
        f"- command: `{command()}`",
        f"- date: {started}",
        f"- machine at start: {started_machine}; Evidently {evidently.__version__}",
        f"- machine at end: {machine()}",
        f"- wall time: {wall:.0f} s ({judge.calls} drift reports, {judge.seconds:.0f} s in "
        f"`drift_report`){'; --quick: every 3rd day only' if args.quick else ''}",
        "",
        f"Features of all {n_features:,} shared StockX sales. Reference policies: "
        + ", ".join(POLICIES)
        + " (the latest N calendar days up to the day trained through). Every reference is "
        f"sampled to {MAX_REFERENCE_ROWS:,} rows by `drift_report` (seed {SEED}), so "
        "Evidently uses its small-sample tests throughout. Judged columns for sneakers "
        f"({len(judged)}; the others are empty): {', '.join(judged)}, so a share is a "
        f"multiple of 1/{len(judged)} and the warning ({DRIFT_SHARE_WARNING}) means at least "
        f"{_columns_to_warn(len(judged))} drifted columns. `retraining_reason` asks for a "
        f"retraining when {DRIFT_PERSIST_DAYS} of the last {DRIFT_WINDOW_DAYS} judged days "
        "warned.",
        "",
    ]
    return "\n".join(header) + "\n\n".join(parts)


def _columns_to_warn(n_columns: int) -> int:
    return next(k for k in range(n_columns + 1) if k / n_columns >= DRIFT_SHARE_WARNING)


if __name__ == "__main__":
    main()
