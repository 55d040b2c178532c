"""Property-based requests against the live OpenAPI schema, a busy warehouse, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import schemathesis
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from cardvalue_dagster.cli import main
from cardvalue_dagster.home import HOME_ENV_VAR
from cardvalue_dagster_tests.serving.homes import ServedHome

EXAMPLES_PER_OPERATION = 12
"""Modest: the suite's runtime, not the search's depth, is the limit here."""


def test_no_request_makes_a_server_error(base_url: str) -> None:
    """Whatever the live schema allows (or nearly allows), the answer is never a 500."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case) -> None:
            response = case.call(base_url=base_url, timeout=60)

            assert response.status_code != 500, f"{case.method} {case.path}: {response.text}"
            assert response.status_code < 500 or response.status_code == 503
            types = {k.lower(): v for k, v in response.headers.items()}["content-type"]
            assert types[0].startswith("application/json")

        call()


def test_busy_warehouse_is_503_and_predict_serves_its_snapshot(
    base_url: str, served_home: ServedHome
) -> None:
    """While another process writes the file, reads say 'warehouse busy'; values still come."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        zebra = {"sneaker_name": "Adidas Yeezy Boost 350 V2 Zebra", "size": 10}
        body = {"asset_class": "sneakers", "attributes": zebra}
        assert client.post("/predict", json=body).status_code == 200

        writer = _hold_write_lock(served_home.home.warehouse)
        try:
            busy = client.get("/metrics")
            still = client.post("/predict", json=body)
        finally:
            writer.kill()
            writer.wait(timeout=10)

        assert busy.status_code == 503 and "warehouse busy" in busy.json()["detail"]
        assert busy.headers["retry-after"] == "2"
        assert still.status_code == 200
        assert client.get("/metrics").status_code == 200


def _hold_write_lock(path: Path) -> subprocess.Popen:
    """A separate process with the warehouse open for writing, until it is killed."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_cli_values_one_item(served_home: ServedHome) -> None:
    args = [
        "value",
        "--asset-class",
        "sneakers",
        "--attr",
        "sneaker_name=Adidas-Yeezy-Boost-350-V2-Zebra",
        "--attr",
        "size=10",
        "--json",
    ]

    result = CliRunner().invoke(main, args, env={HOME_ENV_VAR: str(served_home.home.root)})

    assert result.exit_code == 0, result.output
    (valuation,) = json.loads(result.stdout)
    assert valuation["item_id"] == "sneakers:adidas-yeezy-boost-350-v2-zebra"
    assert valuation["lower"] <= valuation["value"] <= valuation["upper"]


def test_cli_values_a_csv_file_as_a_table(served_home: ServedHome, tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text(
        "asset_class,sneaker_name,size\n"
        "sneakers,Adidas Yeezy Boost 350 V2 Sesame,9.5\n"
        "sneakers,Nike Zoom Fly Off-White Pink,8\n"
    )

    result = CliRunner().invoke(
        main, ["value", "--file", str(items)], env={HOME_ENV_VAR: str(served_home.home.root)}
    )

    assert result.exit_code == 0, result.output
    assert "sneakers:adidas-yeezy-boost-350-v2-sesame" in result.stdout
    assert "size 9.5" in result.stdout and "size 8" in result.stdout


def test_cli_says_which_field_is_missing(served_home: ServedHome) -> None:
    result = CliRunner().invoke(
        main,
        ["value", "--asset-class", "sneakers", "--attr", "sneaker_name=Zebra"],
        env={HOME_ENV_VAR: str(served_home.home.root)},
    )

    assert result.exit_code != 0 and "missing 'size'" in result.output


def test_cli_names_the_asset_when_no_model(served_home: ServedHome) -> None:
    args = ["value", "--asset-class", "mlb", "--attr", "player_name=Aaron Judge"]
    args += ["--attr", "year=2017", "--attr", "set=topps chrome", "--attr", "grade=10"]

    result = CliRunner().invoke(main, args, env={HOME_ENV_VAR: str(served_home.home.root)})

    assert result.exit_code != 0 and "materialize the `valuator` asset" in result.output
