"""The CardValue code location: every asset, check, job, sensor and schedule, with resources."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from cardvalue_dagster.assets.checks import INGEST_CHECKS
from cardvalue_dagster.assets.ingest import hobby_prices, raw_sales, sports_stats
from cardvalue_dagster.assets.monitoring import MONITORING_ASSETS, MONITORING_CHECKS
from cardvalue_dagster.assets.portfolio import PORTFOLIO_ASSETS
from cardvalue_dagster.assets.sources import SOURCE_SPECS
from cardvalue_dagster.assets.valuation import VALUATION_ASSETS, VALUATION_CHECKS
from cardvalue_dagster.automation import landing_sensor
from cardvalue_dagster.conditions import valuation_automation
from cardvalue_dagster.home import Home, current_home
from cardvalue_dagster.jobs import INGEST_JOBS, VALUATION_JOBS, daily_portfolio_valuation
from cardvalue_dagster.refresh import card_prices_schedule, refresh_card_prices
from cardvalue_dagster.resources import build_resources
from cardvalue_dagster.retraining import drift_sensor, weekly_backtest


def build_definitions(home: Home) -> Definitions:
    """Everything Dagster loads, wired to the state folder `home`.

    Steps run in the run's own process: a process per step re-imports the code location (about
    9 s a step here), and the warehouse admits one writer at a time anyway.
    """
    return Definitions(
        assets=[
            *SOURCE_SPECS,
            raw_sales,
            sports_stats,
            hobby_prices,
            *VALUATION_ASSETS,
            *MONITORING_ASSETS,
            *PORTFOLIO_ASSETS,
        ],
        asset_checks=[*INGEST_CHECKS, *VALUATION_CHECKS, *MONITORING_CHECKS],
        jobs=[*INGEST_JOBS, *VALUATION_JOBS, refresh_card_prices],
        sensors=[landing_sensor, drift_sensor, valuation_automation],
        schedules=[card_prices_schedule, daily_portfolio_valuation, weekly_backtest],
        resources=build_resources(home),
        executor=in_process_executor,
    )


defs = build_definitions(current_home())
