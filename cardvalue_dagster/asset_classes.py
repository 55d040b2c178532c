"""The twelve asset classes CardValue prices, and the families they fall into.

One module owns these names so that partitions, parsers, the simulator and the UI agree on them.
"""

from __future__ import annotations

SPORTS: tuple[str, ...] = ("nba", "nfl", "mlb", "nhl", "soccer", "ufc")
"""Sports-card classes; each has player statistics in `sports_stats`."""

HOBBY_GAMES: tuple[str, ...] = ("mtg", "pokemon", "yugioh")
"""Trading-card games; each has market reference prices in `hobby_prices`."""

ALTERNATIVE: tuple[str, ...] = ("sneakers", "art", "luxury")
"""Alternative assets: sneakers, art, and luxury goods (watches, handbags, wine)."""

ASSET_CLASSES: tuple[str, ...] = SPORTS + HOBBY_GAMES + ALTERNATIVE


def is_asset_class(name: str) -> bool:
    """Whether `name` is one of the twelve asset-class keys."""
    return name in ASSET_CLASSES
