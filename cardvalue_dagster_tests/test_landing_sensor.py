"""landing_sensor scenarios, each tick built by hand with the cursor the last one left."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from dagster import AssetKey, SensorResult, SkipReason, build_sensor_context

from cardvalue_dagster.automation import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    landing_sensor,
)
from cardvalue_dagster.partitions import partition_key
from cardvalue_dagster.resources import HomeResource
from cardvalue_dagster.sources.landing import locate, write_receipt
from cardvalue_dagster_tests.conftest import canonical_sales, write_landing_csv

DAY = dt.date(2026, 11, 2)


def tick(home, instance, cursor=None):
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"home": HomeResource(path=str(home.root))}
    )
    result = landing_sensor(context)
    new_cursor = result.cursor if isinstance(result, SensorResult) else context.cursor
    return result, new_cursor


def ranges(result):
    return [
        (r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG])
        for r in result.run_requests
    ]


def test_a_new_file_requests_exactly_the_days_of_its_rows(home, instance):
    days = [DAY, DAY + dt.timedelta(1), DAY + dt.timedelta(5)]
    write_landing_csv(home, "nba/new.csv", canonical_sales("nba", days))

    result, _ = tick(home, instance)

    assert isinstance(result, SensorResult)
    assert ranges(result) == [
        (partition_key("nba", days[0]), partition_key("nba", days[1])),
        (partition_key("nba", days[2]), partition_key("nba", days[2])),
    ]
    assert all(r.asset_selection == [AssetKey("raw_sales")] for r in result.run_requests)
    assert all(r.run_key.startswith("nba/new.csv@") for r in result.run_requests)


def test_the_same_file_again_requests_nothing(home, instance):
    write_landing_csv(home, "nba/new.csv", canonical_sales("nba", [DAY]))
    _, cursor = tick(home, instance)

    again, _ = tick(home, instance, cursor)

    assert isinstance(again, SkipReason)
    assert "no new or changed landing files" in again.skip_message


def test_touching_a_file_without_changing_it_requests_nothing(home, instance):
    path = write_landing_csv(home, "nba/new.csv", canonical_sales("nba", [DAY]))
    _, cursor = tick(home, instance)
    path.write_bytes(path.read_bytes())

    again, _ = tick(home, instance, cursor)

    assert isinstance(again, SkipReason)


def test_a_changed_file_requests_its_days_under_a_new_run_key(home, instance):
    path = write_landing_csv(home, "nba/new.csv", canonical_sales("nba", [DAY]))
    first, cursor = tick(home, instance)
    changed = canonical_sales("nba", [DAY], price=250.0)
    changed.to_csv(path, index=False)

    second, _ = tick(home, instance, cursor)

    assert ranges(second) == ranges(first)
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_bad_paths_are_skipped_with_their_reason_and_good_files_still_run(home, instance):
    write_landing_csv(home, "baseball/x.csv", canonical_sales("nba", [DAY]))
    write_landing_csv(home, "nba/2026-02-30/x.csv", canonical_sales("nba", [DAY]))
    write_landing_csv(home, "nba/good.csv", canonical_sales("nba", [DAY]))

    result, _ = tick(home, instance)

    assert ranges(result) == [(partition_key("nba", DAY), partition_key("nba", DAY))]
    only_bad, _ = tick(home, instance, result.cursor)
    assert isinstance(only_bad, SkipReason)


def test_only_bad_paths_give_a_skip_reason_naming_them(home, instance):
    write_landing_csv(home, "baseball/x.csv", canonical_sales("nba", [DAY]))

    result, _ = tick(home, instance)

    assert isinstance(result, SkipReason)
    assert "'baseball' is not an asset class" in result.skip_message


def test_the_cursor_survives_a_restart(home, instance):
    write_landing_csv(home, "nba/a.csv", canonical_sales("nba", [DAY]))
    _, cursor = tick(home, instance)
    write_landing_csv(home, "nba/b.csv", canonical_sales("nba", [DAY + dt.timedelta(1)]))

    after_restart, _ = tick(home, instance, cursor=str(cursor))

    assert [r.tags["cardvalue/landing_file"] for r in after_restart.run_requests] == ["nba/b.csv"]


def test_days_already_built_from_this_file_version_are_not_requested(home, instance):
    days = [DAY, DAY + dt.timedelta(1)]
    path = write_landing_csv(home, "nba/a.csv", canonical_sales("nba", days))
    from cardvalue_dagster.sources.landing import fingerprint

    write_receipt(home.receipts, locate(path, home.landing), fingerprint(path), [DAY], "run-1")
    result, _ = tick(home, instance)

    assert ranges(result) == [(partition_key("nba", days[1]), partition_key("nba", days[1]))]


def test_an_unreadable_file_in_a_dated_folder_requests_its_day_so_the_run_reports_it(
    home, instance
):
    garbage = home.landing / "nba" / DAY.isoformat() / "broken.csv"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"\x00\x01garbage")
    undated = home.landing / "nba" / "broken.csv"
    undated.write_bytes(b"\x00\x01garbage")

    result, _ = tick(home, instance)

    assert ranges(result) == [(partition_key("nba", DAY), partition_key("nba", DAY))]


def test_a_price_file_requests_hobby_prices(home, instance):
    prices = pd.DataFrame(
        {
            "set": ["SV01"],
            "type": ["Card"],
            "period": ["3M"],
            "name": ["Gardevoir ex 245"],
            "period_start_date": ["2026-01-01"],
            "period_end_date": ["2026-01-03"],
            "timestamp": ["2026-01-04 06:00:00"],
            "holofoil_price": [12.5],
            "volume": [3],
        }
    )
    write_landing_csv(home, "pokemon/history.csv", prices)

    result, _ = tick(home, instance)

    assert [r.asset_selection for r in result.run_requests] == [[AssetKey("hobby_prices")]]
    assert ranges(result) == [
        (
            partition_key("pokemon", dt.date(2026, 1, 3)),
            partition_key("pokemon", dt.date(2026, 1, 3)),
        )
    ]


def test_a_portfolio_file_requests_todays_valuation_once(home, instance):
    portfolio = home.landing / "portfolios" / "vault.json"
    portfolio.parent.mkdir(parents=True)
    portfolio.write_text('[{"asset_class": "sneakers", "attributes": {"name": "x", "size": 9}}]')

    first, cursor = tick(home, instance)
    again, _ = tick(home, instance, cursor)

    assert isinstance(first, SensorResult)
    [request] = first.run_requests
    assert request.asset_selection == [AssetKey("portfolio_valuations")]
    assert request.partition_key == dt.datetime.now(dt.UTC).date().isoformat()
    assert request.tags["cardvalue/landing_file"] == "portfolios/vault.json"
    assert isinstance(again, SkipReason)
