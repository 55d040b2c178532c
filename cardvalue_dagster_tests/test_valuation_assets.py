"""The valuation stage in Dagster: features, a registered valuator, its backtest and promotion."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, build_schedule_context

from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.home import Home
from cardvalue_dagster.model_registry import (
    latest_version,
    monitored_version,
    promote,
    promoted_version,
)
from cardvalue_dagster.retraining import watched_version
from cardvalue_dagster.tracking import tracking_uri
from cardvalue_dagster.warehouse import Warehouse
from cardvalue_dagster_tests.conftest import query, run_range, write_landing_csv
from cardvalue_dagster_tests.core.helpers import START, synthetic_market

DAYS = 60


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A home with 60 days of a synthetic sneaker market, featured, trained and backtested."""
    home = Home(tmp_path_factory.mktemp("valuation") / "home").create()
    sales = synthetic_market(DAYS, 40, seed=3)
    sales["sale_date"] = sales["sale_date"].dt.date.astype(str)
    write_landing_csv(home, "sneakers/market.csv", sales)

    defs = build_definitions(home)
    end = START + dt.timedelta(days=DAYS - 1)
    with DagsterInstance.from_config(str(home.dagster)) as instance:
        for job in ("ingest_sales", "build_features"):
            assert run_range(defs, instance, job, "sneakers", START, end).success, job
        train = defs.resolve_job_def("train_valuator").execute_in_process(
            instance=instance, partition_key="sneakers", raise_on_error=False
        )
        yield home, defs, instance, train


def _metadata(result, asset: str) -> dict:
    events = result.asset_materializations_for_node(asset)
    assert len(events) == 1, asset
    return {k: v.value for k, v in events[0].metadata.items()}


def test_features_hold_every_sale_with_comps_from_earlier_days_only(trained) -> None:
    home, *_ = trained
    features = query(home, "SELECT * FROM enriched_features ORDER BY sale_date")

    assert len(features) == DAYS * 40
    first_day = features[features["sale_date"] == features["sale_date"].min()]
    assert first_day["iv_n_30d"].fillna(0).eq(0).all()
    assert features["iv_n_30d"].max() > 0


def test_training_registers_a_model_version_linked_from_the_asset(trained) -> None:
    home, _, _, train = trained
    assert train.success

    metadata = _metadata(train, "valuator")
    version = latest_version(tracking_uri(home), "sneakers")
    assert version is not None and metadata["model_version"] == str(version.version)
    assert metadata["mlflow_run_id"] == version.run_id
    assert metadata["mlflow_run"].endswith(f"/runs/{version.run_id}")
    assert metadata["training_sales"] == DAYS * 40

    import mlflow

    mlflow.set_tracking_uri(tracking_uri(home))
    model_uri = f"models:/{version.name}/{version.version}"
    inputs = mlflow.models.get_model_info(model_uri).signature.inputs.input_names()
    assert "iv_med_30d" in inputs and "price_usd" not in inputs and "sale_id" not in inputs
    unsold = query(home, "SELECT * FROM enriched_features LIMIT 5").drop(columns=["price_usd"])
    valued = mlflow.pyfunc.load_model(model_uri).predict(unsold.drop(columns=["sale_id"]))
    assert (valued["lower"] <= valued["value"]).all() and (valued["value"] <= valued["upper"]).all()


def test_backtest_compares_three_methods_and_the_gate_decides_promotion(trained) -> None:
    home, _, _, train = trained
    rows = query(home, "SELECT * FROM valuator_backtests").set_index("method")

    assert set(rows.index) == {"valuator", "comps", "rf"}
    assert (rows["n"] > 0).all()
    assert rows["evaluated_at"].nunique() == 1  # one evaluation, read back as one by /metrics
    assert rows["model_version"].nunique() == 1
    assert "| valuator |" in _metadata(train, "valuator_backtest")["backtest"]

    gate = [
        e for e in train.get_asset_check_evaluations() if e.check_name == "valuator_backtest_gate"
    ]
    assert len(gate) == 1
    champion = promoted_version(tracking_uri(home), "sneakers")
    candidate = str(latest_version(tracking_uri(home), "sneakers").version)
    assert (champion == candidate) == gate[0].passed


def _set_gate_rows(home: Home, version: str, coverage: float) -> None:
    """Backtest rows for `version` with the given valuator coverage and a clear error margin."""
    rows = pd.DataFrame(
        [
            {"method": "valuator", "mdape": 0.03, "coverage": coverage},
            {"method": "comps", "mdape": 0.05, "coverage": None},
        ]
    ).assign(asset_class="sneakers", n=500, model_version=version)
    Warehouse(database=str(home.warehouse)).replace_class_rows(
        "valuator_backtests", rows, "sneakers"
    )


def test_a_version_that_fails_the_gate_is_not_promoted(trained) -> None:
    home, defs, instance, _ = trained
    uri = tracking_uri(home)
    train_job = defs.resolve_job_def("train_valuator")

    first = str(latest_version(uri, "sneakers").version)
    _set_gate_rows(home, first, coverage=0.90)
    assert train_job.execute_in_process(
        instance=instance, partition_key="sneakers", asset_selection=[AssetKey("promoted_valuator")]
    ).success
    assert promoted_version(uri, "sneakers") == first

    assert train_job.execute_in_process(
        instance=instance, partition_key="sneakers", asset_selection=[AssetKey("valuator")]
    ).success
    second = str(latest_version(uri, "sneakers").version)
    assert second != first

    _set_gate_rows(home, second, coverage=0.70)
    kept = train_job.execute_in_process(
        instance=instance, partition_key="sneakers", asset_selection=[AssetKey("promoted_valuator")]
    )
    assert kept.success
    assert promoted_version(uri, "sneakers") == first
    assert _metadata(kept, "promoted_valuator")["promoted"] is False
    # Drift keeps watching the champion that still serves, not the rejected version.
    assert str(monitored_version(uri, "sneakers").version) == first
    assert watched_version(instance, "sneakers") == first


def test_portfolio_lines_are_valued_or_kept_with_their_reason(trained) -> None:
    home, defs, instance, _ = trained
    uri = tracking_uri(home)
    if promoted_version(uri, "sneakers") is None:
        promote(uri, "sneakers", str(latest_version(uri, "sneakers").version))
    lines = [
        {
            "asset_class": "sneakers",
            "cost_basis_usd": 90,
            "attributes": {"name": "item0", "size": 8},
        },
        {"asset_class": "sneakers", "attributes": {"name": "item3", "size": 10}},
        {"asset_class": "art", "cost_basis_usd": 500, "attributes": {"artist": "Nobody"}},
        {"asset_class": "comics", "attributes": {"title": "x"}},
    ]
    folder = home.landing / "portfolios"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vault.json").write_text(json.dumps(lines))
    (folder / "broken.json").write_text('[{"asset_class": "sneakers", ')
    day = START + dt.timedelta(days=DAYS)

    result = defs.resolve_job_def("value_portfolios").execute_in_process(
        instance=instance, partition_key=day.isoformat()
    )

    assert result.success  # the broken file fails its own portfolio, not the run
    everything = query(home, "SELECT * FROM portfolio_valuations ORDER BY portfolio, line")
    broken = everything[everything["portfolio"] == "broken"]
    assert len(broken) == 1 and broken["status"].iloc[0].startswith("unreadable: the file")
    rows = everything[everything["portfolio"] == "vault"].reset_index(drop=True)
    assert list(rows["line"]) == [1, 2, 3, 4]
    valued = rows[rows["status"] == "valued"]
    assert list(valued["line"]) == [1, 2]
    assert (valued["lower"] <= valued["value"]).all() and (valued["value"] <= valued["upper"]).all()
    assert rows.loc[2, "status"].startswith("no promoted art valuator")
    assert "comics" in rows.loc[3, "status"]
    metadata = _metadata(result, "portfolio_valuations")
    assert metadata["vault/total_value"] == pytest.approx(valued["value"].sum())
    assert metadata["vault/total_upper"] == pytest.approx(valued["upper"].sum())
    assert "unvalued_cost_basis_usd" in metadata["totals"] and "500.00" in metadata["totals"]


def test_weekly_backtest_reruns_each_trained_class(trained) -> None:
    home, defs, instance, _ = trained
    schedule = defs.get_schedule_def("weekly_backtest")
    monday = dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)

    requests = schedule.evaluate_tick(
        build_schedule_context(
            instance=instance,
            scheduled_execution_time=monday,
            repository_def=defs.get_repository_def(),
        )
    ).run_requests

    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("sneakers", "backtest:sneakers:2026-12-07")
    ]
    before = query(home, "SELECT max(evaluated_at) AS at FROM valuator_backtests")["at"].iloc[0]
    rerun = defs.resolve_job_def("backtest_valuator").execute_in_process(
        instance=instance, partition_key="sneakers"
    )
    assert rerun.success
    assert [e.check_name for e in rerun.get_asset_check_evaluations()] == ["valuator_backtest_gate"]
    rows = query(home, "SELECT * FROM valuator_backtests")
    assert set(rows["method"]) == {"valuator", "comps", "rf"}
    after = rows["evaluated_at"].max()
    assert pd.notna(after) and (pd.isna(before) or after > before)
