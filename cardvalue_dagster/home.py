"""CARDVALUE_HOME: the one folder that holds everything the platform writes.

    $CARDVALUE_HOME/
      warehouse.duckdb     the DuckDB warehouse (raw_sales, quarantine, sports_stats, ...)
      landing/<class>/     files to ingest; never modified or deleted by the platform
      state/ingested/      receipts: which partitions were built from which file version
      mlflow/              MLflow tracking database and artifacts
      reports/             HTML reports and plots
      dagster/             the Dagster instance (runs, event log, schedules, sensor cursors)

The default is `.cardvalue` under the current directory, so `cardvalue demo` and `dagster dev`
started from the project root share one home. Deleting the folder starts over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV_VAR = "CARDVALUE_HOME"
DEFAULT_HOME = ".cardvalue"

REPORTS_URL_ENV_VAR = "CARDVALUE_REPORTS_URL"
DEFAULT_REPORTS_URL = "http://127.0.0.1:8000/reports"
"""Where `cardvalue serve` publishes the home's reports folder (its default host and port)."""

DAGSTER_YAML = """\
# Written by CardValue. The warehouse pool lets one step at a time write the DuckDB file
# (DuckDB allows a single writing process), so concurrent runs queue instead of failing on its lock.
concurrency:
  pools:
    default_limit: 1
    granularity: op
  runs:
    max_concurrent_runs: 4
telemetry:
  enabled: false
"""


@dataclass(frozen=True)
class Home:
    """Paths inside one CardValue home."""

    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def receipts(self) -> Path:
        return self.root / "state" / "ingested"

    @property
    def mlflow(self) -> Path:
        return self.root / "mlflow"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report_url(self, path: Path) -> str:
        """The http address of a file under `reports`, as `cardvalue serve` publishes it.

        A browser does not follow a file:// link from the Dagster UI's http page, so reports
        are linked through the service (`CARDVALUE_REPORTS_URL` when it runs elsewhere).
        """
        base = os.environ.get(REPORTS_URL_ENV_VAR, DEFAULT_REPORTS_URL).rstrip("/")
        return f"{base}/{path.resolve().relative_to(self.reports.resolve()).as_posix()}"

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    def create(self) -> Home:
        """Create the folders and the Dagster instance settings; keep whatever is there."""
        for folder in (self.landing, self.receipts, self.mlflow, self.reports, self.dagster):
            folder.mkdir(parents=True, exist_ok=True)

        settings = self.dagster / "dagster.yaml"
        if not settings.exists():
            settings.write_text(DAGSTER_YAML)
            _initialize_instance_storage(self.dagster)

        # The UI shows a first-visit pop-up over the asset graph until this file says it was seen.
        nux = self.dagster / ".nux" / "nux.yaml"
        if not nux.exists():
            nux.parent.mkdir(parents=True, exist_ok=True)
            nux.write_text("seen: 1\n")
        return self


def write_dotenv(project_root: Path, home: Home) -> Path | None:
    """Point `dagster dev` run from `project_root` at this home, through a `.env` file.

    Dagster reads `.env` from the working directory before it resolves DAGSTER_HOME, which must
    be an absolute path, so the file cannot be committed and is written here instead. Only done
    in a project root (a folder with workspace.yaml); other lines of an existing `.env` are kept.
    """
    if not (project_root / "workspace.yaml").exists():
        return None
    managed = {HOME_ENV_VAR: str(home.root), "DAGSTER_HOME": str(home.dagster)}
    dotenv = project_root / ".env"
    kept = []
    if dotenv.exists():
        kept = [
            line
            for line in dotenv.read_text().splitlines()
            if line.split("=", 1)[0].strip() not in managed
        ]
    lines = [*kept, *(f"{key}={value}" for key, value in managed.items())]
    dotenv.write_text("\n".join(lines) + "\n")
    return dotenv


def _initialize_instance_storage(dagster_home: Path) -> None:
    """Create the Dagster instance's SQLite tables now, in this one process.

    Two runs that are the first ever to open a new instance would otherwise both create its
    schema and one would fail ("table secondary_indexes already exists").
    """
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.get_runs(limit=1)


def current_home() -> Home:
    """The home named by $CARDVALUE_HOME, or `.cardvalue` under the current directory."""
    configured = os.environ.get(HOME_ENV_VAR, "").strip()
    return Home(Path(configured or DEFAULT_HOME).expanduser().resolve())
