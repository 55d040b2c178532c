"""The code location loads, and its shape matches the committed snapshot.

To accept an intended change of shape: CARDVALUE_UPDATE_SNAPSHOT=1 pytest -k snapshot, then
review the diff of snapshots/definitions.json like any other change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagster import (
    AssetKey,
    Definitions,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from cardvalue_dagster.asset_classes import ASSET_CLASSES
from cardvalue_dagster.definitions import build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def describe(defs: Definitions) -> dict:
    """Every asset's key, partitioning, dependencies, checks, group, kinds and owners."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "partitions": _describe_partitions(partitions),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": list(node.owners),
            "has_description": bool(node.description),
            "columns": _columns(node.metadata),
            "table": node.metadata.get("dagster/table_name"),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in defs.sensors or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
    }


def _columns(metadata) -> list[str]:
    schema = metadata.get("dagster/column_schema")
    return [c.name for c in schema.columns] if schema is not None else []


def _describe_partitions(partitions) -> dict | None:
    if partitions is None:
        return None
    if isinstance(partitions, StaticPartitionsDefinition):
        return {"dimensions": ["asset_class"], "asset_class": partitions.get_partition_keys()}
    if isinstance(partitions, TimeWindowPartitionsDefinition):
        return {"dimensions": ["date"], **_describe_days(partitions)}
    assert isinstance(partitions, MultiPartitionsDefinition)
    dims = {d.name: d.partitions_def for d in partitions.partitions_defs}
    return {
        "dimensions": sorted(dims),
        "asset_class": dims["asset_class"].get_partition_keys(),
        **_describe_days(dims["date"]),
    }


def _describe_days(daily) -> dict:
    return {"date_start": daily.start.date().isoformat(), "date_cron": daily.cron_schedule}


def test_definitions_load_with_every_asset_check_sensor_and_schedule(home):
    defs = build_definitions(home)
    shape = describe(defs)

    assert {"raw_sales", "sports_stats", "hobby_prices"} <= set(shape["assets"])
    assert shape["assets"]["raw_sales"]["partitions"]["asset_class"] == list(ASSET_CLASSES)
    assert "raw_sales_contract" in shape["assets"]["raw_sales"]["checks"]
    assert "landing_sensor" in shape["sensors"]
    assert shape["schedules"], "the API refresh schedule is missing"
    assert defs.resolve_assets_def(AssetKey("raw_sales")).backfill_policy is not None


def test_every_asset_has_a_description_owner_kinds_and_column_schema(home):
    for name, asset in describe(build_definitions(home))["assets"].items():
        assert asset["has_description"], name
        assert asset["owners"], name
        assert asset["kinds"], name
        is_warehouse_table = asset["table"] is not None
        assert bool(asset["columns"]) == is_warehouse_table, name


def test_snapshot_of_the_graph(home):
    shape = describe(build_definitions(home))
    if os.environ.get("CARDVALUE_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(shape, indent=2, sort_keys=True) + "\n")

    assert shape == json.loads(SNAPSHOT.read_text())
