"""HTTP clients for the Scryfall, YGOPRODeck and PokemonTCG.io card APIs, and their normalisers.

The three public APIs give daily reference prices for the trading-card classes (mtg, yugioh,
pokemon). Each one documents a rate limit and blocks clients that ignore it, so every client here
shares one small base that:

- sends a descriptive User-Agent and `Accept: application/json`, with a (connect, read) timeout;
- spaces requests by the API's documented minimum interval (clock and sleep are injectable, so
  tests never really wait);
- retries 429, 5xx, connection errors and timeouts with exponential backoff, honouring
  `Retry-After`, and raises `SourceUnavailableError` after the last attempt;
- fails at once with `ApiRequestError` on any other 4xx, quoting the API's own error message.

The normalisers turn the APIs' card JSON into reference-price rows with exactly the columns of
`PRICE_COLUMNS`. `detect_api_payload` and `price_rows_from_payload` let the landing-zone parser
handle a JSON response that was saved to a file.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
import random
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Self
from urllib.parse import urlsplit

import pandas as pd
import requests

from cardvalue_dagster.sources.canonical import PRICE_COLUMNS, item_id

logger = logging.getLogger(__name__)

USER_AGENT = "CardValue/0.1 (collectibles valuation pipeline; reference prices once a day)"
"""Scryfall asks every client to identify itself; the other two APIs get the same courtesy."""

Clock = Callable[[], float]
Sleep = Callable[[float], None]
JsonDict = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class CardApiError(RuntimeError):
    """Base of the errors raised by the card API clients."""


class SourceUnavailableError(CardApiError):
    """The API kept failing (429, 5xx, network) until the retry budget ran out.

    Callers should treat the source as down for this run, not the request as wrong.
    """

    def __init__(self, api: str, url: str, problem: str, attempts: int) -> None:
        self.api = api
        self.url = url
        self.problem = problem
        self.attempts = attempts
        plural = "" if attempts == 1 else "s"
        super().__init__(
            f"{api} is unavailable: GET {url} {problem} after {attempts} attempt{plural}"
        )


class ApiRequestError(CardApiError):
    """The API rejected the request itself (4xx other than 429), so retrying cannot help."""

    def __init__(
        self, api: str, url: str, status: int | None, reason: str, payload: Any = None
    ) -> None:
        self.api = api
        self.url = url
        self.status = status
        self.payload = payload
        self.details = _error_details(payload)
        message = f"{api} rejected GET {url}: {status} {reason}".rstrip()
        if self.details:
            message = f"{message}: {self.details}"
        super().__init__(message)


def _error_details(payload: Any) -> str | None:
    """Pull the human-readable message out of an API error body, if it has one.

    Scryfall sends `{"object": "error", "details": ...}`, YGOPRODeck `{"error": "..."}` and
    PokemonTCG.io `{"error": {"message": ...}}`.
    """
    if not isinstance(payload, Mapping):
        return None

    if payload.get("object") == "error" and payload.get("details"):
        return str(payload["details"])

    error = payload.get("error")
    if isinstance(error, Mapping) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error

    message = payload.get("message")
    return str(message) if message else None


# --------------------------------------------------------------------------------------------
# Rate limiting and retries
# --------------------------------------------------------------------------------------------


class RateLimiter:
    """Keep at least `min_interval` seconds between the starts of consecutive requests.

    The clock and sleep are injectable so that tests can check the spacing without waiting.
    """

    def __init__(
        self, min_interval: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, got {min_interval}")
        self.min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._last_start: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next request may start, mark it as started; return seconds slept."""
        with self._lock:
            now = self._clock()
            waited = 0.0
            if self._last_start is not None:
                waited = max(0.0, self._last_start + self.min_interval - now)

            if waited > 0:
                self._sleep(waited)
                now = self._clock()

            self._last_start = now
            return waited


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a client retries 429, 5xx and network failures.

    The n-th retry waits `Retry-After` when the server sends one, else `rate_limited_delay`
    (after a 429) or `base_delay` (otherwise) times 2**(n-1), capped at `max_delay`, plus up
    to `jitter` of that delay drawn from `uniform` (pass `uniform=lambda: 0.0` for exact waits).
    A `Retry-After` longer than `max_delay` is not waited out: the source is reported
    unavailable at once, since sleeping for an hour inside a pipeline run helps nobody.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    rate_limited_delay: float = 1.0
    max_delay: float = 300.0
    jitter: float = 0.1
    uniform: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, retry_number: int, status: int | None) -> float:
        """Seconds to wait before retry `retry_number` (1-based) when no Retry-After came."""
        start = self.rate_limited_delay if status == 429 else self.base_delay
        delay = min(start * 2 ** (retry_number - 1), self.max_delay)
        return delay + delay * self.jitter * self.uniform()


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds asked for by a `Retry-After` header (delta-seconds or HTTP-date), else None."""
    if value is None or not value.strip():
        return None

    text = value.strip()
    if text.isdigit():
        return float(text)

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


class _Retryable(Exception):
    """One failed attempt that may succeed when repeated (internal control flow only)."""

    def __init__(self, problem: str, status: int | None, retry_after: float | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.status = status
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------
# Base client
# --------------------------------------------------------------------------------------------


class _JsonApiClient:
    """A polite JSON-over-HTTP client: one session, rate limited, retried, clear errors.

    Subclasses set the API's name, base URL and documented minimum request interval, and add
    the endpoint methods with their pagination.
    """

    api_name: ClassVar[str] = "API"
    base_url: ClassVar[str] = ""
    default_retry: ClassVar[RetryPolicy] = RetryPolicy()
    default_timeout: ClassVar[tuple[float, float]] = (5.0, 30.0)
    min_interval: ClassVar[float] = 1.0

    def __init__(
        self,
        *,
        min_interval: float | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.session = session or requests.Session()
        self.timeout = timeout or self.default_timeout
        self.retry = retry or self.default_retry
        self._clock = clock
        self._sleep = sleep
        interval = self.min_interval if min_interval is None else min_interval
        self._limiter = RateLimiter(interval, clock=clock, sleep=sleep)
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the pooled connections of the session."""
        self.session.close()

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a path under `base_url` (or a full URL) and return the parsed JSON body.

        Raises `SourceUnavailableError` when retries run out and `ApiRequestError` when the API
        rejects the request.
        """
        url = self._full_url(path_or_url, params)
        last: _Retryable | None = None

        for attempt in range(1, self.retry.max_attempts + 1):
            if last is not None:
                self._back_off(url, attempt, last)
            try:
                return self._attempt(url)
            except _Retryable as failure:
                last = failure

        assert last is not None  # the loop ran at least once and every pass failed
        raise SourceUnavailableError(self.api_name, url, last.problem, self.retry.max_attempts)

    def _full_url(self, path_or_url: str, params: Mapping[str, Any] | None) -> str:
        """The exact URL that will be requested, so errors and logs can quote it."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        prepared = requests.Request("GET", url, params=dict(params or {})).prepare()
        return str(prepared.url)

    def _limiters_for(self, url: str) -> tuple[RateLimiter, ...]:
        """The rate limiters a request to `url` must pass; subclasses add stricter ones."""
        return (self._limiter,)

    def _attempt(self, url: str) -> Any:
        """One rate-limited GET; raises `_Retryable` for failures worth repeating."""
        for limiter in self._limiters_for(url):
            limiter.wait()

        logger.debug("%s: GET %s", self.api_name, url)
        try:
            response = self.session.get(url, headers=self._headers, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise _Retryable(f"failed ({type(error).__name__}: {error})", None, None) from error

        return self._parse(url, response)

    def _parse(self, url: str, response: requests.Response) -> Any:
        """Return the JSON body of a good response, or classify the failure."""
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(
                f"returned {status} {response.reason or ''}".rstrip(), status, retry_after
            )

        payload = _json_or_none(response)
        if status >= 400:
            raise ApiRequestError(self.api_name, url, status, response.reason or "", payload)

        if payload is None:
            raise ApiRequestError(self.api_name, url, status, "response body is not JSON")
        return payload

    def _back_off(self, url: str, attempt: int, failure: _Retryable) -> None:
        """Sleep before `attempt` as the retry policy says (or give up on a huge Retry-After)."""
        retry_number = attempt - 1
        if failure.retry_after is not None and failure.retry_after > self.retry.max_delay:
            problem = f"{failure.problem} with Retry-After {failure.retry_after:.0f} s"
            raise SourceUnavailableError(self.api_name, url, problem, retry_number)

        delay = failure.retry_after
        if delay is None:
            delay = self.retry.backoff(retry_number, failure.status)

        logger.warning(
            "%s: GET %s %s (attempt %d of %d); retrying in %.1f s",
            self.api_name,
            url,
            failure.problem,
            retry_number,
            self.retry.max_attempts,
            delay,
        )
        self._sleep(delay)


def _json_or_none(response: requests.Response) -> Any:
    """The parsed body, or None when it is empty or not JSON (error pages often are HTML)."""
    try:
        return response.json()
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Scryfall
# --------------------------------------------------------------------------------------------

SCRYFALL_SEARCH_PATHS = frozenset(
    {"/cards/search", "/cards/named", "/cards/random", "/cards/collection"}
)
"""Endpoints Scryfall limits to 2 requests per second (the rest allow 10)."""


class ScryfallClient(_JsonApiClient):
    """Client for api.scryfall.com: 100 ms between requests, 500 ms between searches.

    Scryfall blocks a client for 30 seconds after a 429, so the first retry after one waits
    30 s unless `Retry-After` says otherwise.
    """

    api_name = "Scryfall"
    base_url = "https://api.scryfall.com"
    default_retry = RetryPolicy(rate_limited_delay=30.0)
    min_interval = 0.1

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._search_limiter = RateLimiter(0.5, clock=self._clock, sleep=self._sleep)

    def _limiters_for(self, url: str) -> tuple[RateLimiter, ...]:
        if urlsplit(url).path in SCRYFALL_SEARCH_PATHS:
            return (self._search_limiter, self._limiter)
        return (self._limiter,)

    def card(self, set_code: str, collector_number: str) -> JsonDict:
        """One card by set code and collector number (`/cards/{set}/{number}`)."""
        payload: JsonDict = self.get_json(f"/cards/{set_code}/{collector_number}")
        return payload

    def search_cards(self, query: str, **params: str) -> Iterator[JsonDict]:
        """Every card matching a Scryfall search `query`, following `next_page` to the end.

        Scryfall answers a search without matches with a 404 `not_found` error object; that is
        an empty result here, not an error.
        """
        url = self._full_url("/cards/search", {"q": query, **params})
        try:
            first = self.get_json(url)
        except ApiRequestError as error:
            if error.status == 404 and _scryfall_code(error.payload) == "not_found":
                logger.info("Scryfall: no cards match %r", query)
                return
            raise

        yield from self._follow_list(url, first)

    def iter_list(
        self, path_or_url: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[JsonDict]:
        """Every item of any Scryfall list endpoint, following `next_page` to the end."""
        url = self._full_url(path_or_url, params)
        yield from self._follow_list(url, self.get_json(url))

    def _follow_list(self, url: str, page: Any) -> Iterator[JsonDict]:
        """Yield the items of the list object fetched from `url` and of every page after it."""
        seen = {url}
        while True:
            self._expect_list(url, page)
            yield from page.get("data") or []

            next_page = page.get("next_page")
            if not page.get("has_more") or not next_page:
                return
            if next_page in seen:
                raise ApiRequestError(self.api_name, next_page, None, "next_page loops back")

            seen.add(next_page)
            url, page = next_page, self.get_json(next_page)

    def _expect_list(self, url: str, page: Any) -> None:
        """Fail clearly when Scryfall answers a list endpoint with something else."""
        if isinstance(page, Mapping) and page.get("object") == "list":
            return
        found = page.get("object") if isinstance(page, Mapping) else type(page).__name__
        raise ApiRequestError(self.api_name, url, None, f"expected a list object, got {found!r}")


def _scryfall_code(payload: Any) -> str | None:
    """The `code` of a Scryfall error object ("not_found", "bad_request", ...)."""
    return payload.get("code") if isinstance(payload, Mapping) else None


# --------------------------------------------------------------------------------------------
# YGOPRODeck
# --------------------------------------------------------------------------------------------


class YgoprodeckClient(_JsonApiClient):
    """Client for db.ygoprodeck.com v7: at most 20 requests per second (50 ms apart).

    Exceeding the limit blocks the client for an hour, so the limiter matters more than the
    retries here.
    """

    api_name = "YGOPRODeck"
    base_url = "https://db.ygoprodeck.com/api/v7"
    default_retry = RetryPolicy(rate_limited_delay=60.0)
    min_interval = 0.05

    def cards(self, **params: str | int) -> Iterator[JsonDict]:
        """Every card `cardinfo.php` returns for `params`, paging through `num`/`offset`.

        Without `num` the API returns the whole list in one response (no `meta`). With `num`,
        the offset starts at 0 (unless given) and follows `meta.next_page_offset` until
        `pages_remaining` is 0.
        """
        query: dict[str, str | int] = dict(params)
        if "num" in query:
            query.setdefault("offset", 0)

        while True:
            payload = self.get_json("/cardinfo.php", query)
            yield from payload.get("data") or []

            next_offset = self._next_offset(payload.get("meta"), query.get("offset"))
            if next_offset is None:
                return
            query["offset"] = next_offset

    def _next_offset(self, meta: Any, current: str | int | None) -> int | None:
        """The offset of the next page, or None on the last (or only) page."""
        if not isinstance(meta, Mapping) or not meta.get("pages_remaining"):
            return None

        next_offset = meta.get("next_page_offset")
        if next_offset is None:
            return None
        if int(next_offset) <= int(current or 0):
            raise ApiRequestError(self.api_name, str(meta.get("next_page")), None, "offset stalls")
        return int(next_offset)


# --------------------------------------------------------------------------------------------
# PokemonTCG.io
# --------------------------------------------------------------------------------------------

POKEMONTCG_MAX_PAGE_SIZE = 250


class PokemonTcgClient(_JsonApiClient):
    """Client for api.pokemontcg.io v2.

    Without an API key the documented limit is 30 requests a minute (2 s apart). With a key it
    is 20,000 a day, for which 0.2 s between requests is a conservative burst rate. The key is
    sent as `X-Api-Key` and never logged.
    """

    api_name = "PokemonTCG.io"
    base_url = "https://api.pokemontcg.io/v2"
    default_retry = RetryPolicy(rate_limited_delay=60.0)
    default_timeout = (5.0, 60.0)

    def __init__(self, api_key: str | None = None, **options: Any) -> None:
        super().__init__(min_interval=0.2 if api_key else 2.0, **options)
        if api_key:
            self._headers["X-Api-Key"] = api_key

    def __repr__(self) -> str:
        has_key = "X-Api-Key" in self._headers
        return f"{type(self).__name__}(api_key={'<set>' if has_key else None})"

    def search_cards(
        self, query: str, *, page_size: int = POKEMONTCG_MAX_PAGE_SIZE, **params: str
    ) -> Iterator[JsonDict]:
        """Every card matching `query` (the API's `q` syntax), page by page to the end.

        Stops when page * pageSize reaches `totalCount` or a page comes back empty.
        """
        if not 1 <= page_size <= POKEMONTCG_MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{POKEMONTCG_MAX_PAGE_SIZE}, got {page_size}")

        page = 1
        while True:
            page_params = {**params, "q": query, "page": page, "pageSize": page_size}
            payload = self.get_json("/cards", page_params)
            data = payload.get("data") or []
            yield from data

            if not data or _is_last_page(payload, page, page_size):
                return
            page += 1


def _is_last_page(payload: Mapping[str, Any], page: int, page_size: int) -> bool:
    """Whether a PokemonTCG.io page is the last one, by its envelope."""
    size = int(payload.get("pageSize") or page_size)
    total = payload.get("totalCount")
    if total is None:
        return len(payload.get("data") or []) < size
    return page * size >= int(total)


# --------------------------------------------------------------------------------------------
# Normalisers: API card JSON -> reference-price rows
# --------------------------------------------------------------------------------------------

SCRYFALL_PRINTINGS: dict[str, str] = {"usd": "normal", "usd_foil": "foil", "usd_etched": "etched"}
"""Scryfall USD price keys and the printing each one prices."""

YGOPRODECK_USD_VENUES: tuple[str, ...] = (
    "tcgplayer_price",
    "ebay_price",
    "amazon_price",
    "coolstuffinc_price",
)
"""Venues quoted in US dollars. `cardmarket_price` is left out: Cardmarket quotes in euros."""

_FLOAT_COLUMNS = ("price_usd", "low_usd", "high_usd", "volume")


class _CardRef(NamedTuple):
    """What every price row of one card shares."""

    asset_class: str
    card_id: str
    card_name: str
    set_name: str | None
    source: str
    source_file: str
    source_row: int


def scryfall_price_rows(
    cards: Iterable[Mapping[str, Any]], observed_on: dt.date, source_file: str
) -> pd.DataFrame:
    """One row per Scryfall card and USD printing (normal, foil, etched) that has a price.

    Older card objects (before Scryfall added `prices`) carry `usd` at the top level; that is
    read as the normal printing's price.
    """
    rows: list[dict[str, Any]] = []
    for position, card in enumerate(cards, start=1):
        ref = _CardRef(
            asset_class="mtg",
            card_id=item_id("mtg", card.get("set"), card.get("collector_number"), card.get("name")),
            card_name=str(card.get("name", "")),
            set_name=card.get("set_name"),
            source="scryfall",
            source_file=source_file,
            source_row=position,
        )
        prices = card.get("prices")
        if not isinstance(prices, Mapping):
            prices = card

        for key, printing in SCRYFALL_PRINTINGS.items():
            price = _to_price(prices.get(key))
            if price is not None:
                rows.append(_price_row(ref, printing, observed_on, price))

    return _price_frame(rows)


def ygoprodeck_price_rows(
    cards: Iterable[Mapping[str, Any]], observed_on: dt.date, source_file: str
) -> pd.DataFrame:
    """One row per YGOPRODeck card: the TCGplayer price, else the median of the USD venues.

    "0.00" means the venue has no price. The set is the card's first `card_sets` entry; the
    card id is the card's passcode plus its name.
    """
    rows: list[dict[str, Any]] = []
    for position, card in enumerate(cards, start=1):
        price, printing = _ygoprodeck_price(card)
        if price is None:
            continue

        card_sets = card.get("card_sets") or [{}]
        ref = _CardRef(
            asset_class="yugioh",
            card_id=item_id("yugioh", card.get("id"), card.get("name")),
            card_name=str(card.get("name", "")),
            set_name=card_sets[0].get("set_name"),
            source="ygoprodeck",
            source_file=source_file,
            source_row=position,
        )
        rows.append(_price_row(ref, printing, observed_on, price))

    return _price_frame(rows)


def _ygoprodeck_price(card: Mapping[str, Any]) -> tuple[float | None, str]:
    """The card's reference price and which figure it is ("tcgplayer" or "venue median")."""
    quotes = (card.get("card_prices") or [{}])[0]
    tcgplayer = _to_price(quotes.get("tcgplayer_price"))
    if tcgplayer is not None:
        return tcgplayer, "tcgplayer"

    others = [_to_price(quotes.get(venue)) for venue in YGOPRODECK_USD_VENUES]
    known = [price for price in others if price is not None]
    if not known:
        return None, ""
    return float(statistics.median(known)), "venue median"


def pokemontcg_price_rows(
    cards: Iterable[Mapping[str, Any]], observed_on: dt.date, source_file: str
) -> pd.DataFrame:
    """One row per PokemonTCG.io card and TCGplayer printing that has a market (or mid) price.

    Printing keys become lower-case words ("reverseHolofoil" -> "reverse holofoil"). The
    observation date is TCGplayer's `updatedAt` when the card has one, else `observed_on`.
    """
    rows: list[dict[str, Any]] = []
    for position, card in enumerate(cards, start=1):
        tcgplayer = card.get("tcgplayer") or {}
        card_set = card.get("set") or {}
        ref = _CardRef(
            asset_class="pokemon",
            card_id=item_id("pokemon", card_set.get("id"), card.get("number"), card.get("name")),
            card_name=str(card.get("name", "")),
            set_name=card_set.get("name"),
            source="pokemontcg",
            source_file=source_file,
            source_row=position,
        )
        seen_on = _pokemontcg_date(tcgplayer.get("updatedAt"), observed_on)

        for key, quote in (tcgplayer.get("prices") or {}).items():
            price = _to_price(quote.get("market")) or _to_price(quote.get("mid"))
            if price is None:
                continue
            low, high = _to_price(quote.get("low")), _to_price(quote.get("high"))
            rows.append(_price_row(ref, _printing_words(key), seen_on, price, low, high))

    return _price_frame(rows)


def _pokemontcg_date(value: Any, fallback: dt.date) -> dt.date:
    """Parse TCGplayer's `YYYY/MM/DD` date; fall back (with a warning) when it is unusable."""
    if not value:
        return fallback
    try:
        return dt.datetime.strptime(str(value), "%Y/%m/%d").date()
    except ValueError:
        logger.warning(
            "PokemonTCG.io: unreadable tcgplayer.updatedAt %r; using %s", value, fallback
        )
        return fallback


def _printing_words(key: str) -> str:
    """'reverseHolofoil' -> 'reverse holofoil', '1stEditionHolofoil' -> '1st edition holofoil'."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).lower()


def _to_price(value: Any) -> float | None:
    """A positive finite price from a number or numeric string; None for null, 0 or junk."""
    if value is None or isinstance(value, bool):
        return None
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price > 0 else None


def _price_row(
    ref: _CardRef,
    printing: str,
    observed_on: dt.date,
    price: float,
    low: float | None = None,
    high: float | None = None,
) -> dict[str, Any]:
    """One reference-price row in `PRICE_COLUMNS` order."""
    return {
        "asset_class": ref.asset_class,
        "card_id": ref.card_id,
        "card_name": ref.card_name,
        "set_name": ref.set_name,
        "printing": printing,
        "observed_on": observed_on,
        "price_usd": price,
        "low_usd": low,
        "high_usd": high,
        "volume": None,
        "source": ref.source,
        "source_file": ref.source_file,
        "source_row": ref.source_row,
    }


def _price_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a frame with exactly `PRICE_COLUMNS` and stable dtypes, even when empty."""
    frame = pd.DataFrame(rows, columns=list(PRICE_COLUMNS))

    frame["observed_on"] = pd.to_datetime(frame["observed_on"]).dt.normalize()
    frame["observed_on"] = frame["observed_on"].astype("datetime64[ns]")
    for column in _FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    frame["source_row"] = frame["source_row"].astype("int64")

    return frame


# --------------------------------------------------------------------------------------------
# Saved responses in the landing zone
# --------------------------------------------------------------------------------------------

PriceNormaliser = Callable[[Iterable[Mapping[str, Any]], dt.date, str], pd.DataFrame]


def detect_api_payload(payload: Any) -> str | None:
    """Name the API response a parsed JSON document is, by its keys; None if unrecognised.

    One of "scryfall_list", "scryfall_card", "ygoprodeck_cardinfo", "pokemontcg_cards".
    """
    if not isinstance(payload, Mapping):
        return None

    scryfall_kind = payload.get("object")
    if scryfall_kind in {"list", "card"}:
        return f"scryfall_{scryfall_kind}"

    data = payload.get("data")
    if not isinstance(data, list):
        return None
    items = [item for item in data if isinstance(item, Mapping)]

    if any("card_prices" in item for item in items) or "total_rows" in (payload.get("meta") or {}):
        return "ygoprodeck_cardinfo"
    if (
        any("tcgplayer" in item for item in items)
        or {"page", "pageSize", "totalCount"} <= payload.keys()
    ):
        return "pokemontcg_cards"
    return None


def price_rows_from_payload(
    payload: Mapping[str, Any], observed_on: dt.date, source_file: str
) -> pd.DataFrame:
    """Reference-price rows from a saved API response; ValueError if it is not one we know."""
    kind = detect_api_payload(payload)
    if kind is None:
        raise ValueError(f"{source_file}: not a Scryfall, YGOPRODeck or PokemonTCG.io response")

    if kind == "scryfall_card":
        return scryfall_price_rows([payload], observed_on, source_file)

    normaliser = _NORMALISERS[kind]
    return normaliser(payload.get("data") or [], observed_on, source_file)


_NORMALISERS: dict[str, PriceNormaliser] = {
    "scryfall_list": scryfall_price_rows,
    "ygoprodeck_cardinfo": ygoprodeck_price_rows,
    "pokemontcg_cards": pokemontcg_price_rows,
}
