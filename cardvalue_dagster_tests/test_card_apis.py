"""Tests of the card API clients and normalisers, on recorded API responses only.

Every HTTP call goes through `responses`; a URL that is not registered raises a ConnectionError
inside the mock, so no test can reach the network. Clients get a fake clock whose `sleep` only
advances time, so rate limits and backoffs are asserted without waiting.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest
import requests
import responses
from responses import matchers

from cardvalue_dagster.sources.canonical import PRICE_COLUMNS
from cardvalue_dagster.sources.card_apis import (
    ApiRequestError,
    PokemonTcgClient,
    RateLimiter,
    RetryPolicy,
    ScryfallClient,
    SourceUnavailableError,
    YgoprodeckClient,
    detect_api_payload,
    parse_retry_after,
    pokemontcg_price_rows,
    price_rows_from_payload,
    scryfall_price_rows,
    ygoprodeck_price_rows,
)

FIXTURES = Path(__file__).parent / "fixtures" / "api"
SCRYFALL_SEARCH = "https://api.scryfall.com/cards/search"
SCRYFALL_CARD = "https://api.scryfall.com/cards/ima/77"
YGO_CARDINFO = "https://db.ygoprodeck.com/api/v7/cardinfo.php"
POKEMON_CARDS = "https://api.pokemontcg.io/v2/cards"
METAGROSS_QUERY = 'name:"metagross v"'
OBSERVED = dt.date(2024, 4, 1)
NO_JITTER = RetryPolicy(jitter=0.0)


def load(relative: str) -> dict[str, Any]:
    """A recorded API response from the fixtures folder."""
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept all HTTP; unregistered URLs raise, and every registered one must be used."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def query_of(call: Any) -> dict[str, str]:
    """The query parameters a recorded call was sent with."""
    return dict(parse_qsl(urlsplit(call.request.url).query))


# --------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------


def test_scryfall_search_follows_next_page_to_the_end(mocked, clock):
    first, second = load("scryfall/list-of-cards.json"), load("scryfall/list-of-cards-page-2.json")
    mocked.get(
        SCRYFALL_SEARCH, json=first, match=[matchers.query_param_matcher({"q": "o:vigilance"})]
    )
    mocked.get(first["next_page"], json=second)
    client = ScryfallClient(clock=clock, sleep=clock.sleep)

    names = [card["name"] for card in client.search_cards("o:vigilance")]

    assert names == ["Abbey Griffin", "Abzan Runemark", "Marked by Honor", "Marshaling Cry"]
    assert len(mocked.calls) == 2
    assert query_of(mocked.calls[1]) == dict(parse_qsl(urlsplit(first["next_page"]).query))
    assert query_of(mocked.calls[1])["page"] == "2"
    assert clock.sleeps == [pytest.approx(0.5)]  # the search endpoint allows 2 requests/s


def test_scryfall_search_without_matches_is_empty(mocked, clock):
    not_found = {
        "object": "error",
        "code": "not_found",
        "status": 404,
        "details": "Your query didn't match any cards.",
    }
    mocked.get(SCRYFALL_SEARCH, json=not_found, status=404)
    client = ScryfallClient(clock=clock, sleep=clock.sleep)

    assert list(client.search_cards("asdfgh")) == []
    assert len(mocked.calls) == 1


def test_ygoprodeck_without_meta_is_the_whole_list(mocked, clock):
    recorded = load("ygoprodeck/v7_cardinfo_sample_2021.json")
    mocked.get(
        YGO_CARDINFO, json=recorded, match=[matchers.query_param_matcher({"fname": "Dragon"})]
    )
    client = YgoprodeckClient(clock=clock, sleep=clock.sleep)

    ids = [card["id"] for card in client.cards(fname="Dragon")]

    assert ids == [card["id"] for card in recorded["data"]]
    assert len(ids) == 8
    assert len(mocked.calls) == 1


def test_ygoprodeck_with_meta_follows_next_page_offset(mocked, clock):
    recorded = load("ygoprodeck/v7_cardinfo_sample_2021.json")["data"]
    page_1 = {
        "data": recorded[:5],
        "meta": {
            "current_rows": 5,
            "total_rows": 8,
            "rows_remaining": 3,
            "total_pages": 2,
            "pages_remaining": 1,
            "next_page": f"{YGO_CARDINFO}?num=5&offset=5",
            "next_page_offset": 5,
        },
    }
    page_2 = {
        "data": recorded[5:],
        "meta": {
            "current_rows": 3,
            "total_rows": 8,
            "rows_remaining": 0,
            "total_pages": 2,
            "pages_remaining": 0,
        },
    }
    mocked.get(
        YGO_CARDINFO, json=page_1, match=[matchers.query_param_matcher({"num": "5", "offset": "0"})]
    )
    mocked.get(
        YGO_CARDINFO, json=page_2, match=[matchers.query_param_matcher({"num": "5", "offset": "5"})]
    )
    client = YgoprodeckClient(clock=clock, sleep=clock.sleep)

    names = [card["name"] for card in client.cards(num=5)]

    assert names == [card["name"] for card in recorded]
    assert [query_of(call)["offset"] for call in mocked.calls] == ["0", "5"]
    assert clock.sleeps == [pytest.approx(0.05)]  # 20 requests per second


def pokemon_page(page: int, page_size: int, total: int) -> dict[str, Any]:
    """The recorded Metagross V search, re-labelled as page `page` of a `total`-card result."""
    recorded = copy.deepcopy(load("pokemontcg/v2_cards_search_swsh6_metagross.json"))
    recorded.update(page=page, pageSize=page_size, totalCount=total)
    return recorded


def test_pokemontcg_search_pages_until_total_count(mocked, clock):
    for page in (1, 2):
        params = {"q": METAGROSS_QUERY, "page": str(page), "pageSize": "2"}
        mocked.get(
            POKEMON_CARDS,
            json=pokemon_page(page, page_size=2, total=4),
            match=[matchers.query_param_matcher(params)],
        )
    client = PokemonTcgClient(clock=clock, sleep=clock.sleep)

    ids = [card["id"] for card in client.search_cards(METAGROSS_QUERY, page_size=2)]

    assert ids == ["swsh6-181", "swsh6-112", "swsh6-181", "swsh6-112"]
    assert [query_of(call)["page"] for call in mocked.calls] == ["1", "2"]
    assert clock.sleeps == [pytest.approx(2.0)]  # 30 requests a minute without a key


def test_pokemontcg_search_stops_on_an_empty_page(mocked, clock):
    first = pokemon_page(1, page_size=2, total=10)
    empty = {"data": [], "page": 2, "pageSize": 2, "count": 0, "totalCount": 10}
    mocked.get(
        POKEMON_CARDS,
        json=first,
        match=[matchers.query_param_matcher({"q": "x", "page": "1", "pageSize": "2"})],
    )
    mocked.get(
        POKEMON_CARDS,
        json=empty,
        match=[matchers.query_param_matcher({"q": "x", "page": "2", "pageSize": "2"})],
    )
    client = PokemonTcgClient(clock=clock, sleep=clock.sleep)

    assert len(list(client.search_cards("x", page_size=2))) == 2
    assert len(mocked.calls) == 2


def test_pokemontcg_single_page_makes_one_request(mocked, clock):
    recorded = load("pokemontcg/v2_cards_search_swsh6_metagross.json")
    mocked.get(POKEMON_CARDS, json=recorded)
    client = PokemonTcgClient(clock=clock, sleep=clock.sleep)

    assert [card["number"] for card in client.search_cards(METAGROSS_QUERY)] == ["181", "112"]
    assert query_of(mocked.calls[0])["pageSize"] == "250"
    assert len(mocked.calls) == 1


def test_pokemontcg_rejects_page_size_above_the_maximum(clock):
    client = PokemonTcgClient(clock=clock, sleep=clock.sleep)

    with pytest.raises(ValueError, match="page_size"):
        next(client.search_cards("x", page_size=251))


# --------------------------------------------------------------------------------------------
# Retries and errors
# --------------------------------------------------------------------------------------------


def test_scryfall_429_without_retry_after_waits_the_documented_30_seconds(mocked, clock):
    mocked.get(SCRYFALL_CARD, status=429, json={"object": "error", "code": "rate_limited"})
    mocked.get(SCRYFALL_CARD, json=load("scryfall/card.json"))
    client = ScryfallClient(clock=clock, sleep=clock.sleep)

    card = client.card("ima", "77")

    assert card["name"] == "Windfall"
    assert len(mocked.calls) == 2
    assert len(clock.sleeps) == 1
    assert 30.0 <= clock.sleeps[0] <= 33.0  # 30 s plus at most 10 % jitter


def test_429_with_retry_after_waits_what_the_server_asks(mocked, clock):
    mocked.get(YGO_CARDINFO, status=429, headers={"Retry-After": "7"})
    mocked.get(YGO_CARDINFO, json=load("ygoprodeck/v7_cardinfo_sample_2021.json"))
    client = YgoprodeckClient(clock=clock, sleep=clock.sleep)

    assert len(list(client.cards())) == 8
    assert clock.sleeps == [7.0]


def test_retry_after_longer_than_max_delay_gives_up_without_sleeping(mocked, clock):
    mocked.get(YGO_CARDINFO, status=429, headers={"Retry-After": "3600"})
    client = YgoprodeckClient(clock=clock, sleep=clock.sleep)

    with pytest.raises(SourceUnavailableError, match=r"Retry-After 3600 s after 1 attempt$"):
        list(client.cards())
    assert clock.sleeps == []
    assert len(mocked.calls) == 1


def test_repeated_503_raises_source_unavailable_naming_api_and_url(mocked, clock):
    mocked.get(SCRYFALL_SEARCH, status=503)
    client = ScryfallClient(retry=NO_JITTER, clock=clock, sleep=clock.sleep)

    with pytest.raises(SourceUnavailableError) as raised:
        list(client.search_cards("o:vigilance"))

    url = f"{SCRYFALL_SEARCH}?q=o%3Avigilance"
    assert str(raised.value) == (
        f"Scryfall is unavailable: GET {url} returned 503 Service Unavailable after 5 attempts"
    )
    assert len(mocked.calls) == 5
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]  # exponential backoff, no jitter


def test_ygoprodeck_and_pokemontcg_give_up_after_max_attempts(mocked, clock):
    mocked.get(YGO_CARDINFO, status=502)
    mocked.get(POKEMON_CARDS, status=504)
    ygo = YgoprodeckClient(retry=NO_JITTER, clock=clock, sleep=clock.sleep)
    pokemon = PokemonTcgClient(retry=NO_JITTER, clock=clock, sleep=clock.sleep)

    with pytest.raises(SourceUnavailableError) as ygo_error:
        list(ygo.cards())
    with pytest.raises(SourceUnavailableError) as pokemon_error:
        list(pokemon.search_cards("x"))

    assert str(ygo_error.value).startswith(f"YGOPRODeck is unavailable: GET {YGO_CARDINFO} ")
    assert "returned 502 Bad Gateway after 5 attempts" in str(ygo_error.value)
    assert str(pokemon_error.value).startswith(
        f"PokemonTCG.io is unavailable: GET {POKEMON_CARDS}?q=x&page=1&pageSize=250 returned 504"
    )
    assert len(mocked.calls) == 10


def test_connection_errors_and_timeouts_are_retried(mocked, clock):
    mocked.get(SCRYFALL_CARD, body=requests.ConnectionError("connection reset"))
    mocked.get(SCRYFALL_CARD, body=requests.ReadTimeout("read timed out"))
    mocked.get(SCRYFALL_CARD, json=load("scryfall/card.json"))
    client = ScryfallClient(retry=NO_JITTER, clock=clock, sleep=clock.sleep)

    assert client.card("ima", "77")["collector_number"] == "77"
    assert clock.sleeps == [1.0, 2.0]
    assert mocked.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)


def test_scryfall_404_error_object_fails_at_once_with_its_details(mocked, clock):
    details = "No card found with the given ID or set code and collector number."
    error = {"object": "error", "code": "not_found", "status": 404, "details": details}
    mocked.get("https://api.scryfall.com/cards/ima/999", status=404, json=error)
    client = ScryfallClient(clock=clock, sleep=clock.sleep)

    with pytest.raises(ApiRequestError) as raised:
        client.card("ima", "999")

    assert raised.value.status == 404
    assert raised.value.details == details
    assert "Scryfall rejected GET https://api.scryfall.com/cards/ima/999: 404" in str(raised.value)
    assert str(raised.value).endswith(f": 404 Not Found: {details}")
    assert len(mocked.calls) == 1
    assert clock.sleeps == []


def test_ygoprodeck_400_error_message_is_quoted(mocked, clock):
    message = "No card matching your query was found in the database."
    mocked.get(YGO_CARDINFO, status=400, json={"error": message})
    client = YgoprodeckClient(clock=clock, sleep=clock.sleep)

    with pytest.raises(ApiRequestError, match=message):
        list(client.cards(name="Nope"))
    assert len(mocked.calls) == 1


def test_parse_retry_after_reads_seconds_and_http_dates():
    now = dt.datetime(2015, 10, 21, 7, 27, tzinfo=dt.UTC)

    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --------------------------------------------------------------------------------------------
# Rate limits and headers
# --------------------------------------------------------------------------------------------


def test_rate_limiter_spaces_request_starts(clock):
    limiter = RateLimiter(0.5, clock=clock, sleep=clock.sleep)

    assert limiter.wait() == 0.0
    clock.now += 0.2
    assert limiter.wait() == pytest.approx(0.3)
    clock.now += 1.0
    assert limiter.wait() == 0.0

    assert clock.sleeps == [pytest.approx(0.3)]


def test_scryfall_limits_searches_more_strictly_than_other_endpoints(mocked, clock):
    mocked.get(SCRYFALL_SEARCH, json=load("scryfall/list-of-cards-page-2.json"))
    mocked.get(SCRYFALL_CARD, json=load("scryfall/card.json"))
    client = ScryfallClient(clock=clock, sleep=clock.sleep)

    list(client.search_cards("o:vigilance"))  # t = 0
    client.card("ima", "77")  # any endpoint: 100 ms after the last request
    list(client.search_cards("o:vigilance"))  # search: 500 ms after the last search

    assert clock.sleeps == [pytest.approx(0.1), pytest.approx(0.4)]


def test_pokemontcg_api_key_header_is_sent_only_when_configured(mocked, clock):
    recorded = load("pokemontcg/v2_cards_search_swsh6_metagross.json")
    mocked.get(POKEMON_CARDS, json=recorded)
    mocked.get(POKEMON_CARDS, json=recorded)
    with_key = PokemonTcgClient("test-key-123", clock=clock, sleep=clock.sleep)
    without_key = PokemonTcgClient(clock=clock, sleep=clock.sleep)

    list(with_key.search_cards(METAGROSS_QUERY))
    list(without_key.search_cards(METAGROSS_QUERY))

    keyed, anonymous = (call.request.headers for call in mocked.calls)
    assert keyed["X-Api-Key"] == "test-key-123"
    assert "X-Api-Key" not in anonymous
    assert anonymous["Accept"] == "application/json"
    assert anonymous["User-Agent"].startswith("CardValue/")
    assert "test-key-123" not in repr(with_key)


def test_pokemontcg_with_key_uses_the_shorter_interval_and_never_logs_the_key(
    mocked, clock, caplog
):
    mocked.get(POKEMON_CARDS, status=500)
    mocked.get(POKEMON_CARDS, json=pokemon_page(1, page_size=2, total=4))
    mocked.get(POKEMON_CARDS, json=pokemon_page(2, page_size=2, total=4))
    client = PokemonTcgClient("secret-key-xyz", retry=NO_JITTER, clock=clock, sleep=clock.sleep)

    with caplog.at_level(logging.DEBUG, logger="cardvalue_dagster.sources.card_apis"):
        cards = list(client.search_cards(METAGROSS_QUERY, page_size=2))

    assert len(cards) == 4
    assert clock.sleeps == [1.0, pytest.approx(0.2)]  # backoff after the 500, then 0.2 s
    assert "returned 500" in caplog.text
    assert "secret-key-xyz" not in caplog.text


# --------------------------------------------------------------------------------------------
# Normalisers
# --------------------------------------------------------------------------------------------


def assert_price_frame(frame: pd.DataFrame) -> None:
    """Exactly the canonical price columns, with the promised dtypes."""
    assert list(frame.columns) == list(PRICE_COLUMNS)
    assert str(frame["observed_on"].dtype) == "datetime64[ns]"
    for column in ("price_usd", "low_usd", "high_usd", "volume"):
        assert frame[column].dtype == "float64"
    assert frame["source_row"].dtype == "int64"


def test_scryfall_card_gives_one_row_per_usd_printing():
    frame = scryfall_price_rows([load("scryfall/card.json")], OBSERVED, "api/card.json")

    assert_price_frame(frame)
    assert frame["printing"].tolist() == ["normal", "foil", "etched"]
    assert frame["price_usd"].tolist() == [2.25, 5.98, 1.23]
    assert set(frame["card_id"]) == {"mtg:ima-77-windfall"}
    assert set(frame["set_name"]) == {"Iconic Masters"}
    assert set(frame["source"]) == {"scryfall"}
    assert frame["low_usd"].isna().all() and frame["volume"].isna().all()
    assert (frame["observed_on"] == pd.Timestamp(OBSERVED)).all()


def test_scryfall_legacy_top_level_usd_and_null_prices():
    """list-of-prints predates the `prices` object; its MTGO promo has no USD price at all."""
    prints = load("scryfall/list-of-prints.json")["data"]

    frame = scryfall_price_rows(prints, OBSERVED, "api/list-of-prints.json")

    assert_price_frame(frame)
    assert frame["source_row"].tolist() == [1, 2, 3, 4, 6, 7]  # row 5 (set prm) has usd null
    brb = frame.loc[frame["card_id"] == "mtg:brb-99-windfall"].iloc[0]
    assert brb["price_usd"] == 2.24
    assert brb["set_name"] == "Battle Royale Box Set"
    assert set(frame["printing"]) == {"normal"}


def test_ygoprodeck_rows_use_the_tcgplayer_price():
    cards = load("ygoprodeck/v7_cardinfo_sample_2021.json")["data"]

    frame = ygoprodeck_price_rows(cards, OBSERVED, "api/cardinfo.json")

    assert_price_frame(frame)
    assert len(frame) == 8
    firewall = frame.loc[frame["card_name"] == "Firewall Dragon"].iloc[0]
    assert firewall["price_usd"] == 5.05
    assert firewall["card_id"] == "yugioh:5043010-firewall-dragon"
    assert firewall["set_name"] == "2018 Mega-Tin Mega Pack"
    assert firewall["source_row"] == 3
    assert set(frame["printing"]) == {"tcgplayer"}
    assert set(frame["asset_class"]) == {"yugioh"}


def test_ygoprodeck_falls_back_to_the_usd_venue_median():
    tornado = copy.deepcopy(load("ygoprodeck/v7_cardinfo_sample_2021.json")["data"][0])
    tornado["card_prices"][0]["tcgplayer_price"] = "0.00"
    priceless = copy.deepcopy(tornado)
    priceless["card_prices"] = [dict.fromkeys(tornado["card_prices"][0], "0.00")]

    frame = ygoprodeck_price_rows([tornado, priceless], OBSERVED, "api/cardinfo.json")

    # ebay 2.99, amazon 0.77, coolstuffinc 0.99 -> 0.99; cardmarket (EUR) 0.42 is ignored
    assert frame["price_usd"].tolist() == [0.99]
    assert frame["printing"].tolist() == ["venue median"]


def test_pokemontcg_rows_take_market_low_high_and_tcgplayer_date():
    cards = load("pokemontcg/v2_cards_search_swsh6_metagross.json")["data"]

    frame = pokemontcg_price_rows(cards, OBSERVED, "api/metagross.json")

    assert_price_frame(frame)
    assert frame["card_id"].tolist() == [
        "pokemon:swsh6-181-metagross-v",
        "pokemon:swsh6-112-metagross-v",
    ]
    first = frame.iloc[0]
    assert (first["price_usd"], first["low_usd"], first["high_usd"]) == (2.79, 1.5, 19.95)
    assert first["printing"] == "holofoil"
    assert first["set_name"] == "Chilling Reign"
    assert (frame["observed_on"] == pd.Timestamp("2024-03-29")).all()


def test_pokemontcg_falls_back_to_mid_price_and_argument_date():
    card = copy.deepcopy(load("pokemontcg/v2_cards_search_swsh6_metagross.json")["data"][1])
    quote = card["tcgplayer"]["prices"].pop("holofoil")
    card["tcgplayer"]["prices"]["reverseHolofoil"] = {**quote, "market": None}
    del card["tcgplayer"]["updatedAt"]

    frame = pokemontcg_price_rows([card], OBSERVED, "api/metagross.json")

    assert frame["price_usd"].tolist() == [0.88]  # mid, as market is null
    assert frame["printing"].tolist() == ["reverse holofoil"]
    assert frame["observed_on"].tolist() == [pd.Timestamp(OBSERVED)]


def test_normalisers_return_typed_empty_frames():
    frame = scryfall_price_rows([], OBSERVED, "api/empty.json")

    assert frame.empty
    assert_price_frame(frame)


# --------------------------------------------------------------------------------------------
# Saved responses in the landing zone
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "kind", "rows"),
    [
        ("scryfall/card.json", "scryfall_card", 3),
        ("scryfall/card-with-transform-layout.json", "scryfall_card", 2),
        ("scryfall/list-of-cards.json", "scryfall_list", 2),
        ("scryfall/list-of-prints.json", "scryfall_list", 6),
        ("ygoprodeck/v7_cardinfo_sample_2021.json", "ygoprodeck_cardinfo", 8),
        ("pokemontcg/v2_cards_search_swsh6_metagross.json", "pokemontcg_cards", 2),
    ],
)
def test_recorded_payloads_are_detected_and_normalised(relative, kind, rows):
    payload = load(relative)

    frame = price_rows_from_payload(payload, OBSERVED, relative)

    assert detect_api_payload(payload) == kind
    assert len(frame) == rows
    assert set(frame["source_file"]) == {relative}
    assert_price_frame(frame)


@pytest.mark.parametrize(
    "payload",
    [{"foo": 1}, {"data": [{"name": "x"}]}, {"object": "error", "details": "x"}, ["a"]],
)
def test_unknown_payloads_are_not_detected(payload):
    assert detect_api_payload(payload) is None
    with pytest.raises(ValueError, match=r"not a Scryfall, YGOPRODeck or PokemonTCG\.io response"):
        price_rows_from_payload(payload, OBSERVED, "landing/odd.json")
