"""Point-in-time valuation features, computed in DuckDB SQL from the warehouse's sales.

A sale on day d is described only by what was known before d: every comparable-sales feature
reads sales with `sale_date < d`, never a sale of the same day (a day's sales are known the next
day) and never a later one. The features are the ones a collector looks at by hand, made
systematic:

- comps of the same item+variant (`iv_*`, e.g. one shoe model in one size) and of the same item
  (`item_*`, all sizes or grades) over 7, 30, 90 and 365 days: the median price, the number of
  sales and the spread (interquartile range of log price); the median is taken in log space
  (`quantile_cont` of ln price, reported back in USD), so with an even count it is the geometric
  mean of the two middle prices;
- the last known price: the median price on the most recent earlier day with a sale of the
  item+variant (and of the item), and its age in days, plus how many sales ever came before;
- a trend: log of the 7-day over the 30-day median;
- the class's 30-day median, the last resort for an item never seen before;
- attributes from the `attributes` JSON (sneakers: brand, size, retail price, days since release,
  buyer region; cards: year, rookie), grade and grading company, venue, condition, calendar;
- for sports classes, the player's statistics as of d from `sports_stats` (the latest
  `as_of_date <= d`, which is the row of d itself when stats are materialized daily), and for
  hobby games the reference price as of d from `hobby_prices` (latest observation of the card).

Windows are DuckDB RANGE frames over an integer day number, `BETWEEN w PRECEDING AND 1
PRECEDING`, partitioned by dense integer keys. Item and item+variant windows never cross items,
so everything but the class window is computed for batches of whole items of about `batch_rows`
sales, one statement per batch (its windows, so DuckDB sorts each partitioning once, joined to
the last prices, attributes, statistics and reference prices), and streamed out in Arrow record
batches straight into preallocated NumPy columns, each row at its sale's output position. The
positions come from sorting only (row id, day, sale id); the class window (one partition per
class) is fetched once, apart. Last prices and cumulative counts come from per-(item, variant,
day) and per-(item, day) series; the JSON is parsed once per distinct `attributes` value of a
batch; categorical features leave as dictionary-encoded Arrow, which converts to pandas
categories without Python strings.

Memory. The wide result (about 6 GiB at 10 M sales) now exists once, in NumPy; DuckDB's share is
bounded by the connection's `memory_limit` (the caller's to set), the rest spilled to
`spill_directory` (else DuckDB's `temp_directory`, `.tmp` in the working directory for an in-memory
database), and `preserve_insertion_order` is off during the build. The previous plan stored all
windows in a temporary table, joined it to the rest, sorted the wide rows by (sale_date, sale_id) in
DuckDB and fetched one Arrow table before converting it: the result existed up to three times, and
on 10 M sales it passed 16 GiB even with an 8 GiB `memory_limit`. Measured on 10 M synthetic sales
(benchmarks/bench_valuator.py, two cores, shared and loaded): build_features took 658 s with
DuckDB's `memory_limit` at 2 GiB, peak RSS 9.1 GiB of which about 5 GiB is the result and 3 GiB the
synthetic input before it was loaded (about 6.6 GiB through the batches, 9 GiB while converting the
text columns; the spilling makes it slower per sale than on 1 M, 29 s). A column kept from a record
batch imported from DuckDB keeps the whole batch alive (an earlier version of this streaming reached
12 GiB that way), so kept columns are copied or dictionary-encoded per batch. On 1 M sales the
batched, streamed build took 37 s of CPU against 41 s for the previous plan, peak RSS 2.5 against
2.9 GiB.

Alternatives measured earlier (two cores): INTERVAL bounds over a DATE column give the same
values about 15 % slower (80 k StockX sales). On 1 M synthetic sales: one partition with a
composite (key × 100000 + day) order key was 1.5-3× slower; evaluating the windows only at
distinct (item+variant, day) query points, by a self-join (4.4 s for the 30-day window, 8 s for
the 365-day one, against 3-4 s per window) or by a union of query rows into the frames (5.4 s),
did not pay; fetching with `.df()` was twice as slow as Arrow. Windowed quantiles remain the
cost (about 80 % of the time), and pandas' rolling quantiles (a skip list per group) are about
as fast: see benchmarks/RESULTS.md.

`build_features_pandas` recomputes the core comps features with pandas rolling windows; it exists
for the benchmark and for a test that both implementations agree. It too works by batches of whole
items written into preallocated columns, and sorts only (sale_date, sale_id): on 10 M synthetic
sales 238 s, peak RSS 6.9 GiB with its 3.1 GiB input (previously stopped at 16 GiB, or 281 s at 15.6
GiB in an earlier run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

WINDOWS: tuple[int, ...] = (7, 30, 90, 365)
"""Lengths in days of the comps windows; each ends the day before the sale."""

LEVELS: dict[str, tuple[str, ...]] = {"iv": ("item_id", "variant"), "item": ("item_id",)}
"""Comps levels: the same item in the same variant, and the same item in any variant."""

ID_COLUMNS: tuple[str, ...] = (
    "sale_id",
    "asset_class",
    "item_id",
    "variant",
    "sale_date",
    "price_usd",
    "venue",
    "is_simulated",
)
"""Identifying columns of every feature row (price_usd is the target, never a feature)."""


def _comps_columns() -> tuple[str, ...]:
    """The comps columns shared by the DuckDB and the pandas implementation, in order."""
    columns: list[str] = []
    for level in LEVELS:
        for days in WINDOWS:
            columns += [f"{level}_med_{days}d", f"{level}_n_{days}d", f"{level}_iqr_{days}d"]
        columns += [
            f"{level}_last_price",
            f"{level}_last_age_days",
            f"{level}_n_before",
            f"{level}_trend_7_30",
        ]
    return tuple(columns)


COMPS_COLUMNS: tuple[str, ...] = _comps_columns()
"""Comparable-sales features (USD medians, counts, log-IQR, last price and age, trend)."""

CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "brand",
    "buyer_region",
    "grading_company",
    "condition",
    "venue_cat",
)
"""Features returned with the pandas `category` dtype, ready for LightGBM."""

FEATURE_COLUMNS: tuple[str, ...] = (
    *COMPS_COLUMNS,
    "class_med_30d",
    "class_n_30d",
    "item_first_age_days",
    "brand",
    "size",
    "retail_price_usd",
    "days_since_release",
    "buyer_region",
    "card_year",
    "rookie",
    "grade",
    "grading_company",
    "condition",
    "venue_cat",
    "day_of_week",
    "month",
    "player_performance",
    "player_form",
    "player_headline_stat",
    "player_seasons_played",
    "ref_price_usd",
    "ref_price_age_days",
)
"""Every feature column `build_features` returns, after the identifying ID_COLUMNS."""

_EPOCH = "DATE '1970-01-01'"

_ATTRIBUTE_PATHS = (
    "['$.brand', '$.size', '$.retail_price_usd', '$.release_date', '$.buyer_region', "
    "'$.year', '$.rookie', '$.player_id']"
)
"""The attributes read from the JSON, in one parse per distinct attributes value."""


_FETCH_ROWS = 131_072
"""Rows per Arrow record batch fetched from DuckDB."""


def build_features(
    con: duckdb.DuckDBPyConnection,
    sales: str = "raw_sales",
    *,
    days: Sequence[dt.date] | None = None,
    asset_classes: Sequence[str] | None = None,
    stats: str | None = None,
    prices: str | None = None,
    batch_rows: int = 1_000_000,
    spill_directory: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Point-in-time features for each sale in `sales` whose date is in `days` (all if None).

    `sales`, `stats` and `prices` name tables or views in `con` with the warehouse layouts of
    raw_sales, sports_stats and hobby_prices; `asset_classes` restricts the classes. Returns
    ID_COLUMNS + FEATURE_COLUMNS, one row per selected sale, ordered by sale_date then sale_id.

    Features are computed and fetched for batches of whole items of about `batch_rows` sales,
    which bounds DuckDB's window state and the Arrow data in flight. `spill_directory`, when
    given, is where DuckDB writes what does not fit its `memory_limit` during the call (its
    `temp_directory`: for an in-memory database the default is `.tmp` in the current working
    directory, for a database file `<file>.tmp` beside it). DuckDB cannot switch a temporary
    directory it has already spilled to, so a connection that may spill before the call is
    best opened with `config={"temp_directory": ...}`. The connection's settings are restored
    (but a spill folder DuckDB has used) and the temporary tables dropped afterwards.
    """
    tag = uuid.uuid4().hex[:8]
    base, previous = f"_cv_base_{tag}", f"_cv_prev_{tag}"
    started = time.perf_counter()
    try:
        with _settings(con, spill_directory):
            scope = _create_base(con, sales, base, days, asset_classes)
            _create_previous(con, base, previous)
            output = _Output(_positions(con, base))
            logger.debug("base and previous days at %.1f s", _since(started))
            _fetch(con, _class_sql(base, scope), output)
            logger.debug("class windows at %.1f s", _since(started))
            batches = _item_batches(con, base, scope, batch_rows)
            for number, items in enumerate(batches, start=1):
                _fetch(con, _batch_sql(base, previous, scope, items, stats, prices), output)
                logger.debug("item batch %d/%d at %.1f s", number, len(batches), _since(started))
    finally:
        for name in (base, previous):
            con.execute(f"DROP TABLE IF EXISTS {name}")

    frame = output.frame()
    logger.debug("features of %d sales in %.1f s", len(frame), _since(started))
    return frame


def _since(started: float) -> float:
    """Seconds since `started` (a `time.perf_counter()` reading), for the debug log."""
    return time.perf_counter() - started


@contextlib.contextmanager
def _settings(
    con: duckdb.DuckDBPyConnection, spill_directory: str | os.PathLike[str] | None
) -> Iterator[None]:
    """DuckDB settings for one build, restored afterwards.

    `preserve_insertion_order = false` lets DuckDB build tables and stream results without
    keeping rows in order (the output is put in order by position in Python, see `_Output`);
    the spill folder, when given, becomes the `temp_directory`. DuckDB refuses to switch a
    temporary directory it has already spilled to: the build then keeps the connection's own
    (with a warning), and a spill folder the build used stays the connection's.
    """
    wanted = {"preserve_insertion_order": "false"}
    if spill_directory is not None:
        wanted["temp_directory"] = os.fspath(spill_directory)
    changed: dict[str, str] = {}
    try:
        for name, value in wanted.items():
            previous = _setting(con, name)
            if previous == value:
                continue
            if _set(con, name, value):
                changed[name] = previous
            else:
                logger.warning("DuckDB keeps its %s %r for this build", name, previous)
        yield
    finally:
        for name, value in changed.items():
            if not _set(con, name, value):
                logger.info("the connection keeps %s %r after the build", name, wanted[name])


def _set(con: duckdb.DuckDBPyConnection, name: str, value: str) -> bool:
    """SET a DuckDB setting; False if DuckDB refuses to change it now (a used temp folder)."""
    try:
        con.execute(f"SET {name} = {_literal(value)}")
    except duckdb.NotImplementedException:
        return False
    return True


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The current value of a DuckDB setting, as text."""
    return str(con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0])


def _literal(value: str) -> str:
    """`value` as a quoted SQL string literal (SET takes no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def _create_base(
    con: duckdb.DuckDBPyConnection,
    sales: str,
    name: str,
    days: Sequence[dt.date] | None,
    asset_classes: Sequence[str] | None,
) -> str:
    """The sales that can matter, with integer keys, day numbers and log prices.

    Keys are numbered over the distinct (item, variant) pairs and joined back, which is much
    cheaper than ranking every sale. With `days`, only sales up to the last requested day are
    kept (later ones cannot be used); `is_target` marks the sales to return. Returns the SQL
    condition of the sales a window can reach: with `days`, not older than the longest window
    before the first requested day.
    """
    where = ["price_usd > 0", "sale_date IS NOT NULL"]
    params: list[object] = []
    if asset_classes is not None:
        where.append("list_contains(?, asset_class)")
        params.append(list(asset_classes))
    target, scope = "TRUE", "TRUE"
    if days is not None:
        wanted = sorted({pd.Timestamp(d).date() for d in days})
        where.append("CAST(sale_date AS DATE) <= ?")
        params.append(wanted[-1] if wanted else dt.date(1, 1, 1))
        target = "list_contains(?::DATE[], CAST(sale_date AS DATE))"
        params.insert(0, wanted)
        first = (wanted[0] - dt.date(1970, 1, 1)).days if wanted else 0
        scope = f"day_number >= {first - max(WINDOWS) - 1}"

    con.execute(
        f"""
        CREATE TEMP TABLE {name} AS
        WITH kept AS (
            SELECT
                sale_id, asset_class, item_id, coalesce(variant, '') AS variant,
                CAST(sale_date AS DATE) AS sale_date, price_usd, venue, grade, grading_company,
                condition, attributes, is_simulated,
                ln(price_usd) AS lp,
                CAST(sale_date AS DATE) - {_EPOCH} AS day_number,
                {target} AS is_target
            FROM {sales}
            WHERE {" AND ".join(where)}
        ),
        keys AS (
            SELECT item_id, variant,
                dense_rank() OVER (ORDER BY item_id) AS item_key,
                dense_rank() OVER (ORDER BY item_id, variant) AS iv_key
            FROM (SELECT DISTINCT item_id, variant FROM kept)
        )
        SELECT kept.*, keys.item_key, keys.iv_key
        FROM kept JOIN keys USING (item_id, variant)
        """,
        params,
    )
    return scope


def _create_previous(con: duckdb.DuckDBPyConnection, base: str, name: str) -> None:
    """Per (item, variant, day) with a sale: the last earlier sale day of the variant and item.

    Each level has its own daily series (median log price and count of the day's sales); the
    item-level figures come from the item's series (the median of all its sales on its most
    recent earlier sale day), not from the variant's.
    """
    con.execute(
        f"""
        CREATE TEMP TABLE {name} AS
        WITH iv_daily AS (
            SELECT item_key, iv_key, day_number, median(lp) AS day_lp, count(*) AS day_n
            FROM {base}
            GROUP BY item_key, iv_key, day_number
        ),
        iv AS (
            SELECT item_key, iv_key, day_number,
                lag(day_lp) OVER w AS iv_last_lp,
                lag(day_number) OVER w AS iv_last_day,
                sum(day_n) OVER w - day_n AS iv_n_before
            FROM iv_daily
            WINDOW w AS (PARTITION BY iv_key ORDER BY day_number)
        ),
        item_daily AS (
            SELECT item_key, day_number, median(lp) AS day_lp, count(*) AS day_n
            FROM {base}
            GROUP BY item_key, day_number
        ),
        item AS (
            SELECT item_key, day_number,
                lag(day_lp) OVER w AS item_last_lp,
                lag(day_number) OVER w AS item_last_day,
                sum(day_n) OVER w - day_n AS item_n_before,
                min(day_number) OVER (PARTITION BY item_key) AS item_first_day
            FROM item_daily
            WINDOW w AS (PARTITION BY item_key ORDER BY day_number)
        )
        SELECT iv.*, item.item_last_lp, item.item_last_day, item.item_n_before,
            item.item_first_day
        FROM iv JOIN item USING (item_key, day_number)
        """
    )


def _positions(con: duckdb.DuckDBPyConnection, base: str) -> np.ndarray:
    """For each row id of `base`, the target's position in the output (-1 for non-targets).

    Only the row id, day and sale id are sorted, so the wide feature rows never are.
    """
    table = con.sql(
        f"""
        SELECT rowid AS rid, row_number() OVER (ORDER BY day_number, sale_id) - 1 AS pos
        FROM {base}
        WHERE is_target
        """
    ).to_arrow_table()
    rows = con.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {base}").fetchall()[0][0]
    positions = np.full(int(rows), -1, dtype=np.int64)
    positions[table.column("rid").to_numpy()] = table.column("pos").to_numpy()
    return positions


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, output: _Output) -> None:
    """Stream the result of `sql` into `output`, one Arrow record batch at a time."""
    reader = con.sql(sql).to_arrow_reader(_FETCH_ROWS)
    output.expect(reader.schema)
    for batch in reader:
        output.add(batch)


def _class_sql(base: str, scope: str) -> str:
    """The class's 30-day median and count for every target (one partition per class)."""
    return f"""
        SELECT rid, exp(class_lp_30) AS class_med_30d, CAST(class_n AS DOUBLE) AS class_n_30d
        FROM (
            SELECT rowid AS rid, is_target,
                quantile_cont(lp, 0.5) OVER w AS class_lp_30,
                count(lp) OVER w AS class_n
            FROM {base}
            WHERE {scope}
            WINDOW w AS (PARTITION BY asset_class ORDER BY day_number
                RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING)
        )
        WHERE is_target
    """


def _item_batches(
    con: duckdb.DuckDBPyConnection, base: str, scope: str, batch_rows: int
) -> list[tuple[int, int]]:
    """Consecutive item-key ranges of about `batch_rows` sales (one empty range if none)."""
    counts = con.execute(
        f"SELECT item_key, count(*) FROM {base} WHERE {scope} GROUP BY item_key ORDER BY item_key"
    ).fetchall()
    batches: list[tuple[int, int]] = []
    first: int | None = None
    size = 0
    for key, n in counts:
        first = key if first is None else first
        size += n
        if size >= batch_rows:
            batches.append((first, key))
            first, size = None, 0
    if first is not None:
        batches.append((first, counts[-1][0]))
    return batches or [(0, -1)]


def _batch_sql(
    base: str,
    previous: str,
    scope: str,
    items: tuple[int, int],
    stats: str | None,
    prices: str | None,
) -> str:
    """Every feature but the class window, for the target sales of a range of item keys.

    Frames are computed over every sale in scope (a sale's window needs the earlier ones), then
    only the targets are kept. Item and item+variant windows never cross items, so a batch of
    whole items needs no other rows.
    """
    in_items = f"item_key BETWEEN {items[0]} AND {items[1]}"
    windows: list[str] = []
    inner: list[str] = []
    outer: list[str] = []
    for level, partition in (("iv", "iv_key"), ("item", "item_key")):
        for days in WINDOWS:
            window, q = f"w_{level}_{days}", f"{level}_q_{days}"
            windows.append(
                f"{window} AS (PARTITION BY {partition} ORDER BY day_number "
                f"RANGE BETWEEN {days} PRECEDING AND 1 PRECEDING)"
            )
            inner.append(f"quantile_cont(lp, [0.25, 0.5, 0.75]) OVER {window} AS {q}")
            inner.append(f"count(lp) OVER {window} AS {level}_n_{days}d")
            outer += [f"{q}[2] AS {level}_lp_{days}", f"{q}[3] - {q}[1] AS {level}_iqr_{days}d"]
    quantiles = ", ".join(f"{level}_q_{days}" for level in LEVELS for days in WINDOWS)
    stats_join, stats_select = _stats_parts(stats)
    prices_join, prices_select = _prices_parts(prices)
    select = f"""
        WITH windowed AS (
            SELECT * EXCLUDE ({quantiles}), {", ".join(outer)} FROM (
                SELECT rowid AS rid, *, {", ".join(inner)}
                FROM {base}
                WHERE {scope} AND {in_items}
                WINDOW {", ".join(windows)}
            )
            WHERE is_target
        ),
        attrs AS (
            SELECT attributes, json_extract_string(attributes, {_ATTRIBUTE_PATHS}) AS a
            FROM (SELECT DISTINCT attributes FROM windowed)
        ),
        joined AS (
            SELECT w.*, p.iv_last_lp, p.iv_last_day, p.iv_n_before, p.item_last_lp,
                p.item_last_day, p.item_n_before, p.item_first_day,
                ja.a[1] AS brand, ja.a[2] AS size_text, ja.a[3] AS retail_text,
                ja.a[4] AS release_text, ja.a[5] AS buyer_region, ja.a[6] AS year_text,
                ja.a[7] AS rookie_text, ja.a[8] AS player_id
            FROM windowed AS w
            JOIN (SELECT * FROM {previous} WHERE {in_items}) AS p USING (iv_key, day_number)
            LEFT JOIN attrs AS ja ON ja.attributes IS NOT DISTINCT FROM w.attributes
        )
        SELECT
            j.rid, j.sale_id, j.asset_class, j.item_id, j.variant, j.sale_date, j.price_usd,
            j.venue, j.is_simulated,
            {_comps_select()},
            CASE WHEN j.item_first_day < j.day_number
                THEN j.day_number - j.item_first_day END AS item_first_age_days,
            j.brand,
            TRY_CAST(j.size_text AS DOUBLE) AS size,
            TRY_CAST(j.retail_text AS DOUBLE) AS retail_price_usd,
            j.sale_date - TRY_CAST(j.release_text AS DATE) AS days_since_release,
            j.buyer_region,
            TRY_CAST(j.year_text AS DOUBLE) AS card_year,
            CAST(TRY_CAST(j.rookie_text AS BOOLEAN) AS DOUBLE) AS rookie,
            j.grade, j.grading_company, j.condition, j.venue AS venue_cat,
            isodow(j.sale_date) AS day_of_week,
            month(j.sale_date) AS month,
            {stats_select},
            {prices_select}
        FROM joined AS j
        {stats_join}
        {prices_join}
    """
    return _typed_sql(select)


def _comps_select() -> str:
    """SQL expressions of COMPS_COLUMNS from the window and previous-day columns."""
    parts: list[str] = []
    for level in LEVELS:
        for days in WINDOWS:
            parts += [
                f"exp(j.{level}_lp_{days}) AS {level}_med_{days}d",
                f"j.{level}_n_{days}d",
                f"j.{level}_iqr_{days}d",
            ]
        parts += [
            f"exp(j.{level}_last_lp) AS {level}_last_price",
            f"j.day_number - j.{level}_last_day AS {level}_last_age_days",
            f"coalesce(j.{level}_n_before, 0) AS {level}_n_before",
            f"j.{level}_lp_7 - j.{level}_lp_30 AS {level}_trend_7_30",
        ]
    return ",\n            ".join(parts)


def _stats_parts(stats: str | None) -> tuple[str, str]:
    """The ASOF join on the player's latest statistics as of the sale day, and its columns."""
    columns = ("performance", "form", "headline_stat", "seasons_played")
    if stats is None:
        return "", ", ".join(f"CAST(NULL AS DOUBLE) AS player_{c}" for c in columns)
    join = f"""
        ASOF LEFT JOIN (
            SELECT player_id, as_of_date, {", ".join(columns)} FROM {stats}
        ) AS st
            ON st.player_id = j.player_id AND st.as_of_date <= j.sale_date
    """
    select = ", ".join(f"CAST(st.{c} AS DOUBLE) AS player_{c}" for c in columns)
    return join, select


def _prices_parts(prices: str | None) -> tuple[str, str]:
    """The ASOF join on the card's latest reference price as of the sale day, and its columns.

    The reference price of a (card, as_of_date) is the latest observation in it (the median of
    that observation's printings); its age is counted from the observation date.
    """
    if prices is None:
        return (
            "",
            "CAST(NULL AS DOUBLE) AS ref_price_usd, CAST(NULL AS BIGINT) AS ref_price_age_days",
        )
    join = f"""
        ASOF LEFT JOIN (
            SELECT card_id, as_of_date, median(price_usd) AS ref_price,
                max(observed_on) AS observed_on
            FROM (
                SELECT *, max(observed_on) OVER (PARTITION BY card_id, as_of_date) AS newest
                FROM {prices}
                WHERE observed_on <= as_of_date
            )
            WHERE observed_on = newest
            GROUP BY card_id, as_of_date
        ) AS hp
            ON hp.card_id = j.item_id AND hp.as_of_date <= j.sale_date
    """
    select = (
        "hp.ref_price AS ref_price_usd, "
        "j.sale_date - CAST(hp.observed_on AS DATE) AS ref_price_age_days"
    )
    return join, select


_CLASS_COLUMNS = ("class_med_30d", "class_n_30d")
"""The features of the class window, fetched apart from the per-item batches."""

_NUMERIC_FEATURES = frozenset(c for c in FEATURE_COLUMNS if c not in CATEGORICAL_COLUMNS)
"""Features returned as float64 (DOUBLE in SQL, NULL as NaN)."""


def _typed_sql(select: str) -> str:
    """`select`'s row id, ID_COLUMNS and FEATURE_COLUMNS (but the class window's) in order.

    Numeric features are cast to DOUBLE.
    """
    columns = [
        name if name in CATEGORICAL_COLUMNS else f"CAST({name} AS DOUBLE) AS {name}"
        for name in FEATURE_COLUMNS
        if name not in _CLASS_COLUMNS
    ]
    return f"SELECT rid, {', '.join(ID_COLUMNS)}, {', '.join(columns)} FROM ({select})"


class _Output:
    """The result, filled batch by batch in any order and put in order by target position.

    Numeric columns are preallocated NumPy arrays that each batch is scattered into, so the
    wide result exists once, never as an Arrow table and a pandas copy at the same time. The
    other columns (ids, text, categorical features, dates) are kept as Arrow chunks, text other
    than the sale id dictionary-encoded per chunk (a few distinct values per batch), and taken
    into order at the end, one column at a time.
    """

    def __init__(self, positions: np.ndarray) -> None:
        self.positions = positions
        self.rows = int((positions >= 0).sum())
        self.numeric: dict[str, np.ndarray] = {}
        self.chunks: dict[str, list[pa.Array]] = {}
        self.types: dict[str, pa.DataType] = {}
        self.arrival: list[np.ndarray] = []

    def expect(self, schema: pa.Schema) -> None:
        """Note the Arrow types of a result's columns (they type an empty output too)."""
        for field in schema:
            self.types.setdefault(field.name, field.type)

    def add(self, batch: pa.RecordBatch) -> None:
        """Scatter one record batch (a `rid` column and some output columns) into place."""
        where = self.positions[batch.column("rid").to_numpy()]
        chunked = False
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name == "rid":
                continue
            if name in _NUMERIC_FEATURES:
                target = self.numeric.setdefault(name, np.full(self.rows, np.nan))
                target[where] = column.to_numpy(zero_copy_only=False)
            elif name != "sale_id" and pa.types.is_string(column.type):
                self.chunks.setdefault(name, []).append(pc.dictionary_encode(column))
            else:  # a copy: a column imported from DuckDB keeps its whole batch alive
                self.chunks.setdefault(name, []).append(pa.concat_arrays([column]))
                chunked = True
        if chunked:
            self.arrival.append(where)

    def frame(self) -> pd.DataFrame:
        """ID_COLUMNS + FEATURE_COLUMNS as pandas, ordered by position."""
        order = np.empty(self.rows, dtype=np.int64)
        arrival = np.concatenate(self.arrival) if self.arrival else np.empty(0, np.int64)
        if len(arrival) != self.rows:
            raise RuntimeError(f"fetched {len(arrival)} feature rows for {self.rows} sales")
        order[arrival] = np.arange(self.rows)

        columns: dict[str, Any] = {}
        for name in (*ID_COLUMNS, *FEATURE_COLUMNS):
            if name in _NUMERIC_FEATURES:
                columns[name] = self.numeric.pop(name, None)
                if columns[name] is None:
                    columns[name] = np.full(self.rows, np.nan)
            else:
                chunks = [_decoded(chunk) for chunk in self.chunks.pop(name, [])]
                values = pa.chunked_array(chunks, self.types.get(name)).take(order)
                columns[name] = _to_pandas(name, values)
        frame = pd.DataFrame(columns, copy=False)
        frame["sale_date"] = frame["sale_date"].astype("datetime64[ns]")
        return frame


def _decoded(chunk: pa.Array) -> pa.Array:
    """A dictionary-encoded chunk as plain values, any other chunk as it is."""
    return chunk.dictionary_decode() if pa.types.is_dictionary(chunk.type) else chunk


def _to_pandas(name: str, values: pa.ChunkedArray) -> Any:
    """One non-numeric output column as pandas; categorical features as `category`.

    Categorical columns are dictionary-encoded in Arrow, which converts to pandas categories
    without going through Python strings (about twice as fast as DuckDB's own `.df()` on a
    million sales); text columns become objects, each distinct string converted once (but the
    sale ids, all distinct).
    """
    if name in CATEGORICAL_COLUMNS:
        values = pc.dictionary_encode(values.cast(pa.string()))
    # sale ids are unique: looking each up for a shared string object would only cost memory
    return values.to_pandas(date_as_object=False, deduplicate_objects=name != "sale_id")


# --------------------------------------------------------------------------------------------
# The same comps features with pandas, for the benchmark and the agreement test


def build_features_pandas(
    sales: pd.DataFrame,
    *,
    days: Sequence[dt.date] | None = None,
    batch_rows: int = 1_000_000,
) -> pd.DataFrame:
    """COMPS_COLUMNS for the sales of `days` (all if None), computed with pandas alone.

    Rolling windows on the sale date with `closed="left"` over whole days ([d - w, d)), per
    group, exactly as the SQL frames; returns sale_id plus COMPS_COLUMNS, sorted like
    `build_features`. As in SQL, windows are computed for batches of whole items of about
    `batch_rows` sales, and each batch's results go straight into place in preallocated
    columns, which bounds the memory of the groupby-rolling intermediates.
    """
    frame = _pandas_base(sales)
    selected = np.ones(len(frame), dtype=bool)
    if days is not None:
        wanted = pd.to_datetime(pd.Series(sorted(set(days))))
        last = wanted.max() if len(wanted) else pd.Timestamp.min
        frame = frame[frame["sale_date"] <= last].reset_index(drop=True)  # never comps
        selected = frame["sale_date"].isin(wanted).to_numpy()
    order = (
        frame.loc[selected, ["sale_date", "sale_id"]]
        .sort_values(["sale_date", "sale_id"])
        .index.to_numpy()
    )
    rank = np.full(len(frame), -1, dtype=np.int64)
    rank[order] = np.arange(len(order))

    out = {column: np.full(len(order), np.nan) for column in COMPS_COLUMNS}
    for rows in _pandas_batches(frame["item_id"], batch_rows):
        part = frame.iloc[rows]
        for level, keys in LEVELS.items():
            for column, values in _pandas_level(part, list(keys), level).items():
                where = rank[values.index.to_numpy()]
                kept = where >= 0
                out[column][where[kept]] = values.to_numpy(dtype=float)[kept]

    ids = frame["sale_id"].to_numpy()[order]
    return pd.DataFrame({"sale_id": ids, **out}, copy=False)


def _pandas_batches(items: pd.Series, batch_rows: int) -> list[np.ndarray]:
    """Row positions of consecutive batches of whole items, about `batch_rows` rows each."""
    codes, _ = pd.factorize(items)
    ends = np.cumsum(np.bincount(codes, minlength=codes.max(initial=-1) + 1))
    batch_of_item = (ends - 1) // max(batch_rows, 1)
    batch_of_row = batch_of_item[codes]
    rows = np.argsort(batch_of_row, kind="stable")
    splits = np.flatnonzero(np.diff(batch_of_row[rows])) + 1
    return [part for part in np.split(rows, splits) if len(part)]


def _pandas_base(sales: pd.DataFrame) -> pd.DataFrame:
    """Sales with a normalized date, a filled variant and the log price."""
    frame = sales[["sale_id", "item_id", "variant", "sale_date", "price_usd"]].copy()
    frame = frame[frame["price_usd"] > 0]
    frame["variant"] = frame["variant"].fillna("")
    frame["sale_date"] = pd.to_datetime(frame["sale_date"]).dt.normalize()
    frame["lp"] = np.log(frame["price_usd"].to_numpy(dtype=float))
    return frame.reset_index(drop=True)


def _pandas_level(frame: pd.DataFrame, keys: list[str], level: str) -> dict[str, pd.Series]:
    """Rolling comps of one level, aligned to `frame`'s index.

    Groups are reduced to one integer key numbered in sorted order, so that the rolling result
    (groups in key order, rows in date order) lines up with the frame sorted the same way.
    """
    ordered = frame.assign(group=frame.groupby(keys, sort=True).ngroup())
    ordered = ordered.sort_values(["group", "sale_date"], kind="stable")
    grouped = ordered.groupby("group", sort=True)
    out: dict[str, pd.Series] = {}
    medians: dict[int, pd.Series] = {}
    for days in WINDOWS:
        rolling = grouped.rolling(f"{days}D", on="sale_date", closed="left")["lp"]
        median = _realign(rolling.median(), ordered)
        medians[days] = median
        out[f"{level}_med_{days}d"] = np.exp(median)
        out[f"{level}_n_{days}d"] = _realign(rolling.count(), ordered).fillna(0.0)
        q75 = _realign(rolling.quantile(0.75), ordered)
        out[f"{level}_iqr_{days}d"] = q75 - _realign(rolling.quantile(0.25), ordered)

    out.update(_pandas_last(frame, keys, level))
    out[f"{level}_trend_7_30"] = medians[7] - medians[30]
    return out


def _realign(values: pd.Series | pd.DataFrame, ordered: pd.DataFrame) -> pd.Series:
    """A groupby-rolling result (groups in key order, rows in date order) on frame's index.

    Rows of one group on the same day get the same value (their window is the same), so ties
    in the sort cannot misalign anything.
    """
    return pd.Series(np.asarray(values).ravel(), index=ordered.index).sort_index()


def _pandas_last(frame: pd.DataFrame, keys: list[str], level: str) -> dict[str, pd.Series]:
    """Median price on the last earlier sale day, its age, and the count of earlier sales."""
    daily = (
        frame.groupby([*keys, "sale_date"], sort=True)["lp"]
        .agg(day_lp="median", day_n="size")
        .reset_index()
    )
    grouped = daily.groupby(keys, sort=False)
    daily["last_lp"] = grouped["day_lp"].shift(1)
    daily["last_date"] = grouped["sale_date"].shift(1)
    daily["n_before"] = grouped["day_n"].cumsum() - daily["day_n"]

    merged = frame[[*keys, "sale_date"]].merge(daily, on=[*keys, "sale_date"], how="left")
    age = (merged["sale_date"] - merged["last_date"]).dt.days
    return {
        f"{level}_last_price": pd.Series(np.exp(merged["last_lp"].to_numpy()), index=frame.index),
        f"{level}_last_age_days": pd.Series(age.to_numpy(dtype=float), index=frame.index),
        f"{level}_n_before": pd.Series(merged["n_before"].to_numpy(float), index=frame.index),
    }
