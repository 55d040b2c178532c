"""The Appraiser: values items with each class's promoted valuator against the warehouse.

Shared by the HTTP app and `cardvalue value`. Per request it groups the items by class, takes the
class's promoted model (`ModelCache`) and warehouse snapshot (`SnapshotCache`), and calls
`core.appraisal.appraise`. Plain valuations are memoised: the same item, day and coverage under
the same model version and warehouse version always give the same answer, so a repeated query
costs a dictionary lookup; either version moving makes new keys, and old ones age out. With
`precompute`, the valuations of every known item+variant on the class's default day are built
in the background once per snapshot and model (`known`), so a first query about a known item
is a lookup too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cardvalue_dagster.core.appraisal import (
    UnknownItemError,
    appraise,
    item_from_attributes,
    valuation_key,
)
from cardvalue_dagster.home import Home
from cardvalue_dagster.serving.known import KnownCache, KnownValuations
from cardvalue_dagster.serving.models import LoadedModel, ModelCache
from cardvalue_dagster.serving.snapshots import Snapshot, SnapshotCache
from cardvalue_dagster.tracking import tracking_uri

logger = logging.getLogger(__name__)

CACHE_ITEMS = 20_000
"""Valuations kept in memory for repeated queries (a few hundred bytes each)."""


class InvalidItem(ValueError):
    """An item that cannot be valued as given; `position` and `field` say where."""

    def __init__(self, position: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.field = field
        self.in_batch = True
        """False when the request named one item (`attributes`), not a list of `items`."""


@dataclass(frozen=True)
class Query:
    """One item to value: its class and its attributes as the caller gave them."""

    asset_class: str
    attributes: Mapping[str, Any]


class Appraiser:
    """Values items of any class from the promoted valuators and the warehouse of `home`.

    `precompute` (the server's choice; a one-off CLI call would not live to use it) turns on
    the background valuation of every known item+variant per snapshot and model.
    """

    def __init__(
        self, home: Home, *, check_seconds: float = 30.0, precompute: bool = False
    ) -> None:
        self.home = home
        self.models = ModelCache(
            tracking_uri(home), store=home.mlflow / "mlflow.db", check_seconds=check_seconds
        )
        self.snapshots = SnapshotCache(home.warehouse)
        self.known = KnownCache() if precompute else None
        self._memo: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._memo_lock = threading.Lock()

    def warm_up(self, asset_classes: Sequence[str]) -> dict[str, str]:
        """Load each class's promoted valuator now and start precomputing its known items.

        Returns the loaded version per class. A class without a promoted model, or whose
        registry or warehouse cannot be read yet, is skipped with a log line: the first
        request about it tries again and answers with the reason.
        """
        from cardvalue_dagster.serving.models import NoPromotedModel, RegistryUnavailable
        from cardvalue_dagster.serving.snapshots import WarehouseBusy, WarehouseMissing

        loaded: dict[str, str] = {}
        for asset_class in asset_classes:
            try:
                model = self.models.get(asset_class)
                if self.known is not None:
                    self.known.get(model, self.snapshots.get(asset_class))
            except (NoPromotedModel, RegistryUnavailable, WarehouseBusy, WarehouseMissing) as exc:
                logger.info("%s: not warmed up (%s)", asset_class, type(exc).__name__)
                continue
            loaded[asset_class] = model.version
        return loaded

    def value(
        self,
        queries: Sequence[Query],
        *,
        as_of: dt.date | None = None,
        coverage: float = 0.9,
        reasons: bool = False,
        top: int = 5,
    ) -> list[dict[str, Any]]:
        """One valuation per query, in order (see `core.appraisal.appraise` for the fields).

        Raises InvalidItem for an item that cannot be identified, NoPromotedModel,
        RegistryUnavailable, WarehouseBusy or WarehouseMissing when a class cannot be served.
        """
        rows = [_identify(n, q) for n, q in enumerate(queries)]
        by_class: dict[str, list[int]] = defaultdict(list)
        for position, row in enumerate(rows):
            by_class[row["asset_class"]].append(position)

        results: list[dict[str, Any] | None] = [None] * len(rows)
        for asset_class, positions in by_class.items():
            valued = self._value_class(
                asset_class, [rows[p] for p in positions], as_of, coverage, reasons, top
            )
            for position, result in zip(positions, valued, strict=True):
                _check_finite(position, result)
                results[position] = result
        return [r for r in results if r is not None]

    def _value_class(
        self,
        asset_class: str,
        rows: list[dict[str, Any]],
        as_of: dt.date | None,
        coverage: float,
        reasons: bool,
        top: int,
    ) -> list[dict[str, Any]]:
        """Values one class's items: memoised ones looked up, the others appraised together."""
        model = self.models.get(asset_class)
        snapshot = self.snapshots.get(asset_class)
        day = as_of or snapshot.default_as_of
        context = (model.version, snapshot.version, day, coverage)
        keys = [(*context, json.dumps(row, sort_keys=True)) for row in rows]

        known = None if reasons else self._known(model, snapshot, day, coverage)
        found = [
            None if reasons else self._recall(key, row, known)
            for key, row in zip(keys, rows, strict=True)
        ]
        missing = [n for n, result in enumerate(found) if result is None]
        if missing:
            with snapshot.cursor() as cursor:
                fresh = appraise(
                    model.valuator,
                    cursor,
                    asset_class,
                    [rows[n] for n in missing],
                    day,
                    reasons,
                    top,
                    coverage=coverage,
                    class_figures=snapshot.class_figures(day),
                )
            for n, result in zip(missing, fresh, strict=True):
                result["model_version"] = model.version
                found[n] = result
                if not reasons:
                    self._remember(keys[n], result)
        return [dict(result) for result in found if result is not None]

    def prepare(self, asset_class: str) -> KnownValuations:
        """Precompute the class's known valuations now, in this thread (and turn them on)."""
        if self.known is None:
            self.known = KnownCache()
        return self.known.prepare(self.models.get(asset_class), self.snapshots.get(asset_class))

    def _known(
        self, model: LoadedModel, snapshot: Snapshot, day: dt.date, coverage: float
    ) -> KnownValuations | None:
        """The precomputed valuations that answer this day and coverage, if built yet."""
        if self.known is None:
            return None
        known = self.known.get(model, snapshot)
        if known is None or (known.as_of, known.coverage) != (day, coverage):
            return None
        return known

    def _recall(
        self, key: tuple, row: dict[str, Any], known: KnownValuations | None
    ) -> dict[str, Any] | None:
        """A precomputed valuation of the row, else a memoised one, else None."""
        if known is not None:
            result = known.results.get(valuation_key(row))
            if result is not None:
                return result
        with self._memo_lock:
            result = self._memo.get(key)
            if result is not None:
                self._memo.move_to_end(key)
            return result

    def _remember(self, key: tuple, result: dict[str, Any]) -> None:
        with self._memo_lock:
            self._memo[key] = result
            while len(self._memo) > CACHE_ITEMS:
                self._memo.popitem(last=False)


def _identify(position: int, query: Query) -> dict[str, Any]:
    """The canonical row of one query, or InvalidItem saying which field is wrong."""
    try:
        return item_from_attributes(query.asset_class, query.attributes)
    except UnknownItemError as exc:
        raise InvalidItem(position, exc.field, str(exc)) from exc
    except (ValueError, TypeError, OverflowError) as exc:
        head = str(exc).split(":", 1)[0]
        raise InvalidItem(position, head if head.isidentifier() else None, str(exc)) from exc


def _check_finite(position: int, result: Mapping[str, Any]) -> None:
    """A value or bound that is not a finite number means the item cannot be valued."""
    for name in ("value", "lower", "upper"):
        if not math.isfinite(result[name]):
            raise InvalidItem(position, None, f"the valuator gave no finite {name} for this item")
