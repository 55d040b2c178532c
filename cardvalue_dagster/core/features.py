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
PRECEDING`, partitioned by dense integer keys, all in one statement so DuckDB sorts each
partitioning once; last prices and cumulative counts come from a per-(item, variant, day)
pre-aggregate; the JSON is parsed once per distinct `attributes` value; the result leaves
DuckDB as Arrow with the categorical columns dictionary-encoded. Alternatives measured while
building this (two cores): INTERVAL bounds over a DATE column give the same values about 15 %
slower (80 k StockX sales). On 1 M synthetic sales: one partition with a composite
(key × 100000 + day) order key was 1.5-3× slower; evaluating the windows only at distinct
(item+variant, day) query points, by a self-join (4.4 s for the 30-day window, 8 s for the
365-day one, against 3-4 s per window) or by a union of query rows into the frames (5.4 s), did
not pay; fetching with `.df()` was twice as slow as Arrow. Windowed quantiles remain the cost
(about 80 % of the time), and pandas' rolling quantiles (a skip list per group) are about as
fast: see benchmarks/RESULTS.md.

`build_features_pandas` recomputes the core comps features with pandas rolling windows; it exists
for the benchmark and for a test that both implementations agree.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence

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


def build_features(
    con: duckdb.DuckDBPyConnection,
    sales: str = "raw_sales",
    *,
    days: Sequence[dt.date] | None = None,
    asset_classes: Sequence[str] | None = None,
    stats: str | None = None,
    prices: str | None = None,
    batch_rows: int = 2_000_000,
) -> pd.DataFrame:
    """Point-in-time features for each sale in `sales` whose date is in `days` (all if None).

    `sales`, `stats` and `prices` name tables or views in `con` with the warehouse layouts of
    raw_sales, sports_stats and hobby_prices; `asset_classes` restricts the classes. Returns
    ID_COLUMNS + FEATURE_COLUMNS, one row per selected sale, ordered by sale_date then sale_id.
    Windows are computed for batches of whole items of about `batch_rows` sales, which bounds
    memory. Temporary tables are dropped afterwards.
    """
    tag = uuid.uuid4().hex[:8]
    names = {part: f"_cv_{part}_{tag}" for part in ("base", "daily", "win", "prev")}
    try:
        _create_base(con, sales, names["base"], days, asset_classes)
        _create_daily(con, names["base"], names["daily"])
        _create_windows(con, names["base"], names["win"], batch_rows)
        _create_previous(con, names["daily"], names["prev"])
        table = con.sql(_typed_sql(_select_sql(names, stats, prices))).to_arrow_table()
    finally:
        for name in [*names.values(), f"{names['win']}_class"]:
            con.execute(f"DROP TABLE IF EXISTS {name}")

    logger.debug("built features for %d sales", table.num_rows)
    return _to_pandas(table)


def _create_base(
    con: duckdb.DuckDBPyConnection,
    sales: str,
    name: str,
    days: Sequence[dt.date] | None,
    asset_classes: Sequence[str] | None,
) -> None:
    """The sales that can matter, with integer keys, day numbers and log prices.

    Keys are numbered over the distinct (item, variant) pairs and joined back, which is much
    cheaper than ranking every sale. With `days`, only sales up to the last requested day are
    kept (later ones cannot be used); `is_target` marks the sales to return.
    """
    where = ["price_usd > 0", "sale_date IS NOT NULL"]
    params: list[object] = []
    if asset_classes is not None:
        where.append("list_contains(?, asset_class)")
        params.append(list(asset_classes))
    target = "TRUE"
    if days is not None:
        wanted = sorted({pd.Timestamp(d).date() for d in days})
        where.append("CAST(sale_date AS DATE) <= ?")
        params.append(wanted[-1] if wanted else dt.date(1, 1, 1))
        target = "list_contains(?::DATE[], CAST(sale_date AS DATE))"
        params.insert(0, wanted)

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


def _create_daily(con: duckdb.DuckDBPyConnection, base: str, name: str) -> None:
    """One row per (item, variant, day) with a sale: that day's median log price and count."""
    con.execute(
        f"""
        CREATE TEMP TABLE {name} AS
        SELECT item_key, iv_key, day_number, median(lp) AS day_lp, count(*) AS day_n
        FROM {base}
        GROUP BY item_key, iv_key, day_number
        """
    )


def _create_windows(con: duckdb.DuckDBPyConnection, base: str, name: str, batch_rows: int) -> None:
    """Rolling comps of each target sale: quantiles and counts over RANGE frames of days.

    Frames are computed over every kept sale (a sale's window needs the earlier ones), then only
    the targets are stored; with `days` given, sales older than the longest window before the
    first requested day are left out of the frames. Item and item+variant windows never cross
    items, so they are computed for batches of whole items of about `batch_rows` sales each,
    which bounds DuckDB's window state (10 M sales in one statement exhausted 24 GiB). The
    class window (one partition per class) is computed apart, in `<name>_class`.
    """
    horizon = max(WINDOWS) + 1
    scope = f"day_number >= (SELECT min(day_number) FROM {base} WHERE is_target) - {horizon}"
    batches = _item_batches(con, base, scope, batch_rows)
    for position, (first, last) in enumerate(batches):
        verb = f"CREATE TEMP TABLE {name} AS" if position == 0 else f"INSERT INTO {name}"
        where = f"{scope} AND item_key BETWEEN {first} AND {last}"
        con.execute(f"{verb} {_level_windows_sql(base, where)}")

    con.execute(
        f"""
        CREATE TEMP TABLE {name}_class AS
        SELECT sale_id, class_lp_30, class_n_30d FROM (
            SELECT sale_id, is_target,
                quantile_cont(lp, 0.5) OVER w AS class_lp_30,
                count(lp) OVER w AS class_n_30d
            FROM {base}
            WHERE {scope}
            WINDOW w AS (PARTITION BY asset_class ORDER BY day_number
                RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING)
        )
        WHERE is_target
        """
    )


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


def _level_windows_sql(base: str, where: str) -> str:
    """Median and IQR of log price, and counts, per level and window, for the target sales."""
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
            outer += [
                f"{q}[2] AS {level}_lp_{days}",
                f"{q}[3] - {q}[1] AS {level}_iqr_{days}d",
                f"{level}_n_{days}d",
            ]
    return f"""
        SELECT sale_id, {", ".join(outer)} FROM (
            SELECT sale_id, is_target, {", ".join(inner)}
            FROM {base}
            WHERE {where}
            WINDOW {", ".join(windows)}
        )
        WHERE is_target
    """


def _create_previous(con: duckdb.DuckDBPyConnection, daily: str, name: str) -> None:
    """Per (item, variant, day): the last earlier sale day of the variant and of the item.

    The item-level figures come from the item's own daily series (the median of all its sales
    on its most recent earlier sale day), not from the variant's.
    """
    con.execute(
        f"""
        CREATE TEMP TABLE {name} AS
        WITH iv AS (
            SELECT item_key, iv_key, day_number,
                lag(day_lp) OVER w AS iv_last_lp,
                lag(day_number) OVER w AS iv_last_day,
                sum(day_n) OVER w - day_n AS iv_n_before
            FROM {daily}
            WINDOW w AS (PARTITION BY iv_key ORDER BY day_number)
        ),
        item_daily AS (
            SELECT item_key, day_number, sum(day_n) AS day_n
            FROM {daily}
            GROUP BY item_key, day_number
        ),
        item AS (
            SELECT item_key, day_number,
                lag(day_number) OVER w AS item_last_day,
                sum(day_n) OVER w - day_n AS item_n_before,
                min(day_number) OVER (PARTITION BY item_key) AS item_first_day
            FROM item_daily
            WINDOW w AS (PARTITION BY item_key ORDER BY day_number)
        )
        SELECT iv.*, item.item_last_day, item.item_n_before, item.item_first_day
        FROM iv JOIN item USING (item_key, day_number)
        """
    )


def _select_sql(names: dict[str, str], stats: str | None, prices: str | None) -> str:
    """The final SELECT: windows, last prices, attributes, stats and reference prices joined."""
    comps = _comps_select()
    stats_join, stats_select = _stats_parts(stats)
    prices_join, prices_select = _prices_parts(prices)
    base, win, prev = names["base"], names["win"], names["prev"]
    return f"""
        WITH item_day_lp AS (
            SELECT item_key, day_number, median(lp) AS day_lp
            FROM {base}
            GROUP BY item_key, day_number
        ),
        attrs AS (
            SELECT attributes, json_extract_string(attributes, {_ATTRIBUTE_PATHS}) AS a
            FROM (SELECT DISTINCT attributes FROM {base} WHERE is_target)
        ),
        joined AS (
            SELECT b.*, w.* EXCLUDE (sale_id), c.* EXCLUDE (sale_id), p.iv_last_lp, p.iv_last_day,
                p.iv_n_before, p.item_last_day, p.item_n_before, p.item_first_day,
                il.day_lp AS item_last_lp,
                ja.a[1] AS brand, ja.a[2] AS size_text, ja.a[3] AS retail_text,
                ja.a[4] AS release_text, ja.a[5] AS buyer_region, ja.a[6] AS year_text,
                ja.a[7] AS rookie_text, ja.a[8] AS player_id
            FROM {base} AS b
            JOIN {win} AS w USING (sale_id)
            JOIN {win}_class AS c USING (sale_id)
            JOIN {prev} AS p USING (iv_key, day_number)
            LEFT JOIN item_day_lp AS il
                ON il.item_key = b.item_key AND il.day_number = p.item_last_day
            LEFT JOIN attrs AS ja ON ja.attributes IS NOT DISTINCT FROM b.attributes
            WHERE b.is_target
        )
        SELECT
            j.sale_id, j.asset_class, j.item_id, j.variant, j.sale_date, j.price_usd, j.venue,
            j.is_simulated,
            {comps},
            exp(j.class_lp_30) AS class_med_30d,
            j.class_n_30d,
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


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """The Arrow result as pandas: categorical features as `category`, sale_date as datetime.

    Categorical columns are dictionary-encoded in Arrow, which converts to pandas categories
    without going through Python strings; this and skipping DuckDB's own `.df()` conversion of
    text columns measured about twice as fast on a million sales.
    """
    for column in CATEGORICAL_COLUMNS:
        position = table.schema.get_field_index(column)
        encoded = pc.dictionary_encode(table.column(column).cast(pa.string()))
        table = table.set_column(position, column, encoded)
    frame = table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
    frame["sale_date"] = frame["sale_date"].astype("datetime64[ns]")
    return frame


def _typed_sql(select: str) -> str:
    """`select` with ID_COLUMNS + FEATURE_COLUMNS in order, numeric features as DOUBLE."""
    columns = [
        name if name in CATEGORICAL_COLUMNS else f"CAST({name} AS DOUBLE) AS {name}"
        for name in FEATURE_COLUMNS
    ]
    return (
        f"SELECT {', '.join(ID_COLUMNS)}, {', '.join(columns)} FROM ({select}) "
        "ORDER BY sale_date, sale_id"
    )


# --------------------------------------------------------------------------------------------
# The same comps features with pandas, for the benchmark and the agreement test


def build_features_pandas(
    sales: pd.DataFrame, *, days: Sequence[dt.date] | None = None
) -> pd.DataFrame:
    """COMPS_COLUMNS for the sales of `days` (all if None), computed with pandas alone.

    Rolling windows on the sale date with `closed="left"` over whole days ([d - w, d)), per
    group, exactly as the SQL frames; returns sale_id plus COMPS_COLUMNS, sorted like
    `build_features`.
    """
    frame = _pandas_base(sales)
    out = frame[["sale_id", "sale_date"]].copy()
    for level, keys in LEVELS.items():
        for column, values in _pandas_level(frame, list(keys), level).items():
            out[column] = values

    if days is not None:
        wanted = pd.to_datetime(pd.Series(sorted(set(days))))
        out = out[out["sale_date"].isin(wanted)]
    out = out.sort_values(["sale_date", "sale_id"]).reset_index(drop=True)
    return out[["sale_id", *COMPS_COLUMNS]]


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
