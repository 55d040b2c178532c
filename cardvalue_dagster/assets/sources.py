"""External sources: where the ingest assets' rows come from, shown in the lineage graph.

Dagster does not materialize these; they exist so the graph answers "where did this row come
from?" all the way to a folder, an API or a bundled dataset.
"""

from dagster import AssetSpec

from cardvalue_dagster.assets.metadata import OWNER

SOURCES_GROUP = "sources"

card_price_apis = AssetSpec(
    "card_price_apis",
    description=(
        "Scryfall, YGOPRODeck and PokemonTCG.io; the daily_card_price_refresh schedule writes "
        "their responses into the landing zone."
    ),
    group_name=SOURCES_GROUP,
    owners=[OWNER],
    kinds={"api"},
)

landing_zone = AssetSpec(
    "landing_zone",
    deps=[card_price_apis],
    description=(
        "Files under $CARDVALUE_HOME/landing/<asset_class>/[<YYYY-MM-DD>/]; read, never changed "
        "or deleted. The bundled default (real subsets and simulated classes) is seeded here."
    ),
    group_name=SOURCES_GROUP,
    owners=[OWNER],
    kinds={"file"},
)

player_statistics = AssetSpec(
    "player_statistics",
    description=(
        "Real player statistics bundled with the package (NBA.com, nflscrapR, Lahman, "
        "Hockey-Reference, FBref, ufcstats.com): see sources/bundled/reference/sports/."
    ),
    group_name=SOURCES_GROUP,
    owners=[OWNER],
    kinds={"csv"},
)

SOURCE_SPECS = [card_price_apis, landing_zone, player_statistics]
