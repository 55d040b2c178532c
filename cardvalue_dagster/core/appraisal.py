"""Appraising items that have not sold: what a collector knows about a piece, turned into a value.

A query item is valued as a *pseudo-sale* dated on the valuation day (`as_of`): its point-in-time
features come from `build_features` exactly as a real sale's would, from the warehouse's sales of
earlier days (plus the player's statistics and the card's reference price known that day). Its
own price is never a feature of itself, so the pseudo-sale carries a placeholder price.

`item_from_attributes` maps what a person knows (player, set, year, card number, grade; a
sneaker's name and size; a watch's brand and reference, ...) to the `item_id` and `variant` the
landing parsers and simulators give the same piece in `raw_sales`, so a query meets its comps.
A sale record as the warehouse holds it (with `item_id` already set) is accepted as it is.

Nothing here knows of Dagster or HTTP; the serving layer and the CLI call it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import duckdb
import pandas as pd

from cardvalue_dagster.asset_classes import ASSET_CLASSES, HOBBY_GAMES, SPORTS
from cardvalue_dagster.sources.canonical import attributes_json, item_id

logger = logging.getLogger(__name__)

COMPS_WINDOW_DAYS = 30
"""The window of the comparable sales shown with a valuation (the valuator's reference)."""

CLASS_WINDOW_DAYS = 30
"""The class window of `build_features` (`class_med_30d`, `class_n_30d`)."""

QUERY_PRICE = 1.0
"""Placeholder price of a pseudo-sale; features never read a sale's own price."""

QUERY_ID_PREFIX = "appraisal-"

SALE_FIELDS: tuple[str, ...] = (
    "sale_id",
    "asset_class",
    "item_id",
    "variant",
    "sale_date",
    "price_usd",
    "venue",
    "grade",
    "grading_company",
    "condition",
    "attributes",
    "is_simulated",
)
"""The raw_sales columns `build_features` reads."""

ITEM_FACTS: tuple[str, ...] = (
    "brand",
    "retail_price_usd",
    "release_date",
    "year",
    "rookie",
    "player_id",
)
"""Attributes that belong to the item, not to one sale, and that features read.

A query that leaves them out (a collector rarely knows a card's player_id or a shoe's retail
price) gets them from the item's latest earlier sale, so it is valued like a sale of the same
item would be. Per-sale attributes (a StockX buyer's region) are never borrowed.
"""

SEASONS_ACROSS_YEARS = frozenset({"nba", "nhl", "soccer"})
"""Sports whose product lines are labelled by a season spanning two years ('2017-18')."""

SIMULATED_SPORTS = ("nba", "nfl", "nhl", "soccer", "ufc")
PSA_GAMES = ("mtg", "pokemon")


class UnknownItemError(ValueError):
    """The attributes do not identify an item of the class; `field` names what is missing."""

    def __init__(self, asset_class: str, field: str, needs: str) -> None:
        super().__init__(f"cannot identify a {asset_class} item: missing '{field}' (needs {needs})")
        self.asset_class = asset_class
        self.field = field


# --------------------------------------------------------------------------------------------
# From what a person knows to the warehouse's identity of the item


def item_from_attributes(asset_class: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical sale-like row (no date, no price) for the item `attributes` describe.

    Returns asset_class, item_id, item_name, variant, venue, grade, grading_company, condition
    and attributes (JSON text). `attributes` is either a sale record (it has `item_id`; its
    variant, grade, ... are kept) or the class's user-known fields, see `_BUILDERS`. Raises
    UnknownItemError naming the first missing field, ValueError for an unknown class or a field
    that cannot be read.
    """
    if asset_class not in ASSET_CLASSES:
        raise ValueError(f"unknown asset class {asset_class!r}; expected one of {ASSET_CLASSES}")
    given = {str(k): v for k, v in attributes.items() if not _missing(v)}

    if "item_id" in given:
        return _from_sale_record(asset_class, given)
    return _BUILDERS[_builder_key(asset_class)](asset_class, given)


def _from_sale_record(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """A record that already names its item: keep its identity, normalise its extras."""
    identity = str(given["item_id"]).strip()
    if not identity.startswith(f"{asset_class}:") or identity == f"{asset_class}:":
        raise ValueError(f"item_id: {identity!r} is not a {asset_class} item ('{asset_class}:...')")

    extras = given.get("attributes", {})
    if isinstance(extras, str):
        extras = _json_object(extras, "attributes")
    if not isinstance(extras, Mapping):
        raise ValueError("attributes: must be a JSON object")
    return _row(
        asset_class,
        identity,
        str(given.get("variant") or ""),
        name=given.get("item_name"),
        venue=given.get("venue"),
        grade=_number(given, "grade") if "grade" in given else None,
        grading_company=given.get("grading_company"),
        condition=given.get("condition"),
        attributes=dict(extras),
    )


def _sneaker(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """StockX: the model name (any spelling that slugs alike) and the size make the variant."""
    needs = "sneaker_name and size, or item_id"
    name = _required(asset_class, given, ("sneaker_name", "name", "item_name"), needs)
    size = _number(given, _key(given, ("size", "shoe_size")) or _fail(asset_class, "size", needs))
    attributes = {
        "brand": given.get("brand"),
        "size": size,
        "retail_price_usd": _optional_number(given, "retail_price_usd"),
        "release_date": _optional_day(given, "release_date"),
        "buyer_region": given.get("buyer_region"),
    }
    return _row(
        asset_class,
        item_id(asset_class, str(name).lower()),
        f"size {size:g}",
        name=name,
        venue=given.get("venue", "StockX"),
        condition=given.get("condition", "new"),
        attributes=attributes,
    )


def _ebay_card(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """130point eBay titles: player, year and set; a graded card's variant is 'PSA 10'."""
    needs = "player_name, year and set, or item_id"
    player = _required(asset_class, given, ("player_name", "player"), needs)
    year = _year(asset_class, given, needs)
    card_set = str(_required(asset_class, given, ("set", "set_name"), needs)).strip().lower()
    grade, company = _grading(given)
    variant = f"{company} {grade:g}" if company and grade is not None else ""
    title = f"{player}_{year} {card_set}" + (f" {variant.lower()}" if variant else "")
    attributes = {"player_name": player, "year": int(year), "set": card_set, "card_title": title}
    return _row(
        asset_class,
        item_id(asset_class, player, year, card_set),
        variant,
        name=f"{player} {year} {card_set.title()}",
        venue=given.get("venue", "eBay"),
        grade=grade if company else None,
        grading_company=company,
        condition=given.get("condition"),
        attributes=attributes,
    )


def _simulated_card(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """Simulated sports cards: season label, set, player and card number; raw or 'PSA 9'."""
    needs = "player_name, year (or season), set and card_number, or item_id"
    player = _required(asset_class, given, ("player_name", "player"), needs)
    season = _season(asset_class, given, needs)
    card_set = _required(asset_class, given, ("set", "set_name"), needs)
    number = _required(asset_class, given, ("card_number", "number"), needs)
    number = int(_number({"card_number": number}, "card_number"))
    grade, company = _grading(given)
    graded = grade is not None
    attributes = {
        "player_name": player,
        "player_id": given.get("player_id"),
        "year": int(season[:4]),
        "set": card_set,
        "card_number": number,
        "rookie": given.get("rookie"),
    }
    return _row(
        asset_class,
        item_id(asset_class, season, card_set, player, number),
        f"{company or 'PSA'} {grade:g}" if graded else "raw",
        name=f"{season} {card_set} {player} #{number}",
        venue=given.get("venue", "eBay"),
        grade=grade,
        grading_company=(company or "PSA") if graded else None,
        condition=given.get("condition", None if graded else "raw"),
        attributes=attributes,
    )


def _psa_card(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """PSA auction prices realized: set and card (slugged alike); variant 'PSA 9 [qualifier]'."""
    needs = "set and card, or item_id"
    card_set = _required(asset_class, given, ("set", "set_slug", "set_name"), needs)
    card = _required(asset_class, given, ("card", "card_slug", "card_name"), needs)
    grade_text = str(given.get("grade", "")).strip()
    qualifier = given.get("qualifier")
    label: str | None
    if grade_text.lower() == "authentic":
        grade, label = None, "Authentic"
    else:
        grade = _optional_number(given, "grade")
        label = None if grade is None else f"{grade:g}"
    variant = "" if label is None else f"PSA {label}" + (f" {qualifier}" if qualifier else "")
    set_slug, card_slug = item_id("x", card_set)[2:], item_id("x", card)[2:]
    attributes = {"set_slug": set_slug, "card_slug": card_slug, "qualifier": qualifier}
    return _row(
        asset_class,
        item_id(asset_class, set_slug, card_slug),
        variant,
        name=f"{card_set} {card}",
        venue=given.get("venue", "eBay"),
        grade=grade,
        grading_company="PSA" if label is not None else None,
        condition=given.get("condition"),
        attributes=attributes,
    )


def _yugioh(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """A printing (card, set code, rarity); raw near mint, or 'psa 9' / 'psa 10'."""
    needs = "card_name, set_code and rarity, or item_id"
    card = _required(asset_class, given, ("card_name", "card", "name"), needs)
    set_code = _required(asset_class, given, ("set_code",), needs)
    rarity = _required(asset_class, given, ("rarity",), needs)
    grade, company = _grading(given)
    graded = grade is not None
    attributes = {"card_name": card, "set_code": set_code, "rarity": rarity}
    return _row(
        asset_class,
        item_id(asset_class, card, set_code, rarity),
        f"{(company or 'PSA').lower()} {grade:g}" if graded else "raw near mint",
        name=f"{card} ({set_code}, {rarity})",
        venue=given.get("venue", "TCGplayer"),
        grade=grade,
        grading_company=(company or "PSA") if graded else None,
        condition=given.get("condition", None if graded else "near mint"),
        attributes=attributes,
    )


def _art(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """An artwork by artist and title; the catalog's row number tells editions apart."""
    needs = "artist and title, or item_id"
    artist = _required(asset_class, given, ("artist",), needs)
    title = given.get("title") or "Untitled"
    row = given.get("source_row")
    parts = (artist, title) if row is None else (artist, title, "row", int(row))
    attributes = {k: given.get(k) for k in ("artist", "title", "year_created", "condition")}
    return _row(
        asset_class,
        item_id(asset_class, *parts),
        "",
        name=f"{artist}, {title}",
        venue=given.get("venue", "Christie's"),
        condition=given.get("condition"),
        attributes=attributes,
    )


_LUXURY_KEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "watch": (("brand", "reference"), "condition"),
    "handbag": (("brand", "type", "leather", "color"), "year"),
    "wine": (("winery", "wine", "region"), "vintage"),
}
"""Per luxury category: the fields that name the item, and the one that makes the variant."""


def _luxury(asset_class: str, given: dict[str, Any]) -> dict[str, Any]:
    """Watches (brand, reference; condition), handbags (..., year) and wines (..., vintage)."""
    needs = "category (watch, handbag or wine) and its fields, or item_id"
    category = str(_required(asset_class, given, ("category",), needs)).strip().lower()
    if category not in _LUXURY_KEYS:
        raise ValueError(f"category: {category!r} is not one of {sorted(_LUXURY_KEYS)}")
    keys, variant_key = _LUXURY_KEYS[category]
    needs = f"{', '.join(keys)} for a {category}, or item_id"
    parts = [_required(asset_class, given, (key,), needs) for key in keys]
    variant = str(given.get(variant_key, "") if variant_key else "").strip()
    if category == "wine" and not variant:
        variant = "N.V."
    attributes = {"category": category, **{k: given.get(k) for k in keys}}
    return _row(
        asset_class,
        item_id(asset_class, category, *parts),
        variant,
        name=" ".join(str(p) for p in parts),
        venue=given.get("venue"),
        condition=variant if category == "watch" and variant else given.get("condition"),
        attributes=attributes,
    )


_BUILDERS = {
    "sneakers": _sneaker,
    "mlb": _ebay_card,
    "simulated_sports": _simulated_card,
    "psa_games": _psa_card,
    "yugioh": _yugioh,
    "art": _art,
    "luxury": _luxury,
}


def _builder_key(asset_class: str) -> str:
    if asset_class in SIMULATED_SPORTS:
        return "simulated_sports"
    if asset_class in PSA_GAMES:
        return "psa_games"
    return asset_class


def _row(
    asset_class: str,
    identity: str,
    variant: str,
    *,
    name: Any = None,
    venue: Any = None,
    grade: float | None = None,
    grading_company: Any = None,
    condition: Any = None,
    attributes: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "asset_class": asset_class,
        "item_id": identity,
        "item_name": None if name is None else str(name),
        "variant": variant,
        "venue": None if venue is None else str(venue),
        "grade": grade,
        "grading_company": None if grading_company is None else str(grading_company),
        "condition": None if condition is None else str(condition),
        "attributes": attributes_json(attributes),
    }


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or _is_nan(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _key(given: Mapping[str, Any], names: Sequence[str]) -> str | None:
    return next((name for name in names if name in given), None)


def _fail(asset_class: str, field: str, needs: str) -> NoReturn:
    raise UnknownItemError(asset_class, field, needs)


def _required(asset_class: str, given: Mapping[str, Any], names: Sequence[str], needs: str) -> Any:
    """The value under the first of `names` present; UnknownItemError naming `names[0]` if none."""
    key = _key(given, names)
    if key is None:
        _fail(asset_class, names[0], needs)
    value = given[key]
    return value.strip() if isinstance(value, str) else value


def _number(given: Mapping[str, Any], key: str) -> float:
    value = given[key]
    try:
        number = float(str(value).strip().replace(",", "").lstrip("$"))
    except ValueError as exc:
        raise ValueError(f"{key}: cannot read {value!r} as a number") from exc
    if not math.isfinite(number):
        raise ValueError(f"{key}: {value!r} is not a finite number")
    return number


def _optional_number(given: Mapping[str, Any], key: str) -> float | None:
    return _number(given, key) if key in given else None


DAY_RANGE = (dt.date(1800, 1, 1), dt.date(2200, 12, 31))
"""Days an item fact (a release date) may take: anything else is a typo, not a collectible.
The last one also bounds a valuation day (pandas cannot hold days past 2262)."""


def _optional_day(given: Mapping[str, Any], key: str) -> str | None:
    if key not in given:
        return None
    try:
        day = pd.Timestamp(str(given[key])).date()
    except (ValueError, NotImplementedError, OverflowError) as exc:
        # pandas reads "-1000" as year -1000, then cannot make it a date (NotImplementedError)
        raise ValueError(f"{key}: cannot read {given[key]!r} as a date") from exc
    if not DAY_RANGE[0] <= day <= DAY_RANGE[1]:
        raise ValueError(f"{key}: {day} is outside {DAY_RANGE[0]}..{DAY_RANGE[1]}")
    return day.isoformat()


def _year(asset_class: str, given: Mapping[str, Any], needs: str) -> str:
    key = _key(given, ("year",)) or _fail(asset_class, "year", needs)
    return str(int(_number(given, key)))


def _season(asset_class: str, given: Mapping[str, Any], needs: str) -> str:
    """'2017-18' for sports whose seasons span two years, the plain year otherwise."""
    if "season" in given:
        return str(given["season"]).strip()
    text = str(given.get("year", "")).strip()
    if "-" in text:
        return text
    year = int(_number(given, _key(given, ("year",)) or _fail(asset_class, "year", needs)))
    return f"{year}-{(year + 1) % 100:02d}" if asset_class in SEASONS_ACROSS_YEARS else str(year)


def _grading(given: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """(grade, grading company); a grade without a company is a PSA grade."""
    grade = _optional_number(given, "grade")
    company = given.get("grading_company")
    company = None if company is None else str(company).strip().upper()
    if grade is None:
        return None, company
    return grade, company or "PSA"


def _json_object(text: str, field: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{field}: not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{field}: must be a JSON object")
    return value


# --------------------------------------------------------------------------------------------
# The queries a known item is likely to be asked by


def valuation_key(row: Mapping[str, Any]) -> str:
    """What a row of `item_from_attributes` contributes to its valuation, as text.

    Everything but `item_name`: features read the identity, venue, grade, grading company,
    condition and attributes, never the name, so two spellings of one item share a key.
    """
    return json.dumps({k: v for k, v in row.items() if k != "item_name"}, sort_keys=True)


def known_item_rows(asset_class: str, sale: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows a query about the item+variant of `sale` (a raw_sales record) is likely to map to.

    Three forms, distinct by `valuation_key`: its identity alone (`item_id` and `variant`), the
    sale record itself (what /latest-sales returns), and what a collector types (see
    `_collector_fields`) when it maps back to the same item+variant.
    """
    identity = {"item_id": sale["item_id"], "variant": sale.get("variant") or ""}
    record = {k: sale.get(k) for k in (*SALE_FIELDS, "item_name") if k != "sale_id"}
    forms = [identity, record]
    typed = _collector_fields(asset_class, sale)
    if typed is not None:
        forms.append(typed)

    rows: dict[str, dict[str, Any]] = {}
    for form in forms:
        try:
            row = item_from_attributes(asset_class, form)
        except ValueError:  # UnknownItemError too: a sale that lacks a field a collector types
            continue
        if (row["item_id"], row["variant"]) == (identity["item_id"], identity["variant"]):
            rows.setdefault(valuation_key(row), row)
    return list(rows.values())


def _collector_fields(asset_class: str, sale: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields a collector types for the item of `sale` (the class's `_BUILDERS` inputs)."""
    known = json.loads(sale.get("attributes") or "{}")
    grade = sale.get("grade")
    graded = {} if grade is None or _is_nan(grade) else {"grade": grade}
    key = _builder_key(asset_class)
    if key == "sneakers":
        return {"sneaker_name": sale.get("item_name"), "size": known.get("size")}
    if key == "mlb":
        company = {"grading_company": sale.get("grading_company")} if graded else {}
        return {k: known.get(k) for k in ("player_name", "year", "set")} | graded | company
    if key == "simulated_sports":
        fields = ("player_name", "year", "set", "card_number")
        return {k: known.get(k) for k in fields} | graded
    if key == "yugioh":
        return {k: known.get(k) for k in ("card_name", "set_code", "rarity")} | graded
    return None


# --------------------------------------------------------------------------------------------
# Valuing pseudo-sales


def appraise(
    valuator: Any,
    con: duckdb.DuckDBPyConnection,
    asset_class: str,
    items: Sequence[Mapping[str, Any]],
    as_of: dt.date,
    reasons: bool = False,
    top: int = 5,
    *,
    coverage: float = 0.9,
    class_figures: tuple[float | None, int] | None = None,
) -> list[dict[str, Any]]:
    """Value each item as a sale on `as_of`, from what `con`'s warehouse knew before that day.

    `con` holds `raw_sales` (and, where they exist, `sports_stats` and `hobby_prices`) in the
    warehouse layouts, as tables or views: the features are computed on a cursor of `con`,
    which does not see pandas frames registered on `con` itself. Each item is a row of
    `item_from_attributes` or anything it accepts.
    Returns one dict per item, in order: its identity, `value`, `lower`, `upper` (the
    `coverage` interval, lower <= value <= upper) and `confidence`; with `reasons`, also the
    `top` feature contributions in USD and the comparable sales the comps were built from.
    `class_figures` is a cached `class_window(con, asset_class, as_of)`.
    """
    rows = [item_from_attributes(asset_class, item) for item in items]
    if not rows:
        return []
    rows = with_known_facts(con, rows, as_of)

    features = query_features(con, asset_class, rows, as_of, class_figures)
    predicted = valuator.predict(features, coverage)
    results = [_result(row, predicted.iloc[n], as_of, coverage) for n, row in enumerate(rows)]

    if reasons:
        _add_reasons(results, valuator, features, top)
        for result, row in zip(results, rows, strict=True):
            level = result["reasons"][0].get("level") if result["reasons"] else None
            result.update(comparable_sales(con, row, as_of, level))
    return results


def with_known_facts(
    con: duckdb.DuckDBPyConnection, rows: Sequence[Mapping[str, Any]], as_of: dt.date
) -> list[dict[str, Any]]:
    """`rows` with the ITEM_FACTS they lack taken from their item's latest sale before `as_of`.

    What the query gives wins; an item with no earlier sale is left as it is. Without this, a
    card asked for by player, year, set and number alone would have no player statistics and
    be valued as if its player were unknown.
    """
    recorded = _latest_attributes(con, rows, as_of)
    filled: list[dict[str, Any]] = []
    for row in rows:
        known = recorded.get(row["item_id"])
        if not known:
            filled.append(dict(row))
            continue
        given = json.loads(row.get("attributes") or "{}")
        borrowed = {k: known[k] for k in ITEM_FACTS if k in known and k not in given}
        filled.append({**row, "attributes": attributes_json({**given, **borrowed})})
    return filled


def _latest_attributes(
    con: duckdb.DuckDBPyConnection, rows: Sequence[Mapping[str, Any]], as_of: dt.date
) -> dict[str, dict[str, Any]]:
    """The attributes of each queried item's latest sale before `as_of`, by item_id."""
    if not _exists(con, "raw_sales"):
        return {}
    items = sorted({row["item_id"] for row in rows})
    found = con.execute(
        "SELECT item_id, arg_max(CAST(attributes AS VARCHAR), sale_date) FROM raw_sales "
        "WHERE asset_class = ? AND item_id IN (SELECT unnest(?::VARCHAR[])) AND sale_date < ? "
        "GROUP BY item_id",
        [rows[0]["asset_class"], items, as_of],
    ).fetchall()
    return {identity: json.loads(text) for identity, text in found if text}


def query_features(
    con: duckdb.DuckDBPyConnection,
    asset_class: str,
    rows: Sequence[Mapping[str, Any]],
    as_of: dt.date,
    class_figures: tuple[float | None, int] | None = None,
) -> pd.DataFrame:
    """Point-in-time features of `rows` as pseudo-sales on `as_of`, in the order of `rows`.

    The same values `build_features` gives a sale of `as_of` in the whole warehouse, computed
    from much less: the queried items' own earlier sales (every item and item+variant window
    reads only its item) plus the pseudo-sales, with the class window taken apart from
    `class_window` (or `class_figures`, a cached result of it). Sales of `as_of` itself and
    later are left out: they are unknown on the valuation day.
    """
    from cardvalue_dagster.core.features import build_features

    tag = uuid.uuid4().hex[:8]
    queries, combined = f"_cv_query_{tag}", f"_cv_sales_{tag}"
    sports = asset_class in SPORTS and _exists(con, "sports_stats")
    games = asset_class in HOBBY_GAMES and _exists(con, "hobby_prices")
    # A cursor of its own: its temporary objects vanish with it, and it has no pending result.
    with con.cursor() as cursor:
        cursor.register(queries, pseudo_sales(rows, as_of))
        sql = _combined_sql(cursor, queries, asset_class, as_of)
        cursor.execute(f"CREATE TEMP VIEW {combined} AS {sql}")
        features = build_features(
            cursor,
            combined,
            days=[as_of],
            asset_classes=[asset_class],
            stats="sports_stats" if sports else None,
            prices="hobby_prices" if games else None,
        )

    features = features[features["sale_id"].str.startswith(QUERY_ID_PREFIX)]
    order = features["sale_id"].str.slice(len(QUERY_ID_PREFIX)).astype(int)
    features = features.iloc[order.argsort().to_numpy()].reset_index(drop=True)

    median, count = class_figures or class_window(con, asset_class, as_of)
    features["class_med_30d"] = math.nan if median is None else median
    features["class_n_30d"] = float(count)
    return features


def pseudo_sales(rows: Sequence[Mapping[str, Any]], as_of: dt.date) -> pd.DataFrame:
    """The query rows as sales on `as_of` with the placeholder price, in SALE_FIELDS."""
    frame = pd.DataFrame(
        {
            "sale_id": [f"{QUERY_ID_PREFIX}{n:06d}" for n in range(len(rows))],
            "asset_class": [r["asset_class"] for r in rows],
            "item_id": [r["item_id"] for r in rows],
            "variant": [r.get("variant") or "" for r in rows],
            "sale_date": pd.Series([pd.Timestamp(as_of)] * len(rows), dtype="datetime64[ns]"),
            "price_usd": QUERY_PRICE,
            "venue": pd.Series([r.get("venue") for r in rows], dtype=object),
            "grade": pd.Series([r.get("grade") for r in rows], dtype=float),
            "grading_company": pd.Series([r.get("grading_company") for r in rows], dtype=object),
            "condition": pd.Series([r.get("condition") for r in rows], dtype=object),
            "attributes": [r.get("attributes") or "{}" for r in rows],
            "is_simulated": False,
        }
    )
    return frame[list(SALE_FIELDS)]


def _combined_sql(
    con: duckdb.DuckDBPyConnection, queries: str, asset_class: str, as_of: dt.date
) -> str:
    """The class's earlier sales (if the table exists) and the pseudo-sales, typed alike.

    Views take no parameters: the class is one of ASSET_CLASSES (checked) and the day a date,
    so both are inlined as literals.
    """
    select = (
        "SELECT sale_id, asset_class, item_id, coalesce(variant, '') AS variant, "
        "CAST(sale_date AS DATE) AS sale_date, CAST(price_usd AS DOUBLE) AS price_usd, venue, "
        "CAST(grade AS DOUBLE) AS grade, grading_company, condition, "
        "CAST(attributes AS VARCHAR) AS attributes, is_simulated FROM {table}"
    )
    if asset_class not in ASSET_CLASSES:
        raise ValueError(f"unknown asset class {asset_class!r}")
    query = select.format(table=queries)
    if not _exists(con, "raw_sales"):
        return query
    history = select.format(table="raw_sales") + (
        f" WHERE asset_class = '{asset_class}' AND sale_date < DATE '{as_of.isoformat()}'"
        f" AND item_id IN (SELECT item_id FROM {queries})"
    )
    return f"{history} UNION ALL {query}"


def class_window(
    con: duckdb.DuckDBPyConnection, asset_class: str, as_of: dt.date
) -> tuple[float | None, int]:
    """The class's median price and sale count over the 30 days before `as_of`.

    The same figures as `build_features`' class window (the median taken in log space over
    the days [as_of - 30, as_of - 1]); computed apart so that the query's features need only
    the queried items' own sales, not the whole class's year.
    """
    if not _exists(con, "raw_sales"):
        return None, 0
    found = con.execute(
        "SELECT exp(quantile_cont(ln(price_usd), 0.5)), count(*) FROM raw_sales "
        "WHERE asset_class = ? AND price_usd > 0 AND sale_date >= ? AND sale_date < ?",
        [asset_class, as_of - dt.timedelta(days=CLASS_WINDOW_DAYS), as_of],
    ).fetchone()
    median, count = found if found else (None, 0)
    return (None if median is None else float(median)), int(count or 0)


def _exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether `relation` (a table, a view or a registered frame) can be read in `con`."""
    try:
        con.execute(f"SELECT 1 FROM {relation} LIMIT 0").fetchall()
    except duckdb.CatalogException:
        return False
    return True


def _result(row: Mapping[str, Any], predicted: pd.Series, as_of: dt.date, coverage: float) -> dict:
    value = float(predicted["value"])
    return {
        "asset_class": row["asset_class"],
        "item_id": row["item_id"],
        "variant": row["variant"],
        "as_of": as_of.isoformat(),
        "value": value,
        "lower": min(float(predicted["lower"]), value),
        "upper": max(float(predicted["upper"]), value),
        "confidence": str(predicted["confidence"]),
        "coverage": coverage,
    }


def _add_reasons(results: list[dict], valuator: Any, features: pd.DataFrame, top: int) -> None:
    """Each result's `reasons`: the top feature contributions to its value, in USD."""
    from cardvalue_dagster.core.explain import top_contributions

    for result, contributions in zip(
        results, top_contributions(valuator, features, top=top), strict=True
    ):
        result["reasons"] = [_plain(c) for c in contributions]


def _plain(contribution: Mapping[str, Any]) -> dict[str, Any]:
    """A contribution with JSON-safe values (NaN and numpy scalars become plain Python)."""
    out: dict[str, Any] = {}
    for key, value in contribution.items():
        if hasattr(value, "item"):
            value = value.item()
        out[key] = None if _is_nan(value) else value
    return out


COMPARABLES_BY_LEVEL: dict[str, tuple[str, int | None]] = {
    "iv_30d": ("item+variant", COMPS_WINDOW_DAYS),
    "item_30d_adjusted": ("item", COMPS_WINDOW_DAYS),
    "iv_365d": ("item+variant", 365),
    "item_365d_adjusted": ("item", 365),
    "iv_last": ("item+variant", None),
    "item_last": ("item", None),
}
"""Per reference level (`core.valuator.REFERENCE_LEVELS`): whose sales it was built from and
over how many days before the valuation day (None: the latest earlier day with a sale). The
class levels are built from no sales of the item."""


def comparable_sales(
    con: duckdb.DuckDBPyConnection,
    row: Mapping[str, Any],
    as_of: dt.date,
    reference_level: str | None = None,
) -> dict[str, Any]:
    """The sales the valuation's reference came from, newest first; `comparable_level` says
    whose they are (item+variant, item, or class when none of the item's sales were used).

    `reference_level` is the level the value was anchored on (the `level` of its reference
    reason): its window and its item or item+variant scope pick the sales. Without it, the
    item+variant's sales of the 30 days before `as_of`, else the item's.
    """
    if not _exists(con, "raw_sales"):
        return {"comparable_level": None, "comparable_sales": []}
    if reference_level is not None and reference_level not in COMPARABLES_BY_LEVEL:
        return {"comparable_level": "class", "comparable_sales": []}

    scope, days = COMPARABLES_BY_LEVEL.get(reference_level or "", (None, COMPS_WINDOW_DAYS))
    sales = _item_sales_before(con, row, as_of, days)
    same_variant = [s for s in sales if s[3] == (row.get("variant") or "")]
    if scope == "item" or (scope is None and not same_variant):
        level, chosen = "item", sales
    else:
        level, chosen = "item+variant", same_variant
    if days is None and chosen:
        chosen = [s for s in chosen if s[0] == chosen[0][0]]  # the latest day only
    return {
        "comparable_level": level if chosen else None,
        "comparable_sales": [
            {"date": d.isoformat(), "price_usd": float(p), "venue": v, "variant": var}
            for d, p, v, var in chosen
        ],
    }


def _item_sales_before(
    con: duckdb.DuckDBPyConnection, row: Mapping[str, Any], as_of: dt.date, days: int | None
) -> list[tuple[Any, ...]]:
    """(day, price, venue, variant) of the item's sales in the `days` before `as_of` (all
    earlier sales if None), newest first."""
    window = "" if days is None else "AND sale_date >= ? "
    start = [] if days is None else [as_of - dt.timedelta(days=days)]
    return con.execute(
        "SELECT CAST(sale_date AS DATE) AS sale_date, price_usd, venue, "
        "coalesce(variant, '') AS variant FROM raw_sales "
        f"WHERE asset_class = ? AND item_id = ? AND sale_date < ? {window}"
        "ORDER BY sale_date DESC, price_usd",
        [row["asset_class"], row["item_id"], as_of, *start],
    ).fetchall()
