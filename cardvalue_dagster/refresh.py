"""The daily refresh of the card-price APIs: fetch, and drop the responses in the landing zone.

Each source's cards are written as one JSON document in that API's own response format (pages
merged) to `landing/<game>/<today>/<source>.json`. From there the landing sensor requests the
day's `hobby_prices` partition, so API data takes the same path, checks and lineage as any file,
and the raw response is kept.
"""

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dagster import (
    ConfigurableResource,
    DefaultScheduleStatus,
    Failure,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from cardvalue_dagster.resources import HomeResource

logger = logging.getLogger(__name__)


class CardApis(ConfigurableResource):
    """What to fetch from Scryfall, YGOPRODeck and PokemonTCG.io, and the PokemonTCG.io key."""

    pokemontcg_api_key: str | None = Field(
        default=None, description="PokemonTCG.io key (from the POKEMONTCG_API_KEY env var)."
    )
    scryfall_query: str = Field(
        default="is:reserved", description="Scryfall search; the Reserved List by default."
    )
    ygoprodeck_params: dict[str, str] = Field(
        default={"staple": "yes"}, description="cardinfo.php parameters; staples by default."
    )
    pokemontcg_query: str = Field(
        default="set.series:Base", description="PokemonTCG.io query; the Base series by default."
    )
    max_attempts: int = Field(
        default=5, description="Attempts per request before a source counts as down."
    )

    def sources(self) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
        """Per source: the game it prices, and how to fetch its cards as one response document."""
        from cardvalue_dagster.sources.card_apis import (
            PokemonTcgClient,
            ScryfallClient,
            YgoprodeckClient,
        )

        def retry(client: Any) -> Any:
            return replace(client.default_retry, max_attempts=self.max_attempts)

        def scryfall() -> dict[str, Any]:
            cards = list(
                ScryfallClient(retry=retry(ScryfallClient)).search_cards(self.scryfall_query)
            )
            return {"object": "list", "has_more": False, "total_cards": len(cards), "data": cards}

        def ygoprodeck() -> dict[str, Any]:
            client = YgoprodeckClient(retry=retry(YgoprodeckClient))
            return {"data": list(client.cards(**self.ygoprodeck_params))}

        def pokemontcg() -> dict[str, Any]:
            client = PokemonTcgClient(self.pokemontcg_api_key, retry=retry(PokemonTcgClient))
            cards = list(client.search_cards(self.pokemontcg_query))
            n = len(cards)
            return {"data": cards, "page": 1, "pageSize": n, "count": n, "totalCount": n}

        return {
            "scryfall": ("mtg", scryfall),
            "ygoprodeck": ("yugioh", ygoprodeck),
            "pokemontcg": ("pokemon", pokemontcg),
        }


@op(description="Fetch every configured card-price API and write its response to the landing zone.")
def fetch_card_prices(context: OpExecutionContext, home: HomeResource, card_apis: CardApis) -> None:
    """Fetch each source; a source that is down fails the run after the others are saved."""
    from cardvalue_dagster.sources.card_apis import CardApiError

    today = dt.datetime.now(dt.UTC).date()
    failures = []
    for source, (game, fetch) in card_apis.sources().items():
        try:
            document = fetch()
        except CardApiError as error:
            context.log.error(f"{source}: {error}")
            failures.append(f"{source}: {error}")
            continue

        path = write_response(home.layout.landing, game, today, source, document)
        context.log.info(f"{source}: {len(document['data'])} cards -> {path}")

    if failures:
        raise Failure(description="Some card-price APIs failed: " + "; ".join(failures))


def write_response(landing: Path, game: str, day: dt.date, source: str, document: dict) -> Path:
    """Write one API response document where the landing sensor will find it."""
    path = landing / game / day.isoformat() / f"{source}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


@job(description="Fetch Scryfall, YGOPRODeck and PokemonTCG.io prices into the landing zone.")
def refresh_card_prices() -> None:
    fetch_card_prices()


card_prices_schedule = ScheduleDefinition(
    name="daily_card_price_refresh",
    job=refresh_card_prices,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every day at 06:00 UTC, after the APIs' daily price updates.",
)
