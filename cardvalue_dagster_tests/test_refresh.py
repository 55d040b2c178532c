"""The daily API refresh, on recorded responses: files land where the sensor picks them up."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import responses
from dagster import AssetKey, build_sensor_context

from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.refresh import CardApis
from cardvalue_dagster.resources import HomeResource, build_resources
from cardvalue_dagster.sources.landing_formats import parse_landing_file

FIXTURES = Path(__file__).parent / "fixtures" / "api"


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def register_all_sources(mock: responses.RequestsMock, scryfall_status: int = 200) -> None:
    first_page = recorded("scryfall/list-of-cards.json")
    if scryfall_status == 200:
        mock.get("https://api.scryfall.com/cards/search", json=first_page)
        mock.get(first_page["next_page"], json=recorded("scryfall/list-of-cards-page-2.json"))
    else:
        mock.get("https://api.scryfall.com/cards/search", status=scryfall_status)
    mock.get(
        "https://db.ygoprodeck.com/api/v7/cardinfo.php",
        json=recorded("ygoprodeck/v7_cardinfo_sample_2021.json"),
    )
    mock.get(
        "https://api.pokemontcg.io/v2/cards",
        json=recorded("pokemontcg/v2_cards_search_swsh6_metagross.json"),
    )


def run_refresh(home, instance):
    defs = build_definitions(home)
    return defs.resolve_job_def("refresh_card_prices").execute_in_process(
        instance=instance,
        resources={**build_resources(home), "card_apis": CardApis(max_attempts=1)},
        raise_on_error=False,
    )


def test_refresh_writes_each_api_response_where_the_sensor_requests_hobby_prices(home, instance):
    today = dt.datetime.now(dt.UTC).date()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        register_all_sources(mock)
        result = run_refresh(home, instance)

    assert result.success
    written = sorted(p.relative_to(home.landing).as_posix() for p in home.landing.rglob("*.json"))
    assert written == [
        f"mtg/{today}/scryfall.json",
        f"pokemon/{today}/pokemontcg.json",
        f"yugioh/{today}/ygoprodeck.json",
    ]
    mtg = parse_landing_file(home.landing / written[0], home.landing, "mtg", today)
    assert mtg.table == "prices" and len(mtg.rows) > 0

    context = build_sensor_context(
        instance=instance, resources={"home": HomeResource(path=str(home.root))}
    )
    from cardvalue_dagster.automation import landing_sensor

    requests = landing_sensor(context).run_requests
    assert {r.tags["cardvalue/landing_file"] for r in requests} == set(written)
    assert all(r.asset_selection == [AssetKey("hobby_prices")] for r in requests)


def test_a_source_that_is_down_fails_the_run_after_the_others_are_saved(home, instance):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        register_all_sources(mock, scryfall_status=503)
        result = run_refresh(home, instance)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "Scryfall is unavailable" in message and "503" in message
    assert not list((home.landing / "mtg").rglob("*.json"))
    assert list((home.landing / "yugioh").rglob("ygoprodeck.json"))
    assert list((home.landing / "pokemon").rglob("pokemontcg.json"))


@pytest.mark.parametrize("key_set", [True, False])
def test_the_pokemon_key_comes_from_the_environment_at_run_time(home, monkeypatch, key_set):
    if key_set:
        monkeypatch.setenv("POKEMONTCG_API_KEY", "test-key")
    else:
        monkeypatch.delenv("POKEMONTCG_API_KEY", raising=False)

    card_apis = build_resources(home)["card_apis"]

    assert isinstance(card_apis, CardApis)
    raw_key = card_apis.model_dump()["pokemontcg_api_key"]
    assert (raw_key is not None) == key_set
    assert "test-key" not in repr(card_apis)
