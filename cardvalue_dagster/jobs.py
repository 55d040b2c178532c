"""Jobs for the CLI, sensors and backfills: one per stage, each asset with its checks."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from cardvalue_dagster.assets.ingest import hobby_prices, raw_sales, sports_stats
from cardvalue_dagster.assets.monitoring import drift_report, shap_summary
from cardvalue_dagster.assets.portfolio import portfolio_valuations
from cardvalue_dagster.assets.valuation import (
    enriched_features,
    promoted_valuator,
    valuator,
    valuator_backtest,
)

ingest_sales_job = define_asset_job(
    "ingest_sales",
    selection=AssetSelection.assets(raw_sales),
    description="raw_sales for a range of classes and days, with its contract and warning checks.",
)
sports_stats_job = define_asset_job(
    "build_sports_stats",
    selection=AssetSelection.assets(sports_stats),
    description="sports_stats for a range of sports and days, with its contract check.",
)
hobby_prices_job = define_asset_job(
    "build_hobby_prices",
    selection=AssetSelection.assets(hobby_prices),
    description="hobby_prices for a range of games and days, with its contract check.",
)

INGEST_JOBS = [ingest_sales_job, sports_stats_job, hobby_prices_job]

build_features_job = define_asset_job(
    "build_features",
    selection=AssetSelection.assets(enriched_features),
    description="enriched_features for a range of classes and days.",
)
train_valuator_job = define_asset_job(
    "train_valuator",
    selection=AssetSelection.assets(valuator, valuator_backtest, promoted_valuator, shap_summary),
    description=(
        "One class: train and register its valuator, backtest it, explain it with SHAP, and "
        "promote the new version only if the backtest gate passes."
    ),
)
report_drift_job = define_asset_job(
    "report_drift",
    selection=AssetSelection.assets(drift_report),
    description="drift_report for a range of classes and days, with its warning check.",
)

value_portfolios_job = define_asset_job(
    "value_portfolios",
    selection=AssetSelection.assets(portfolio_valuations),
    description="portfolio_valuations for one day: every portfolio file in the landing zone.",
)

backtest_valuator_job = define_asset_job(
    "backtest_valuator",
    selection=AssetSelection.assets(valuator_backtest),
    description=(
        "One class: the walk-forward backtest of its last four weeks again, without retraining, "
        "so its coverage (which drift_sensor watches) stays current; with the promotion gate."
    ),
)

VALUATION_JOBS = [
    build_features_job,
    train_valuator_job,
    backtest_valuator_job,
    report_drift_job,
    value_portfolios_job,
]

daily_portfolio_valuation = build_schedule_from_partitioned_job(
    value_portfolios_job,
    name="daily_portfolio_valuation",
    hour_of_day=7,
    default_status=DefaultScheduleStatus.STOPPED,
    description=(
        "Every day at 07:00 UTC (after the card price refresh), every vault file in "
        "landing/portfolios/ valued as of that day."
    ),
)
