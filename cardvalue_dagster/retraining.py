"""`drift_sensor`: retrain a class's valuator when its data has moved, and only then; and
`weekly_backtest`, which keeps the coverage it watches current.

A class is retrained (the `train_valuator` job: train, backtest, gate, SHAP, promotion) when
either holds for its monitored model version (see below):

- **persistent drift**: among the last `DRIFT_WINDOW_DAYS` days reported against that version
  with enough sales to judge, at least `DRIFT_PERSIST_DAYS` reached the warning share that day's
  report recorded (the version's calibrated share, `core.drift.drift_baseline`, or else
  `core.drift.DRIFT_SHARE_WARNING`); one drifted day is a wobble, not a trend;
- **lost coverage**: the latest backtest of that version held fewer than `MIN_COVERAGE` of the
  sales in its 90 % intervals.

Only evidence about the monitored version counts: the champion, which serving answers with,
or the newest version while none passed the gate. A promoted retraining resets the story (the
days reported against the old champion cannot trigger again); a retraining that failed its gate
does not, so drift against the champion that still serves asks again the next day. The run key
is the class and the day of the tick, so a class gets at most one request a day however often
the sensor ticks, and the reason is in the run's tags. Everything is read from Dagster's event
log (the metadata the assets recorded), never from the warehouse, so a tick never waits on
DuckDB's write lock.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from cardvalue_dagster.asset_classes import ASSET_CLASSES
from cardvalue_dagster.jobs import backtest_valuator_job, train_valuator_job
from cardvalue_dagster.partitions import split_partition_keys

logger = logging.getLogger(__name__)

DRIFT_WINDOW_DAYS = 5
DRIFT_PERSIST_DAYS = 3
MIN_COVERAGE = 0.85

REASON_TAG = "cardvalue/retrain_reason"
CLASS_TAG = "cardvalue/asset_class"

DRIFT_REPORT = AssetKey("drift_report")
VALUATOR = AssetKey("valuator")
BACKTEST = AssetKey("valuator_backtest")
PROMOTION = AssetKey("promoted_valuator")


@dataclass(frozen=True)
class DriftDay:
    """One class-day's drift report, as its materialization recorded it."""

    day: dt.date
    model_version: str | None
    enough_data: bool
    drifted_share: float | None
    warning_share: float | None = None
    """The share from which this day warned (None: the caller's default threshold)."""

    def warns(self, default_threshold: float) -> bool:
        threshold = default_threshold if self.warning_share is None else self.warning_share
        return self.enough_data and (self.drifted_share or 0.0) >= threshold


def retraining_reason(
    days: list[DriftDay], current_version: str | None, coverage: float | None, threshold: float
) -> str | None:
    """Why the class should be retrained now, or None. Pure, so the rule is easy to test."""
    judged = sorted(
        (d for d in days if d.model_version == current_version and d.enough_data),
        key=lambda d: d.day,
    )[-DRIFT_WINDOW_DAYS:]
    drifted = [d for d in judged if d.warns(threshold)]
    if len(drifted) >= DRIFT_PERSIST_DAYS:
        shares = ", ".join(f"{d.day}: {d.drifted_share:.2f}" for d in drifted)
        return (
            f"drift persisted on {len(drifted)} of the last {len(judged)} judged days "
            f"against version {current_version} ({shares})"
        )
    if coverage is not None and coverage < MIN_COVERAGE:
        return f"backtest coverage {coverage:.1%} of version {current_version} is below 85 %"
    return None


@sensor(
    job=train_valuator_job,
    minimum_interval_seconds=300,
    description=(
        "Requests a retraining of a class's valuator when its drift persists or its backtest "
        "coverage falls below 85 %; at most one request per class and day."
    ),
)
def drift_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """See the module docstring for the rule."""
    from cardvalue_dagster.core.drift import DRIFT_SHARE_WARNING

    instance = context.instance
    today = dt.datetime.now(dt.UTC).date().isoformat()
    requests = []
    for asset_class in ASSET_CLASSES:
        version = watched_version(instance, asset_class)
        if version is None:
            continue
        backtest = _latest_metadata(instance, BACKTEST, asset_class)
        coverage = backtest.get("valuator_coverage") if backtest.get("model_version") else None
        if backtest.get("model_version") not in (None, version):
            coverage = None
        days = _drift_days(instance, asset_class)
        reason = retraining_reason(days, str(version), coverage, DRIFT_SHARE_WARNING)
        if reason is None:
            continue
        context.log.info(f"{asset_class}: retraining requested: {reason}")
        requests.append(
            RunRequest(
                run_key=f"retrain:{asset_class}:{today}",
                partition_key=asset_class,
                tags={REASON_TAG: reason[:255], CLASS_TAG: asset_class},
            )
        )
    if not requests:
        return SkipReason("no class has persistent drift or low backtest coverage")
    return SensorResult(run_requests=requests)


@schedule(
    job=backtest_valuator_job,
    cron_schedule="0 5 * * 1",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description=(
        "Every Monday at 05:00 UTC: each trained class's backtest over its latest four weeks, "
        "so drift_sensor's coverage rule judges the recent market, not the day of training."
    ),
)
def weekly_backtest(context: ScheduleEvaluationContext) -> list[RunRequest]:
    """One backtest run per class with a trained valuator, keyed by class and week.

    A backtest otherwise runs only after a training, so a model that slowly stops holding its
    intervals would never show it. A new backtest also lets `promoted_valuator` promote a
    candidate that failed its gate once and passes on the newer weeks.
    """
    trained = sorted(context.instance.get_materialized_partitions(VALUATOR))
    week = (context.scheduled_execution_time or dt.datetime.now(dt.UTC)).date().isoformat()
    return [RunRequest(run_key=f"backtest:{c}:{week}", partition_key=c) for c in trained]


def watched_version(instance: DagsterInstance, asset_class: str) -> str | None:
    """The champion version, or the newest trained one while none was promoted.

    Drift is judged against the champion (what serving answers with): after a failed gate it
    keeps serving, so its drift still asks for a retraining, at most once a day.
    """
    champion = _latest_metadata(instance, PROMOTION, asset_class).get("champion_version")
    if champion not in (None, "none"):
        return str(champion)
    newest = _latest_metadata(instance, VALUATOR, asset_class).get("model_version")
    return None if newest is None else str(newest)


def _latest_metadata(instance: DagsterInstance, key: AssetKey, asset_class: str) -> dict[str, Any]:
    """The plain metadata values of the newest materialization of one class partition."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[asset_class]), limit=1
    ).records
    if not records:
        return {}
    materialization = records[0].asset_materialization
    if materialization is None:
        return {}
    return {name: value.value for name, value in materialization.metadata.items()}


def _drift_days(instance: DagsterInstance, asset_class: str) -> list[DriftDay]:
    """The class's latest drift report per day, for its most recent reported days."""
    keys = [
        key
        for key in instance.get_materialized_partitions(DRIFT_REPORT)
        if key.startswith(f"{asset_class}|")
    ]
    recent = sorted(keys, key=lambda k: split_partition_keys([k])[0][1])[-4 * DRIFT_WINDOW_DAYS :]
    if not recent:
        return []
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=DRIFT_REPORT, asset_partitions=recent), limit=10 * len(recent)
    ).records
    latest: dict[str, DriftDay] = {}
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization is None or materialization.partition in latest:
            continue
        values = {k: v.value for k, v in materialization.metadata.items()}
        _, day = split_partition_keys([str(materialization.partition)])[0]
        latest[str(materialization.partition)] = DriftDay(
            day=day,
            model_version=_text(values.get("model_version")),
            enough_data=bool(values.get("enough_data")),
            drifted_share=_number(values.get("drifted_share")),
            warning_share=_number(values.get("warning_share")),
        )
    return list(latest.values())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
