"""The Dagster UI, driven in a real headless Chromium, shows what the Definitions declare.

One home, materialized by the demo on its latest day, and one `dagster-webserver` over it serve
the tests of this module. Every expectation (asset keys, groups, checks, sensors, schedules) is
read from `build_definitions(home)`, so the tests follow the graph as it grows.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`); Playwright cannot
download its own browser here. Deselect locally with `pytest -m "not browser"`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, Definitions
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.demo import run_demo
from cardvalue_dagster.home import DEFAULT_REPORTS_URL, HOME_ENV_VAR, Home
from cardvalue_dagster.serving import create_app
from cardvalue_dagster_tests.serving.homes import serving

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# closed network refuses; Playwright itself gives every launch a fresh, empty profile.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
SCREENSHOT_DIR_ENV_VAR = "CARDVALUE_SCREENSHOT_DIR"

# One day per class is the smallest window in which the demo still builds every stage.
DEMO_DAYS = 3
"""Three days: the drift report of the last day needs earlier days of training to compare with."""
SERVER_START_TIMEOUT_S = 120.0
UI_TIMEOUT_MS = 60_000

# The text of each asset node's name in the rendered graph. Zoomed out, the UI shows a node in
# its minimal form and cuts names over 18 characters in the middle ("portfo…_valuations"), so a
# label stands for a name when it equals it or keeps its start and end around one ellipsis.
GRAPH_NODE_NAMES = 'svg [class*="AssetNode_assetName"]'
LOADING_PLACEHOLDERS = '[class*="Skeleton_skeleton"]'
NAMES_NOT_IN_GRAPH_JS = """
([names, selector]) => {
  const labels = Array.from(document.querySelectorAll(selector), (e) => e.textContent.trim());
  const shows = (label, name) => {
    if (label === name) return true;
    const parts = label.split('\u2026');
    return parts.length === 2 && parts[0].length + parts[1].length < name.length
      && name.startsWith(parts[0]) && name.endsWith(parts[1]);
  };
  return names.filter((name) => !labels.some((label) => shows(label, name)));
}
"""


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, or a failure that says how to get it: a silent skip would hide it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Install it with "
            "`apt-get install -y chromium`, or deselect these tests with -m 'not browser'.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def materialized_home(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A home with the bundled default landed and the demo run over each class's latest day.

    Requests `chromium` first so that a missing browser fails before a minute of materializing.
    """
    home = Home(tmp_path_factory.mktemp("ui") / "home").create()
    started = time.perf_counter()
    outcomes = run_demo(home, days=DEMO_DAYS)
    logger.info("demo over %d day(s): %d runs in %.1fs", DEMO_DAYS, len(outcomes), _since(started))

    failed = [o.run.describe() for o in outcomes if not o.success]
    if not outcomes or failed:
        pytest.fail(f"the demo did not materialize the home; failed runs: {failed}", pytrace=False)
    return home


@pytest.fixture(scope="module")
def definitions(materialized_home: Home) -> Definitions:
    return build_definitions(materialized_home)


@pytest.fixture(scope="module")
def dagster_ui(materialized_home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a `dagster-webserver` over the home, stopped with its code server after.

    It runs in a folder of its own: Dagster reads `.env` from its working directory, and the
    project root's `.env` (written by `cardvalue demo`) points at a different home.
    """
    workdir = tmp_path_factory.mktemp("webserver")
    log_path = workdir / "webserver.log"
    port = _free_port()
    executable = Path(sys.executable).with_name("dagster-webserver")
    command = [
        str(executable if executable.exists() else shutil.which("dagster-webserver")),
        *("-h", "127.0.0.1", "-p", str(port), "-m", "cardvalue_dagster.definitions"),
    ]
    env = {
        **os.environ,
        "DAGSTER_HOME": str(materialized_home.dagster),
        HOME_ENV_VAR: str(materialized_home.root),
    }

    started = time.perf_counter()
    with log_path.open("wb") as log:
        # A session of its own, so teardown can stop the code server the webserver spawns too.
        server = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_loaded(server, base_url, log_path)
        logger.info("dagster-webserver ready at %s in %.1fs", base_url, _since(started))
        yield base_url
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context: no local storage, so no graph state left by an earlier test."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get(SCREENSHOT_DIR_ENV_VAR, "").strip()
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_global_asset_graph_shows_every_asset_of_the_definitions(
    page: Page, dagster_ui: str, definitions: Definitions, screenshot_dir: Path
):
    asset_graph = definitions.resolve_asset_graph()
    keys = asset_graph.get_all_asset_keys()
    groups = sorted({asset_graph.get(key).group_name for key in keys})
    # The graph labels a node with the last part of its key.
    names = sorted(key.path[-1] for key in keys)
    assert "raw_sales" in names and len(groups) > 1, (names, groups)

    # With several groups the UI starts with each collapsed to one box; `expanded` names the
    # groups to open, as the UI's own "Expand all groups" writes it.
    expanded = ",".join(f"global@global:{group}" for group in groups)
    page.goto(f"{dagster_ui}/asset-groups?expanded={expanded}")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    try:
        page.wait_for_function(
            f"(args) => ({NAMES_NOT_IN_GRAPH_JS})(args).length === 0",
            arg=[names, GRAPH_NODE_NAMES],
            timeout=UI_TIMEOUT_MS,
        )
    except PlaywrightTimeoutError:
        page.screenshot(path=screenshot_dir / "asset-graph-failed.png")
        missing = page.evaluate(NAMES_NOT_IN_GRAPH_JS, [names, GRAPH_NODE_NAMES])
        shown = page.locator(GRAPH_NODE_NAMES).all_inner_texts()
        pytest.fail(f"assets not in the graph: {missing}; nodes shown: {shown}")

    # The edges are drawn after the nodes; the picture (not the assertion) waits for them.
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshot_dir / "asset-graph.png")
    logger.info("asset graph with %d assets in %d groups", len(names), len(groups))


def test_the_raw_sales_page_shows_its_checks(
    page: Page, dagster_ui: str, definitions: Definitions, screenshot_dir: Path
):
    checks = sorted(
        check.name
        for check in definitions.resolve_asset_graph().asset_check_keys
        if check.asset_key == AssetKey("raw_sales")
    )
    assert checks, "the definitions declare no checks on raw_sales"

    page.goto(f"{dagster_ui}/assets/raw_sales?view=checks")
    expect(page.get_by_text(f"Checks ({len(checks)})", exact=True)).to_be_visible()
    for name in checks:
        # Each row holds the name in full in its title, whatever the row's width cuts off.
        expect(page.get_by_title(name, exact=True).first).to_be_visible()

    page.screenshot(path=screenshot_dir / "raw-sales-checks.png")


def test_the_automation_page_lists_every_sensor_and_schedule(
    page: Page, dagster_ui: str, definitions: Definitions, screenshot_dir: Path
):
    sensors = [sensor.name for sensor in definitions.sensors or []]
    schedules = [schedule.name for schedule in definitions.schedules or []]
    assert sensors, "the definitions declare no sensors"

    page.goto(f"{dagster_ui}/automation")
    # Each row links to the sensor's or schedule's own page, /locations/<location>/<kind>/<name>.
    for kind, names in (("sensors", sensors), ("schedules", schedules)):
        for name in names:
            expect(page.locator(f'a[href$="/{kind}/{name}"]')).to_be_visible()
    # Each row's status and last tick load after the list; the screenshot should show them.
    expect(page.locator(LOADING_PLACEHOLDERS)).to_have_count(0)

    page.screenshot(path=screenshot_dir / "automation.png")


def test_a_drift_report_opens_from_the_link_its_partition_shows(
    page: Page, materialized_home: Home, screenshot_dir: Path
):
    """The partition's `report_url` is served by `cardvalue serve` (a browser does not follow
    a file:// link from the UI's http page); here the service runs on a free port instead of
    its default 8000, so the link's base is swapped for it."""
    with DagsterInstance.from_config(str(materialized_home.dagster)) as instance:
        record = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("drift_report")), limit=200
        ).records
    links = [
        r.asset_materialization.metadata["report_url"].value
        for r in record
        if r.asset_materialization is not None and "report_url" in r.asset_materialization.metadata
    ]
    assert links, "no drift_report partition of the demo had enough sales for a report"
    assert links[0].startswith(f"{DEFAULT_REPORTS_URL}/drift/")

    with serving(create_app(materialized_home)) as service:
        page.goto(links[0].replace(DEFAULT_REPORTS_URL, f"{service}/reports"))
        expect(page.get_by_text("Share of Drifted Columns").first).to_be_visible()
        page.screenshot(path=screenshot_dir / "drift-report.png", full_page=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_loaded(server: subprocess.Popen, base_url: str, log_path: Path) -> None:
    """Return once the webserver answers and has loaded the code location; fail with its log."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {server.returncode}:\n{_tail(log_path)}")
        entries = _location_entries(base_url)
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            errors = [
                entry["locationOrLoadError"].get("message", "")
                for entry in entries
                if entry["locationOrLoadError"]["__typename"] == "PythonError"
            ]
            assert not errors, f"the code location failed to load: {errors}"
            return
        time.sleep(0.25)
    pytest.fail(f"dagster-webserver not ready in {SERVER_START_TIMEOUT_S:.0f}s:\n{_tail(log_path)}")


def _location_entries(base_url: str) -> list[dict] | None:
    """The workspace's code locations from the webserver's GraphQL API, or None if not up yet."""
    query = (
        "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
        "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            payload = json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    return payload.get("data", {}).get("workspaceOrError", {}).get("locationEntries")


def _stop(server: subprocess.Popen) -> None:
    """Stop the webserver's session (it and its code server), by force if it lingers.

    The signal goes to the session's process group, so a code server left behind by a webserver
    that already died is stopped too.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        logger.warning("dagster-webserver ignored SIGTERM; killing its session")
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def _tail(log_path: Path, lines: int = 40) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def _since(started: float) -> float:
    return time.perf_counter() - started


def test_the_shap_summary_shows_its_plot_in_the_ui(
    page: Page, dagster_ui: str, materialized_home: Home, screenshot_dir: Path
):
    with DagsterInstance.from_config(str(materialized_home.dagster)) as instance:
        explained = sorted(instance.get_materialized_partitions(AssetKey("shap_summary")))
    assert explained, "the demo explained no class"

    page.goto(f"{dagster_ui}/assets/shap_summary?view=events&partition={explained[0]}")
    page.locator("tr", has_text="bar_plot").get_by_text("[Show Markdown]").click()
    expect(page.locator('img[src^="data:image/png"]').first).to_be_visible()

    page.screenshot(path=screenshot_dir / "shap-bar-plot.png")
