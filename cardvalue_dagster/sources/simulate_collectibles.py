"""Simulated sales for yugioh, art and luxury goods, grounded in real reference prices.

THE ROWS THIS MODULE RETURNS ARE SIMULATED SALES OVER REAL REFERENCE PRICES. None of the three
classes has real dated sales in the bundled data, so each gets a *catalog* built from real public
reference data (bundled under `sources/bundled/reference/collectibles/`, see the PROVENANCE.md
there), and `cardvalue_dagster.sources.simulation.simulate_sales` draws dated sales around each
catalog row's base price. Every row carries `is_simulated = True`. What is real: the items, their
attributes and the level of their base prices. What is invented: dates, venues, volumes, the
day-to-day price path and every individual sale price.

Catalogs (one row per item and variant; `base_price_usd` is what the real data justifies)
------------------------------------------------------------------------------------------
yugioh, from a real YGOPRODeck v7 `cardinfo` response of 2021 (8 cards only: THIN data).
    Item = one printing of a card (card + set code + rarity, duplicates merged by median price);
    at most `MAX_PRINTINGS_PER_CARD` = 4 printings per card, chosen evenly across the card's
    printings ordered by price, so a card with 50 printings keeps its cheapest, two middle and
    its dearest. Raw near-mint price = the printing's `set_price`, or the card's `tcgplayer_price`
    where `set_price` is "0.00" (YGOPRODeck's "unknown"). Variant = grade:
        raw near mint  x 1.0                      popularity weight 0.75
        PSA 9          x 1.8, at least US$ 15     popularity weight 0.15
        PSA 10         x 4.0, at least US$ 30     popularity weight 0.10
    The floors stand for the grading fee a slab carries (a PSA 10 of a US$ 0.22 common does not
    sell for US$ 0.88). Popularity = grade weight / sqrt(raw price): cheap printings change hands
    far more often than US$ 2,000 promos.
art, from the Kaggle "art-price-dataset" (754 artworks, one listed price each).
    Item = one artwork row (editions listed several times stay separate items: they are distinct
    physical copies); variant "". Base = its price, "28.500 USD" read with a DOT thousands
    separator = US$ 28,500. The one row without an artist is dropped. Attributes: artist, title,
    year_created (int when a plain year, else the text period such as "First Half 20th Century"),
    signed (True when the signature text mentions signing, initials or an inscription in pencil
    or ink; False for stamps, labels or numbering only; null when the source has "[nan]"),
    condition, period, movement. Popularity = price ** -0.3: prints and small works resell more
    often than unique pieces (a US$ 600 print ~5x as often as a US$ 160,000 painting).
luxury = watches + handbags + wine, attribute `category` in {"watch", "handbag", "wine"}.
    watch: Chrono24 ASKING prices for Cartier and Audemars Piguet, spring 2022 (the cleaned
        listing file with UK retail prices). Asking text "$6,496" is USD, "£38,241" is GBP at
        `USD_PER_GBP` = 1.27 (about the 2022 average). Sales clear below asking: base =
        `WATCH_SALE_TO_ASKING` = 0.92 x the median asking price of the reference in that condition.
        Brand from the warranty text. Item = brand + reference, variant = condition ("" for "-"),
        popularity = number of listings; "Price on request" listings are dropped.
    handbag: Christie's Hong Kong "Handbags Online" March 2025, Price Realized (USD) per lot.
        Item = brand + type + leather + colour, variant = year of manufacture, base = the price
        realized (median if a key repeats), popularity = number of lots. Lots with a price
        realized of 0 were not sold and are dropped. Estimates "5,100−7,700" use U+2212.
    wine: Vivino red wines (~2020), the 1,500 most-rated. Price is EUR per bottle at
        `USD_PER_EUR` = 1.08. Item = winery + wine name (vintage stripped) + region (two
        different Louis M. Martini Cabernets differ only by region), variant = vintage, "N.V." for
        non-vintage. Popularity = number of Vivino ratings.

Price processes (`PriceProcess`: daily sales; daily s.d. of market step, item step, sale noise)
-----------------------------------------------------------------------------------------------
    yugioh   40/day  0.006  0.010  0.15  ban lists and meta shifts move single cards fast;
                                        raw-card condition and shipping spread sale prices.
    art       6/day  0.003  0.004  0.25  artworks resell rarely and each sale is one negotiation
                                        or one auction: widest noise, slow drift.
    watch    20/day  0.005  0.005  0.08  a liquid grey market with tight prices per reference, but
                                        one that swings with sentiment (2022 shows how far).
    handbag   8/day  0.003  0.004  0.15  auction results scatter around estimates.
    wine     22/day  0.002  0.003  0.06  bottles sell near a list price: low volatility.
    Luxury's ~50 sales a day split 20 / 8 / 22 between watches, handbags and wine: bottles are
    the most frequent trade, Birkins and Kellys the rarest.

Venues: yugioh TCGplayer .6 / eBay .4; art Christie's .3 / Sotheby's .3 / Phillips .2 / Artsy .2;
watch Chrono24 .7 / eBay .3; handbag Christie's .6 / eBay .4; wine Vivino 1.0. Luxury simulates
each category separately (own catalog, process, venues and a seed derived from `seed` and the
category) and concatenates them. Windows, inclusive: see `SIMULATION_WINDOWS`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardvalue_dagster.sources.canonical import item_id
from cardvalue_dagster.sources.simulation import (
    CATALOG_COLUMNS,
    PriceProcess,
    simulate_sales,
)

logger = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).parent / "bundled" / "reference" / "collectibles"
YGOPRODECK_FILE = "ygoprodeck_cardinfo_sample_2021.json"
ART_FILE = "art_dataset.csv.gz"
WATCH_FILE = "chrono24_listings_with_retail_2022.csv.gz"
HANDBAG_FILE = "christies_hk_march2025_handbags.csv.gz"
WINE_FILE = "vivino_red_top1500_by_ratings.csv.gz"

DEFAULT_SEED = 20261203

SIMULATION_WINDOWS: dict[str, tuple[dt.date, dt.date]] = {
    "yugioh": (dt.date(2021, 7, 1), dt.date(2021, 12, 31)),
    "art": (dt.date(2026, 6, 1), dt.date(2026, 11, 30)),
    "luxury": (dt.date(2026, 6, 1), dt.date(2026, 11, 30)),
}
"""Inclusive first and last sale date per class."""

USD_PER_GBP = 1.27
"""Fixed 2022 conversion for Chrono24 prices quoted in pounds."""

USD_PER_EUR = 1.08
"""Fixed conversion for Vivino prices, which are in euros."""

WATCH_SALE_TO_ASKING = 0.92
"""A watch sells at 92 % of its asking price (dealers negotiate down from the listing)."""

MAX_PRINTINGS_PER_CARD = 4
"""How many printings of one Yu-Gi-Oh! card the catalog keeps (spread over its price range)."""

ART_POPULARITY_EXPONENT = -0.3
"""An artwork's popularity is price ** -0.3: cheaper works resell more often."""

MISSING_TEXT = frozenset({"", "-", "[nan]", "nan"})
"""Cell values that mean "unknown" in these sources."""

_CURRENCY_TO_USD: dict[str, float] = {"$": 1.0, "£": USD_PER_GBP, "€": USD_PER_EUR}
_NOT_A_PRICE = frozenset({"", "-", "price on request"})
_SIGNATURE_WORDS = ("sign", "singed", "initial", "inscribed", "in pencil", "in ink", "in pastel")


@dataclass(frozen=True)
class GradeVariant:
    """One condition/grade a Yu-Gi-Oh! printing sells in, priced relative to raw near mint."""

    label: str
    grade: float | None
    grading_company: str | None
    condition: str | None
    multiplier: float
    floor_usd: float
    popularity: float


YUGIOH_GRADES: tuple[GradeVariant, ...] = (
    GradeVariant("raw near mint", None, None, "near mint", 1.0, 0.0, 0.75),
    GradeVariant("psa 9", 9.0, "PSA", None, 1.8, 15.0, 0.15),
    GradeVariant("psa 10", 10.0, "PSA", None, 4.0, 30.0, 0.10),
)


@dataclass(frozen=True)
class Segment:
    """One simulated market: a catalog, its price process and where it sells."""

    name: str
    build_catalog: Callable[[], pd.DataFrame]
    process: PriceProcess
    venues: Mapping[str, float]


# --- parsing the real reference formats ---------------------------------------------------


def clean_text(value: Any) -> str | None:
    """Strip, collapse runs of whitespace, and map the sources' missing markers to None."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = " ".join(str(value).split())
    return None if text in MISSING_TEXT else text


def parse_art_price(text: str) -> float:
    """Read an art price such as '28.500 USD' (dot = thousands separator) as 28500.0."""
    match = re.fullmatch(r"\s*(\d{1,3}(?:\.\d{3})*)\s*USD\s*", str(text))
    if match is None:
        raise ValueError(f"unexpected art price {text!r}")
    return float(match.group(1).replace(".", ""))


def money_to_usd(text: str) -> float | None:
    """Read '$6,496' or '£6,800.00' (padding allowed) in USD; None for '-' or 'Price on request'.

    Pounds convert at `USD_PER_GBP`, euros at `USD_PER_EUR`.
    """
    cleaned = " ".join(str(text).split())
    if cleaned.lower() in _NOT_A_PRICE:
        return None

    match = re.fullmatch(r"([$£€])\s?(\d[\d,]*(?:\.\d+)?)", cleaned)
    if match is None:
        raise ValueError(f"unexpected price text {text!r}")
    amount = float(match.group(2).replace(",", ""))
    return round(amount * _CURRENCY_TO_USD[match.group(1)], 2)


def parse_estimate(text: str) -> tuple[float, float]:
    """Read a Christie's estimate '5,100−7,700' (U+2212 minus sign) as (5100.0, 7700.0)."""
    parts = re.split(r"\s*[\u2212\-–]\s*", str(text).strip())
    if len(parts) != 2:
        raise ValueError(f"unexpected estimate {text!r}")
    low, high = (float(p.replace(",", "")) for p in parts)
    return low, high


def parse_vintage(text: str) -> int | None:
    """Read a Vivino Year: '2011' -> 2011, 'N.V.' (non-vintage) -> None."""
    cleaned = str(text).strip()
    if cleaned.upper() == "N.V.":
        return None
    return int(cleaned)


def parse_year_created(text: Any) -> int | str | None:
    """An artwork's year: an int when the cell is a plain year, else the text period."""
    cleaned = clean_text(text)
    if cleaned is None:
        return None
    return int(cleaned) if re.fullmatch(r"\d{4}", cleaned) else cleaned


def parse_signed(text: Any) -> bool | None:
    """Whether an artwork is signed, from the source's free-text signature note."""
    cleaned = clean_text(text)
    if cleaned is None:
        return None
    lowered = cleaned.lower()
    return any(word in lowered for word in _SIGNATURE_WORDS)


def _ygo_price(text: Any) -> float | None:
    """A YGOPRODeck price string in USD; '0.00' means unknown."""
    if text is None:
        return None
    value = float(text)
    return value if value > 0 else None


# --- reading the bundled reference files --------------------------------------------------


def read_yugioh_printings() -> pd.DataFrame:
    """Every printing of every bundled card, with the raw near-mint price it implies."""
    path = REFERENCE_DIR / YGOPRODECK_FILE
    cards = json.loads(path.read_text(encoding="utf-8"))["data"]
    rows = [_printing_row(card, printing) for card in cards for printing in card["card_sets"]]
    frame = pd.DataFrame(rows)

    unpriced = frame["raw_price_usd"].isna()
    if unpriced.any():
        logger.warning("yugioh: %d printings have no usable price, dropped", int(unpriced.sum()))
    frame = frame[~unpriced]

    keys = ["card_id", "set_code", "rarity"]
    merged = frame.groupby(keys, sort=False, as_index=False).agg(
        {**{c: "first" for c in frame.columns if c not in keys}, "raw_price_usd": "median"}
    )
    merged["raw_price_usd"] = merged["raw_price_usd"].round(2)
    return merged.reset_index(drop=True)


def _printing_row(card: Mapping[str, Any], printing: Mapping[str, Any]) -> dict[str, Any]:
    """One printing: set_price when known, else the card's TCGplayer price."""
    prices = card["card_prices"][0]
    set_price = _ygo_price(printing.get("set_price"))
    tcgplayer = _ygo_price(prices.get("tcgplayer_price"))
    return {
        "card_id": card["id"],
        "card_name": card["name"],
        "card_type": card.get("type"),
        "race": card.get("race"),
        "card_attribute": card.get("attribute"),
        "archetype": card.get("archetype"),
        "set_name": printing["set_name"],
        "set_code": printing["set_code"],
        "rarity": printing["set_rarity"],
        "set_price_usd": set_price,
        "tcgplayer_price_usd": tcgplayer,
        "ebay_price_usd": _ygo_price(prices.get("ebay_price")),
        "raw_price_usd": set_price if set_price is not None else tcgplayer,
        "price_source": "set_price" if set_price is not None else "tcgplayer_price",
    }


def read_artworks() -> pd.DataFrame:
    """The art dataset, one row per artwork, prices in USD and attributes parsed."""
    raw = pd.read_csv(REFERENCE_DIR / ART_FILE, dtype=str, keep_default_na=False)
    raw = raw.rename(columns={raw.columns[0]: "source_row"})

    return pd.DataFrame(
        {
            "source_row": raw["source_row"].astype(int),
            "artist": raw["artist"].map(clean_text),
            "title": raw["title"].map(clean_text),
            "price_usd": raw["price"].map(parse_art_price),
            "year_created": raw["yearCreation"].map(parse_year_created),
            "signed": raw["signed"].map(parse_signed),
            "signature": raw["signed"].map(clean_text),
            "condition": raw["condition"].map(clean_text),
            "period": raw["period"].map(clean_text),
            "movement": raw["movement"].map(clean_text),
        }
    )


def read_watch_listings() -> pd.DataFrame:
    """Chrono24 listings with USD asking and UK retail prices; 'Price on request' dropped."""
    raw = pd.read_csv(REFERENCE_DIR / WATCH_FILE, dtype=str, keep_default_na=False)
    listings = pd.DataFrame(
        {
            "watch_id": raw["watch_id"].map(clean_text),
            "reference": raw["watch_reference"].map(clean_text),
            "brand": raw["watch_guarantee"].map(_watch_brand),
            "asking_usd": raw["aftermarket_price"].map(money_to_usd),
            "retail_usd": raw["price"].map(money_to_usd),
            "condition": raw["condition"].map(clean_text),
            "movement": raw["watch_movement"].map(clean_text),
            "case_material": raw["watch_case"].map(clean_text),
            "dial": raw["watch_dial"].map(clean_text),
            "strap": raw["watch_strap"].map(clean_text),
            "recipient": raw["watch_recipient"].map(clean_text),
        }
    )

    on_request = listings["asking_usd"].isna()
    logger.info("watches: %d listings without a price (on request) dropped", int(on_request.sum()))
    return listings[~on_request].reset_index(drop=True)


def _watch_brand(guarantee: str) -> str:
    """The brand named in the listing's warranty text."""
    text = str(guarantee)
    if "Audemars Piguet" in text:
        return "Audemars Piguet"
    if "Cartier" in text:
        return "Cartier"
    raise ValueError(f"no known watch brand in {guarantee!r}")


def read_handbag_lots() -> pd.DataFrame:
    """Christie's handbag lots with estimates and prices realized; unsold lots (0) dropped."""
    raw = pd.read_csv(REFERENCE_DIR / HANDBAG_FILE, dtype=str, keep_default_na=False)
    estimates = raw["Estimate (USD)"].map(parse_estimate)
    lots = pd.DataFrame(
        {
            "lot": raw["Lot"].astype(int),
            "description": raw["Description"].map(clean_text),
            "brand": raw["Brand"].map(lambda b: str(b).strip().title()),
            "type": raw["Type (All Lots)"].map(clean_text),
            "year": raw["Year"].map(clean_text),
            "color": raw["Color"].map(clean_text),
            "leather": raw["Leather"].map(clean_text),
            "hardware": raw["Hardware"].map(clean_text),
            "estimate_low_usd": estimates.map(lambda e: e[0]),
            "estimate_high_usd": estimates.map(lambda e: e[1]),
            "price_realized_usd": raw["Price Realized (USD)"].astype(float),
        }
    )

    unsold = lots["price_realized_usd"] <= 0
    logger.info("handbags: %d unsold lots (price realized 0) dropped", int(unsold.sum()))
    return lots[~unsold].reset_index(drop=True)


def read_wines() -> pd.DataFrame:
    """The bundled Vivino wines with USD prices and the vintage split off the name."""
    raw = pd.read_csv(
        REFERENCE_DIR / WINE_FILE, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    price_eur = raw["Price"].astype(float)
    return pd.DataFrame(
        {
            "winery": raw["Winery"].map(clean_text),
            "wine": [_strip_vintage(n, y) for n, y in zip(raw["Name"], raw["Year"], strict=True)],
            "region": raw["Region"].map(clean_text),
            "country": raw["Country"].map(clean_text),
            "vintage_label": raw["Year"].str.strip(),
            "vintage": raw["Year"].map(parse_vintage),
            "rating": raw["Rating"].astype(float),
            "number_of_ratings": raw["NumberOfRatings"].astype(int),
            "price_eur": price_eur,
            "price_usd": (price_eur * USD_PER_EUR).round(2),
        }
    )


def _strip_vintage(name: str, year: str) -> str | None:
    """'Pomerol 2011' with Year 2011 -> 'Pomerol'; other digits in a name stay ('... 3055')."""
    return clean_text(str(name).strip().removesuffix(str(year).strip()))


# --- catalogs -----------------------------------------------------------------------------


def yugioh_catalog() -> pd.DataFrame:
    """Card printings x grade variants, priced from the cards' real 2021 prices."""
    printings = _select_printings(read_yugioh_printings())
    rows = [
        _yugioh_row(p, grade) for p in printings.itertuples(index=False) for grade in YUGIOH_GRADES
    ]
    return _as_catalog(rows)


def _select_printings(printings: pd.DataFrame) -> pd.DataFrame:
    """Keep up to MAX_PRINTINGS_PER_CARD per card, spread evenly over its price range."""
    kept: list[pd.DataFrame] = []
    for _, card in printings.groupby("card_id", sort=False):
        ordered = card.sort_values(["raw_price_usd", "set_code"], kind="stable")
        picks = np.linspace(0, len(ordered) - 1, min(len(ordered), MAX_PRINTINGS_PER_CARD))
        kept.append(ordered.iloc[np.unique(picks.round().astype(int))])
    return pd.concat(kept, ignore_index=True)


def _yugioh_row(printing: Any, grade: GradeVariant) -> dict[str, Any]:
    raw_price = float(printing.raw_price_usd)
    return {
        "item_id": item_id("yugioh", printing.card_name, printing.set_code, printing.rarity),
        "item_name": f"{printing.card_name} ({printing.set_code}, {printing.rarity})",
        "variant": grade.label,
        "base_price_usd": round(max(raw_price * grade.multiplier, grade.floor_usd), 2),
        "popularity": grade.popularity / np.sqrt(raw_price),
        "grade": grade.grade,
        "grading_company": grade.grading_company,
        "condition": grade.condition,
        "attributes": {
            "card_name": printing.card_name,
            "ygoprodeck_id": int(printing.card_id),
            "card_type": printing.card_type,
            "race": printing.race,
            "card_attribute": printing.card_attribute,
            "archetype": printing.archetype,
            "set_name": printing.set_name,
            "set_code": printing.set_code,
            "rarity": printing.rarity,
            "raw_reference_price_usd": raw_price,
            "price_source": printing.price_source,
            "tcgplayer_price_usd": printing.tcgplayer_price_usd,
            "ebay_price_usd": printing.ebay_price_usd,
            "grade_multiplier": grade.multiplier,
        },
    }


def art_catalog() -> pd.DataFrame:
    """One catalog row per artwork, base price = its real listed price."""
    artworks = read_artworks()
    anonymous = artworks["artist"].isna()
    if anonymous.any():
        logger.info("art: %d artworks without an artist dropped", int(anonymous.sum()))
    rows = [_art_row(a) for a in artworks[~anonymous].itertuples(index=False)]
    return _as_catalog(rows)


def _art_row(art: Any) -> dict[str, Any]:
    title = art.title or "Untitled"
    year = "" if art.year_created is None else f" ({art.year_created})"
    return {
        "item_id": item_id("art", art.artist, title, "row", art.source_row),
        "item_name": f"{art.artist}, {title}{year}",
        "variant": "",
        "base_price_usd": art.price_usd,
        "popularity": art.price_usd**ART_POPULARITY_EXPONENT,
        "grade": None,
        "grading_company": None,
        "condition": art.condition,
        "attributes": {
            "artist": art.artist,
            "title": art.title,
            "year_created": art.year_created,
            "signed": art.signed,
            "signature": art.signature,
            "condition": art.condition,
            "period": art.period,
            "movement": art.movement,
            "source_row": art.source_row,
        },
    }


def watch_catalog() -> pd.DataFrame:
    """Watch references x condition, base = WATCH_SALE_TO_ASKING x median asking price."""
    listings = read_watch_listings()
    listings["variant"] = listings["condition"].fillna("")
    groups = listings.groupby(["brand", "reference", "variant"], sort=True)
    summary = groups.agg(
        asking_usd=("asking_usd", "median"),
        listings=("asking_usd", "size"),
        retail_usd=("retail_usd", "first"),
        movement=("movement", "first"),
        case_material=("case_material", "first"),
        dial=("dial", "first"),
        strap=("strap", "first"),
        recipient=("recipient", "first"),
    ).reset_index()
    return _as_catalog([_watch_row(w) for w in summary.itertuples(index=False)])


def _watch_row(watch: Any) -> dict[str, Any]:
    return {
        "item_id": item_id("luxury", "watch", watch.brand, watch.reference),
        "item_name": f"{watch.brand} {watch.reference}",
        "variant": watch.variant,
        "base_price_usd": round(WATCH_SALE_TO_ASKING * watch.asking_usd, 2),
        "popularity": float(watch.listings),
        "grade": None,
        "grading_company": None,
        "condition": watch.variant or None,
        "attributes": {
            "category": "watch",
            "brand": watch.brand,
            "reference": watch.reference,
            "movement": watch.movement,
            "case_material": watch.case_material,
            "dial": watch.dial,
            "strap": watch.strap,
            "recipient": watch.recipient,
            "median_asking_usd": watch.asking_usd,
            "listings": int(watch.listings),
            "uk_retail_usd": watch.retail_usd,
        },
    }


def handbag_catalog() -> pd.DataFrame:
    """Handbag kinds x year of manufacture, base = Christie's price realized."""
    lots = read_handbag_lots()
    keys = ["brand", "type", "leather", "color", "year"]
    summary = lots.groupby(keys, sort=False).agg(
        price_realized_usd=("price_realized_usd", "median"),
        lots=("lot", "size"),
        lot_numbers=("lot", list),
        hardware=("hardware", "first"),
        estimate_low_usd=("estimate_low_usd", "min"),
        estimate_high_usd=("estimate_high_usd", "max"),
    )
    rows = [_handbag_row(b) for b in summary.reset_index().itertuples(index=False)]
    return _as_catalog(rows)


def _handbag_row(bag: Any) -> dict[str, Any]:
    return {
        "item_id": item_id("luxury", "handbag", bag.brand, bag.type, bag.leather, bag.color),
        "item_name": f"{bag.brand} {bag.type}, {bag.color} {bag.leather}",
        "variant": bag.year or "",
        "base_price_usd": float(bag.price_realized_usd),
        "popularity": float(bag.lots),
        "grade": None,
        "grading_company": None,
        "condition": None,
        "attributes": {
            "category": "handbag",
            "brand": bag.brand,
            "type": bag.type,
            "leather": bag.leather,
            "color": bag.color,
            "hardware": bag.hardware,
            "year": int(bag.year) if bag.year and bag.year.isdigit() else bag.year,
            "estimate_low_usd": bag.estimate_low_usd,
            "estimate_high_usd": bag.estimate_high_usd,
            "christies_lots": bag.lot_numbers,
        },
    }


def wine_catalog() -> pd.DataFrame:
    """Wines x vintage, base = Vivino price converted to USD."""
    wines = read_wines()
    keys = ["winery", "wine", "region", "vintage_label"]
    summary = wines.groupby(keys, sort=False).agg(
        price_usd=("price_usd", "median"),
        price_eur=("price_eur", "median"),
        number_of_ratings=("number_of_ratings", "sum"),
        rating=("rating", "first"),
        country=("country", "first"),
        vintage=("vintage", "first"),
    )
    rows = [_wine_row(w) for w in summary.reset_index().itertuples(index=False)]
    return _as_catalog(rows)


def _wine_row(wine: Any) -> dict[str, Any]:
    return {
        "item_id": item_id("luxury", "wine", wine.winery, wine.wine, wine.region),
        "item_name": f"{wine.winery} {wine.wine}",
        "variant": wine.vintage_label,
        "base_price_usd": float(wine.price_usd),
        "popularity": float(wine.number_of_ratings),
        "grade": None,
        "grading_company": None,
        "condition": None,
        "attributes": {
            "category": "wine",
            "winery": wine.winery,
            "wine": wine.wine,
            "region": wine.region,
            "country": wine.country,
            "vintage": None if pd.isna(wine.vintage) else int(wine.vintage),
            "vivino_rating": wine.rating,
            "vivino_ratings": int(wine.number_of_ratings),
            "price_eur": wine.price_eur,
        },
    }


def _as_catalog(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a frame in CATALOG_COLUMNS order, one row per (item_id, variant)."""
    catalog = pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))
    duplicated = catalog.duplicated(["item_id", "variant"])
    if duplicated.any():
        raise ValueError(f"catalog repeats {int(duplicated.sum())} (item_id, variant) keys")
    return catalog


# --- simulation ---------------------------------------------------------------------------

SEGMENTS: dict[str, tuple[Segment, ...]] = {
    "yugioh": (
        Segment(
            "yugioh",
            yugioh_catalog,
            PriceProcess(daily_sales=40, market_step=0.006, item_step=0.010, sale_noise=0.15),
            {"TCGplayer": 0.6, "eBay": 0.4},
        ),
    ),
    "art": (
        Segment(
            "art",
            art_catalog,
            PriceProcess(daily_sales=6, market_step=0.003, item_step=0.004, sale_noise=0.25),
            {"Christie's": 0.3, "Sotheby's": 0.3, "Phillips": 0.2, "Artsy": 0.2},
        ),
    ),
    "luxury": (
        Segment(
            "watch",
            watch_catalog,
            PriceProcess(daily_sales=20, market_step=0.005, item_step=0.005, sale_noise=0.08),
            {"Chrono24": 0.7, "eBay": 0.3},
        ),
        Segment(
            "handbag",
            handbag_catalog,
            PriceProcess(daily_sales=8, market_step=0.003, item_step=0.004, sale_noise=0.15),
            {"Christie's": 0.6, "eBay": 0.4},
        ),
        Segment(
            "wine",
            wine_catalog,
            PriceProcess(daily_sales=22, market_step=0.002, item_step=0.003, sale_noise=0.06),
            {"Vivino": 1.0},
        ),
    ),
}
"""The simulated markets of each class; luxury has one per category."""

SIMULATED_COLLECTIBLE_CLASSES: tuple[str, ...] = tuple(SEGMENTS)


def simulate_collectible_sales(asset_class: str, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """SIMULATED sales of `asset_class` ("yugioh", "art" or "luxury") over real reference prices.

    Returns the columns `SIMULATED_SALE_COLUMNS`, sorted by sale date; the same seed always gives
    the same rows.
    """
    segments = _segments(asset_class)
    start, end = SIMULATION_WINDOWS[asset_class]

    frames = [
        simulate_sales(
            _cached_catalog(asset_class, segment.name),
            asset_class,
            start,
            end,
            segment.process,
            segment.venues,
            _segment_seed(seed, segment.name),
        )
        for segment in segments
    ]
    sales = pd.concat(frames, ignore_index=True)

    sales = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    logger.info("%s: simulated %d sales from %s to %s", asset_class, len(sales), start, end)
    return sales


def collectible_catalog(asset_class: str) -> pd.DataFrame:
    """The catalog (all segments) the simulation of `asset_class` draws from; a fresh copy."""
    frames = [_cached_catalog(asset_class, s.name) for s in _segments(asset_class)]
    catalog = pd.concat(frames, ignore_index=True)

    catalog["attributes"] = catalog["attributes"].map(dict)
    return catalog


def _segments(asset_class: str) -> tuple[Segment, ...]:
    if asset_class not in SEGMENTS:
        raise ValueError(
            f"no collectible simulation for {asset_class!r}; expected one of {list(SEGMENTS)}"
        )
    return SEGMENTS[asset_class]


@functools.cache
def _cached_catalog(asset_class: str, segment_name: str) -> pd.DataFrame:
    """Build a segment's catalog once per process; callers must not modify it."""
    segment = next(s for s in SEGMENTS[asset_class] if s.name == segment_name)
    catalog = segment.build_catalog()
    logger.info("%s/%s: catalog of %d rows", asset_class, segment_name, len(catalog))
    return catalog


def _segment_seed(seed: int, segment_name: str) -> int:
    """A seed of its own for each segment, derived from the caller's seed and the name."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(segment_name.encode("utf-8"))])
    return int(sequence.generate_state(1)[0])
