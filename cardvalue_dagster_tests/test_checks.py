"""Each asset check fails on exactly the input it guards, and passes otherwise, in real runs.

Runs execute in-process into a temporary home. The warning checks are judged on data ingested
through `raw_sales`; the contract checks on rows written straight into the DuckDB file after a
normal materialization, then re-judged by a job that selects only the check.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
from dagster import AssetCheckSeverity, AssetSelection, Definitions, define_asset_job

from cardvalue_dagster.assets.checks import (
    FRESHNESS_HOURS,
    INGEST_CHECKS,
    OUTLIER_MIN_SALES,
    ROW_COUNT_LOOKBACK_DAYS,
)
from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.partitions import partition_key
from cardvalue_dagster_tests.conftest import (
    canonical_sales,
    days_from,
    run_range,
    write_landing_csv,
)

DAY = dt.date(2026, 9, 1)
TCGPLAYER_SAMPLE = (
    Path(__file__).parent / "fixtures" / "landing" / "tcgplayer_pokemon_price_history_head.csv"
)


def with_check_jobs(home) -> Definitions:
    """The code location, plus one job per check that runs that check alone."""
    check_jobs = [
        define_asset_job(f"only_{check.check_key.name}", selection=AssetSelection.checks(check))
        for check in INGEST_CHECKS
    ]
    return Definitions.merge(build_definitions(home), Definitions(jobs=check_jobs))


def evaluations(result, check_name):
    """The check's evaluations in the run, by partition key (None for an unpartitioned check)."""
    found = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        evaluation = event.event_specific_data
        if evaluation.check_name == check_name:
            assert evaluation.partition not in found, "one evaluation per partition"
            found[evaluation.partition] = evaluation
    return found


def meta(evaluation, name):
    return evaluation.metadata[name].value


def sales_of(asset_class: str, item: str, prices: dict[dt.date, float]) -> pd.DataFrame:
    """One canonical sale of `item` per day, at the given price."""
    frames = [
        canonical_sales(asset_class, [day], per_day=1, price=price) for day, price in prices.items()
    ]
    return pd.concat(frames, ignore_index=True).assign(
        item_id=f"{asset_class}:{item}", item_name=item.title()
    )


def execute(home, sql: str) -> None:
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(sql)


# --- raw_sales_price_outliers -----------------------------------------------------------------


def test_a_price_far_from_its_items_recent_sales_warns_on_that_day_only(home, instance):
    days = days_from(DAY, 11)
    normal = [97.0, 103.0, 99.0, 101.0, 98.0, 102.0, 100.0, 104.0, 96.0, 100.0]
    steady = sales_of("art", "steady", dict(zip(days[:10], normal, strict=True)))
    steady_spike = sales_of("art", "steady", {days[10]: 10_000.0})
    # Six ordinary sales and the same spike: 7 sales in the window, one short of being judged.
    thin = sales_of("art", "thin", {d: p for d, p in zip(days[4:10], normal, strict=False)})
    thin_spike = sales_of("art", "thin", {days[10]: 10_000.0})
    write_landing_csv(home, "art/sales.csv", pd.concat([steady, steady_spike, thin, thin_spike]))
    defs = build_definitions(home)

    result = run_range(defs, instance, "ingest_sales", "art", days[0], days[-1])

    assert result.success, "a warning check does not fail the run"
    verdicts = evaluations(result, "raw_sales_price_outliers")
    assert set(verdicts) == {partition_key("art", d) for d in days}
    spike_day = verdicts[partition_key("art", days[10])]
    assert spike_day.passed is False
    assert spike_day.severity == AssetCheckSeverity.WARN
    assert spike_day.blocking is False
    assert meta(spike_day, "outliers") == 1, "the thin item's equal spike is not judged"
    assert meta(spike_day, "sales_judged") == 1
    assert "10000" in meta(spike_day, "examples") and "art:steady" in meta(spike_day, "examples")
    assert all(verdicts[partition_key("art", d)].passed for d in days[:10])

    # The steady item is judged from its 8th sale in the window on; the thin one never is.
    assert OUTLIER_MIN_SALES == 8
    judged = [meta(verdicts[partition_key("art", d)], "sales_judged") for d in days[:10]]
    assert judged == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]


# --- raw_sales_row_count ----------------------------------------------------------------------


def test_a_day_far_below_the_trailing_mean_warns_and_a_thin_class_is_not_judged(home, instance):
    history = days_from(DAY, ROW_COUNT_LOOKBACK_DAYS)
    drop_day = DAY + dt.timedelta(days=ROW_COUNT_LOOKBACK_DAYS)
    busy = pd.concat(
        [
            canonical_sales("sneakers", history, per_day=20),
            canonical_sales("sneakers", [drop_day], per_day=1),
        ]
    )
    # 3 a day, then a 40-sale day: over 4 × the mean, but the class is too thin to judge.
    thin = pd.concat(
        [
            canonical_sales("art", history, per_day=3),
            canonical_sales("art", [drop_day], per_day=40),
        ]
    )
    write_landing_csv(home, "sneakers/sales.csv", busy)
    write_landing_csv(home, "art/sales.csv", thin)
    defs = build_definitions(home)

    # sneakers..art is the rectangle sneakers, art × the 29 days, in one run.
    result = run_range(defs, instance, "ingest_sales", "sneakers", DAY, drop_day, "art")

    assert result.success
    verdicts = evaluations(result, "raw_sales_row_count")
    assert len(verdicts) == 2 * (ROW_COUNT_LOOKBACK_DAYS + 1)

    dropped = verdicts[partition_key("sneakers", drop_day)]
    assert dropped.passed is False
    assert dropped.severity == AssetCheckSeverity.WARN
    assert meta(dropped, "rows") == 1
    assert meta(dropped, "trailing_mean") == 20.0
    assert meta(dropped, "judged") is True

    normal = verdicts[partition_key("sneakers", history[-1])]
    assert normal.passed is True
    assert meta(normal, "rows") == 20 and meta(normal, "judged") is True
    assert [d for d in history if not verdicts[partition_key("sneakers", d)].passed] == []

    thin_spike = verdicts[partition_key("art", drop_day)]
    assert thin_spike.passed is True
    assert meta(thin_spike, "rows") == 40
    assert meta(thin_spike, "trailing_mean") == 3.0
    assert meta(thin_spike, "judged") is False


# --- raw_sales_freshness ----------------------------------------------------------------------


def age_receipts(home, hours_by_class: dict[str, float]) -> None:
    """Pretend each class's files were last ingested `hours` ago."""
    now = dt.datetime.now(dt.UTC)
    receipts = sorted(home.receipts.glob("*/*.json"))
    assert {json.loads(p.read_text())["asset_class"] for p in receipts} == set(hours_by_class)
    for path in receipts:
        receipt = json.loads(path.read_text())
        written = now - dt.timedelta(hours=hours_by_class[receipt["asset_class"]])
        receipt["written_at"] = written.isoformat(timespec="seconds")
        path.write_text(json.dumps(receipt, indent=1))


def test_freshness_passes_after_ingestion_and_warns_when_a_class_goes_stale(home, instance):
    write_landing_csv(home, "sneakers/s.csv", canonical_sales("sneakers", [DAY]))
    write_landing_csv(home, "art/s.csv", canonical_sales("art", [DAY]))
    defs = with_check_jobs(home)

    ingest = run_range(defs, instance, "ingest_sales", "sneakers", DAY, DAY, "art")

    assert ingest.success
    fresh = evaluations(ingest, "raw_sales_freshness")[None]
    assert fresh.passed is True
    assert set(meta(fresh, "hours_since_last_file")) == {"sneakers", "art"}

    age_receipts(home, {"sneakers": FRESHNESS_HOURS + 2, "art": FRESHNESS_HOURS - 2})
    result = defs.resolve_job_def("only_raw_sales_freshness").execute_in_process(
        instance=instance, raise_on_error=False
    )

    assert result.success, "a stale class warns; it does not fail the run"
    stale = evaluations(result, "raw_sales_freshness")
    assert set(stale) == {None}
    assert stale[None].passed is False
    assert stale[None].severity == AssetCheckSeverity.WARN
    assert stale[None].description == "stale classes: sneakers"
    ages = meta(stale[None], "hours_since_last_file")
    assert ages["sneakers"] > FRESHNESS_HOURS > ages["art"]
    assert evaluations(result, "raw_sales_contract") == {}, "only the freshness check ran"


def test_freshness_warns_when_nothing_was_ever_ingested(home, instance):
    defs = with_check_jobs(home)

    result = defs.resolve_job_def("only_raw_sales_freshness").execute_in_process(
        instance=instance, raise_on_error=False
    )

    evaluation = evaluations(result, "raw_sales_freshness")[None]
    assert evaluation.passed is False
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description == "nothing has been ingested yet"
    assert meta(evaluation, "hours_since_last_file") == {}


# --- contracts on stored rows -----------------------------------------------------------------


def assert_contract_verdicts(result, check_name, expected: dict[str, bool]) -> None:
    verdicts = evaluations(result, check_name)
    assert {k: v.passed for k, v in verdicts.items()} == expected
    for key, evaluation in verdicts.items():
        assert evaluation.blocking is True
        assert evaluation.severity == AssetCheckSeverity.ERROR
        problems = meta(evaluation, "problems")
        assert bool(problems) is (not expected[key]), (key, problems)
    assert result.success is all(expected.values()), "a failed blocking check fails the run"


def test_sports_stats_contract_fails_on_a_stored_duplicate_player_or_bad_percentile(home, instance):
    days = days_from(dt.date(2018, 7, 1), 3)
    keys = [partition_key("nba", d) for d in days]
    defs = with_check_jobs(home)
    built = run_range(defs, instance, "build_sports_stats", "nba", days[0], days[-1])
    assert_contract_verdicts(built, "sports_stats_contract", dict.fromkeys(keys, True))

    execute(
        home,
        "INSERT INTO sports_stats SELECT * FROM sports_stats "
        f"WHERE as_of_date = '{days[0]}' ORDER BY player_id LIMIT 1",
    )
    execute(
        home,
        "UPDATE sports_stats SET performance = 1.5 WHERE player_id = "
        f"(SELECT min(player_id) FROM sports_stats) AND as_of_date = '{days[1]}'",
    )
    result = run_range(defs, instance, "only_sports_stats_contract", "nba", days[0], days[-1])

    assert_contract_verdicts(
        result, "sports_stats_contract", {keys[0]: False, keys[1]: False, keys[2]: True}
    )
    verdicts = evaluations(result, "sports_stats_contract")
    duplicate = meta(verdicts[keys[0]], "problems")
    assert duplicate and all(": multiple_fields_uniqueness (" in p for p in duplicate)
    assert meta(verdicts[keys[1]], "problems") == ["performance: less_than_or_equal_to(1) (1.5)"]


def test_hobby_prices_contract_fails_on_a_stored_negative_or_duplicate_price(home, instance):
    (home.landing / "pokemon").mkdir()
    shutil.copy(TCGPLAYER_SAMPLE, home.landing / "pokemon" / TCGPLAYER_SAMPLE.name)
    days = days_from(dt.date(2025, 4, 22), 3)
    keys = [partition_key("pokemon", d) for d in days]
    defs = with_check_jobs(home)
    built = run_range(defs, instance, "build_hobby_prices", "pokemon", days[0], days[-1])
    assert_contract_verdicts(built, "hobby_prices_contract", dict.fromkeys(keys, True))

    execute(
        home,
        "UPDATE hobby_prices SET price_usd = -1.0 "
        f"WHERE as_of_date = '{days[0]}' AND card_name = 'Magikarp 203'",
    )
    execute(
        home,
        "INSERT INTO hobby_prices SELECT * FROM hobby_prices "
        f"WHERE as_of_date = '{days[1]}' AND card_name = 'Umbreon ex 161'",
    )
    result = run_range(defs, instance, "only_hobby_prices_contract", "pokemon", days[0], days[-1])

    assert_contract_verdicts(
        result, "hobby_prices_contract", {keys[0]: False, keys[1]: False, keys[2]: True}
    )
    verdicts = evaluations(result, "hobby_prices_contract")
    assert meta(verdicts[keys[0]], "problems") == ["price_usd: greater_than(0) (-1.0)"]
    duplicate = meta(verdicts[keys[1]], "problems")
    assert duplicate and all(": multiple_fields_uniqueness (" in p for p in duplicate)


def test_raw_sales_contract_fails_on_a_stored_duplicate_sale_id(home, instance):
    days = days_from(DAY, 2)
    keys = [partition_key("art", d) for d in days]
    write_landing_csv(home, "art/sales.csv", canonical_sales("art", days))
    defs = with_check_jobs(home)
    built = run_range(defs, instance, "ingest_sales", "art", days[0], days[-1])
    assert_contract_verdicts(built, "raw_sales_contract", dict.fromkeys(keys, True))

    execute(
        home,
        "INSERT INTO raw_sales SELECT * FROM raw_sales "
        f"WHERE sale_date = '{days[0]}' ORDER BY source_row LIMIT 1",
    )
    result = run_range(defs, instance, "only_raw_sales_contract", "art", days[0], days[-1])

    assert_contract_verdicts(result, "raw_sales_contract", {keys[0]: False, keys[1]: True})
    problems = meta(evaluations(result, "raw_sales_contract")[keys[0]], "problems")
    assert problems and all(p.startswith("sale_id: field_uniqueness") for p in problems)
    assert evaluations(result, "raw_sales_price_outliers") == {}, "only the contract ran"
