"""The main job end to end, on a short window: every class, every asset, all green."""

from __future__ import annotations

import json

import duckdb
from dagster import AssetKey

from cardvalue_dagster.asset_classes import ASSET_CLASSES, HOBBY_GAMES, SPORTS
from cardvalue_dagster.demo import run_demo
from cardvalue_dagster.model_registry import latest_version
from cardvalue_dagster.sources.bundled_default import SIMULATED_CLASSES, bundled_landing
from cardvalue_dagster.tracking import tracking_uri

SAMPLE_VAULT = bundled_landing() / "portfolios" / "sample_vault.json"


def test_the_demo_materializes_the_graph_for_all_twelve_classes(home, instance):
    outcomes = run_demo(home, days=2)

    assert outcomes and all(o.success for o in outcomes), [o for o in outcomes if not o.success]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        sales = con.execute(
            "SELECT asset_class, bool_and(is_simulated) sim, bool_or(is_simulated) any_sim "
            "FROM raw_sales GROUP BY 1"
        ).df()
        sports = con.execute("SELECT DISTINCT asset_class FROM sports_stats").df()
        explained = con.execute("SELECT DISTINCT asset_class FROM shap_importances").df()
        vault = con.execute("SELECT status, count(*) n FROM portfolio_valuations GROUP BY 1").df()

    assert set(sales["asset_class"]) == set(ASSET_CLASSES)
    for row in sales.itertuples():
        assert row.sim == row.any_sim == (row.asset_class in SIMULATED_CLASSES), row
    assert set(sports["asset_class"]) == set(SPORTS)
    assert set(explained["asset_class"]) == set(ASSET_CLASSES)
    # Every line of the sample vault is kept: valued, or with its reason (two days of data are
    # too few for a class to pass its gate and have a champion).
    assert vault["n"].sum() == len(json.loads(SAMPLE_VAULT.read_text())), vault
    waiting = vault[vault["status"] != "valued"]
    assert waiting["status"].str.contains("valuator").all(), waiting

    materialized = {
        name: {k.split("|")[0] for k in instance.get_materialized_partitions(AssetKey(name))}
        for name in ("raw_sales", "sports_stats", "hobby_prices", "enriched_features")
    }
    assert materialized == {
        "raw_sales": set(ASSET_CLASSES),
        "sports_stats": set(SPORTS),
        "hobby_prices": set(HOBBY_GAMES),
        "enriched_features": set(ASSET_CLASSES),
    }
    for name in ("valuator", "valuator_backtest", "promoted_valuator", "shap_summary"):
        assert set(instance.get_materialized_partitions(AssetKey(name))) == set(ASSET_CLASSES)
    reported = instance.get_materialized_partitions(AssetKey("drift_report"))
    assert {key.split("|")[0] for key in reported} == set(ASSET_CLASSES)
    assert len(instance.get_materialized_partitions(AssetKey("portfolio_valuations"))) == 1
    for asset_class in ASSET_CLASSES:
        assert latest_version(tracking_uri(home), asset_class) is not None, asset_class
