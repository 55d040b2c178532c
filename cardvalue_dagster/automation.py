"""Sensors and schedules: how new data reaches the graph without anyone pressing a button.

`landing_sensor` watches the landing zone. A new or changed file requests runs of exactly the
partitions its rows belong to (`raw_sales` for sales, `hobby_prices` for reference prices), minus
those already built from that very file version (the receipts). Each request's run key is the
file's path, its content hash and its day range, so each version of a file triggers once, even
if the cursor is lost. A portfolio file (`portfolios/*.csv|json`) requests today's
`portfolio_valuations`. Paths that say nothing usable are skipped with the reason in the tick log.
"""

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from cardvalue_dagster.assets.ingest import hobby_prices, raw_sales
from cardvalue_dagster.assets.portfolio import PORTFOLIO_FOLDER, portfolio_valuations
from cardvalue_dagster.home import Home
from cardvalue_dagster.partitions import contiguous_date_ranges, partition_key
from cardvalue_dagster.resources import HomeResource
from cardvalue_dagster.sources.ingest import SALES_FORMATS
from cardvalue_dagster.sources.landing import (
    BadLandingPath,
    LandingFile,
    fingerprint,
    ingested_days,
    iter_landing_paths,
    locate,
    row_days,
)

logger = logging.getLogger(__name__)

# Dagster's documented run tags for a run over a range of partitions (a single-run backfill).
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"

MAX_RUNS_PER_FILE = 8
"""A file whose days form more separate ranges than this has its closest ranges merged.

Exactness costs runs: a sparse file (one sale every few days over years) would otherwise ask for
hundreds. Merged ranges only add days inside the file's own span, whose partitions are rebuilt
from the same landing files, so the result is the same; only the run count is bounded.
"""


@dataclass(frozen=True)
class FileVersion:
    """What the cursor remembers about a file: enough to skip re-hashing an unchanged one."""

    sha256: str
    size: int
    mtime_ns: int


@sensor(
    name="landing_sensor",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    asset_selection=[raw_sales, hobby_prices, portfolio_valuations],
    description=(
        "Requests raw_sales / hobby_prices runs for new or changed landing-zone files, and "
        "today's portfolio_valuations for new or changed portfolio files."
    ),
)
def landing_sensor(
    context: SensorEvaluationContext, home: HomeResource
) -> SensorResult | SkipReason:
    """Turn new file versions in the landing zone into partition runs."""
    layout = home.layout
    cursor = _read_cursor(context.cursor)
    requests: list[RunRequest] = []
    skipped: list[str] = []

    for path in iter_landing_paths(layout.landing):
        relative = path.relative_to(layout.landing).as_posix()
        is_portfolio = relative.startswith(f"{PORTFOLIO_FOLDER}/")
        try:
            file = None if is_portfolio else locate(path, layout.landing)
        except BadLandingPath as bad_path:
            skipped.append(str(bad_path))
            continue

        sha256 = _new_version(cursor, relative, path)
        if sha256 is None:
            continue
        if file is None:
            requests.append(_portfolio_request(relative, sha256))
            continue
        file_requests, reason = _requests_for_file(file, sha256, layout)
        requests.extend(file_requests)
        if reason:
            skipped.append(reason)

    for reason in skipped:
        context.log.warning(f"skipped: {reason}")
    new_cursor = _write_cursor(cursor)
    if not requests:
        summary = "; ".join(skipped) if skipped else "no new or changed landing files"
        context.update_cursor(new_cursor)
        return SkipReason(summary)
    return SensorResult(run_requests=requests, cursor=new_cursor)


def _new_version(cursor: dict[str, FileVersion], relative: str, path) -> str | None:
    """The file's content hash if this version was not seen before (the cursor is updated)."""
    stat = path.stat()
    known = cursor.get(relative)
    if known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return None
    sha256 = fingerprint(path)
    cursor[relative] = FileVersion(sha256, stat.st_size, stat.st_mtime_ns)
    if known and known.sha256 == sha256:
        return None
    return sha256


def _portfolio_request(relative: str, sha256: str) -> RunRequest:
    """Today's portfolio valuations, once per version of a portfolio file."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return RunRequest(
        run_key=f"{relative}@{sha256[:16]}:{today}",
        asset_selection=[portfolio_valuations.key],
        partition_key=today,
        tags={"cardvalue/landing_file": relative, "cardvalue/landing_sha256": sha256[:16]},
    )


def _requests_for_file(
    file: LandingFile, sha256: str, layout: Home
) -> tuple[list[RunRequest], str | None]:
    """Run requests for one file version, or the reason there are none."""
    from cardvalue_dagster.sources.landing_formats import LandingFileError, parse_landing_file

    try:
        parsed = parse_landing_file(
            file.path,
            file.path.parents[len(file.relative_path.split("/")) - 1],
            file.asset_class,
            file.drop_date,
        )
    except LandingFileError as unreadable:
        if file.drop_date is None:
            return [], f"{unreadable} (no date folder, so no partition to run and fail)"
        # The run will fail on this file and say why; the file's day is known from its folder.
        parsed = None

    days: set[dt.date]
    if parsed is None or file.drop_date is not None:
        target = raw_sales if parsed is None or parsed.format in SALES_FORMATS else hobby_prices
        days = {file.drop_date} if file.drop_date else set()
    elif parsed.format in SALES_FORMATS:
        target, days = raw_sales, row_days(parsed.rows, "sale_date")
    else:
        target, days = hobby_prices, row_days(parsed.rows, "observed_on")

    already_built = ingested_days(layout.receipts, sha256, file.asset_class)
    days -= already_built
    if not days:
        return [], None
    return [
        RunRequest(
            run_key=f"{file.relative_path}@{sha256[:16]}:{start}:{end}",
            asset_selection=[target.key],
            tags={
                PARTITION_RANGE_START_TAG: partition_key(file.asset_class, start),
                PARTITION_RANGE_END_TAG: partition_key(file.asset_class, end),
                "cardvalue/landing_file": file.relative_path,
                "cardvalue/landing_sha256": sha256[:16],
            },
        )
        for start, end in bounded_ranges(days, MAX_RUNS_PER_FILE)
    ], None


def bounded_ranges(days: set[dt.date], most: int) -> list[tuple[dt.date, dt.date]]:
    """Day ranges covering `days`, merging the closest neighbours until at most `most` remain."""
    ranges = contiguous_date_ranges(days)
    while len(ranges) > most:
        gaps = [(ranges[i + 1][0] - ranges[i][1], i) for i in range(len(ranges) - 1)]
        _, i = min(gaps)
        ranges[i : i + 2] = [(ranges[i][0], ranges[i + 1][1])]
    return ranges


def _read_cursor(raw: str | None) -> dict[str, FileVersion]:
    if not raw:
        return {}
    return {path: FileVersion(**version) for path, version in json.loads(raw).items()}


def _write_cursor(cursor: dict[str, FileVersion]) -> str:
    return json.dumps({path: asdict(version) for path, version in sorted(cursor.items())})
