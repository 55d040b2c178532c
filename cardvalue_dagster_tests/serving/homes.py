"""A small served home: a warehouse of real bundled sales and a promoted valuator in MLflow.

Shared by the serving tests and benchmarks/bench_serving.py. The sales are real StockX sales
(the bundled export) and real eBay sales of MLB cards; only sneakers gets a promoted model, so
mlb answers 503 until one is trained.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from cardvalue_dagster.home import Home

BUNDLED = Path(__file__).resolve().parents[2] / "cardvalue_dagster" / "sources" / "bundled"
LANDING = BUNDLED / "landing"

SNEAKER_MODELS: tuple[str, ...] = (
    "sneakers:adidas-yeezy-boost-350-v2-zebra",
    "sneakers:adidas-yeezy-boost-350-v2-cream-white",
    "sneakers:adidas-yeezy-boost-350-v2-sesame",
    "sneakers:nike-zoom-fly-off-white-pink",
)
"""The shoe models of the small home: two heavily traded, two thinner."""

FIRST_DAY = dt.date(2018, 9, 15)


@dataclass(frozen=True)
class ServedHome:
    """A home with sales in its warehouse and a promoted sneakers valuator."""

    home: Home
    tracking_uri: str
    version: str
    sales: pd.DataFrame
    features: pd.DataFrame


def bundled_sales(asset_class: str, file: str) -> pd.DataFrame:
    """The readable rows of one bundled landing file, in the raw_sales columns."""
    from cardvalue_dagster.sources.landing_formats import parse_landing_file

    parsed = parse_landing_file(LANDING / asset_class / file, LANDING, asset_class).rows
    ok = parsed["parse_problem"].isna()
    return parsed[ok].drop(columns=["parse_problem"]).reset_index(drop=True)


def small_sneaker_sales(every: int = 12) -> pd.DataFrame:
    """Every `every`-th StockX sale of SNEAKER_MODELS from FIRST_DAY on (about 800 sales)."""
    sales = bundled_sales("sneakers", "stockx_2019_contest.csv.gz")
    chosen = sales[sales["item_id"].isin(SNEAKER_MODELS) & (sales["sale_date"] >= str(FIRST_DAY))]
    return chosen.iloc[::every].reset_index(drop=True)


def write_warehouse(home: Home, sales: pd.DataFrame) -> None:
    """Create every warehouse table and insert `sales` into raw_sales."""
    from cardvalue_dagster.warehouse import TABLES, ensure_table

    home.root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home.warehouse)) as con:
        for table in TABLES:
            ensure_table(con, table)
        con.register("incoming", sales)
        con.execute("INSERT INTO raw_sales BY NAME SELECT * FROM incoming")


def insert_rows(home: Home, table: str, rows: pd.DataFrame) -> None:
    with duckdb.connect(str(home.warehouse)) as con:
        con.register("incoming", rows)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")


def class_features(home: Home, asset_class: str) -> pd.DataFrame:
    from cardvalue_dagster.core.features import build_features

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return build_features(con, "raw_sales", asset_classes=[asset_class])


def fit_valuator(features: pd.DataFrame, **params: Any) -> Any:
    """A valuator fitted on `features`, small enough to train in a few seconds."""
    from cardvalue_dagster.core.valuator import Valuator

    settings = {"n_estimators": 120, "quantile_estimators": 60, "min_child_samples": 20}
    return Valuator(**{**settings, **params}).fit(features)


def register(home: Home, valuator: Any, asset_class: str, sample: pd.DataFrame) -> str:
    """Log `valuator` as a new registered version of the class (not promoted)."""
    import mlflow

    from cardvalue_dagster.model_registry import log_valuator
    from cardvalue_dagster.tracking import EXPERIMENT, ensure_experiment, tracking_uri

    uri = tracking_uri(home)
    home.mlflow.mkdir(parents=True, exist_ok=True)
    experiment = ensure_experiment(uri, EXPERIMENT, home.mlflow / "artifacts")
    with mlflow.start_run(experiment_id=experiment):
        return log_valuator(valuator, asset_class, sample.tail(20)).version


def importances(valuator: Any, features: pd.DataFrame, asset_class: str, version: str):
    """The shap_importances rows of a valuator, as the monitoring asset writes them."""
    from cardvalue_dagster.core.explain import shap_summary

    summary = shap_summary(valuator, features, sample_size=200)
    table = summary.importances.assign(
        asset_class=asset_class,
        sample_rows=min(200, len(features)),
        model_version=version,
        computed_at=pd.Timestamp("2026-12-03 12:00"),
    )
    return table


def backtest_rows(asset_class: str, version: str) -> pd.DataFrame:
    """Three backtest rows (valuator, comps, rf) in the valuator_backtests layout."""
    rows = []
    for method, mdape, coverage in (
        ("valuator", 0.05, 0.9),
        ("comps", 0.07, None),
        ("rf", 0.09, 0.5),
    ):
        rows.append(
            {
                "asset_class": asset_class,
                "method": method,
                "n": 120,
                "mae": 20.0,
                "mape": mdape * 1.2,
                "mdape": mdape,
                "coverage": coverage,
                "median_width": None if coverage is None else 80.0,
                "test_start": pd.Timestamp("2018-11-28"),
                "test_end": pd.Timestamp("2018-12-25"),
                "model_version": version,
                "evaluated_at": pd.Timestamp("2026-12-03 12:00"),
            }
        )
    return pd.DataFrame(rows)


def build_served_home(root: Path, sneakers: pd.DataFrame | None = None) -> ServedHome:
    """Seed a warehouse, fit and register a sneakers valuator, promote it, write its reports."""
    from cardvalue_dagster.model_registry import promote
    from cardvalue_dagster.tracking import tracking_uri

    home = Home(root)
    sales = pd.concat(
        [
            small_sneaker_sales() if sneakers is None else sneakers,
            bundled_sales("mlb", "ebay_130point_topps_chrome_psa10.csv.gz"),
        ],
        ignore_index=True,
    )
    write_warehouse(home, sales)

    features = class_features(home, "sneakers")
    valuator = fit_valuator(features)
    version = register(home, valuator, "sneakers", features)
    promote(tracking_uri(home), "sneakers", version)

    insert_rows(home, "valuator_backtests", backtest_rows("sneakers", version))
    insert_rows(home, "shap_importances", importances(valuator, features, "sneakers", version))
    return ServedHome(home, tracking_uri(home), version, sales, features)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn in a background thread on a free loopback port; yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_started(server: Any, thread: threading.Thread, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)


def sneaker_items(sales: pd.DataFrame, count: int) -> Sequence[dict[str, Any]]:
    """`count` distinct (model, size) queries from the sales, as a collector would type them."""
    pairs = sales[sales["asset_class"] == "sneakers"][["item_name", "variant"]].drop_duplicates()
    pairs = pairs.head(count)
    return [
        {"sneaker_name": name, "size": float(variant.removeprefix("size "))}
        for name, variant in pairs.itertuples(index=False)
    ]
