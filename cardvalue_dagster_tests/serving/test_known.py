"""Precomputed valuations of known items equal what the request path computes, item by item."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import pytest

from cardvalue_dagster.core.appraisal import item_from_attributes, valuation_key
from cardvalue_dagster.serving.service import Appraiser, Query
from cardvalue_dagster_tests.serving.homes import ServedHome, sneaker_items


@pytest.fixture(scope="module")
def appraisers(served_home: ServedHome) -> tuple[Appraiser, Appraiser]:
    """One appraiser with the known valuations built, one that computes every request."""
    precomputing = Appraiser(served_home.home, check_seconds=3600)
    precomputing.prepare("sneakers")
    return precomputing, Appraiser(served_home.home, check_seconds=3600)


def _queries(served_home: ServedHome) -> list[dict]:
    """Typed (with spaces, as a person writes), by identity, and a sale record as stored."""
    typed = [
        {**q, "sneaker_name": q["sneaker_name"].replace("-", " ")}
        for q in sneaker_items(served_home.sales, 6)
    ]
    sneakers = served_home.sales[served_home.sales["asset_class"] == "sneakers"]
    record = sneakers.sort_values(["sale_date", "sale_id"]).iloc[-1].to_dict()
    record["sale_date"] = record["sale_date"].isoformat()
    identity = {"item_id": record["item_id"], "variant": record["variant"]}
    return [*typed, identity, record]


def test_known_items_are_answered_as_the_request_path_would(
    appraisers: tuple[Appraiser, Appraiser], served_home: ServedHome
) -> None:
    precomputing, computing = appraisers
    known = precomputing.prepare("sneakers")
    queries = _queries(served_home)

    for attributes in queries:
        row = item_from_attributes("sneakers", attributes)
        assert valuation_key(row) in known.results, attributes  # a lookup, not a computation
        (fast,) = precomputing.value([Query("sneakers", attributes)])
        (slow,) = computing.value([Query("sneakers", attributes)])
        assert fast == slow, attributes


def test_other_days_and_unseen_items_take_the_request_path(
    appraisers: tuple[Appraiser, Appraiser],
) -> None:
    precomputing, computing = appraisers
    unseen = Query("sneakers", {"sneaker_name": "Brand New Shoe", "size": 9})
    zebra = Query("sneakers", {"sneaker_name": "Adidas Yeezy Boost 350 V2 Zebra", "size": 10})
    day = dt.date(2018, 12, 1)

    assert precomputing.value([unseen]) == computing.value([unseen])
    assert precomputing.value([zebra], as_of=day) == computing.value([zebra], as_of=day)
    assert precomputing.value([zebra], coverage=0.8) == computing.value([zebra], coverage=0.8)
    assert precomputing.value([unseen])[0]["confidence"] == "none"


def test_each_known_item_variant_has_its_rows(
    appraisers: tuple[Appraiser, Appraiser], served_home: ServedHome
) -> None:
    known = appraisers[0].prepare("sneakers")
    sneakers = served_home.sales[served_home.sales["asset_class"] == "sneakers"]

    pairs = {(v["item_id"], v["variant"]) for v in known.results.values()}

    assert pairs == set(sneakers[["item_id", "variant"]].itertuples(index=False, name=None))
    assert {v["as_of"] for v in known.results.values()} == {"2018-12-26"}
    assert all(json.dumps(v) for v in known.results.values())


def test_the_server_builds_them_in_the_background(base_url: str) -> None:
    zebra = {"sneaker_name": "Adidas Yeezy Boost 350 V2 Zebra", "size": 10}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        assert client.post("/predict", json={"asset_class": "sneakers", "attributes": zebra})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = client.get("/health").json()["models"]["sneakers"]
            if status["precomputed"] > 0:
                break
            time.sleep(0.2)
    assert status["precomputed"] > 0
