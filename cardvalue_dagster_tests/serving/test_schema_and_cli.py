"""Property-based requests against the live OpenAPI schema, a busy warehouse, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import schemathesis
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from cardvalue_dagster.cli import main
from cardvalue_dagster.home import HOME_ENV_VAR
from cardvalue_dagster_tests.serving.homes import ServedHome

EXAMPLES_PER_OPERATION = 25
"""Per operation and generation mode: the suite's runtime, not the search's depth, is the limit."""

EXCLUDED_CHECKS = [positive_data_acceptance, not_a_server_error]
"""Left out: that every schema-valid request is accepted (a schema cannot list which items
exist, so a well-formed query for an unknown shoe rightly gets a 422 naming the attribute), and
schemathesis's "no 5xx" (the documented 503 says which asset to materialize for a class not
built yet; the test itself allows that one and no other 5xx)."""


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_a_server_error(base_url: str, mode: GenerationMode) -> None:
    """Requests the live schema allows (positive) and breaks (negative): never a 500.

    Every answer is also validated against the schema by schemathesis's own checks (status
    code documented, content type, body conforming), and a request the schema forbids must not
    be accepted with a 2xx. See EXCLUDED_CHECKS for the two checks left out.
    """
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not _takes_input(operation):
            continue  # GET /health: nothing to break

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case) -> None:
            response = case.call(base_url=base_url, timeout=60)

            answer = f"{case.method} {case.path}: {response.status_code} {response.text}"
            assert response.status_code < 500 or response.status_code == 503, answer
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

        call()


def _takes_input(operation) -> bool:
    """Whether the operation has a parameter or a request body that a request could break."""
    has_body = bool(operation.get_request_payload_content_types())
    return has_body or any(True for _ in operation.iter_parameters())


@given(
    size=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)),
    extra=st.dictionaries(
        st.sampled_from(["grade", "year", "source_row", "retail_price_usd", "release_date"]),
        st.one_of(st.integers(), st.floats(), st.text(max_size=12), st.none()),
        max_size=3,
    ),
    as_of=st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31))),
)
@example(size=0.0, extra={"release_date": -1000}, as_of=None)  # once a 500: year -1000
@example(size=10, extra={"source_row": "1e999"}, as_of=None)
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_known_items_with_odd_attributes_never_make_a_server_error(
    base_url: str, size: object, extra: dict[str, object], as_of: dt.date | None
) -> None:
    """The valuation path itself, which random attributes never reach: a known shoe with odd
    sizes, facts and days gets a value or a 422, never a 500."""
    attributes = {"sneaker_name": "Adidas-Yeezy-Boost-350-V2-Zebra", "size": size, **extra}
    body: dict[str, object] = {"asset_class": "sneakers", "attributes": attributes}
    if as_of is not None:
        body["as_of"] = as_of.isoformat()
    content = json.dumps(body, allow_nan=True)
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for path in ("/predict", "/feature-insights"):
            answer = client.post(path, content=content, headers=headers)
            assert answer.status_code in (200, 422), f"{path} {content}: {answer.text}"
            if answer.status_code == 200:
                valued = answer.json()["valuations"][0]
                assert valued["lower"] <= valued["value"] <= valued["upper"]


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
