"""Concurrent runs share one DuckDB file without failing on its single-writer lock."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import duckdb
import yaml

from cardvalue_dagster.assets.checks import INGEST_CHECKS
from cardvalue_dagster.assets.ingest import WAREHOUSE_POOL, hobby_prices, raw_sales, sports_stats
from cardvalue_dagster_tests.conftest import canonical_sales, write_landing_csv

DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(20)]

RUN_ONE_CLASS = textwrap.dedent(
    """
    import sys
    from dagster import DagsterInstance
    from cardvalue_dagster.definitions import build_definitions
    from cardvalue_dagster.home import Home
    from cardvalue_dagster.automation import PARTITION_RANGE_START_TAG, PARTITION_RANGE_END_TAG

    home, asset_class, start, end = Home(__import__("pathlib").Path(sys.argv[1])), *sys.argv[2:]
    with DagsterInstance.from_config(str(home.dagster)) as instance:
        result = build_definitions(home).resolve_job_def("ingest_sales").execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: f"{asset_class}|{start}",
                  PARTITION_RANGE_END_TAG: f"{asset_class}|{end}"},
            raise_on_error=False,
        )
    sys.exit(0 if result.success else 1)
    """
)


def test_every_warehouse_step_is_in_the_pool_and_the_pool_admits_one(home):
    steps = [raw_sales, sports_stats, hobby_prices]
    assert all(step.op.pool == WAREHOUSE_POOL for step in steps)
    partitioned_checks = [c for c in INGEST_CHECKS if c.partitions_def is not None]
    assert all(check.op.pool == WAREHOUSE_POOL for check in partitioned_checks)

    settings = yaml.safe_load((home.dagster / "dagster.yaml").read_text())
    assert settings["concurrency"]["pools"]["default_limit"] == 1


def test_two_processes_writing_at_once_both_succeed(home):
    for asset_class in ("art", "luxury"):
        write_landing_csv(home, f"{asset_class}/s.csv", canonical_sales(asset_class, DAYS, 40))

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_ONE_CLASS, str(home.root), c, str(DAYS[0]), str(DAYS[-1])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for c in ("art", "luxury")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        counts = dict(
            con.execute("SELECT asset_class, count(*) FROM raw_sales GROUP BY 1").fetchall()
        )
    assert counts == {"art": 800, "luxury": 800}
