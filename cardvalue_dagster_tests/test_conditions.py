"""Declarative refreshes: features follow new recent sales, never missing or old partitions."""

from __future__ import annotations

import datetime as dt

from dagster import AssetKey, AssetSelection, evaluate_automation_conditions

from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.partitions import partition_key
from cardvalue_dagster_tests.conftest import canonical_sales, run_range, write_landing_csv

TODAY = dt.date(2024, 3, 1)
NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
FEATURES = AssetKey("enriched_features")


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
