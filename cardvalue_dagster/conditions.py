"""Declarative automation: which downstream assets refresh by themselves, and when.

- `enriched_features` follows new `raw_sales` partitions of the last `RECENT_DAYS` days;
- `drift_report` follows new `enriched_features` partitions of the same days, once the
  class's `valuator` exists;
- `valuator_backtest`, `shap_summary` and `promoted_valuator` follow a new `valuator` (the
  promotion follows the backtest, so a new version is promoted only after its gate ran).

The valuator itself is not automated: retraining is requested by `drift_sensor` when the data
has moved, not on every new day of sales.

Two guards on the date-partitioned conditions:
- **Recent days only.** A backfill of last year's sales does not refresh a year of features
  by surprise: only partitions in the latest `RECENT_DAYS` are candidates; older ones are a
  deliberate backfill from the UI.
- **Upstream present and existing.** `AutomationCondition.eager()` would not fire here at all
  (its `any_deps_missing` looks at the whole 365-day comps window, where days without sales
  are never materialized), and it can fire on partitions whose mapped upstream partitions do
  not exist (dagster-io/dagster#34094). `SameDayUpstreamReady` requires instead that the
  upstream partition with the same key is materialized and that every mapped upstream
  partition exists in its partitions definition.

Custom conditions run Python, so they are evaluated on the code server
(`use_user_code_server=True`) by `valuation_automation`, not by the default daemon sensor.
"""

import datetime as dt
from typing import Any

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    AutomationResult,
)

RECENT_DAYS = 7
"""Date partitions older than this many days are never refreshed by automation."""


class SameDayUpstreamReady(AutomationCondition):
    """True for partitions whose same-key `upstream` partition is materialized, and whose
    mapped upstream partitions all exist in their partitions definitions."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream

    @property
    def name(self) -> str:
        return f"same_day_{self.upstream}_ready"

    @property
    def description(self) -> str:
        return (
            f"the {self.upstream} partition of the same class and day is materialized and no "
            "mapped upstream partition is outside its partitions definition"
        )

    async def evaluate(self, context: Any) -> AutomationResult:  # type: ignore[override]
        candidates = context.candidate_subset
        if candidates.is_empty:
            return AutomationResult(context, true_subset=candidates)

        view = context.asset_graph_view
        upstream_key = AssetKey(self.upstream)
        upstream_def = view.asset_graph.get(upstream_key).partitions_def
        keys = set(candidates.expensively_compute_partition_keys())
        same_day = view.get_subset_from_partition_keys(upstream_key, upstream_def, keys)
        missing = await view.compute_missing_subset(key=upstream_key, from_subset=same_day)
        ready = keys - set(missing.expensively_compute_partition_keys())
        ready = {key for key in ready if _all_upstream_exists(view, candidates, key)}
        return AutomationResult(
            context, true_subset=candidates.compute_intersection_with_partition_keys(ready)
        )


def _all_upstream_exists(view: Any, candidates: Any, key: str) -> bool:
    """Whether every parent partition the mapping asks for, for `key`, exists."""
    one = candidates.compute_intersection_with_partition_keys({key})
    for parent in view.asset_graph.get(candidates.key).parent_entity_keys:
        _, nonexistent = view.compute_parent_subset_and_required_but_nonexistent_subset(parent, one)
        if not nonexistent.is_empty:
            return False
    return True


def follow_new_day(upstream: str, *, also_present: tuple[str, ...] = ()) -> AutomationCondition:
    """Refresh a recent date partition after its same-day `upstream` partition updates.

    `also_present` names other upstream assets whose mapped partitions must be materialized
    too, such as the class's `valuator` for a drift report: without a trained model there is
    nothing to compare a day with, and the run could only fail.
    """
    condition = (
        AutomationCondition.in_latest_time_window(dt.timedelta(days=RECENT_DAYS))
        & AutomationCondition.any_deps_updated().since_last_handled()
        & SameDayUpstreamReady(upstream)
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    )
    if also_present:
        required = AssetSelection.assets(*also_present)
        missing = AutomationCondition.any_deps_match(AutomationCondition.missing())
        condition = condition & ~missing.allow(required)
    return condition.with_label(f"follow_new_{upstream}")


def follow_new_model(upstream: str) -> AutomationCondition:
    """Refresh a class partition after its `upstream` (the valuator, or its backtest) updates.

    Only `upstream` is watched: these assets also read the class's features (a mapping onto
    every day of the class), and a new day of features must not re-run a backtest or SHAP, nor
    can "every day materialized" ever hold (days without sales never are).
    """
    watched = AssetSelection.assets(upstream)
    return (
        AutomationCondition.any_deps_updated().allow(watched).since_last_handled()
        & ~AutomationCondition.any_deps_missing().allow(watched)
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(f"follow_new_{upstream}")


valuation_automation = AutomationConditionSensorDefinition(
    "valuation_automation",
    target=AssetSelection.groups("features", "model", "monitoring"),
    use_user_code_server=True,
    minimum_interval_seconds=60,
    description=(
        "Evaluates the declarative refreshes of features, drift reports, backtests, SHAP "
        "summaries and promotions (see cardvalue_dagster/conditions.py)."
    ),
)
