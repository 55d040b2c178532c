"""The HTTP service, live on a loopback port, driven by a real HTTP client."""

from __future__ import annotations

import time

import httpx
import pytest

from cardvalue_dagster.model_registry import promote, promoted_version
from cardvalue_dagster.serving import create_app
from cardvalue_dagster_tests.serving.conftest import CHECK_SECONDS
from cardvalue_dagster_tests.serving.homes import (
    ServedHome,
    fit_valuator,
    register,
    serving,
    sneaker_items,
)

ZEBRA = {"sneaker_name": "Adidas Yeezy Boost 350 V2 Zebra", "size": 10}


@pytest.fixture(scope="module")
def client(base_url: str):
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


def test_health_lists_every_class(client: httpx.Client) -> None:
    answer = client.get("/health")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["warehouse_exists"] is True
    assert len(body["models"]) == 12 and "sneakers" in body["models"]


def test_promoted_models_load_at_startup(served_home: ServedHome) -> None:
    """Without any valuation asked, /health soon lists the promoted version; mlb has none."""
    champion = promoted_version(served_home.tracking_uri, "sneakers")
    with serving(create_app(served_home.home)) as url, httpx.Client(base_url=url) as http:
        deadline = time.monotonic() + 60
        models = http.get("/health").json()["models"]
        while models["sneakers"]["version"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
            models = http.get("/health").json()["models"]

    assert champion is not None and models["sneakers"]["version"] == champion
    assert models["mlb"]["version"] is None


def test_predict_one_item(client: httpx.Client, served_home: ServedHome) -> None:
    answer = client.post("/predict", json={"asset_class": "sneakers", "attributes": ZEBRA})

    assert answer.status_code == 200, answer.text
    (valuation,) = answer.json()["valuations"]
    assert valuation["item_id"] == "sneakers:adidas-yeezy-boost-350-v2-zebra"
    assert valuation["variant"] == "size 10"
    assert valuation["as_of"] == "2018-12-26"  # the day after the newest sneakers sale
    assert valuation["lower"] <= valuation["value"] <= valuation["upper"]
    assert valuation["confidence"] in {"high", "medium", "low", "none"}
    assert (
        client.get("/health").json()["models"]["sneakers"]["version"]
        == (valuation["model_version"])
    )


def test_predict_is_close_to_recent_sales(client: httpx.Client, served_home: ServedHome) -> None:
    """The Zebra's value sits within the range of its recent real sales."""
    sales = served_home.sales
    recent = sales[
        (sales["item_id"] == "sneakers:adidas-yeezy-boost-350-v2-zebra")
        & (sales["sale_date"] >= "2018-11-01")
    ]["price_usd"]

    answer = client.post("/predict", json={"asset_class": "sneakers", "attributes": ZEBRA})

    value = answer.json()["valuations"][0]["value"]
    assert recent.quantile(0.05) <= value <= recent.quantile(0.95)


def test_predict_batch_keeps_order(client: httpx.Client, served_home: ServedHome) -> None:
    items = [
        {"asset_class": "sneakers", "attributes": a} for a in sneaker_items(served_home.sales, 8)
    ]
    items.append(
        {"asset_class": "sneakers", "attributes": {"sneaker_name": "Brand New Shoe", "size": 9}}
    )

    answer = client.post("/predict", json={"items": items, "as_of": "2018-12-01"})

    assert answer.status_code == 200, answer.text
    valuations = answer.json()["valuations"]
    assert len(valuations) == 9
    assert [v["variant"] for v in valuations[:8]] == [
        f"size {i['attributes']['size']:g}" for i in items[:8]
    ]
    assert all(v["as_of"] == "2018-12-01" for v in valuations)
    assert all(v["lower"] <= v["value"] <= v["upper"] for v in valuations)
    assert valuations[-1]["confidence"] == "none"  # never sold before: the widest interval


def test_a_sale_record_from_latest_sales_can_be_valued(client: httpx.Client) -> None:
    sales = client.get("/latest-sales", params={"asset_class": "sneakers", "limit": 3}).json()
    record = sales["sales"][0]

    answer = client.post("/predict", json={"asset_class": "sneakers", "attributes": record})

    assert answer.status_code == 200, answer.text
    assert answer.json()["valuations"][0]["item_id"] == record["item_id"]
    assert answer.json()["valuations"][0]["variant"] == record["variant"]


def test_latest_sales_newest_first(client: httpx.Client) -> None:
    answer = client.get("/latest-sales", params={"asset_class": "mlb", "limit": 5})

    sales = answer.json()["sales"]
    assert answer.status_code == 200 and len(sales) == 5
    assert [s["sale_date"] for s in sales] == sorted((s["sale_date"] for s in sales), reverse=True)
    assert all(s["asset_class"] == "mlb" and isinstance(s["attributes"], dict) for s in sales)


def test_metrics_are_the_backtest_rows(client: httpx.Client, served_home: ServedHome) -> None:
    rows = client.get("/metrics", params={"asset_class": "sneakers"}).json()["rows"]

    assert sorted(r["method"] for r in rows) == ["comps", "rf", "valuator"]
    comps = next(r for r in rows if r["method"] == "comps")
    assert comps["coverage"] is None and comps["mdape"] == pytest.approx(0.07)


def test_feature_importances_ranked(client: httpx.Client) -> None:
    rows = client.get("/feature-importances", params={"asset_class": "sneakers"}).json()["rows"]

    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    shap = [r["mean_abs_shap"] for r in rows]
    assert shap == sorted(shap, reverse=True) and shap[0] > 0


def test_feature_insights_explain_the_value(client: httpx.Client) -> None:
    answer = client.post(
        "/feature-insights", json={"asset_class": "sneakers", "attributes": ZEBRA, "top": 3}
    )

    assert answer.status_code == 200, answer.text
    (insight,) = answer.json()["valuations"]
    assert insight["reasons"][0]["feature"] == "reference"
    assert 1 <= len(insight["reasons"]) <= 4
    total = sum(r["contribution_usd"] for r in insight["reasons"])
    assert total == pytest.approx(insight["value"], rel=0.25)  # the top inputs carry most of it
    assert insight["comparable_level"] in {"item+variant", "item"}
    dates = [s["date"] for s in insight["comparable_sales"]]
    assert dates and all("2018-11-26" <= d < "2018-12-26" for d in dates)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"asset_class": "sneakers"}, "body"),
        ({"asset_class": "sneakers", "attributes": ZEBRA, "coverage": 1.5}, "coverage"),
        ({"items": []}, "items"),
        ({"asset_class": "sneakers", "attributes": ZEBRA, "as_of": "0001-01-02"}, "as_of"),
        ({"asset_class": "sneakers", "attributes": ZEBRA, "shoe": 1}, "shoe"),
        ({"asset_class": "sneakers", "attributes": {"sneaker_name": "Zebra"}}, "size"),
        (
            {"asset_class": "sneakers", "attributes": {"sneaker_name": "Zebra", "size": "big"}},
            "size",
        ),
        ({"asset_class": "sneakers", "attributes": {"item_id": "mlb:judge"}}, "item_id"),
    ],
)
def test_malformed_requests_are_422_naming_the_field(
    client: httpx.Client, body: dict, field: str
) -> None:
    answer = client.post("/predict", json=body)

    assert answer.status_code == 422
    locations = [error["loc"] for error in answer.json()["detail"]]
    assert any(field in location for location in locations), answer.text


def test_unknown_class_is_422(client: httpx.Client) -> None:
    answer = client.post("/predict", json={"asset_class": "stamps", "attributes": {}})
    by_query = client.get("/metrics", params={"asset_class": "stamps"})

    assert answer.status_code == 422 and "asset_class" in answer.json()["detail"][0]["loc"]
    assert by_query.status_code == 422 and "asset_class" in by_query.json()["detail"][0]["loc"]


def test_class_without_promoted_model_is_503_naming_the_asset(client: httpx.Client) -> None:
    attributes = {"player_name": "Aaron Judge", "year": 2017, "set": "Topps Chrome", "grade": 10}

    answer = client.post("/predict", json={"asset_class": "mlb", "attributes": attributes})

    assert answer.status_code == 503
    body = answer.json()
    assert body["asset"] == "valuator" and body["partition"] == "mlb"
    assert "materialize" in body["detail"]


def test_a_new_promotion_is_served(client: httpx.Client, served_home: ServedHome) -> None:
    """Promoting another version moves serving to it, and promoting back moves it back."""
    first = served_home.version
    other = fit_valuator(served_home.features, n_estimators=40, seed=7)
    second = register(served_home.home, other, "sneakers", served_home.features)

    try:
        promote(served_home.tracking_uri, "sneakers", second)
        assert _served_version(client, wait=CHECK_SECONDS) == second
    finally:
        promote(served_home.tracking_uri, "sneakers", first)
    assert _served_version(client, wait=CHECK_SECONDS) == first
    assert client.get("/health").json()["models"]["sneakers"]["version"] == first


def _served_version(client: httpx.Client, wait: float) -> str:
    time.sleep(wait + 0.1)
    answer = client.post("/predict", json={"asset_class": "sneakers", "attributes": ZEBRA})
    return answer.json()["valuations"][0]["model_version"]


def test_openapi_is_published(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()

    assert {"/predict", "/feature-insights", "/health", "/metrics", "/latest-sales"} <= set(
        schema["paths"]
    )
    assert "/feature-importances" in schema["paths"]


def test_an_unvaluable_item_is_located_in_the_request_as_sent(client: httpx.Client) -> None:
    unsized = {"sneaker_name": "Zebra"}
    single = client.post("/predict", json={"asset_class": "sneakers", "attributes": unsized})
    batch = client.post(
        "/predict",
        json={"items": [{"asset_class": "sneakers", "attributes": ZEBRA}, _sneaker_query(unsized)]},
    )

    assert single.status_code == 422 and batch.status_code == 422
    assert single.json()["detail"][0]["loc"] == ["body", "attributes", "size"]
    assert batch.json()["detail"][0]["loc"] == ["body", "items", 1, "attributes", "size"]


def test_a_day_beyond_the_calendar_is_422_not_a_crash(client: httpx.Client) -> None:
    body = {"asset_class": "sneakers", "attributes": ZEBRA, "as_of": "2500-01-01"}

    answer = client.post("/predict", json=body)

    assert answer.status_code == 422
    assert ["body", "as_of"] in [error["loc"] for error in answer.json()["detail"]]


def _sneaker_query(attributes: dict) -> dict:
    return {"asset_class": "sneakers", "attributes": attributes}


@pytest.mark.parametrize(
    ("path", "asset"), [("/metrics", "valuator_backtest"), ("/feature-importances", "shap_summary")]
)
def test_reads_of_a_class_not_built_yet_are_503_naming_the_asset(
    client: httpx.Client, path: str, asset: str
) -> None:
    answer = client.get(path, params={"asset_class": "mlb"})

    assert answer.status_code == 503
    assert answer.json()["asset"] == asset and answer.json()["partition"] == "mlb"
    assert f"materialize the mlb partition of {asset}" in answer.json()["detail"]


def test_reports_under_the_home_are_served(client: httpx.Client, served_home: ServedHome) -> None:
    report = served_home.home.reports / "drift" / "sneakers" / "2018-12-01.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<html><body>Share of Drifted Columns</body></html>")

    found = client.get("/reports/drift/sneakers/2018-12-01.html")
    missing = client.get("/reports/drift/sneakers/1999-01-01.html")

    assert found.status_code == 200 and "Share of Drifted Columns" in found.text
    assert missing.status_code == 404
    assert served_home.home.report_url(report).endswith("/reports/drift/sneakers/2018-12-01.html")
