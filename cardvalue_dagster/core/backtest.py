"""Walk-forward backtest of the valuator against recent comps and the prototype forest.

The only honest test of a valuation is the next sale: train on earlier sales, value the later
ones, day by day, exactly as the platform would have. Random row splits leak (a sale's
neighbours of the same day and size end up in training) and are never used here.

Cadence: for each test day d in date order, every method sees only sales with `sale_date < d`
(history plus the earlier test days, which count as known). Features are point-in-time by
construction (`build_features`), so they are computed once for history + test in an in-memory
DuckDB, which spills what does not fit in memory under `spill_directory` (by default a fresh
folder under the system's temporary directory, removed afterwards; never the working
directory, where an in-memory DuckDB would put its `.tmp`). The valuator and the forest are
refitted on all known sales on the first test day and then whenever `refit_every_days`
calendar days have passed since their last fit (default: 7, weekly). Every day, after valuing
day d, the valuator is recalibrated with day d's sales: their out-of-sample scores join its
conformal window and move its adaptive levels, which is what the platform can do each morning
with yesterday's sales. Recent comps need no fit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cardvalue_dagster.core.baselines import ForestParams, PrototypeForest, recent_comps
from cardvalue_dagster.core.features import build_features
from cardvalue_dagster.core.metrics import summarize
from cardvalue_dagster.core.valuator import TIERS, Valuator, ValuatorParams
from cardvalue_dagster.sources.canonical import SALE_CONTENT_COLUMNS

logger = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("valuator", "comps", "rf")
"""The three methods, as named in metrics and prediction columns."""


@dataclass
class BacktestResult:
    """Per-sale predictions of the three methods on the test sales, and how they were made.

    `predictions` has one row per test sale: ids, date, price, the valuator's value, bounds and
    confidence tier, the comps value, the forest's value and bounds, and for each prediction the
    latest sale date its models were trained on and its conformal scores came from (both
    always before the sale's own date).
    """

    predictions: pd.DataFrame
    coverage: float
    refit_days: list[dt.date] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """{"n": ..., "valuator": {...}, "comps": {...}, "rf": {...}} (fractions; MAE in USD)."""
        p = self.predictions
        y = p["price_usd"]
        out: dict[str, Any] = {"n": len(p)}
        out["valuator"] = summarize(
            y, p["valuator_value"], p["valuator_lower"], p["valuator_upper"]
        )
        out["comps"] = summarize(y, p["comps_value"])
        out["rf"] = summarize(y, p["rf_value"], p["rf_lower"], p["rf_upper"])
        return out

    def valued(self) -> dict[str, int]:
        """Test sales each method gave a value for: its metrics are computed over these.

        The valuator and the forest value every sale once fitted; recent comps have nothing for
        the first sales of a class with no earlier sale.
        """
        p = self.predictions
        columns = {"valuator": "valuator_value", "comps": "comps_value", "rf": "rf_value"}
        return {m: int(np.isfinite(p[c].to_numpy(dtype=float)).sum()) for m, c in columns.items()}

    def metrics_by_tier(self) -> pd.DataFrame:
        """The valuator's and comps' figures per confidence tier."""
        rows = []
        for tier in TIERS:
            part = self.predictions[self.predictions["confidence"] == tier]
            if part.empty:
                continue
            v = summarize(
                part["price_usd"],
                part["valuator_value"],
                part["valuator_lower"],
                part["valuator_upper"],
            )
            c = summarize(part["price_usd"], part["comps_value"])
            rows.append(
                {
                    "tier": tier,
                    "n": len(part),
                    "valuator_mdape": v["mdape"],
                    "comps_mdape": c["mdape"],
                    "coverage": v["coverage"],
                    "median_width": v["median_width"],
                }
            )
        return pd.DataFrame(rows)

    def markdown_table(self) -> str:
        """The metrics of the three methods as a Markdown table."""
        metrics = self.metrics()
        lines = [
            f"n = {metrics['n']:,} test sales, nominal coverage {self.coverage:.0%}",
            "",
            "| method | valued | MdAPE | MAPE | MAE (USD) | coverage | median width |",
            "|---|---|---|---|---|---|---|",
        ]
        valued = self.valued()
        names = {
            "valuator": "valuator",
            "comps": "recent comps (30 d)",
            "rf": "prototype RF ± 1.96 sd",
        }
        for method in METHODS:
            m = metrics[method]
            lines.append(
                f"| {names[method]} | {valued[method]:,} | {_pct(m['mdape'])} | "
                f"{_pct(m['mape'])} | {m['mae']:,.1f} | {_pct(m['coverage'])} | "
                f"{_pct(m['median_width'])} |"
            )
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{100 * value:.2f} %"


def walk_forward(
    history: pd.DataFrame,
    test: pd.DataFrame,
    *,
    refit_every_days: int = 7,
    coverage: float = 0.9,
    progress: Callable[[str], None] | None = None,
    valuator_params: ValuatorParams | None = None,
    forest_params: ForestParams | None = None,
    include_forest: bool = True,
    spill_directory: str | os.PathLike[str] | None = None,
) -> BacktestResult:
    """Value each test sale day by day from earlier sales only (see the module docstring).

    `history` and `test` are canonical sales frames (raw_sales columns); test sales are the
    ones valued and scored; player statistics and reference prices are not joined (the
    warehouse backtest uses `walk_forward_on_features` on features that hold them).
    `include_forest=False` skips the prototype (its columns are NaN). `spill_directory` is the
    folder DuckDB may spill to while building features (created if missing; DuckDB removes
    its files when done); None uses a fresh temporary folder.
    """
    report = progress or (lambda message: logger.info("%s", message))
    sales = _combined(history, test)
    watch = time.perf_counter()
    features = _features(sales, spill_directory)
    seconds = time.perf_counter() - watch
    report(f"features for {len(features):,} sales in {seconds:.1f} s")

    return walk_forward_on_features(
        features,
        set(test["sale_id"]),
        refit_every_days=refit_every_days,
        coverage=coverage,
        progress=report,
        valuator_params=valuator_params,
        forest_params=forest_params,
        include_forest=include_forest,
        feature_seconds=seconds,
    )


def walk_forward_on_features(
    features: pd.DataFrame,
    test_ids: set[str],
    *,
    refit_every_days: int = 7,
    coverage: float = 0.9,
    progress: Callable[[str], None] | None = None,
    valuator_params: ValuatorParams | None = None,
    forest_params: ForestParams | None = None,
    include_forest: bool = True,
    feature_seconds: float = 0.0,
) -> BacktestResult:
    """The same walk over features already built (`build_features` rows, e.g. the warehouse's
    `enriched_features`), so the backtest sees exactly the inputs the trained valuator saw.

    Features are point-in-time, so one frame serves every day of the walk. Recent comps are
    computed from the same rows (their ids, dates and prices). `test_ids` names the sales
    valued and scored.
    """
    report = progress or (lambda message: logger.info("%s", message))
    started = time.perf_counter() - feature_seconds
    timings = dict.fromkeys(("features", "comps", "valuator_fit", "forest_fit", "predict"), 0.0)
    timings["features"] = feature_seconds
    features = _in_time_order(features)

    watch = time.perf_counter()
    comps = recent_comps(features).set_axis(features["sale_id"].to_numpy())
    timings["comps"] = time.perf_counter() - watch

    loop = _Loop(
        features=features,
        is_test=features["sale_id"].isin(test_ids).to_numpy(),
        valuator=Valuator(valuator_params, coverage=coverage),
        forest_params=(forest_params or ForestParams()) if include_forest else None,
        refit_every_days=refit_every_days,
        coverage=coverage,
        timings=timings,
        report=report,
    )
    predictions = loop.run()
    predictions["comps_value"] = comps.reindex(predictions["sale_id"]).to_numpy()

    timings["total"] = time.perf_counter() - started
    report(f"walk-forward done in {timings['total']:.1f} s")
    params = {
        "refit_every_days": refit_every_days,
        "valuator": loop.valuator.to_dict(),
        "forest": None if loop.forest is None else loop.forest.to_dict(),
    }
    return BacktestResult(predictions, coverage, loop.refit_days, timings, params)


def _in_time_order(features: pd.DataFrame) -> pd.DataFrame:
    """Features sorted by day and sale, with dates as timestamps and unique sale ids."""
    duplicated = features["sale_id"].duplicated()
    if duplicated.any():
        raise ValueError(f"{int(duplicated.sum())} sale ids appear twice in the features")
    ordered = features.assign(sale_date=pd.to_datetime(features["sale_date"]).dt.normalize())
    return ordered.sort_values(["sale_date", "sale_id"], kind="stable").reset_index(drop=True)


def _combined(history: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """History and test sales in one frame with the columns the features need."""
    frames = [frame.reindex(columns=list(SALE_CONTENT_COLUMNS)) for frame in (history, test)]
    sales = pd.concat(frames, ignore_index=True)
    sales["sale_date"] = pd.to_datetime(sales["sale_date"]).dt.normalize()
    sales["is_simulated"] = sales["is_simulated"].fillna(False).astype(bool)
    duplicated = sales["sale_id"].duplicated()
    if duplicated.any():
        raise ValueError(f"{int(duplicated.sum())} sale ids appear twice in history + test")
    return sales


def _features(sales: pd.DataFrame, spill_directory: str | os.PathLike[str] | None) -> pd.DataFrame:
    """Point-in-time features of every sale, computed once in an in-memory DuckDB.

    The connection spills to `spill_directory`, or to a temporary folder removed afterwards.
    """
    with contextlib.ExitStack() as stack:
        if spill_directory is None:
            spill_directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="cv-spill-"))
        config: dict[str, str | bool | int | float | list[str]] = {
            "temp_directory": os.fspath(spill_directory)
        }
        con = stack.enter_context(duckdb.connect(config=config))
        con.execute("SET enable_progress_bar = false")
        con.register("backtest_sales_frame", sales)
        con.execute("CREATE TABLE backtest_sales AS SELECT * FROM backtest_sales_frame")
        return build_features(con, "backtest_sales")


@dataclass
class _Loop:
    """The day-by-day walk: refit when due, value the day, then recalibrate with it."""

    features: pd.DataFrame
    is_test: np.ndarray
    valuator: Valuator
    forest_params: ForestParams | None
    refit_every_days: int
    coverage: float
    timings: dict[str, float]
    report: Callable[[str], None]
    forest: PrototypeForest | None = None
    refit_days: list[dt.date] = field(default_factory=list)
    _fitted: bool = False

    def run(self) -> pd.DataFrame:
        """Walk the test days in order; one prediction row per test sale."""
        dates = self.features["sale_date"]
        test_days = sorted(dates[self.is_test].unique())
        rows: list[pd.DataFrame] = []
        last_fit: pd.Timestamp | None = None
        for day in test_days:
            day = pd.Timestamp(day)
            due = last_fit is None or (day - last_fit).days >= self.refit_every_days
            if due and self._refit(self.features[dates < day], day):
                last_fit = day
            today = self.features[(dates == day) & self.is_test]
            rows.append(self._value(today))
            self._recalibrate(self.features[dates == day])
        return pd.concat(rows, ignore_index=True) if rows else _empty_predictions()

    def _refit(self, known: pd.DataFrame, day: pd.Timestamp) -> bool:
        """Refit both models on the known sales; False if there is nothing to learn from."""
        if known.empty:
            return False
        watch = time.perf_counter()
        self.valuator.fit(known)
        valuator_seconds = time.perf_counter() - watch
        self.timings["valuator_fit"] += valuator_seconds
        self._fitted = True

        forest_seconds = 0.0
        if self.forest_params is not None:
            watch = time.perf_counter()
            self.forest = PrototypeForest(self.forest_params).fit(known)
            forest_seconds = time.perf_counter() - watch
            self.timings["forest_fit"] += forest_seconds
        self.refit_days.append(day.date())
        self.report(
            f"{day.date()}: refit on {len(known):,} sales (valuator {valuator_seconds:.1f} s, "
            f"forest {forest_seconds:.1f} s)"
        )
        return True

    def _value(self, today: pd.DataFrame) -> pd.DataFrame:
        """The day's predictions of the valuator and the forest, with their provenance."""
        watch = time.perf_counter()
        out = today[["sale_id", "asset_class", "item_id", "variant", "sale_date", "price_usd"]]
        out = out.reset_index(drop=True)
        nan = np.full(len(out), np.nan)
        if self._fitted:
            valued = self.valuator.predict(today, coverage=self.coverage).reset_index(drop=True)
            out["valuator_value"] = valued["value"]
            out["valuator_lower"] = valued["lower"]
            out["valuator_upper"] = valued["upper"]
            out["confidence"] = valued["confidence"]
        else:
            for column in ("valuator_value", "valuator_lower", "valuator_upper"):
                out[column] = nan
            out["confidence"] = "none"
        for column in ("rf_value", "rf_lower", "rf_upper"):
            out[column] = nan
        if self.forest is not None:
            forest = self.forest.predict(today).reset_index(drop=True)
            out["rf_value"], out["rf_lower"], out["rf_upper"] = (
                forest["value"],
                forest["lower"],
                forest["upper"],
            )
        # Typed as dates even before the first fit (NaT), so the days concatenate cleanly.
        for column in ("trained_through", "calibrated_through"):
            moment = getattr(self.valuator, column)
            out[column] = pd.Series(moment, index=out.index, dtype="datetime64[ns]")
        self.timings["predict"] += time.perf_counter() - watch
        return out

    def _recalibrate(self, day_sales: pd.DataFrame) -> None:
        if self._fitted and not day_sales.empty:
            self.valuator.recalibrate(day_sales)


def _empty_predictions() -> pd.DataFrame:
    columns = [
        "sale_id",
        "asset_class",
        "item_id",
        "variant",
        "sale_date",
        "price_usd",
        "valuator_value",
        "valuator_lower",
        "valuator_upper",
        "confidence",
        "rf_value",
        "rf_lower",
        "rf_upper",
        "trained_through",
        "calibrated_through",
    ]
    return pd.DataFrame(columns=columns)
