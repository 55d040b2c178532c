"""Latency and throughput of the HTTP service's /predict, from a load generator on loopback.

In a fresh temporary home: every bundled StockX sale (about 80 k) goes into the warehouse, a
valuator with the default parameters is fitted on the last 90 days' features, registered and
promoted. The valuations of every known (model, size) are first precomputed in this process
once, to time that step alone. `cardvalue serve` then runs as a separate process on a free
loopback port; a warm-up loads the model and the snapshot and waits until the server has
precomputed the known items' valuations (/health says how many), and this process sends
requests with httpx, one at a time unless said otherwise:

- one item, repeated (the service memoises valuations per model and warehouse version);
- one known item, each request a (model, size) pair not asked before (a precomputed lookup);
- one item never sold before, each a new name (features computed: the request path);
- one known item on another day than the default, each pair new (the request path);
- batches of 100 known items not asked before (each batch another spelling of the names, so
  the memo misses; the precomputed valuations do not depend on the spelling);
- batches of 100 items, each valued on another day (the request path); then one repeated;
- one item, repeated, from 4 client threads at once (throughput under concurrency).

Latency is the client's wall time per request (median and p99); throughput is requests (and
items) per second over the phase. Usage: .venv/bin/python benchmarks/bench_serving.py
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common
from _common import logger

ROOT = Path(__file__).resolve().parents[1]
FEATURE_DAYS = 90
LAST_SALE = dt.date(2018, 12, 25)
"""The newest sale of the bundled StockX export."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="Requests per one-item phase.")
    parser.add_argument("--batches", type=int, default=20, help="Batches of 100 items.")
    args = parser.parse_args()
    _common.setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    sys.path.insert(0, str(ROOT))
    started_at, machine_start = _common.now(), _common.machine()

    with _common.temporary_home("serving") as home:
        sales = seed_home(home)
        items = distinct_items(sales)
        precomputed = time_precompute(home)
        with served(home) as url:
            phases = run_phases(url, items, args.requests, args.batches)

    body = report(phases, len(sales), precomputed, started_at, machine_start)
    _common.write_section("bench_serving", body)
    _common.emit(body)


def seed_home(home):
    """The full StockX export in the warehouse and a promoted valuator fitted on 90 days."""
    import duckdb
    import pandas as pd

    from cardvalue_dagster.core.features import build_features
    from cardvalue_dagster.core.valuator import Valuator
    from cardvalue_dagster.model_registry import promote
    from cardvalue_dagster.tracking import tracking_uri
    from cardvalue_dagster_tests.serving.homes import bundled_sales, register, write_warehouse

    sales = bundled_sales("sneakers", "stockx_2019_contest.csv.gz")
    write_warehouse(home, sales)
    last = sales["sale_date"].max().date()
    days = [last - dt.timedelta(days=n) for n in range(FEATURE_DAYS)]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        features = build_features(con, "raw_sales", days=days)

    with _common.Stopwatch() as watch:
        valuator = Valuator().fit(features)
    logger.info("fitted on %d sales in %.1f s", len(features), watch.seconds)
    version = register(home, valuator, "sneakers", features)
    promote(tracking_uri(home), "sneakers", version)
    return pd.DataFrame(sales)


def time_precompute(home) -> dict:
    """Precompute the known valuations once in this process: seconds, rows, item+variants."""
    from cardvalue_dagster.serving.service import Appraiser

    appraiser = Appraiser(home)
    appraiser.models.get("sneakers")  # model load and snapshot copy are not the precompute
    appraiser.snapshots.get("sneakers")
    known = appraiser.prepare("sneakers")
    pairs = {(v["item_id"], v["variant"]) for v in known.results.values()}
    logger.info("precomputed %d valuations in %.1f s", len(known.results), known.seconds)
    return {"seconds": known.seconds, "rows": len(known.results), "pairs": len(pairs)}


def distinct_items(sales) -> list[dict]:
    """Every (model, size) pair sold, as a collector would type it, most traded first."""
    counts = sales.groupby(["item_name", "variant"]).size().sort_values(ascending=False)
    return [
        {"sneaker_name": name, "size": float(variant.removeprefix("size "))}
        for name, variant in counts.index
    ]


class served:
    """`cardvalue serve` over the home as a child process on a free loopback port."""

    def __init__(self, home) -> None:
        self.home = home

    def __enter__(self) -> str:
        import httpx

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [str(Path(sys.executable).with_name("cardvalue")), "serve", "--port", str(port)]
        env = {**os.environ, "CARDVALUE_HOME": str(self.home.root)}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen(command, env=env, **quiet)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("cardvalue serve did not answer within 60 s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def run_phases(url: str, items: list[dict], requests: int, batches: int) -> list[dict]:
    """Each phase's latencies (seconds) and wall time."""
    import httpx

    one = _body(items[0])
    batch = [_body(a) for a in items[:100]]
    fresh = items[100 : 100 + requests]
    slow = max(1, requests // 3)  # request-path phases: about 0.2 s per request
    with httpx.Client(base_url=url, timeout=120) as client:
        warm_up(client, one)
        phases = [
            _phase("1 item, repeated", 1, [one] * requests, client),
            _phase("1 known item, never asked before", 1, [_body(a) for a in fresh], client),
            _phase(
                "1 item never sold before (tier none)",
                1,
                [_body({"sneaker_name": f"Unreleased Shoe {n}", "size": 10}) for n in range(slow)],
                client,
            ),
            _phase(
                "1 known item, another day (as_of)",
                1,
                [{**_body(a), "as_of": _day(30 + n % 20)} for n, a in enumerate(items[:slow])],
                client,
            ),
            _phase(
                "100 known items, never asked before",
                100,
                [{"items": _respelled(items, n)} for n in range(batches)],
                client,
            ),
            _phase(
                "100 items, each batch on a new day",
                100,
                [{"items": batch, "as_of": _day(n + 1)} for n in range(batches)],
                client,
            ),
            _phase("100 items, same batch", 100, [{"items": batch}] * batches, client),
        ]
    phases.append(_concurrent_phase(url, one, requests * 2, threads=4))
    return phases


def warm_up(client, one: dict, timeout: float = 300.0) -> None:
    """Load the model and snapshot, fill the memo for `one`, wait for the known valuations."""
    for _ in range(20):
        _post(client, one)
    deadline = time.monotonic() + timeout
    while client.get("/health").json()["models"]["sneakers"]["precomputed"] == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no precomputed valuations after {timeout:.0f} s")
        time.sleep(0.2)


def _body(attributes: dict) -> dict:
    """One sneakers query (an item of a batch, or a whole one-item request)."""
    return {"asset_class": "sneakers", "attributes": attributes}


SPELLINGS = (str.lower, str.upper, lambda name: name.replace("-", " "))
"""Ways a person may write a model name; all map to the same item (the memo keys differ)."""


def _respelled(items: list[dict], n: int) -> list[dict]:
    """Batch n: 100 known items in a spelling no earlier batch used for them."""
    first = (n * 100) % len(items)
    chosen = (items * 2)[first : first + 100]
    spell = SPELLINGS[(n * 100 // len(items)) % len(SPELLINGS)]
    return [_body({**a, "sneaker_name": spell(a["sneaker_name"])}) for a in chosen]


def _day(n: int) -> str:
    """The n-th day before the default one (LAST_SALE + 1): answered by the request path."""
    return (LAST_SALE + dt.timedelta(days=1 - n)).isoformat()


def _post(client, body: dict) -> float:
    started = time.perf_counter()
    answer = client.post("/predict", json=body)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"/predict answered {answer.status_code}: {answer.text[:300]}")
    return seconds


def _phase(name: str, size: int, bodies: list[dict], client) -> dict:
    logger.info("phase: %s (%d requests)", name, len(bodies))
    with _common.Stopwatch() as watch:
        latencies = [_post(client, body) for body in bodies]
    return {"name": name, "size": size, "latencies": latencies, "wall": watch.seconds}


def _concurrent_phase(url: str, body: dict, requests: int, threads: int) -> dict:
    import httpx

    logger.info("phase: 4 client threads (%d requests)", requests)

    def worker(count: int) -> list[float]:
        with httpx.Client(base_url=url, timeout=120) as client:
            return [_post(client, body) for _ in range(count)]

    with _common.Stopwatch() as watch, concurrent.futures.ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(worker, [requests // threads] * threads))
    latencies = [s for part in parts for s in part]
    name = f"1 item, repeated, {threads} client threads"
    return {"name": name, "size": 1, "latencies": latencies, "wall": watch.seconds}


def report(
    phases: list[dict], sales: int, precomputed: dict, started_at: str, machine_start: str
) -> str:
    lines = [
        "## HTTP service: `/predict` latency and throughput (bench_serving.py)",
        "",
        f"- command: `{_common.command()}`",
        f"- date: {started_at}",
        f"- machine at start: {machine_start}",
        f"- machine at end: {_common.machine()}",
        "",
        f"Warehouse: {sales:,} real StockX sales; valuator with default parameters fitted on "
        f"the last {FEATURE_DAYS} days. Server: `cardvalue serve` (uvicorn, one process) on "
        "loopback; client: httpx in another process, one request at a time unless said.",
        "",
        "| phase | requests | median ms | p99 ms | requests/s | items/s |",
        "|---|---|---|---|---|---|",
    ]
    for phase in phases:
        latencies = sorted(phase["latencies"])
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        rate = len(latencies) / phase["wall"]
        lines.append(
            f"| {phase['name']} | {len(latencies)} | {statistics.median(latencies) * 1000:.1f} "
            f"| {p99 * 1000:.1f} | {rate:.1f} | {rate * phase['size']:.0f} |"
        )
    lines += [
        "",
        f"Precomputing the valuations of every known item+variant on the default day "
        f"({precomputed['pairs']:,} item+variants, {precomputed['rows']:,} rows: identity, "
        f"sale record and typed name): {precomputed['seconds']:.1f} s, once per snapshot and "
        "model, on a background thread of the server.",
        "",
        "A repeated item is answered from the service's memo (same model version, warehouse "
        "version, day and coverage); a known item never asked before, on the default day and "
        "coverage, from the precomputed valuations. An item never sold before, or any item on "
        "another day, pays for its point-in-time features (DuckDB over its own sales in the "
        "in-memory class snapshot) and the three LightGBM predictions.",
        "",
        _goal_verdict(phases),
    ]
    return "\n".join(lines)


GOAL_MS = 20.0
"""The goal set for one item: a median under 20 ms on this machine."""


def _goal_verdict(phases: list[dict]) -> str:
    """Which one-item phases meet the median goal and which do not, from this run's figures."""
    single = [p for p in phases if p["size"] == 1]
    medians = {p["name"]: statistics.median(p["latencies"]) * 1000 for p in single}
    met = [f"{name} ({ms:.1f} ms)" for name, ms in medians.items() if ms < GOAL_MS]
    missed = [f"{name} ({ms:.1f} ms)" for name, ms in medians.items() if ms >= GOAL_MS]
    verdict = f"Goal, a median under {GOAL_MS:.0f} ms for one item: met for " + (
        "; ".join(met) or "no phase"
    )
    if missed:
        verdict += (
            ". Not met for "
            + "; ".join(missed)
            + (
                ": a valuation that must be computed (an item never sold, or a day other than the "
                "default) costs its features and predictions, well above the goal"
            )
        )
    return verdict + "."


if __name__ == "__main__":
    main()
