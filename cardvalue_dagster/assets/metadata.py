"""Metadata helpers shared by the assets: column schemas and previews the UI shows."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

from cardvalue_dagster.warehouse import TABLES

OWNER = "team:data-platform"


def column_schema(table: str, descriptions: dict[str, str]) -> TableSchema:
    """The warehouse table's columns with their DuckDB types and plain-language descriptions."""
    return TableSchema(
        columns=[
            TableColumn(
                name=name, type=kind.replace(" NOT NULL", ""), description=descriptions.get(name)
            )
            for name, kind in TABLES[table].items()
        ]
    )


def table_metadata(table: str, descriptions: dict[str, str]) -> dict[str, Any]:
    """Static metadata of an asset stored in the warehouse table `table`."""
    return {
        "dagster/column_schema": column_schema(table, descriptions),
        "dagster/table_name": f"warehouse.main.{table}",
    }


def preview(frame: pd.DataFrame, rows: int = 10) -> MetadataValue:
    """A markdown preview of the first rows, with long text cut so the table stays readable."""
    if frame.empty:
        return MetadataValue.md("_no rows_")
    head = frame.head(rows).copy()
    for column in head.columns:
        if head[column].dtype == object:
            head[column] = head[column].astype(str).str.slice(0, 60)
    return MetadataValue.md(head.to_markdown(index=False))


def derived_table_metadata(
    table: str, columns: dict[str, str], descriptions: dict[str, str]
) -> dict[str, Any]:
    """Static metadata of a warehouse table whose columns follow code, not `TABLES`."""
    schema = TableSchema(
        columns=[
            TableColumn(name=name, type=kind, description=descriptions.get(name))
            for name, kind in columns.items()
        ]
    )
    return {"dagster/column_schema": schema, "dagster/table_name": f"warehouse.main.{table}"}
