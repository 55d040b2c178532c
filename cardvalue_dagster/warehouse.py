"""The DuckDB warehouse: table layouts, and writes that replace exactly the partitions of a run.

Assets write through `Warehouse.replace_partitions` instead of Dagster's DuckDB IO manager: the
IO manager cannot write a classes × dates rectangle in one run, nor load inputs through the
class-subset mappings between `raw_sales`, `sports_stats` and `hobby_prices`
(dagster-io/dagster#26398), and it writes before a check can stop bad rows. Here a write is one
transaction: delete the run's partitions, insert the new rows, so re-materializing a partition
replaces exactly that partition and a failed write leaves the old rows in place.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

logger = logging.getLogger(__name__)

TABLES: dict[str, dict[str, str]] = {
    "raw_sales": {
        "sale_id": "VARCHAR NOT NULL",
        "asset_class": "VARCHAR NOT NULL",
        "item_id": "VARCHAR NOT NULL",
        "item_name": "VARCHAR NOT NULL",
        "variant": "VARCHAR",
        "sale_date": "DATE NOT NULL",
        "price_usd": "DOUBLE NOT NULL",
        "venue": "VARCHAR",
        "grade": "DOUBLE",
        "grading_company": "VARCHAR",
        "condition": "VARCHAR",
        "attributes": "JSON",
        "is_simulated": "BOOLEAN NOT NULL",
        "source_format": "VARCHAR NOT NULL",
        "source_file": "VARCHAR NOT NULL",
        "source_row": "BIGINT NOT NULL",
    },
    "quarantine": {
        "asset_class": "VARCHAR NOT NULL",
        "partition_date": "DATE",
        "source_file": "VARCHAR NOT NULL",
        "source_row": "BIGINT NOT NULL",
        "rule": "VARCHAR NOT NULL",
        "detail": "VARCHAR",
        "row_values": "JSON",
        "run_id": "VARCHAR",
        "quarantined_at": "TIMESTAMP",
    },
    "sports_stats": {
        "asset_class": "VARCHAR NOT NULL",
        "as_of_date": "DATE NOT NULL",
        "player_id": "VARCHAR NOT NULL",
        "player_name": "VARCHAR",
        "team": "VARCHAR",
        "position": "VARCHAR",
        "last_season": "VARCHAR",
        "seasons_played": "BIGINT",
        "games_played": "DOUBLE",
        "headline_stat_name": "VARCHAR",
        "headline_stat": "DOUBLE",
        "performance": "DOUBLE",
        "form": "DOUBLE",
        "stats": "JSON",
    },
    "hobby_prices": {
        "asset_class": "VARCHAR NOT NULL",
        "as_of_date": "DATE NOT NULL",
        "card_id": "VARCHAR NOT NULL",
        "card_name": "VARCHAR",
        "set_name": "VARCHAR",
        "printing": "VARCHAR",
        "observed_on": "DATE NOT NULL",
        "price_usd": "DOUBLE NOT NULL",
        "low_usd": "DOUBLE",
        "high_usd": "DOUBLE",
        "volume": "DOUBLE",
        "source": "VARCHAR NOT NULL",
        "source_file": "VARCHAR",
        "source_row": "BIGINT",
    },
    "valuator_backtests": {
        "asset_class": "VARCHAR NOT NULL",
        "method": "VARCHAR NOT NULL",
        "n": "BIGINT NOT NULL",
        "mae": "DOUBLE",
        "mape": "DOUBLE",
        "mdape": "DOUBLE",
        "coverage": "DOUBLE",
        "median_width": "DOUBLE",
        "test_start": "DATE",
        "test_end": "DATE",
        "model_version": "VARCHAR",
        "evaluated_at": "TIMESTAMP",
    },
    "shap_importances": {
        "asset_class": "VARCHAR NOT NULL",
        "feature": "VARCHAR NOT NULL",
        "mean_abs_shap": "DOUBLE NOT NULL",
        "rank": "BIGINT NOT NULL",
        "sample_rows": "BIGINT NOT NULL",
        "model_version": "VARCHAR",
        "computed_at": "TIMESTAMP",
    },
    "drift_days": {
        "asset_class": "VARCHAR NOT NULL",
        "day": "DATE NOT NULL",
        "enough_data": "BOOLEAN NOT NULL",
        "reason": "VARCHAR",
        "drifted_share": "DOUBLE",
        "drifted_columns": "VARCHAR",
        "n_current": "BIGINT NOT NULL",
        "n_reference": "BIGINT NOT NULL",
        "methods": "VARCHAR",
        "report_path": "VARCHAR",
        "model_version": "VARCHAR",
        "warning_share": "DOUBLE",
    },
    "portfolio_valuations": {
        "as_of": "DATE NOT NULL",
        "portfolio": "VARCHAR NOT NULL",
        "line": "BIGINT NOT NULL",
        "label": "VARCHAR",
        "asset_class": "VARCHAR",
        "item_id": "VARCHAR",
        "variant": "VARCHAR",
        "status": "VARCHAR NOT NULL",
        "value": "DOUBLE",
        "lower": "DOUBLE",
        "upper": "DOUBLE",
        "confidence": "VARCHAR",
        "model_version": "VARCHAR",
        "data_through": "DATE",
        "cost_basis_usd": "DOUBLE",
        "source_file": "VARCHAR NOT NULL",
    },
}
"""Every warehouse table and its columns; a column added here is added to an existing table."""

PARTITION_DATE_COLUMN: dict[str, str] = {
    "raw_sales": "sale_date",
    "quarantine": "partition_date",
    "sports_stats": "as_of_date",
    "hobby_prices": "as_of_date",
    "enriched_features": "sale_date",
    "drift_days": "day",
}
"""The column that holds each partitioned table's partition date."""

DERIVED_TABLES = frozenset({"enriched_features"})
"""Tables whose columns follow the code that computes them (the feature list), not TABLES."""


class Warehouse(DuckDBResource):
    """CardValue's DuckDB file, with partition-exact writes and read-only queries.

    Writers are serialised by the `warehouse` concurrency pool (DuckDB allows one writing
    process); the connection itself retries a locked file with backoff, as DuckDBResource does.
    """

    def replace_partitions(
        self,
        table: str,
        rows: pd.DataFrame,
        partitions: Sequence[tuple[str, dt.date]],
    ) -> int:
        """Replace the rows of `partitions` ((asset_class, date) pairs) in `table` with `rows`."""
        if table in DERIVED_TABLES:
            frame = _categories_as_text(rows)
        else:
            frame = rows.reindex(columns=list(TABLES[table]))
        keys = pd.DataFrame(partitions, columns=["asset_class", "partition_date"])
        date_column = PARTITION_DATE_COLUMN[table]

        with self.get_connection() as con:
            con.register("incoming_rows", frame)
            if table in DERIVED_TABLES:
                ensure_derived_table(con, table, "incoming_rows")
            else:
                ensure_table(con, table)
            con.register("replaced_partitions", keys)
            con.execute("BEGIN TRANSACTION")
            con.execute(
                f"DELETE FROM {table} AS t USING replaced_partitions AS p "
                f"WHERE t.asset_class = p.asset_class AND t.{date_column} = p.partition_date"
            )
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
            con.execute("COMMIT")

        logger.debug("replaced %d partitions of %s with %d rows", len(keys), table, len(frame))
        return len(frame)

    def replace_class_rows(self, table: str, rows: pd.DataFrame, asset_class: str) -> int:
        """Replace every row of one asset class in a table keyed by class alone."""
        return self.replace_rows_where(table, rows, "asset_class", asset_class)

    def replace_rows_where(self, table: str, rows: pd.DataFrame, column: str, value: Any) -> int:
        """Replace, in one transaction, the rows of `table` whose `column` equals `value`."""
        if column not in TABLES[table]:
            raise ValueError(f"{table} has no column {column}")
        frame = rows.reindex(columns=list(TABLES[table]))
        with self.get_connection() as con:
            ensure_table(con, table)
            con.register("incoming_rows", frame)
            con.execute("BEGIN TRANSACTION")
            con.execute(f"DELETE FROM {table} WHERE {column} = ?", [value])
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
            con.execute("COMMIT")
        return len(frame)

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run `sql` and return the result as a DataFrame (an empty one if a table is missing)."""
        with self.get_connection() as con:
            for table in TABLES:
                ensure_table(con, table)
            return con.execute(sql, params or []).df()

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with every table created, for callers that need several statements."""
        with self.get_connection() as con:
            for table in TABLES:
                ensure_table(con, table)
            yield con


def _categories_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Store pandas categoricals as text: DuckDB would fix them as an ENUM of the first write's
    values, and the next class's values would not fit."""
    categorical = frame.select_dtypes(include="category").columns
    return frame.astype({c: "string" for c in categorical}) if len(categorical) else frame


def ensure_derived_table(con: duckdb.DuckDBPyConnection, table: str, relation: str) -> None:
    """Create a derived table shaped like `relation`, or add the columns it newly has."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM {relation} LIMIT 0")
    existing = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    for name, kind, *_ in con.execute(f"DESCRIBE {relation}").fetchall():
        if name not in existing:
            logger.info("migrating %s: adding column %s %s", table, name, kind)
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `table` exists in the warehouse's main schema."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchone()
    return bool(found and found[0])


def ensure_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create `table` if it is missing, and add any column it lacks (a forward-only migration)."""
    columns = TABLES[table]
    ddl = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")

    existing = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    for name, kind in columns.items():
        if name not in existing:
            nullable_kind = kind.replace(" NOT NULL", "")
            logger.info("migrating %s: adding column %s %s", table, name, nullable_kind)
            con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {nullable_kind}")
