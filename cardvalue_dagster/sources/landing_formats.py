"""Parsers for files dropped in the landing zone, the format recognised from what the file holds.

Files arrive in `landing/<asset_class>/[<YYYY-MM-DD>/]<file>` under any name, so the format is
detected from the content: the CSV header, the keys of the first JSON line, the Parquet schema, or
the shape of a JSON API response. The file name only decides how the bytes are unpacked (`.gz` is
gzip, `.parquet` is Parquet, anything else is UTF-8 text), because names are chosen by people and
scrapers while headers are chosen by the source.

Every parser maps one format to the canonical tables of `cardvalue_dagster.sources.canonical`:
sales formats to SALE_COLUMNS, reference-price formats to PRICE_COLUMNS, each followed by a
`parse_problem` column. A parser never drops or repairs a bad data row: a cell it cannot read
becomes null and the row says why in `parse_problem`, so the contract step can quarantine it with
its file and row number. Rows that are not data at all (a scraper's "no data" marker) are left out
and counted in `ParsedFile.skipped_rows`. A file that cannot be read at all raises
`LandingFileError`, naming the file and the reason.

Parsing is vectorised; conversions run once per distinct cell value, so the 80k-row StockX export
parses in under a second (about half of it in `assign_sale_ids`).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import logging
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cardvalue_dagster.asset_classes import is_asset_class
from cardvalue_dagster.sources.canonical import (
    PRICE_COLUMNS,
    SALE_COLUMNS,
    assign_sale_ids,
    attributes_json,
    item_id,
)

logger = logging.getLogger(__name__)

PROBLEM_COLUMN = "parse_problem"
"""Trailing column of every parsed frame: why a row's cells could not be read, null if fine."""

SALE_OUTPUT_COLUMNS: tuple[str, ...] = (*SALE_COLUMNS, PROBLEM_COLUMN)
PRICE_OUTPUT_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, PROBLEM_COLUMN)

SALES_FORMATS: tuple[str, ...] = ("canonical", "stockx", "ebay_130point", "psa_apr")
PRICE_FORMATS: tuple[str, ...] = ("tcgplayer_history", "pricecharting_graded")

CANONICAL_INPUT_COLUMNS: tuple[str, ...] = tuple(
    c for c in SALE_COLUMNS if c not in ("sale_id", "source_format", "source_file", "source_row")
)
"""What a canonical landing file holds; the loader fills ids and provenance."""

_PRICECHARTING_GRADES: dict[str, str] = {
    "ungraded": "ungraded",
    "grade_7": "grade 7",
    "grade_8": "grade 8",
    "grade_9": "grade 9",
    "grade_95": "grade 9.5",
    "psa_10": "psa 10",
}

_SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("canonical", frozenset({"asset_class", "item_id", "item_name", "sale_date", "price_usd"})),
    (
        "stockx",
        frozenset(
            {
                "Order Date",
                "Brand",
                "Sneaker Name",
                "Sale Price",
                "Retail Price",
                "Release Date",
                "Shoe Size",
                "Buyer Region",
            }
        ),
    ),
    ("ebay_130point", frozenset({"player_name", "card_id", "sale_date", "sold_price"})),
    (
        "psa_apr",
        frozenset(
            {"set_slug", "card_slug", "date", "grade", "qualifier", "prize", "auction_house"}
        ),
    ),
    (
        "tcgplayer_history",
        frozenset({"set", "type", "name", "period_end_date", "holofoil_price", "volume"}),
    ),
    (
        "pricecharting_graded",
        frozenset({"set", "card_name", "card_number", "scraped_at", "status"})
        | frozenset(_PRICECHARTING_GRADES),
    ),
)
"""Columns each format's header must contain, checked in this order (first match wins)."""

_HEAD_BYTES = 256 * 1024
_BAD_LINE_MARK = "\x00cardvalue-bad-line:"

_CARD_TITLE = re.compile(
    r"^(?P<player>[^_]+)_(?P<year>\d{4})\s+(?P<set>.+?)"
    r"(?:\s+(?P<company>psa|bgs|sgc|cgc)\s+(?P<grade>\d+(?:\.\d+)?))?$",
    re.IGNORECASE,
)
"""130point card titles: '<player>_<year> <set> [<grader> <grade>]'."""

_SET_GAMES: tuple[tuple[str, str], ...] = (
    ("pokemon", "pokemon"),
    ("magic-gathering", "mtg"),
    ("magic-the-gathering", "mtg"),
    ("yu-gi-oh", "yugioh"),
    ("yugioh", "yugioh"),
)
"""PSA set-slug fragments that name a trading-card game."""


@dataclass(frozen=True)
class ParsedFile:
    """One landing file turned into canonical rows, plus what was left out and why."""

    path: Path
    relative_path: str
    format: str
    table: str
    rows: pd.DataFrame
    skipped_rows: int = 0
    skip_reason: str | None = None


class LandingFileError(Exception):
    """A landing file that cannot be read at all: unknown format, undecodable, empty, corrupt."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: cannot read: {reason}")
        self.file = file
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Public entry points


def detect_format(path: Path) -> str:
    """Name the landing format of `path` from its header, first JSON line or Parquet schema."""
    return _detect(_Source(Path(path), str(path))).format


def parse_landing_file(
    path: Path,
    landing_root: Path,
    asset_class: str,
    drop_date: dt.date | None = None,
) -> ParsedFile:
    """Parse one landing file into canonical rows.

    `asset_class` comes from the landing folder (`landing/<asset_class>/...`); `drop_date` from
    an optional date folder. JSON API responses take their observation date from `drop_date`.
    """
    if not is_asset_class(asset_class):
        raise ValueError(f"unknown asset class {asset_class!r}")
    path, landing_root = Path(path), Path(landing_root)
    relative = _relative_path(path, landing_root)
    source = _Source(path, f"{landing_root.name}/{relative}")
    detection = _detect(source)
    context = _Context(source, relative, detection.format, asset_class, drop_date)
    parsed = _parse(detection, context)
    _log_result(parsed)
    return parsed


# --------------------------------------------------------------------------------------------
# Reading bytes: decompression and decoding chosen by the file name, nothing else


@dataclass(frozen=True)
class _Source:
    """A landing file and the name error messages use for it."""

    path: Path
    name: str

    @property
    def gzipped(self) -> bool:
        return self.path.suffix.lower() == ".gz"

    @property
    def parquet(self) -> bool:
        inner = self.path.with_suffix("") if self.gzipped else self.path
        return inner.suffix.lower() == ".parquet"

    def fail(self, reason: str) -> LandingFileError:
        return LandingFileError(self.name, reason)


def _read_bytes(source: _Source, limit: int | None = None) -> bytes:
    """The file's (decompressed) bytes, all of them or the first `limit`."""
    try:
        opener = gzip.open if source.gzipped else open
        with opener(source.path, "rb") as handle:
            data = handle.read() if limit is None else handle.read(limit)
    except FileNotFoundError as exc:
        raise source.fail("no such file") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise source.fail(f"not a valid gzip file ({exc})") from exc
    except OSError as exc:
        raise source.fail(f"{type(exc).__name__}: {exc}") from exc
    if not data.strip():
        raise source.fail("file is empty")
    return data


def _decode(source: _Source, data: bytes, complete: bool) -> str:
    """UTF-8 text (a leading BOM dropped). A head read may end inside a character: cut there."""
    if b"\x00" in data:
        raise source.fail("binary content, not text (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8-sig")
        raise source.fail(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _read_text(source: _Source) -> str:
    return _decode(source, _read_bytes(source), complete=True)


def _parquet_input(source: _Source) -> Any:
    """What pyarrow reads: the path, or the decompressed bytes of a gzipped Parquet file."""
    if source.gzipped:
        return io.BytesIO(_read_bytes(source))
    if not source.path.exists():
        raise source.fail("no such file")
    if source.path.stat().st_size == 0:
        raise source.fail("file is empty")
    return source.path


# --------------------------------------------------------------------------------------------
# Detection


@dataclass(frozen=True)
class _Detection:
    """The recognised format, how its rows are laid out, and a JSON payload already read."""

    format: str
    layout: str  # "csv", "jsonl", "parquet" or "api"
    payload: dict[str, Any] | None = None


def _detect(source: _Source) -> _Detection:
    if source.parquet:
        return _detect_parquet(source)
    head = _decode(source, _read_bytes(source, _HEAD_BYTES), complete=False)
    if head.lstrip()[:1] in ("{", "["):
        return _detect_json(source, head)
    return _detect_csv(source, head)


def _match_columns(columns: list[str]) -> str | None:
    present = set(columns)
    return next((name for name, needed in _SIGNATURES if needed <= present), None)


def _describe_columns(columns: list[str]) -> str:
    shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
    return f"(columns: {shown})"


def _detect_csv(source: _Source, head: str) -> _Detection:
    first_line = head.lstrip("\r\n").splitlines()[0]
    columns = [c.strip() for c in next(csv.reader([first_line]))]
    name = _match_columns(columns)
    if name is None:
        reason = f"header matches no known format {_describe_columns(columns)}"
        raise source.fail(reason)
    return _Detection(name, "csv")


def _detect_parquet(source: _Source) -> _Detection:
    try:
        columns = list(pq.read_schema(_parquet_input(source)).names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise source.fail(f"not a valid Parquet file ({exc})") from exc
    name = _match_columns(columns)
    if name != "canonical":
        reason = (
            f"Parquet columns are not the canonical sales contract {_describe_columns(columns)}"
        )
        raise source.fail(reason)
    return _Detection(name, "parquet")


def _detect_json(source: _Source, head: str) -> _Detection:
    """Canonical JSON lines if the first line is a sales record, else one API response."""
    first_line = head.lstrip().split("\n", 1)[0]
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if isinstance(first, dict) and _match_columns(list(first)) == "canonical":
        return _Detection("canonical", "jsonl")
    return _detect_api(source)


def _detect_api(source: _Source) -> _Detection:
    try:
        payload = json.loads(_read_text(source))
    except json.JSONDecodeError as exc:
        raise source.fail(f"not valid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise source.fail(f"JSON document is a {type(payload).__name__}, not an API response")
    name = _card_apis(source).detect_api_payload(payload)
    if name is None:
        keys = ", ".join(sorted(payload)[:20])
        raise source.fail(f"JSON document matches no known API payload (keys: {keys})")
    return _Detection(name, "api", payload)


def _card_apis(source: _Source) -> Any:
    """The API normalisers, imported lazily: they live in a module of their own."""
    try:
        from cardvalue_dagster.sources import card_apis
    except ModuleNotFoundError as exc:
        if exc.name != "cardvalue_dagster.sources.card_apis":
            raise
        raise source.fail("JSON API responses need cardvalue_dagster.sources.card_apis") from exc
    return card_apis


# --------------------------------------------------------------------------------------------
# Loading rows: every cell as text, plus the 1-based data-row number and file-level row notes


@dataclass(frozen=True)
class _Context:
    """What a parser needs besides the cells: where the file is and what the caller knows."""

    source: _Source
    relative_path: str
    format: str
    asset_class: str
    drop_date: dt.date | None


@dataclass
class _Table:
    """Cells as stripped text ('' for empty), data-row numbers, and rows that were unreadable."""

    cells: pd.DataFrame
    source_rows: np.ndarray
    row_problems: pd.Series
    blank_lines: int = 0

    def text(self, column: str) -> pd.Series:
        if column not in self.cells:
            return pd.Series("", index=self.cells.index, dtype=object)
        return self.cells[column]


def _load_table(detection: _Detection, source: _Source) -> _Table:
    if detection.layout == "csv":
        return _load_csv(source)
    if detection.layout == "jsonl":
        return _load_jsonl(source)
    return _load_parquet(source)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as stripped text, '' where the source has no value."""
    out = {}
    for column in frame.columns:
        codes, uniques = pd.factorize(frame[column])
        texts = pd.Series(uniques, dtype=object).astype(str).str.strip().to_numpy()
        cells = np.append(texts, "")[codes]  # code -1 (no value) picks the appended ''
        out[str(column).strip()] = pd.Series(cells, index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index)


def _no_problems(index: pd.Index) -> pd.Series:
    return pd.Series(None, index=index, dtype=object)


def _load_csv(source: _Source) -> _Table:
    text = _read_text(source)
    try:
        try:
            frame = _read_csv(text)
            problems = _no_problems(frame.index)
        except pd.errors.ParserError:
            frame, problems = _read_csv_with_bad_lines(text)
    except (ValueError, csv.Error) as exc:
        raise source.fail(f"not valid CSV ({exc})") from exc
    return _Table(_as_text(frame), np.arange(1, len(frame) + 1, dtype=np.int64), problems)


def _read_csv(text: str, **options: Any) -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, **options
    )


def _read_csv_with_bad_lines(text: str) -> tuple[pd.DataFrame, pd.Series]:
    """Read a CSV with rows of too many fields: keep them, blanked, with a note each."""
    width = len(next(csv.reader([text.lstrip("\r\n").splitlines()[0]])))

    def keep(fields: list[str]) -> list[str]:
        return [f"{_BAD_LINE_MARK}{len(fields)}", *([""] * (width - 1))]

    frame = _read_csv(text, engine="python", on_bad_lines=keep)
    first = frame.iloc[:, 0]
    bad = first.str.startswith(_BAD_LINE_MARK)
    problems = _no_problems(frame.index)
    counts = first[bad].str.slice(len(_BAD_LINE_MARK))
    problems[bad] = "row: has " + counts + f" fields, the header has {width}"
    frame.loc[bad, frame.columns[0]] = ""
    return frame, problems


def _load_jsonl(source: _Source) -> _Table:
    """JSON lines: one record per line, numbered by line; unreadable lines kept as empty rows."""
    lines = _read_text(source).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    records, numbers, notes, blank = [], [], [], 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            blank += 1
            continue
        record, note = _json_record(line)
        records.append(record)
        numbers.append(number)
        notes.append(note)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame.index = pd.RangeIndex(len(records))
    problems = pd.Series(notes, index=frame.index, dtype=object)
    return _Table(_jsonl_text(frame), np.array(numbers, dtype=np.int64), problems, blank)


def _json_record(line: str) -> tuple[dict[str, Any], str | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return {}, f"row: not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(record, dict):
        return {}, f"row: a JSON {type(record).__name__}, not an object"
    return record, None


def _jsonl_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as text; JSON objects (attributes) stay serialised as JSON, not as Python repr."""
    if "attributes" in frame:
        attrs = frame["attributes"]
        is_dict = attrs.map(lambda v: isinstance(v, dict))
        if is_dict.any():
            frame = frame.copy()
            frame.loc[is_dict, "attributes"] = attrs[is_dict].map(attributes_json)
    return _as_text(frame)


def _load_parquet(source: _Source) -> _Table:
    try:
        frame = pq.read_table(_parquet_input(source)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise source.fail(f"not a valid Parquet file ({exc})") from exc
    frame = frame.reset_index(drop=True)
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return _Table(_as_text(frame), rows, _no_problems(frame.index))


# --------------------------------------------------------------------------------------------
# Cell conversion: once per distinct value, with a problem note for every cell that fails


class _Problems:
    """Per-row problem notes, joined with '; ' when a row has several."""

    def __init__(self, initial: pd.Series) -> None:
        self.notes = initial.astype(object).copy()

    def add(self, mask: pd.Series, message: pd.Series | str) -> None:
        if not mask.any():
            return
        selected = mask.index[mask.to_numpy()]
        new = message.reindex(selected) if isinstance(message, pd.Series) else message
        current = self.notes[mask]
        self.notes[mask] = np.where(current.isna(), new, current.astype(str) + "; " + new)


def _per_unique(text: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply `convert` to each distinct value of `text` once and spread the results back."""
    codes, uniques = pd.factorize(text)
    converted = convert(pd.Series(uniques, dtype=object)).reset_index(drop=True)
    return pd.Series(converted.reindex(codes).to_numpy(), index=text.index)


def _cannot_parse(column: str, text: pd.Series, suffix: str = "") -> pd.Series:
    return f"{column}: cannot parse '" + text + "'" + suffix


def _parse_number(
    text: pd.Series, column: str, problems: _Problems, *, required: bool, money: bool = False
) -> pd.Series:
    """Floats from text ('$1,097' with `money`); bad cells become NaN with a note."""

    def convert(values: pd.Series) -> pd.Series:
        if money:
            values = values.str.replace(r"[$,\s]", "", regex=True)
        return pd.to_numeric(values, errors="coerce").astype(float)

    numbers = _per_unique(text, convert).astype(float)
    bad = (text != "") & ~np.isfinite(numbers)
    problems.add(bad, _cannot_parse(column, text[bad]))
    numbers[bad] = np.nan
    if required:
        problems.add(text == "", f"{column}: empty")
    return numbers


def _parse_date(
    text: pd.Series,
    column: str,
    problems: _Problems,
    *,
    fmt: str,
    label: str,
    required: bool = True,
) -> pd.Series:
    """Dates (midnight) from text in `fmt`; ISO 8601 timestamps are taken as their UTC day."""

    def convert(values: pd.Series) -> pd.Series:
        if fmt == "ISO8601":
            stamps = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
            return stamps.dt.tz_convert(None).dt.normalize()
        return pd.to_datetime(values, format=fmt, errors="coerce").dt.normalize()

    dates = pd.to_datetime(_per_unique(text, convert)).astype("datetime64[ns]")
    bad = (text != "") & dates.isna()
    problems.add(bad, _cannot_parse(column, text[bad], f" as {label}"))
    if required:
        problems.add(text == "", f"{column}: empty")
    return dates


def _parse_text(
    text: pd.Series, column: str, problems: _Problems, *, required: bool = True
) -> pd.Series:
    """Text as given (stripped), null where empty; empty required cells get a note."""
    if required:
        problems.add(text == "", f"{column}: empty")
    return text.where(text != "", None).astype(object)


def _parse_bool(text: pd.Series, column: str, problems: _Problems) -> pd.Series:
    """true/false in any case. An unreadable cell is noted and taken as True (simulated): a
    row of unknown provenance must never pass for a real sale."""
    lowered = text.str.lower()
    bad = ~lowered.isin(["true", "false"])
    unreadable = bad & (text != "")
    problems.add(unreadable, _cannot_parse(column, text[unreadable], " as true/false"))
    problems.add(text == "", f"{column}: empty")
    return (lowered == "true") | bad


def _item_ids(asset_class: str | pd.Series, parts: list[pd.Series]) -> pd.Series:
    """`item_id(class, *parts)` per row, null where a part is missing; once per distinct key."""
    index = parts[0].index
    classes = (
        asset_class
        if isinstance(asset_class, pd.Series)
        else pd.Series(asset_class, index=index, dtype=object)
    )
    frame = pd.concat([classes, *parts], axis=1, keys=range(len(parts) + 1))
    complete = frame.notna().all(axis=1)
    ids = pd.Series(None, index=index, dtype=object)
    if complete.any():
        codes, uniques = pd.MultiIndex.from_frame(frame[complete]).factorize()
        built = np.array([item_id(key[0], *key[1:]) for key in uniques], dtype=object)
        ids[complete] = built[codes]
    return ids


def _attributes(values: Mapping[str, pd.Series | Any], index: pd.Index) -> pd.Series:
    """`attributes_json` per row, computed once per distinct combination of values."""
    frame = pd.DataFrame(dict(values), index=index)
    if frame.empty:
        return pd.Series(dtype=object, index=index)
    groups, first = _row_groups(frame)
    unique_rows = frame.iloc[first].to_dict("records")
    built = pd.Series([attributes_json({str(k): v for k, v in r.items()}) for r in unique_rows])
    return pd.Series(built.to_numpy(dtype=object)[groups], index=index, dtype=object)


def _row_groups(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Group id of each row (equal rows, nulls equal) and the position of each group's first row.

    Each column is factorized and the codes combined into one integer key, which is hashed once;
    much faster than sorting rows of Python objects.
    """
    key = np.zeros(len(frame), dtype=np.int64)
    scale = 1
    for column in frame.columns:
        codes = pd.factorize(frame[column])[0].astype(np.int64) + 1
        width = int(codes.max()) + 1
        if scale * width >= 2**62:  # too many combinations for one integer: start over
            key = pd.factorize(key)[0].astype(np.int64)
            scale = int(key.max()) + 1
        key += codes * scale
        scale *= width
    groups, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    first[groups[::-1]] = np.arange(len(frame) - 1, -1, -1)
    return groups, first


def _grade_label(grades: pd.Series) -> pd.Series:
    """8.0 -> '8', 9.5 -> '9.5'; null stays null."""
    return grades.map("{:g}".format, na_action="ignore").astype(object)


def _iso_day(dates: pd.Series) -> pd.Series:
    """Dates as 'YYYY-MM-DD' text, null stays null."""

    def convert(values: pd.Series) -> pd.Series:
        days = pd.to_datetime(values)
        return days.dt.strftime("%Y-%m-%d").where(days.notna(), None)

    return _per_unique(dates, convert).astype(object).where(dates.notna(), None)


def _nullable_number(numbers: pd.Series) -> pd.Series:
    """Floats as objects with None for missing, for attributes (NaN would be dropped anyway)."""
    return numbers.astype(object).where(numbers.notna(), None)


# --------------------------------------------------------------------------------------------
# Assembling canonical frames


def _sales_frame(
    columns: dict[str, Any], table: _Table, context: _Context, problems: _Problems
) -> pd.DataFrame:
    """The canonical sales columns in order, typed, with ids and provenance filled in."""
    index = table.cells.index
    frame = pd.DataFrame(index=index)
    for name in CANONICAL_INPUT_COLUMNS:
        frame[name] = columns.get(name)
    frame["source_format"] = context.format
    frame["source_file"] = context.relative_path
    frame["source_row"] = table.source_rows
    frame = _sales_dtypes(frame)
    frame["sale_id"] = _objects(_sale_ids(frame))
    frame[PROBLEM_COLUMN] = _objects(problems.notes)
    return frame[list(SALE_OUTPUT_COLUMNS)].reset_index(drop=True)


_SALE_TEXT_COLUMNS = (
    "asset_class",
    "item_id",
    "item_name",
    "variant",
    "venue",
    "grading_company",
    "condition",
    "attributes",
    "source_format",
    "source_file",
)


def _sales_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The warehouse types: dates at midnight, floats, int64 rows, bool flag, text as objects."""
    frame["sale_date"] = pd.to_datetime(frame["sale_date"]).astype("datetime64[ns]")
    for name in ("price_usd", "grade"):
        frame[name] = pd.to_numeric(frame[name]).astype("float64")
    frame["source_row"] = frame["source_row"].astype("int64")
    frame["is_simulated"] = frame["is_simulated"].astype(bool)
    for name in _SALE_TEXT_COLUMNS:
        frame[name] = _objects(frame[name])
    return frame


def _objects(values: pd.Series) -> pd.Series:
    """Object dtype with None (not NaN) for missing values."""
    return values.astype(object).where(values.notna(), None)


def _sale_ids(frame: pd.DataFrame) -> pd.Series:
    """`assign_sale_ids` for rows with a date and a price; null for the rest (already flagged).

    `assign_sale_ids` cannot hash a missing date, so incomplete rows get no id.
    """
    ids = pd.Series(None, index=frame.index, dtype=object)
    complete = frame["sale_date"].notna() & frame["price_usd"].notna()
    if complete.any():
        ids[complete] = assign_sale_ids(frame[complete]).astype(object)
    return ids


def _prices_frame(
    columns: dict[str, Any], index: pd.Index, source_rows: Any, context: _Context, notes: Any
) -> pd.DataFrame:
    """The canonical reference-price columns in order, typed, with provenance filled in."""
    frame = pd.DataFrame(index=index)
    for name in PRICE_COLUMNS:
        frame[name] = columns.get(name)
    frame["source_file"] = context.relative_path
    frame["source_row"] = source_rows
    frame[PROBLEM_COLUMN] = notes
    return _prices_dtypes(frame)[list(PRICE_OUTPUT_COLUMNS)].reset_index(drop=True)


def _prices_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    frame["observed_on"] = pd.to_datetime(frame["observed_on"]).astype("datetime64[ns]")
    frame["observed_on"] = frame["observed_on"].dt.normalize()
    for name in ("price_usd", "low_usd", "high_usd", "volume"):
        frame[name] = pd.to_numeric(frame[name]).astype("float64")
    frame["source_row"] = pd.to_numeric(frame["source_row"]).astype("int64")
    for name in ("asset_class", "card_id", "card_name", "set_name", "printing", "source"):
        frame[name] = _objects(frame[name])
    frame["source_file"] = _objects(frame["source_file"])
    frame[PROBLEM_COLUMN] = _objects(frame[PROBLEM_COLUMN])
    return frame


# --------------------------------------------------------------------------------------------
# Format parsers: each returns (rows, skipped data rows, reason)

_Result = tuple[pd.DataFrame, int, str | None]


def _parse(detection: _Detection, context: _Context) -> ParsedFile:
    if detection.layout == "api":
        rows, skipped, reason = _parse_api(detection, context)
    else:
        table = _load_table(detection, context.source)
        rows, skipped, reason = _PARSERS[detection.format](table, context)
        if table.blank_lines:
            skipped += table.blank_lines
            reason = _join_reasons(reason, f"{table.blank_lines} blank lines")
    kind = "sales" if detection.format in SALES_FORMATS else "prices"
    return ParsedFile(
        path=context.source.path,
        relative_path=context.relative_path,
        format=detection.format,
        table=kind,
        rows=rows,
        skipped_rows=skipped,
        skip_reason=reason,
    )


def _join_reasons(*reasons: str | None) -> str | None:
    kept = [r for r in reasons if r]
    return "; ".join(kept) if kept else None


def _parse_canonical(table: _Table, context: _Context) -> _Result:
    """The canonical contract itself; a row of another class than the folder's is flagged."""
    if "is_simulated" not in table.cells:
        raise context.source.fail("canonical sales file lacks the is_simulated column")
    _warn_unknown_columns(table, context)
    problems = _Problems(table.row_problems)
    text = table.text
    classes = _parse_text(text("asset_class"), "asset_class", problems)
    _flag_other_class(classes, context, problems)
    columns = {
        "asset_class": classes,
        "item_id": _parse_text(text("item_id"), "item_id", problems),
        "item_name": _parse_text(text("item_name"), "item_name", problems),
        "variant": text("variant"),
        "sale_date": _parse_date(
            text("sale_date"), "sale_date", problems, fmt="ISO8601", label="an ISO date"
        ),
        "price_usd": _parse_number(text("price_usd"), "price_usd", problems, required=True),
        "venue": _parse_text(text("venue"), "venue", problems, required=False),
        "grade": _parse_number(text("grade"), "grade", problems, required=False),
        "grading_company": _parse_text(
            text("grading_company"), "grading_company", problems, required=False
        ),
        "condition": _parse_text(text("condition"), "condition", problems, required=False),
        "attributes": _parse_attributes(text("attributes"), problems),
        "is_simulated": _parse_bool(text("is_simulated"), "is_simulated", problems),
    }
    return _sales_frame(columns, table, context, problems), 0, None


def _flag_other_class(classes: pd.Series, context: _Context, problems: _Problems) -> None:
    """Note rows whose own asset class is not the class of the folder the file sits in."""
    other = classes.notna() & (classes != context.asset_class)
    message = "asset_class: '" + classes[other].astype(str) + "' is not the class of its "
    problems.add(other, message + f"landing folder '{context.asset_class}'")


def _warn_unknown_columns(table: _Table, context: _Context) -> None:
    known = set(SALE_COLUMNS) | {"sale_id"}
    unknown = [c for c in table.cells.columns if c not in known]
    if unknown:
        logger.warning("%s: ignoring non-canonical columns %s", context.source.name, unknown)


def _parse_attributes(text: pd.Series, problems: _Problems) -> pd.Series:
    """A JSON object per row, re-serialised deterministically; '{}' where empty."""

    def convert(values: pd.Series) -> pd.Series:
        return values.map(_attributes_or_none)

    parsed = _per_unique(text, convert)
    bad = (text != "") & parsed.isna()
    problems.add(bad, _cannot_parse("attributes", text[bad], " as a JSON object"))
    return parsed.where(text != "", "{}").astype(object)


def _attributes_or_none(value: str) -> str | None:
    if value == "":
        return "{}"
    try:
        obj = json.loads(value)
    except json.JSONDecodeError:
        return None
    return attributes_json(obj) if isinstance(obj, dict) else None


def _parse_stockx(table: _Table, context: _Context) -> _Result:
    """StockX 2019 contest export: one sale of a sneaker model in one size per row."""
    problems = _Problems(table.row_problems)
    text = table.text
    names = _parse_text(text("Sneaker Name"), "item_name", problems)
    size_text = text("Shoe Size")
    sizes = _parse_number(size_text, "variant", problems, required=True)
    release = _parse_date(
        text("Release Date"),
        "release_date",
        problems,
        fmt="%m/%d/%y",
        label="m/d/yy",
        required=False,
    )
    retail = _parse_number(
        text("Retail Price"), "retail_price_usd", problems, required=False, money=True
    )
    attributes = {
        "brand": _parse_text(text("Brand"), "brand", problems, required=False),
        "size": _nullable_number(sizes),
        "retail_price_usd": _nullable_number(retail),
        "release_date": _iso_day(release),
        "buyer_region": _parse_text(text("Buyer Region"), "buyer_region", problems, required=False),
    }
    columns = {
        "asset_class": context.asset_class,
        "item_id": _item_ids(context.asset_class, [names.str.lower()]),
        "item_name": names,
        "variant": ("size " + size_text).where(sizes.notna(), None),
        "sale_date": _parse_date(
            text("Order Date"), "sale_date", problems, fmt="%m/%d/%y", label="m/d/yy"
        ),
        "price_usd": _parse_number(
            text("Sale Price"), "price_usd", problems, required=True, money=True
        ),
        "venue": "StockX",
        "condition": "new",
        "attributes": _attributes(attributes, table.cells.index),
        "is_simulated": False,
    }
    return _sales_frame(columns, table, context, problems), 0, None


def _parse_ebay_130point(table: _Table, context: _Context) -> _Result:
    """eBay sold listings via 130point: player, card title, timestamp, price."""
    problems = _Problems(table.row_problems)
    text = table.text
    players = _parse_text(text("player_name"), "item_name", problems)
    title = text("card_id")
    parts = title.str.extract(_CARD_TITLE)
    unreadable = parts["year"].isna()
    message = " as '<player>_<year> <set> [<grader> <grade>]'"
    bad = unreadable & (title != "")
    problems.add(bad, _cannot_parse("card_id", title[bad], message))
    problems.add(title == "", "card_id: empty")
    card_set = parts["set"].str.lower().str.strip()
    company = parts["company"].str.upper()
    grades = pd.to_numeric(parts["grade"]).astype(float)
    years = pd.to_numeric(parts["year"]).astype("Int64")
    variant = (company + " " + _grade_label(grades)).where(company.notna(), "")
    attributes = {
        "player_name": players,
        "year": years.astype(object).where(years.notna(), None),
        "set": card_set,
        "card_title": title.where(title != "", None),
    }
    columns = {
        "asset_class": context.asset_class,
        "item_id": _item_ids(context.asset_class, [players, parts["year"], card_set]),
        "item_name": (players + " " + parts["year"] + " " + card_set.str.title()).astype(object),
        "variant": variant.where(~unreadable, None),
        "sale_date": _parse_date(
            text("sale_date"), "sale_date", problems, fmt="ISO8601", label="a timestamp"
        ),
        "price_usd": _parse_number(text("sold_price"), "price_usd", problems, required=True),
        "venue": "eBay",
        "grade": grades,
        "grading_company": company.astype(object),
        "attributes": _attributes(attributes, table.cells.index),
        "is_simulated": False,
    }
    return _sales_frame(columns, table, context, problems), 0, None


def _parse_psa_apr(table: _Table, context: _Context) -> _Result:
    """PSA auction prices realized: one sale of a PSA-graded card per row."""
    problems = _Problems(table.row_problems)
    text = table.text
    set_slug = _parse_text(text("set_slug"), "set_slug", problems)
    card_slug = _parse_text(text("card_slug"), "card_slug", problems)
    classes = _psa_classes(set_slug, context, problems)
    grades, labels = _psa_grades(text("grade"), problems)
    qualifier = _parse_text(text("qualifier"), "qualifier", problems, required=False)
    variant = "PSA " + labels + (" " + qualifier).fillna("")
    attributes = {
        "set_slug": set_slug,
        "card_slug": card_slug,
        "qualifier": qualifier,
        **{
            name: _parse_text(text(name), name, problems, required=False)
            for name in ("seller", "sale_type", "psa_certification", "lot_url")
        },
    }
    columns = {
        "asset_class": classes,
        "item_id": _item_ids(classes, [set_slug, card_slug]),
        "item_name": (_readable_slug(set_slug) + " " + _readable_slug(card_slug)).astype(object),
        "variant": variant.where(labels.notna(), None),
        "sale_date": _parse_date(
            text("date"), "sale_date", problems, fmt="%m/%d/%Y", label="m/d/yyyy"
        ),
        "price_usd": _parse_number(text("prize"), "price_usd", problems, required=True),
        "venue": _parse_text(text("auction_house"), "venue", problems),
        "grade": grades,
        "grading_company": "PSA",
        "attributes": _attributes(attributes, table.cells.index),
        "is_simulated": False,
    }
    return _sales_frame(columns, table, context, problems), 0, None


def _psa_grades(text: pd.Series, problems: _Problems) -> tuple[pd.Series, pd.Series]:
    """Numeric PSA grades and their labels. 'Authentic' (genuine, not numerically graded) is a
    PSA outcome, not a bad cell: its grade is null and its label 'Authentic'."""
    authentic = text.str.lower() == "authentic"
    grades = _parse_number(text.where(~authentic, ""), "grade", problems, required=False)
    problems.add(text == "", "grade: empty")
    labels = _grade_label(grades).where(~authentic, "Authentic")
    return grades, labels


def _readable_slug(slugs: pd.Series) -> pd.Series:
    """'1999-pokemon-game' -> '1999 Pokemon Game'."""
    return slugs.str.replace("-", " ", regex=False).str.title()


def _psa_classes(set_slug: pd.Series, context: _Context, problems: _Problems) -> pd.Series:
    """The folder's class, except where the set names another trading-card game: such a row
    keeps that game as its class and is flagged (PSA exports mix Pokemon and Magic)."""
    lowered = set_slug.fillna("").str.lower()
    game = pd.Series(None, index=set_slug.index, dtype=object)
    for fragment, name in _SET_GAMES:
        game[game.isna() & lowered.str.contains(fragment, regex=False)] = name
    other = game.notna() & (game != context.asset_class)
    message = "asset_class: set '" + set_slug[other] + "' is a " + game[other] + " set"
    problems.add(other, message + f", the file sits in landing/{context.asset_class}/")
    return game.where(other, context.asset_class).astype(object)


def _parse_tcgplayer_history(table: _Table, context: _Context) -> _Result:
    """TCGplayer price history buckets; rows without a period or with price 0.0 are no data."""
    text = table.text
    fixed = text("period_end_date_fixed")
    end_text = fixed.where(fixed != "", text("period_end_date"))
    price_text = text("holofoil_price")
    scratch = _Problems(_no_problems(table.cells.index))
    raw_price = _parse_number(price_text, "price_usd", scratch, required=False)
    no_data = (raw_price == 0) | ((end_text == "") & (price_text == ""))
    keep = ~no_data
    sub = _subset(table, keep)
    problems = _Problems(sub.row_problems)
    kinds = sub.text("type").str.lower()
    names = _parse_text(sub.text("name"), "card_name", problems)
    sets = _parse_text(sub.text("set"), "set_name", problems)
    columns = {
        "asset_class": context.asset_class,
        "card_id": _item_ids(context.asset_class, [sets, names]),
        "card_name": names,
        "set_name": sets,
        "printing": kinds.where(kinds != "card", "holofoil").where(kinds != "", None),
        "observed_on": _parse_date(
            end_text[keep], "observed_on", problems, fmt="%Y-%m-%d", label="YYYY-MM-DD"
        ),
        "price_usd": _parse_number(price_text[keep], "price_usd", problems, required=True),
        "volume": _parse_number(sub.text("volume"), "volume", problems, required=False),
        "source": "tcgplayer_history",
    }
    rows = _prices_frame(columns, sub.cells.index, sub.source_rows, context, problems.notes)
    skipped = int(no_data.sum())
    reason = f"{skipped} rows without data (no period or price 0.0)" if skipped else None
    return rows, skipped, reason


def _subset(table: _Table, keep: pd.Series) -> _Table:
    mask = keep.to_numpy()
    return _Table(
        table.cells[mask], table.source_rows[mask], table.row_problems[mask], table.blank_lines
    )


def _parse_pricecharting_graded(table: _Table, context: _Context) -> _Result:
    """PriceCharting guide prices: one price row per non-empty grade column of a card row."""
    text = table.text
    failed = text("status").str.lower() == "failed"
    empty = pd.concat([text(c) == "" for c in _PRICECHARTING_GRADES], axis=1).all(axis=1)
    sub = _subset(table, ~failed & ~empty)
    problems = _Problems(sub.row_problems)
    sets = _parse_text(sub.text("set"), "set_name", problems)
    names = _parse_text(sub.text("card_name"), "card_name", problems)
    number = _parse_text(sub.text("card_number"), "card_number", problems)
    base = pd.DataFrame(
        {
            "card_id": _item_ids(context.asset_class, [sets, names, number]),
            "card_name": names,
            "set_name": sets,
            "observed_on": _parse_date(
                sub.text("scraped_at"),
                "observed_on",
                problems,
                fmt="ISO8601",
                label="a timestamp",
            ),
            "source_row": sub.source_rows,
            PROBLEM_COLUMN: problems.notes,
        }
    )
    rows = _pricecharting_long(base, sub, context)
    return rows, int((failed | empty).sum()), _pricecharting_reason(failed, empty & ~failed)


def _pricecharting_long(base: pd.DataFrame, sub: _Table, context: _Context) -> pd.DataFrame:
    """One row per (card row, non-empty grade column), in file order then grade order."""
    pieces = []
    for order, (column, printing) in enumerate(_PRICECHARTING_GRADES.items()):
        cells = sub.text(column)
        present = (cells != "").to_numpy()
        piece = base[present].copy()
        problems = _Problems(piece[PROBLEM_COLUMN])
        piece["price_usd"] = _parse_number(
            cells[present], f"price_usd ({column})", problems, required=True, money=True
        ).to_numpy()
        piece[PROBLEM_COLUMN] = problems.notes
        piece["printing"] = printing
        piece["grade_order"] = order
        pieces.append(piece)
    long = pd.concat(pieces).sort_values(["source_row", "grade_order"], kind="stable")
    long = long.reset_index(drop=True)
    names = ("card_id", "card_name", "set_name", "printing", "price_usd")
    columns: dict[str, Any] = {c: long[c] for c in names}
    columns |= {
        "asset_class": context.asset_class,
        "observed_on": long["observed_on"],
        "source": "pricecharting",
    }
    return _prices_frame(columns, long.index, long["source_row"], context, long[PROBLEM_COLUMN])


def _pricecharting_reason(failed: pd.Series, empty: pd.Series) -> str | None:
    return _join_reasons(
        f"{int(failed.sum())} rows with status 'failed' (no prices)" if failed.any() else None,
        f"{int(empty.sum())} rows with no price in any grade column" if empty.any() else None,
    )


def _parse_api(detection: _Detection, context: _Context) -> _Result:
    """A JSON API response, normalised by `card_apis`; observed on the drop date."""
    if context.drop_date is None:
        raise context.source.fail(
            "a JSON API response needs a dated folder (landing/<class>/<YYYY-MM-DD>/) "
            "for its observation date"
        )
    apis = _card_apis(context.source)
    rows = apis.price_rows_from_payload(detection.payload, context.drop_date, context.relative_path)
    rows = rows.reset_index(drop=True)
    notes = rows[PROBLEM_COLUMN] if PROBLEM_COLUMN in rows else _no_problems(rows.index)
    problems = _Problems(notes)
    classes = rows["asset_class"] if "asset_class" in rows else pd.Series(None, index=rows.index)
    _flag_other_class(classes, context, problems)
    columns = {c: rows[c] for c in PRICE_COLUMNS if c in rows}
    given = rows.get("source_row")
    if given is None or given.isna().any():
        given = np.arange(1, len(rows) + 1, dtype=np.int64)
    return _prices_frame(columns, rows.index, given, context, problems.notes), 0, None


_PARSERS: dict[str, Callable[[_Table, _Context], _Result]] = {
    "canonical": _parse_canonical,
    "stockx": _parse_stockx,
    "ebay_130point": _parse_ebay_130point,
    "psa_apr": _parse_psa_apr,
    "tcgplayer_history": _parse_tcgplayer_history,
    "pricecharting_graded": _parse_pricecharting_graded,
}


# --------------------------------------------------------------------------------------------
# Small helpers


def _relative_path(path: Path, landing_root: Path) -> str:
    """`path` relative to the landing root, with forward slashes."""
    for file, root in (
        (path.absolute(), landing_root.absolute()),
        (path.resolve(), landing_root.resolve()),
    ):
        if file.is_relative_to(root):
            return file.relative_to(root).as_posix()
    raise ValueError(f"{path} is not inside the landing root {landing_root}")


def _log_result(parsed: ParsedFile) -> None:
    flagged = int(parsed.rows[PROBLEM_COLUMN].notna().sum())
    log = logger.warning if flagged else logger.info
    log(
        "%s: %s -> %d %s rows (%d with parse problems, %d skipped%s)",
        parsed.relative_path,
        parsed.format,
        len(parsed.rows),
        parsed.table,
        flagged,
        parsed.skipped_rows,
        f": {parsed.skip_reason}" if parsed.skip_reason else "",
    )
