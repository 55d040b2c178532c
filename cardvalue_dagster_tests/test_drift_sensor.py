"""drift_sensor: one retraining for the class whose market moved for days, none for the others."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from dagster import AssetKey, DagsterInstance, SensorResult, build_sensor_context
from mlflow.tracking import MlflowClient

from cardvalue_dagster.core.drift import DRIFT_SHARE_WARNING
from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.home import Home
from cardvalue_dagster.model_registry import latest_version
from cardvalue_dagster.retraining import (
    CLASS_TAG,
    DRIFT_PERSIST_DAYS,
    REASON_TAG,
    DriftDay,
    drift_sensor,
    retraining_reason,
)
from cardvalue_dagster.tracking import tracking_uri
from cardvalue_dagster_tests.conftest import query, run_range, write_landing_csv
from cardvalue_dagster_tests.core.helpers import START, synthetic_market

TRAIN_DAYS = 40
MOVED_DAYS = 4
PER_DAY = 150


def _market(asset_class: str, seed: int):
    sales = synthetic_market(TRAIN_DAYS + MOVED_DAYS, PER_DAY, seed=seed)
    sales["asset_class"] = asset_class
    sales["item_id"] = asset_class + ":" + sales["item_name"]
    sales["sale_id"] = asset_class + "-" + sales["sale_id"]
    return sales


def _moved(sales, first_moved: dt.date):
    """From `first_moved` on: prices 60 % higher and half the sales of items never seen."""
    moved = sales["sale_date"].dt.date >= first_moved
    sales.loc[moved, "price_usd"] = (sales.loc[moved, "price_usd"] * 1.6).round(2)
    newcomers = moved & (np.arange(len(sales)) % 2 == 0)
    sales.loc[newcomers, "item_name"] = "newcomer " + sales.loc[newcomers, "variant"]
    sales.loc[newcomers, "item_id"] = "art:newcomer"
    return sales


@pytest.fixture(scope="module")
def drifted_home(tmp_path_factory: pytest.TempPathFactory):
    """sneakers and art trained on 40 days; then art's market moves for 4 days, sneakers' not."""
    home = Home(tmp_path_factory.mktemp("drift") / "home").create()
    first_moved = START + dt.timedelta(days=TRAIN_DAYS)
    last = START + dt.timedelta(days=TRAIN_DAYS + MOVED_DAYS - 1)
    markets = {"sneakers": _market("sneakers", 1), "art": _moved(_market("art", 2), first_moved)}
    training = {c: m[m["sale_date"].dt.date < first_moved] for c, m in markets.items()}
    later = {c: m[m["sale_date"].dt.date >= first_moved] for c, m in markets.items()}

    defs = build_definitions(home)
    with DagsterInstance.from_config(str(home.dagster)) as instance:
        for asset_class, sales in training.items():
            _land(home, asset_class, "train.csv", sales)
            _build(defs, instance, asset_class, START, first_moved - dt.timedelta(days=1))
            assert (
                defs.resolve_job_def("train_valuator")
                .execute_in_process(
                    instance=instance,
                    partition_key=asset_class,
                    asset_selection=[AssetKey("valuator")],
                )
                .success
            )
        for asset_class, sales in later.items():
            _land(home, asset_class, "later.csv", sales)
            _build(defs, instance, asset_class, first_moved, last)
            assert run_range(defs, instance, "report_drift", asset_class, first_moved, last).success
        yield home, instance


def _land(home: Home, asset_class: str, name: str, sales) -> None:
    sales = sales.copy()
    sales["sale_date"] = sales["sale_date"].dt.date.astype(str)
    write_landing_csv(home, f"{asset_class}/{name}", sales)


def _build(defs, instance, asset_class: str, start: dt.date, end: dt.date) -> None:
    for job in ("ingest_sales", "build_features"):
        assert run_range(defs, instance, job, asset_class, start, end).success, job


def test_moved_market_gets_exactly_one_retraining(drifted_home) -> None:
    _, instance = drifted_home
    first = drift_sensor(build_sensor_context(instance=instance))
    second = drift_sensor(build_sensor_context(instance=instance))

    assert isinstance(first, SensorResult)
    assert [r.partition_key for r in first.run_requests] == ["art"]
    request = first.run_requests[0]
    assert request.tags[CLASS_TAG] == "art"
    assert "drift persisted" in request.tags[REASON_TAG]
    assert isinstance(second, SensorResult)
    assert [r.run_key for r in second.run_requests] == [request.run_key]


def test_one_drifted_day_is_a_wobble_not_a_reason() -> None:
    day = dt.date(2024, 3, 1)
    days = [
        DriftDay(day + dt.timedelta(days=n), "2", True, share)
        for n, share in enumerate([0.05, 0.6, 0.1, 0.05])
    ]

    assert retraining_reason(days, "2", coverage=0.9, threshold=0.3) is None
    assert retraining_reason(days, "2", coverage=0.8, threshold=0.3) is not None
    persisted = [DriftDay(d.day, d.model_version, True, 0.5) for d in days]
    assert retraining_reason(persisted, "2", coverage=0.9, threshold=0.3) is not None
    assert retraining_reason(persisted, "3", coverage=None, threshold=0.3) is None


def test_each_day_is_judged_by_its_own_warning_share() -> None:
    day = dt.date(2024, 3, 1)
    volatile = [
        DriftDay(day + dt.timedelta(days=n), "2", True, 0.62, warning_share=0.8) for n in range(5)
    ]
    beyond = [DriftDay(d.day, d.model_version, True, 0.88, warning_share=0.8) for d in volatile]

    assert retraining_reason(volatile, "2", coverage=None, threshold=0.3) is None
    assert retraining_reason(beyond, "2", coverage=None, threshold=0.3) is not None


def test_each_reported_day_carries_its_version_warning_share(drifted_home) -> None:
    """The share a day was judged by is the one its model version's training measured."""
    home, _ = drifted_home
    client = MlflowClient(tracking_uri=tracking_uri(home))
    days = query(home, "SELECT * FROM drift_days WHERE enough_data")

    assert set(days["asset_class"]) == {"sneakers", "art"}
    for asset_class, rows in days.groupby("asset_class"):
        version = latest_version(tracking_uri(home), str(asset_class))
        measured = client.get_run(version.run_id).data.metrics["drift_warning_share"]
        assert (rows["warning_share"] == measured).all(), asset_class
        assert measured >= DRIFT_SHARE_WARNING
    art = days[days["asset_class"] == "art"]
    assert (art["drifted_share"] >= art["warning_share"]).sum() >= DRIFT_PERSIST_DAYS
