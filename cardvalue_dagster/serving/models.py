"""Each class's promoted valuator, loaded once and reloaded when its `champion` alias moves.

Serving follows the registry alias that the `valuator` asset sets when a version passes its
backtest gate, never simply the newest version. The alias is looked up at most every
`check_seconds` per class, so a request normally costs a clock comparison; a new promotion is
served within that delay, by the first request after it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardvalue_dagster.model_registry import load_valuator, promoted_version

logger = logging.getLogger(__name__)


class RegistryUnavailable(RuntimeError):
    """The model registry could not be read and no model of the class is in memory yet."""

    def __init__(self, asset_class: str, reason: str) -> None:
        super().__init__(f"the model registry could not be read for {asset_class}: {reason}")
        self.asset_class = asset_class


class NoPromotedModel(LookupError):
    """No version of the class's valuator was ever promoted: there is nothing to serve."""

    def __init__(self, asset_class: str) -> None:
        super().__init__(
            f"no promoted valuator for {asset_class}: materialize the `valuator` asset for "
            f"partition `{asset_class}` (its backtest gate promotes the version it trains)"
        )
        self.asset_class = asset_class


@dataclass(frozen=True)
class LoadedModel:
    """A valuator in memory and the registry version it came from."""

    asset_class: str
    version: str
    valuator: Any
    loaded_at: dt.datetime


@dataclass
class _Entry:
    model: LoadedModel | None = None
    checked: float = -float("inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    """The promoted valuator per class, from the MLflow registry at `tracking_uri`.

    `store` is the registry's SQLite file when known: while it does not exist nothing was
    ever promoted, and MLflow is not asked (it would create the store, which takes seconds).
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        store: Path | None = None,
        check_seconds: float = 30.0,
        resolve: Callable[[str, str], str | None] = promoted_version,
        load: Callable[[str, str, str], Any] = load_valuator,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.store = store
        self.check_seconds = check_seconds
        self._resolve = resolve
        self._load = load
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, asset_class: str) -> LoadedModel:
        """The class's promoted valuator; raises NoPromotedModel when there is none."""
        entry = self._entry(asset_class)
        if entry.model is not None and time.monotonic() - entry.checked < self.check_seconds:
            return entry.model

        with entry.lock:
            if time.monotonic() - entry.checked >= self.check_seconds or entry.model is None:
                self._refresh(asset_class, entry)
        if entry.model is None:
            raise NoPromotedModel(asset_class)
        return entry.model

    def loaded(self) -> dict[str, LoadedModel]:
        """The models in memory now, by class (no registry lookup)."""
        return {c: e.model for c, e in self._entries.items() if e.model is not None}

    def _entry(self, asset_class: str) -> _Entry:
        with self._lock:
            return self._entries.setdefault(asset_class, _Entry())

    def _refresh(self, asset_class: str, entry: _Entry) -> None:
        """Follow the class's alias; when the registry cannot be read or the promoted version
        cannot be loaded, keep serving the model already loaded (if there is none, say so)."""
        try:
            self._follow_alias(asset_class, entry)
        except Exception as exc:  # unreachable or locked registry, or a broken version
            logger.exception("%s: could not refresh the promoted valuator", asset_class)
            if entry.model is None:
                raise RegistryUnavailable(asset_class, f"{type(exc).__name__}: {exc}") from exc

    def _follow_alias(self, asset_class: str, entry: _Entry) -> None:
        """Look the alias up; load its version if it moved."""
        version = self._promoted(asset_class)
        entry.checked = time.monotonic()

        if version is None:
            entry.model = None
            return
        if entry.model is not None and entry.model.version == version:
            return
        started = time.perf_counter()
        valuator = self._load(self.tracking_uri, asset_class, version)
        entry.model = LoadedModel(asset_class, version, valuator, dt.datetime.now(dt.UTC))
        logger.info(
            "%s: serving valuator version %s (loaded in %.2f s)",
            asset_class,
            version,
            time.perf_counter() - started,
        )

    def _promoted(self, asset_class: str) -> str | None:
        if self.store is not None and not self.store.exists():
            return None
        return self._resolve(self.tracking_uri, asset_class)
