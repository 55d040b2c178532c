"""raw_sales materialized in-process into a DuckDB file in a temporary home."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from dagster import AssetKey, Definitions, MaterializeResult, asset, define_asset_job

from cardvalue_dagster.assets.checks import INGEST_CHECKS
from cardvalue_dagster.assets.ingest import raw_sales
from cardvalue_dagster.automation import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.partitions import class_date_partitions, partition_key
from cardvalue_dagster.resources import build_resources
from cardvalue_dagster_tests.conftest import canonical_sales, query, run_range, write_landing_csv

DAY = dt.date(2026, 11, 2)
DAYS = [DAY + dt.timedelta(days=n) for n in range(3)]


def check_verdicts(result, check_name):
    return {
        e.event_specific_data.partition: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == check_name
    }


def test_a_range_run_writes_every_day_and_passes_its_contract(home, instance):
    write_landing_csv(home, "art/sales.csv", canonical_sales("art", DAYS))
    defs = build_definitions(home)

    result = run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[-1])

    assert result.success
    stored = query(home, "SELECT sale_date, count(*) n FROM raw_sales GROUP BY 1 ORDER BY 1")
    assert stored["n"].tolist() == [3, 3, 3]
    verdicts = check_verdicts(result, "raw_sales_contract")
    assert verdicts == {partition_key("art", d): True for d in DAYS}
    assert instance.get_materialized_partitions(AssetKey("raw_sales")) == {
        partition_key("art", d) for d in DAYS
    }


def test_the_same_partition_materialized_twice_has_the_same_rows(home, instance):
    write_landing_csv(home, "art/sales.csv", canonical_sales("art", DAYS))
    defs = build_definitions(home)

    run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[-1])
    first = query(home, "SELECT * FROM raw_sales ORDER BY sale_id")
    run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[-1])
    second = query(home, "SELECT * FROM raw_sales ORDER BY sale_id")

    assert len(first) == 9
    pd.testing.assert_frame_equal(first, second)


def test_rematerializing_one_day_replaces_exactly_that_day(home, instance):
    path = write_landing_csv(home, "art/sales.csv", canonical_sales("art", DAYS))
    defs = build_definitions(home)
    run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[-1])

    changed = canonical_sales("art", DAYS)
    changed.loc[changed["sale_date"] == DAYS[1].isoformat(), "price_usd"] = 555.0
    changed.loc[changed["sale_date"] == DAYS[2].isoformat(), "price_usd"] = 777.0
    changed.to_csv(path, index=False)
    run_range(defs, instance, "ingest_sales", "art", DAYS[1], DAYS[1])

    prices = query(home, "SELECT sale_date, max(price_usd) p FROM raw_sales GROUP BY 1 ORDER BY 1")
    assert prices["p"].tolist() == [102.0, 555.0, 102.0]


def test_a_file_dropped_twice_under_two_names_is_ingested_once(home, instance):
    sales = canonical_sales("art", DAYS)
    write_landing_csv(home, "art/a.csv", sales)
    write_landing_csv(home, "art/b.csv", sales)
    defs = build_definitions(home)

    result = run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[-1])

    assert result.success
    assert query(home, "SELECT count(*) n FROM raw_sales")["n"][0] == 9


@asset(partitions_def=class_date_partitions, deps=[raw_sales])
def downstream_of_sales() -> MaterializeResult:
    """A stand-in for the feature stage: it must not run on a partition that failed its contract."""
    return MaterializeResult()


def test_bad_rows_are_quarantined_and_block_everything_downstream(home, instance):
    sales = canonical_sales("art", DAYS)
    sales.loc[4, "price_usd"] = -5.0
    sales.loc[7, "sale_date"] = "2026-13-45"
    path = write_landing_csv(home, "art/corrupt.csv", sales)
    defs = Definitions(
        assets=[raw_sales, downstream_of_sales],
        asset_checks=INGEST_CHECKS,
        jobs=[define_asset_job("with_downstream", selection="*")],
        resources=build_resources(home),
    )

    result = run_range(defs, instance, "with_downstream", "art", DAYS[0], DAYS[-1])

    assert not result.success
    quarantine = query(home, "SELECT source_file, source_row, rule FROM quarantine ORDER BY 2")
    assert quarantine["source_file"].tolist() == ["art/corrupt.csv", "art/corrupt.csv"]
    assert quarantine["source_row"].tolist() == [5, 8]
    assert quarantine["rule"].iloc[0] == "price_usd: greater_than(0)"
    assert quarantine["rule"].iloc[1] == "parseable"

    stored = query(home, "SELECT min(price_usd) low, count(*) n FROM raw_sales")
    assert stored["low"][0] > 0 and stored["n"][0] == 7
    verdicts = check_verdicts(result, "raw_sales_contract")
    assert verdicts[partition_key("art", DAYS[1])] is False
    assert not instance.get_materialized_partitions(AssetKey("downstream_of_sales"))
    assert path.exists()


def test_the_failing_check_names_file_row_and_rule(home, instance):
    sales = canonical_sales("art", DAYS[:1])
    sales.loc[1, "price_usd"] = 0.0
    write_landing_csv(home, "art/zero.csv", sales)
    defs = build_definitions(home)

    result = run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[0])

    evaluation = next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "raw_sales_contract"
    )
    assert not evaluation.passed
    first_problem = evaluation.metadata["first_problem"].value
    assert first_problem.startswith("art/zero.csv row 2: price_usd: greater_than(0)")


def test_an_unreadable_file_fails_the_run_naming_the_file(home, instance):
    write_landing_csv(home, "art/sales.csv", canonical_sales("art", DAYS))
    garbage = home.landing / "art" / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02 not a known header\nfoo,bar\n")
    defs = build_definitions(home)

    result = run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[-1])

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "art/garbage.csv" in str(failure.event_specific_data.error)
    assert garbage.exists()
    assert not home.warehouse.exists(), "nothing may be written from a partly read landing folder"


def test_rows_outside_a_dated_folder_are_quarantined(home, instance):
    sales = canonical_sales("art", DAYS[:2])
    write_landing_csv(home, f"art/{DAYS[0]}/daily.csv", sales)
    defs = build_definitions(home)

    result = run_range(defs, instance, "ingest_sales", "art", DAYS[0], DAYS[0])

    assert not result.success
    quarantine = query(home, "SELECT rule, partition_date FROM quarantine")
    assert set(quarantine["rule"]) == {"sale_date inside partition"}
    assert len(quarantine) == 3
    assert query(home, "SELECT count(*) n FROM raw_sales")["n"][0] == 3


def test_a_rectangle_of_neighbouring_classes_runs_in_one_run(home, instance):
    write_landing_csv(home, "art/s.csv", canonical_sales("art", DAYS))
    write_landing_csv(home, "sneakers/s.csv", canonical_sales("sneakers", DAYS))
    write_landing_csv(home, "luxury/s.csv", canonical_sales("luxury", DAYS))
    defs = build_definitions(home)

    result = defs.resolve_job_def("ingest_sales").execute_in_process(
        instance=instance,
        tags={
            PARTITION_RANGE_START_TAG: partition_key("sneakers", DAYS[0]),
            PARTITION_RANGE_END_TAG: partition_key("art", DAYS[-1]),
        },
    )

    assert result.success
    counts = query(home, "SELECT asset_class, count(*) n FROM raw_sales GROUP BY 1 ORDER BY 1")
    assert dict(zip(counts["asset_class"], counts["n"], strict=True)) == {"art": 9, "sneakers": 9}
