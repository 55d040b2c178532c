"""Declarative refreshes: features follow new recent sales, drift reports wait for a model;
never missing or old partitions."""

from __future__ import annotations

import datetime as dt

from dagster import AssetKey, AssetSelection, evaluate_automation_conditions

from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.partitions import partition_key
from cardvalue_dagster_tests.conftest import canonical_sales, run_range, write_landing_csv

TODAY = dt.date(2024, 3, 1)
NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
FEATURES = AssetKey("enriched_features")
DRIFT = AssetKey("drift_report")


def _requested_features(result) -> set[str]:
    return set(result.get_requested_partitions(FEATURES))


def test_features_follow_new_recent_sales_only(home, instance):
    days = [TODAY - dt.timedelta(days=n) for n in range(40, 0, -1)]
    write_landing_csv(home, "sneakers/sales.csv", canonical_sales("sneakers", days))
    defs = build_definitions(home)
    selection = AssetSelection.assets(FEATURES)

    before = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW
    )
    assert _requested_features(before) == set()

    assert run_range(defs, instance, "ingest_sales", "sneakers", days[0], days[-1]).success
    after = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW, cursor=before.cursor
    )
    recent_with_sales = {partition_key("sneakers", d) for d in days[-6:]}
    assert _requested_features(after) == recent_with_sales

    again = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW, cursor=after.cursor
    )
    assert _requested_features(again) == set()


def test_drift_reports_wait_for_the_class_valuator(home, instance):
    days = [TODAY - dt.timedelta(days=n) for n in range(10, 0, -1)]
    write_landing_csv(home, "sneakers/sales.csv", canonical_sales("sneakers", days))
    defs = build_definitions(home)
    selection = AssetSelection.assets(DRIFT)

    start = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW
    )
    for job in ("ingest_sales", "build_features"):
        assert run_range(defs, instance, job, "sneakers", days[0], days[-1]).success
    without_model = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW, cursor=start.cursor
    )
    assert set(without_model.get_requested_partitions(DRIFT)) == set()

    trained = defs.resolve_job_def("train_valuator").execute_in_process(
        instance=instance, partition_key="sneakers", asset_selection=[AssetKey("valuator")]
    )
    assert trained.success
    with_model = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW, cursor=without_model.cursor
    )
    recent = {partition_key("sneakers", d) for d in days[-6:]}
    assert set(with_model.get_requested_partitions(DRIFT)) == recent


def test_backtest_and_shap_follow_a_new_model_not_a_new_day_of_features(home, instance):
    days = [TODAY - dt.timedelta(days=n) for n in range(10, 0, -1)]
    write_landing_csv(home, "sneakers/sales.csv", canonical_sales("sneakers", days))
    defs = build_definitions(home)
    followers = [AssetKey("valuator_backtest"), AssetKey("shap_summary")]
    selection = AssetSelection.assets(*followers)

    start = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW
    )
    for job in ("ingest_sales", "build_features"):
        assert run_range(defs, instance, job, "sneakers", days[0], days[-2]).success
    trained = defs.resolve_job_def("train_valuator").execute_in_process(
        instance=instance, partition_key="sneakers", asset_selection=[AssetKey("valuator")]
    )
    assert trained.success
    after_training = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW, cursor=start.cursor
    )
    for key in followers:
        assert set(after_training.get_requested_partitions(key)) == {"sneakers"}, key

    assert run_range(defs, instance, "build_features", "sneakers", days[-1], days[-1]).success
    after_new_day = evaluate_automation_conditions(
        defs, instance, asset_selection=selection, evaluation_time=NOW, cursor=after_training.cursor
    )
    for key in followers:
        assert set(after_new_day.get_requested_partitions(key)) == set(), key
