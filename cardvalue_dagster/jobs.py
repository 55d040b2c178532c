"""Jobs that materialize one ingest asset with its checks, for the CLI, sensors and backfills."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from cardvalue_dagster.assets.ingest import hobby_prices, raw_sales, sports_stats

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
