"""Simulated card sales for the sports classes without real sales: nba, nfl, nhl, soccer, ufc.

No bundled file holds real sales of these cards, so CardValue simulates them, grounded in the
real player statistics of `sports_reference`. Each class gets a fixed window (`SIMULATION_WINDOWS`)
right after a season became known, a *catalog* built from the statistics known on the window's
first day, and the shared price process of `simulation.simulate_sales` (market and item random
walks, per-sale noise, Poisson daily volume, weekends 20 % busier).

The catalog, per class:

    players   the 200 best by `performance` on the window's first day, plus 50 drawn at random
              from the rest (the long tail of cheap commons); fewer where fewer are active
    card      one card per player in the class's product line of the season just known
              (`PRODUCT_LINES`: 2017-18 Panini Prizm, 2015 Panini Prizm, 2021-22 Upper Deck
              Series 1 with rookies in Young Guns, 2022-23 Topps Chrome UEFA Club Competitions,
              2022 Panini Prizm UFC); card numbers count 1.. in order of player name
    variants  raw, PSA 8, PSA 9, PSA 10 (grade and grading company null for raw, condition 'raw')

Base price of a catalog row, in US dollars:

    base = class_scale * exp(3.5 * performance + 0.8 * form) * grade_multiplier
           * (2.5 if rookie) * appeal

    class_scale       raw card of the weakest player: nba 1.50, nfl 1.25, nhl 1.00,
                      soccer 1.25, ufc 1.50 (so the best veteran's raw card is about 33x that)
    form              clipped to [-0.5, 0.5], 0 when null (single-season sports, UFC debutants)
    grade_multiplier  raw 1.0, PSA 8 1.4, PSA 9 2.2, PSA 10 5.5
    rookie            first season known (nba, nfl); age 21 or under (nhl, soccer, whose data
                      hold a single season); at most 3 UFC fights (ufc)
    appeal            a player's hobby appeal beyond his numbers, lognormal(0, 0.25), seeded

A base price is never below $0.50, a floor for the cheapest commons.

Popularity (how often a row sells): exp(2.0 * performance) * (1.5 if rookie) * the variant's share
of sales (raw 0.40, PSA 8 0.15, PSA 9 0.25, PSA 10 0.20): stars and rookies sell more often.

Process per class: `DAILY_SALES` sales a day on average (about 8-13 k rows per window), the
default volatility of `PriceProcess`, venues eBay 70 %, Goldin, PWCC and COMC 10 % each.
Everything is drawn from generators seeded by `seed` and the class, so the same seed always
gives the same rows; every row has `is_simulated` true.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardvalue_dagster.sources.canonical import item_id
from cardvalue_dagster.sources.simulation import PriceProcess, simulate_sales
from cardvalue_dagster.sources.sports_reference import stats_known_on

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20261203

SIMULATION_WINDOWS: dict[str, tuple[dt.date, dt.date]] = {
    "nba": (dt.date(2018, 7, 1), dt.date(2018, 12, 31)),
    "nfl": (dt.date(2016, 9, 1), dt.date(2017, 2, 28)),
    "nhl": (dt.date(2022, 3, 1), dt.date(2022, 8, 31)),
    "soccer": (dt.date(2023, 7, 1), dt.date(2023, 12, 31)),
    "ufc": (dt.date(2022, 9, 5), dt.date(2023, 3, 4)),
}
"""Inclusive sale-date window of each simulated class, fixed so that the output is reproducible."""


@dataclass(frozen=True)
class ProductLine:
    """The card a class's catalog is made of."""

    year: int
    year_label: str
    set_name: str
    rookie_set_name: str
    class_scale: float


PRODUCT_LINES: dict[str, ProductLine] = {
    "nba": ProductLine(2017, "2017-18", "Panini Prizm", "Panini Prizm", 1.50),
    "nfl": ProductLine(2015, "2015", "Panini Prizm", "Panini Prizm", 1.25),
    "nhl": ProductLine(2021, "2021-22", "Upper Deck Series 1", "Upper Deck Young Guns", 1.00),
    "soccer": ProductLine(
        2022,
        "2022-23",
        "Topps Chrome UEFA Club Competitions",
        "Topps Chrome UEFA Club Competitions",
        1.25,
    ),
    "ufc": ProductLine(2022, "2022", "Panini Prizm UFC", "Panini Prizm UFC", 1.50),
}

DAILY_SALES: dict[str, float] = {"nba": 65, "nfl": 60, "nhl": 45, "soccer": 50, "ufc": 45}

VENUES: dict[str, float] = {"eBay": 0.7, "Goldin": 0.1, "PWCC": 0.1, "COMC": 0.1}

GRADES: tuple[tuple[str, float | None, float, float], ...] = (
    ("raw", None, 1.0, 0.40),
    ("PSA 8", 8.0, 1.4, 0.15),
    ("PSA 9", 9.0, 2.2, 0.25),
    ("PSA 10", 10.0, 5.5, 0.20),
)
"""(variant, grade, price multiplier, share of sales) of each variant."""

TOP_PLAYERS = 200
TAIL_PLAYERS = 50
K_PERFORMANCE = 3.5
K_FORM = 0.8
ROOKIE_PREMIUM = 2.5
APPEAL_SIGMA = 0.25
K_POPULARITY = 2.0
ROOKIE_POPULARITY = 1.5
ROOKIE_MAX_AGE = 21
ROOKIE_MAX_UFC_FIGHTS = 3


def simulate_sports_sales(asset_class: str, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Simulated sales of `asset_class` over its window, in `SIMULATED_SALE_COLUMNS`."""
    start, end = _window(asset_class)
    catalog = card_catalog(asset_class, seed)

    sales = simulate_sales(
        catalog,
        asset_class,
        start,
        end,
        PriceProcess(daily_sales=DAILY_SALES[asset_class]),
        VENUES,
        seed=_class_seed(asset_class, seed),
    )
    logger.info(
        "%s: simulated %d sales of %d catalog rows, %s..%s",
        asset_class,
        len(sales),
        len(catalog),
        start,
        end,
    )
    return sales


def card_catalog(asset_class: str, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The catalog of `asset_class`: one row per player card and grade, priced by the model."""
    start, _ = _window(asset_class)
    rng = np.random.default_rng([seed, _class_seed(asset_class, 0), 1])

    players = _pick_players(stats_known_on(asset_class, start), rng)
    if players.empty:
        raise ValueError(f"no {asset_class} statistics known on {start}: nothing to simulate")

    players = _price_players(players, asset_class, rng)
    cards = _card_identity(players, asset_class)
    return _expand_variants(cards)


def _pick_players(stats: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The best players by performance plus a random tail of the others."""
    ranked = stats.sort_values(["performance", "player_id"], ascending=[False, True])
    top = ranked.head(TOP_PLAYERS)

    rest = ranked.iloc[TOP_PLAYERS:]
    n_tail = min(TAIL_PLAYERS, len(rest))
    tail = rest.iloc[np.sort(rng.choice(len(rest), size=n_tail, replace=False))]
    return pd.concat([top, tail]).reset_index(drop=True)


def _price_players(
    players: pd.DataFrame, asset_class: str, rng: np.random.Generator
) -> pd.DataFrame:
    """A raw-card base price and a popularity per player (before the grade)."""
    rookie = _is_rookie(players, asset_class)
    form = players["form"].fillna(0.0).clip(-0.5, 0.5)
    appeal = rng.lognormal(0.0, APPEAL_SIGMA, len(players))

    scale = PRODUCT_LINES[asset_class].class_scale
    raw_price = scale * np.exp(K_PERFORMANCE * players["performance"] + K_FORM * form) * appeal
    raw_price = raw_price * np.where(rookie, ROOKIE_PREMIUM, 1.0)
    popularity = np.exp(K_POPULARITY * players["performance"])
    popularity = popularity * np.where(rookie, ROOKIE_POPULARITY, 1.0)

    return players.assign(rookie=rookie, raw_price=raw_price, player_popularity=popularity)


def _is_rookie(players: pd.DataFrame, asset_class: str) -> np.ndarray:
    """Whether each player is in his first season (see the module docstring per class)."""
    if asset_class == "ufc":
        return (players["seasons_played"] <= ROOKIE_MAX_UFC_FIGHTS).to_numpy()
    if asset_class in ("nhl", "soccer"):
        ages = players["stats"].map(lambda s: _age(json.loads(s)))
        return (ages <= ROOKIE_MAX_AGE).to_numpy()
    return (players["seasons_played"] == 1).to_numpy()


def _age(stats: dict[str, object]) -> float:
    """The age in a stats JSON (NHL 'age', FBref 'Age'), or infinity when missing."""
    value = stats.get("age", stats.get("Age"))
    return float(value) if isinstance(value, int | float) else float("inf")


def _card_identity(players: pd.DataFrame, asset_class: str) -> pd.DataFrame:
    """Set, card number, item id and name of each player's card."""
    line = PRODUCT_LINES[asset_class]
    players = players.sort_values(["player_name", "player_id"], kind="stable")
    players = players.reset_index(drop=True)

    card_number = np.arange(1, len(players) + 1)
    set_name = np.where(players["rookie"], line.rookie_set_name, line.set_name)
    ids = [
        item_id(asset_class, line.year_label, s, name, n)
        for s, name, n in zip(set_name, players["player_name"], card_number, strict=True)
    ]
    names = [
        f"{line.year_label} {s} {name} #{n}"
        for s, name, n in zip(set_name, players["player_name"], card_number, strict=True)
    ]
    return players.assign(
        year=line.year, set_name=set_name, card_number=card_number, item_id=ids, item_name=names
    )


def _expand_variants(cards: pd.DataFrame) -> pd.DataFrame:
    """One catalog row per card and grade, in `CATALOG_COLUMNS`."""
    attributes = _attributes(cards)
    frames = [
        pd.DataFrame(
            {
                "item_id": cards["item_id"],
                "item_name": cards["item_name"],
                "variant": variant,
                "base_price_usd": (cards["raw_price"] * multiplier).round(2).clip(lower=0.5),
                "popularity": cards["player_popularity"] * share,
                "grade": pd.Series(np.nan if grade is None else grade, cards.index, float),
                "grading_company": pd.Series(None if grade is None else "PSA", cards.index, object),
                "condition": pd.Series("raw" if grade is None else None, cards.index, object),
                "attributes": attributes,
            }
        )
        for variant, grade, multiplier, share in GRADES
    ]
    catalog = pd.concat(frames, ignore_index=True)
    return catalog.sort_values(["item_id", "grade"], na_position="first", kind="stable")


def _attributes(cards: pd.DataFrame) -> list[dict[str, object]]:
    """The class-specific attributes of each card, as dicts (the simulator serialises them)."""
    columns = ["player_name", "player_id", "year", "set_name", "card_number", "rookie"]
    return [
        {
            "player_name": name,
            "player_id": player_id,
            "year": int(year),
            "set": set_name,
            "card_number": int(number),
            "rookie": bool(rookie),
        }
        for name, player_id, year, set_name, number, rookie in cards[columns].itertuples(
            index=False
        )
    ]


def _window(asset_class: str) -> tuple[dt.date, dt.date]:
    if asset_class not in SIMULATION_WINDOWS:
        raise ValueError(
            f"{asset_class!r} is not simulated here; expected one of {list(SIMULATION_WINDOWS)}"
        )
    return SIMULATION_WINDOWS[asset_class]


def _class_seed(asset_class: str, seed: int) -> int:
    """A per-class seed, so that classes drawn with the same seed are independent."""
    return seed + 7919 * (list(SIMULATION_WINDOWS).index(asset_class) + 1)
