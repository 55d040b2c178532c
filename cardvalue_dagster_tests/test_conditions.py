"""Declarative refreshes: features follow new recent sales, drift reports wait for a model,
backtest and SHAP follow a new model; never missing or old partitions."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    evaluate_automation_conditions,
)

from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.home import Home
from cardvalue_dagster.partitions import partition_key
from cardvalue_dagster_tests.conftest import canonical_sales, run_range, write_landing_csv

TODAY = dt.date(2024, 3, 1)
NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
FEATURES = AssetKey("enriched_features")
DRIFT = AssetKey("drift_report")
BACKTEST = AssetKey("valuator_backtest")
SHAP = AssetKey("shap_summary")


class Ticks:
    """The automation conditions of some assets, evaluated tick after tick as the sensor does
    (each tick continues from the previous one's cursor)."""

    def __init__(self, defs: Definitions, instance: DagsterInstance, *keys: AssetKey) -> None:
        self.defs, self.instance, self.keys = defs, instance, keys
        self.cursor = None

    def requested(self) -> dict[AssetKey, set[str]]:
        """The partitions each asset's condition requests on this tick."""
        result = evaluate_automation_conditions(
            self.defs,
            self.instance,
            asset_selection=AssetSelection.assets(*self.keys),
            evaluation_time=NOW,
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        return {key: set(result.get_requested_partitions(key)) for key in self.keys}


def _landed(home: Home, days_back: int) -> tuple[Definitions, list[dt.date]]:
    """Sneaker sales on each of the `days_back` days before TODAY, in the landing zone."""
    days = [TODAY - dt.timedelta(days=n) for n in range(days_back, 0, -1)]
    write_landing_csv(home, "sneakers/sales.csv", canonical_sales("sneakers", days))
    return build_definitions(home), days


def _train_valuator(defs: Definitions, instance: DagsterInstance) -> None:
    trained = defs.resolve_job_def("train_valuator").execute_in_process(
        instance=instance, partition_key="sneakers", asset_selection=[AssetKey("valuator")]
    )
    assert trained.success


def test_features_follow_new_recent_sales_only(home, instance):
    defs, days = _landed(home, 40)
    ticks = Ticks(defs, instance, FEATURES)

    assert ticks.requested()[FEATURES] == set()

    assert run_range(defs, instance, "ingest_sales", "sneakers", days[0], days[-1]).success
    recent_with_sales = {partition_key("sneakers", d) for d in days[-6:]}
    assert ticks.requested()[FEATURES] == recent_with_sales

    assert ticks.requested()[FEATURES] == set()


def test_drift_reports_wait_for_the_class_valuator(home, instance):
    defs, days = _landed(home, 10)
    ticks = Ticks(defs, instance, DRIFT)
    ticks.requested()

    for job in ("ingest_sales", "build_features"):
        assert run_range(defs, instance, job, "sneakers", days[0], days[-1]).success
    assert ticks.requested()[DRIFT] == set()

    _train_valuator(defs, instance)
    recent = {partition_key("sneakers", d) for d in days[-6:]}
    assert ticks.requested()[DRIFT] == recent


def test_backtest_and_shap_follow_a_new_model_not_a_new_day_of_features(home, instance):
    defs, days = _landed(home, 10)
    ticks = Ticks(defs, instance, BACKTEST, SHAP)
    ticks.requested()

    for job in ("ingest_sales", "build_features"):
        assert run_range(defs, instance, job, "sneakers", days[0], days[-2]).success
    _train_valuator(defs, instance)
    assert ticks.requested() == {BACKTEST: {"sneakers"}, SHAP: {"sneakers"}}

    assert run_range(defs, instance, "build_features", "sneakers", days[-1], days[-1]).success
    assert ticks.requested() == {BACKTEST: set(), SHAP: set()}
