"""The valuator: a comps-anchored LightGBM value with conformal intervals and a confidence tier.

What it must beat is what a collector does by hand: the median of the recent comparable sales.
So the model does not predict a price from scratch; it predicts how far the next sale will land
from that hand-made reference, and the reference carries the price level.

**Reference (the anchor).** For each sale, from its point-in-time features
(`cardvalue_dagster.core.features`), the first that exists of:

1. the item+variant median of the last 30 days (`iv_med_30d`);
2. the item's 30-day median shifted by the variant's premium (ln of the variant's over the
   item's 365-day median; 0 when unknown), so a rare size borrows the item's recent level;
3. the item+variant 365-day median, then 4. the item's 365-day median with the premium;
5. the last known price of the item+variant, then of the item (older than a year);
6. the class's 30-day median (an item never sold before);
7. the class's median at fit time, then the median of everything the model was trained on.

**Model.** LightGBM with an L1 objective (it estimates the median, the right target for a
median absolute percentage error) on `ln(price) - ln(reference)`, from the comps features
expressed relative to the reference (each window's median, the last prices, the size-adjusted
item medians, the class median, the retail price), the comps counts, spreads, ages and trend,
the attributes, and which reference level applied. Ages since release and since the item's
first sale are capped at 180 days: beyond that they only number the days of an old item, and
trees would learn the market of a given week instead of a pattern. Month and cumulative counts
are computed by the features but not used, for the same reason. The value is
`reference * exp(model)`.

**Intervals: conformalized quantile regression (CQR), Mondrian by tier, adaptive.** Two more
LightGBM models estimate the (1 - c)/2 and (1 + c)/2 quantiles of the same target (c = the
nominal coverage, 0.9). On their own they are too narrow out of sample, so each sale gets the
conformity score `max(lo - y, y - hi)` (log space) on sales the models did not see, and the
interval is `[lo - q, hi + q]` with q the conformal quantile of the recent scores of the sale's
tier. Scores come from a time-ordered calibration tail at the first fit (models fitted on all but
the last `calibration_days`, scored on them, then refitted on everything) and then from
`recalibrate`, which adds the out-of-sample results of each new day; only the last
`score_days` days are used (at least `min_scores` scores), so the intervals follow a changing
market. On top, adaptive conformal inference (Gibbs & Candès 2021) shifts each tier's
miscoverage level after every recalibration by `aci_step * (target miss rate - observed miss
rate)`, a slow correction for persistent miscalibration. The step is small on purpose: on the
StockX time splits, steps 10-30× larger made weekly coverage steadier but did not bring the
period's coverage closer to 90 %, because misses come in bursts (a market-wide drop on one day)
and a large step first narrows the intervals in the calm weeks before. Measured with weekly
refits and daily recalibration, the 90 % intervals held 88.9-90.1 % of the sales of three
two-month test periods (benchmarks/RESULTS.md). Other coverages than the nominal one use the
same scores (still calibrated, less sharp).

**Tiers** (how much data backs the value), per sale:

- `high`: at least 5 sales of the item+variant in the last 30 days;
- `medium`: at least one such sale, or at least 20 sales of the item in the last 30 days;
- `low`: the item has sold before, but not recently (or its class has fewer than
  `min_class_sales` sales in training, which caps every sale of the class at `low`);
- `none`: the item has never sold before: the value leans on the class median, and the interval
  is widened to at least the central `coverage` range of the class's prices around that median
  (last `class_spread_days` of training), so an unseen item never gets a falsely narrow
  interval.

A tier with fewer than `min_tier_scores` scores borrows the scores of the thinner tiers.

**Thin data.** Below `min_model_sales` training sales no tree can be grown honestly; the three
models are then the median and the central quantiles of the training targets (the reference
carries the value). Every sale of a class with fewer than `min_class_sales` sales gets the
unseen-item widening too, and a class with fewer than `min_tier_scores` spread values borrows
a spread of a factor `thin_spread_factor` either way: a class of a handful of sales gets a
wide interval and tier `low` or `none`, never a narrow `high`.

Everything is deterministic given `seed`; a fitted Valuator pickles.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TIERS: tuple[str, ...] = ("high", "medium", "low", "none")
"""Confidence tiers, from the best-backed valuations to items never sold before."""

USD_FEATURES: tuple[str, ...] = (
    *(f"{level}_med_{days}d" for level in ("iv", "item") for days in (7, 30, 90, 365)),
    "iv_last_price",
    "item_last_price",
    "class_med_30d",
    "retail_price_usd",
    "ref_price_usd",
)
"""Features in USD; the model sees them as ln(feature / reference)."""

PLAIN_FEATURES: tuple[str, ...] = (
    *(
        f"{level}_{stat}_{days}d"
        for level in ("iv", "item")
        for stat in ("n", "iqr")
        for days in (7, 30, 90, 365)
    ),
    "iv_last_age_days",
    "item_last_age_days",
    "iv_trend_7_30",
    "item_trend_7_30",
    "size",
    "card_year",
    "rookie",
    "grade",
    "day_of_week",
    "player_performance",
    "player_form",
    "player_headline_stat",
    "player_seasons_played",
    "ref_price_age_days",
)
"""Features used as they are."""

CAPPED_FEATURES: tuple[str, ...] = ("days_since_release", "item_first_age_days")
"""Ages capped at `ValuatorParams.age_cap_days`."""

CATEGORY_FEATURES: tuple[str, ...] = (
    "asset_class",
    "brand",
    "buyer_region",
    "grading_company",
    "condition",
    "venue_cat",
)
"""Categorical features; their categories are frozen at fit time."""


@dataclass(frozen=True)
class ValuatorParams:
    """Everything that defines a Valuator; logged with `Valuator.to_dict`."""

    n_estimators: int = 400
    learning_rate: float = 0.03
    num_leaves: int = 31
    min_child_samples: int = 50
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    quantile_estimators: int = 200
    coverage: float = 0.9
    calibration_days: int = 28
    score_days: int = 28
    min_scores: int = 300
    min_tier_scores: int = 30
    aci_step: float = 0.05
    age_cap_days: int = 180
    high_iv_sales: int = 5
    medium_item_sales: int = 20
    min_class_sales: int = 200
    min_model_sales: int = 50
    thin_spread_factor: float = 3.0
    class_spread_days: int = 365
    seed: int = 0
    n_jobs: int = 1
    """LightGBM threads. One: on a shared two-core machine two OpenMP threads that spin while
    another process holds a core made a fit up to 20× slower; one thread measured faster."""


@dataclass
class _Models:
    """The three LightGBM models of one fit."""

    point: Any
    lower: Any
    upper: Any


@dataclass
class _State:
    """What a fit learns besides the models."""

    categories: dict[str, pd.CategoricalDtype] = field(default_factory=dict)
    class_median: dict[str, float] = field(default_factory=dict)
    class_sales: dict[str, int] = field(default_factory=dict)
    class_spread: dict[str, np.ndarray] = field(default_factory=dict)
    global_median: float = math.nan
    trained_through: pd.Timestamp | None = None
    n_train: int = 0


class Valuator:
    """Values sales from their features; see the module docstring for the design."""

    def __init__(self, params: ValuatorParams | None = None, **overrides: Any) -> None:
        self.params = replace(params or ValuatorParams(), **overrides)
        self._models: _Models | None = None
        self._state = _State()
        self._scores = pd.DataFrame(
            {
                "sale_date": pd.Series(dtype="datetime64[ns]"),
                "tier": pd.Series(dtype=object),
                "score": pd.Series(dtype=float),
            }
        )
        self._aci_shift: dict[str, float] = dict.fromkeys(TIERS, 0.0)

    # ----------------------------------------------------------------------------------------
    # Public API

    def fit(self, features: pd.DataFrame, *, calibrate: bool | None = None) -> Valuator:
        """Train on `features` (rows of `build_features`, price_usd as the target).

        `calibrate`: score a time-ordered calibration tail first (models fitted on all but the
        last `calibration_days`). None means: only when there are not yet `min_scores`
        out-of-sample scores from earlier fits and `recalibrate` calls.
        """
        frame = _sorted(features)
        if frame.empty:
            raise ValueError("no sales with a positive price to fit the valuator on")
        self._learn_state(frame)
        if calibrate is None:
            calibrate = len(self._scores) < self.params.min_scores
        if calibrate:
            self._calibrate_on_tail(frame)

        self._models = self._train(frame)
        logger.info(
            "fitted valuator on %d sales through %s (%d conformal scores)",
            self._state.n_train,
            self._state.trained_through,
            len(self._scores),
        )
        return self

    def predict(self, features: pd.DataFrame, coverage: float = 0.9) -> pd.DataFrame:
        """`value`, `lower`, `upper` (USD) and `confidence` per row, aligned to the input.

        `coverage` is the share of sales the intervals should hold; the quantile models and
        the adaptive levels are tuned for `params.coverage` (0.9), other levels use the same
        conformal scores (still calibrated, less sharp).
        """
        raw = self._raw(features)
        thresholds = self._thresholds(1.0 - coverage)
        q = raw["tier"].map(thresholds).to_numpy(dtype=float)

        value = np.exp(raw["point"].to_numpy())
        lower = np.minimum(np.exp(raw["lower"].to_numpy() - q), value)
        upper = np.maximum(np.exp(raw["upper"].to_numpy() + q), value)
        lower, upper = self._widen_unseen(features, raw, lower, upper, coverage)
        return pd.DataFrame(
            {"value": value, "lower": lower, "upper": upper, "confidence": raw["tier"]},
            index=features.index,
        )

    def recalibrate(self, features_with_prices: pd.DataFrame) -> Valuator:
        """Add the out-of-sample results of newly known sales to the conformal scores.

        Call it with sales the current models have not been trained on (e.g. yesterday's, after
        valuing them): their scores join the calibration window and each tier's adaptive
        miscoverage level moves towards the observed miss rate at the nominal coverage.
        """
        frame = features_with_prices[features_with_prices["price_usd"] > 0]
        if frame.empty:
            return self
        raw = self._raw(frame)
        scores = self._score(raw, np.log(frame["price_usd"].to_numpy(dtype=float)))
        self._adapt(raw["tier"].to_numpy(), scores)
        self._add_scores(frame["sale_date"], raw["tier"], scores)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Parameters and fit summary, for logging (plain JSON-able values)."""
        per_tier = self._scores["tier"].value_counts().reindex(list(TIERS), fill_value=0)
        through = self._state.trained_through
        return {
            "params": asdict(self.params),
            "n_train": self._state.n_train,
            "trained_through": None if through is None else through.date().isoformat(),
            "conformal_scores": {tier: int(n) for tier, n in per_tier.items()},
            "aci_shift": dict(self._aci_shift),
            "classes": sorted(self._state.class_median),
        }

    def model_inputs(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The point model's input matrix and ln(reference price) per row.

        The value of a row is `exp(log_ref + point_model.predict(matrix))`: what explains the
        model's output (SHAP) explains the log ratio of the value to the reference.
        """
        design = self._design(features)
        return design.matrix, design.log_ref

    @property
    def point_model(self) -> Any:
        """The fitted point model: an `LGBMRegressor`, or a `ConstantModel` on thin data."""
        if self._models is None:
            raise RuntimeError("Valuator.fit must be called first")
        return self._models.point

    @property
    def trained_through(self) -> pd.Timestamp | None:
        """The latest sale date the models were trained on (None before `fit`)."""
        return self._state.trained_through

    @property
    def calibrated_through(self) -> pd.Timestamp | None:
        """The latest sale date among the conformal scores (None without scores)."""
        if self._scores.empty:
            return None
        return pd.Timestamp(self._scores["sale_date"].max())

    # ----------------------------------------------------------------------------------------
    # Fitting

    def _learn_state(self, frame: pd.DataFrame) -> None:
        """Categories, class medians and sizes, and the spread of prices around class medians."""
        state = _State()
        for column in CATEGORY_FEATURES:
            values = frame[column].astype("string").dropna().unique()
            state.categories[column] = pd.CategoricalDtype(sorted(values))
        prices = frame.groupby("asset_class")["price_usd"]
        state.class_median = {str(k): float(v) for k, v in prices.median().items()}
        state.class_sales = {str(k): int(v) for k, v in prices.size().items()}
        state.class_spread = _class_spread(frame, self.params.class_spread_days)
        state.global_median = float(frame["price_usd"].median())
        state.trained_through = pd.Timestamp(frame["sale_date"].max())
        state.n_train = len(frame)
        self._state = state

    def _calibrate_on_tail(self, frame: pd.DataFrame) -> None:
        """Fit on all but the last `calibration_days`, score that tail, keep those scores.

        The head gets its own state (class medians, spreads) so nothing of the tail leaks into
        the models that score it; the caller learns the full state again afterwards. With too
        little data for that, the tail is the last 20 % of the sales.
        """
        dates = frame["sale_date"]
        cutoff = dates.max() - pd.Timedelta(days=self.params.calibration_days - 1)
        if (dates < cutoff).sum() < max(100, len(frame) // 2):
            cutoff = dates.iloc[int(len(frame) * 0.8)]
        head, tail = frame[dates < cutoff], frame[dates >= cutoff]
        if head.empty or tail.empty:
            logger.warning("too few sales (%d) for a calibration tail", len(frame))
            return

        categories = self._state.categories
        self._learn_state(head)
        self._state.categories = categories
        self._models = self._train(head)
        raw = self._raw(tail)
        scores = self._score(raw, np.log(tail["price_usd"].to_numpy(dtype=float)))
        self._add_scores(tail["sale_date"], raw["tier"], scores)
        self._learn_state(frame)
        logger.debug("calibration tail from %s: %d scores", cutoff.date(), len(scores))

    def _train(self, frame: pd.DataFrame) -> _Models:
        """The point and the two quantile models on one training frame."""
        import lightgbm as lgb

        design = self._design(frame)
        target = np.log(frame["price_usd"].to_numpy(dtype=float)) - design.log_ref
        keep = np.isfinite(target)
        x, y = design.matrix[keep], target[keep]

        alpha = 1.0 - self.params.coverage
        if len(y) < self.params.min_model_sales:
            logger.warning("%d sales to train on: constant models around the reference", len(y))
            quantiles = np.quantile(y, [0.5, alpha / 2, 1 - alpha / 2]) if len(y) else [0.0] * 3
            return _Models(*(ConstantModel(float(q)) for q in quantiles))

        common = self._lgb_params()
        point = lgb.LGBMRegressor(objective="l1", n_estimators=self.params.n_estimators, **common)
        quantile = {**common, "n_estimators": self.params.quantile_estimators}
        lower = lgb.LGBMRegressor(objective="quantile", alpha=alpha / 2, **quantile)
        upper = lgb.LGBMRegressor(objective="quantile", alpha=1 - alpha / 2, **quantile)
        for model in (point, lower, upper):
            model.fit(x, y)
        return _Models(point, lower, upper)

    def _lgb_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves,
            "min_child_samples": p.min_child_samples,
            "subsample": p.subsample,
            "subsample_freq": 1,
            "colsample_bytree": p.colsample_bytree,
            "random_state": p.seed,
            "n_jobs": p.n_jobs,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
        }

    # ----------------------------------------------------------------------------------------
    # Predicting

    def _design(self, features: pd.DataFrame) -> _Design:
        """The model matrix: features relative to the reference, capped ages, categories."""
        log_ref, level = reference(features, self._state.class_median, self._state.global_median)
        columns: dict[str, Any] = {}
        for name in USD_FEATURES:
            columns[f"rel_{name}"] = _log(features[name]) - log_ref
        premium = variant_premium(features)
        columns["rel_item_med_7d_adj"] = _log(features["item_med_7d"]) + premium - log_ref
        columns["rel_item_med_30d_adj"] = _log(features["item_med_30d"]) + premium - log_ref
        columns["rel_item_last_adj"] = _log(features["item_last_price"]) + premium - log_ref
        for name in PLAIN_FEATURES:
            columns[name] = features[name].to_numpy(dtype=float)
        for name in CAPPED_FEATURES:
            columns[name] = features[name].clip(upper=self.params.age_cap_days).to_numpy(float)
        columns["ref_level"] = level
        columns["log_ref"] = log_ref
        matrix = pd.DataFrame(columns, index=features.index)
        for name in CATEGORY_FEATURES:
            text = features[name].astype("string")
            matrix[name] = text.astype(self._state.categories[name])
        return _Design(matrix, log_ref, level)

    def _raw(self, features: pd.DataFrame) -> pd.DataFrame:
        """Log point value and CQR quantiles (before conformal widening), and the tier."""
        if self._models is None:
            raise RuntimeError("Valuator.fit must be called before predicting")
        design = self._design(features)
        matrix = design.matrix
        point = design.log_ref + self._models.point.predict(matrix)
        lower = design.log_ref + self._models.lower.predict(matrix)
        upper = design.log_ref + self._models.upper.predict(matrix)
        return pd.DataFrame(
            {
                "point": point,
                "lower": np.minimum(lower, point),
                "upper": np.maximum(upper, point),
                "tier": self._tiers(features),
            },
            index=features.index,
        )

    def _tiers(self, features: pd.DataFrame) -> np.ndarray:
        """The confidence tier of each row (see the module docstring)."""
        p = self.params
        iv_30 = features["iv_n_30d"].fillna(0).to_numpy()
        item_30 = features["item_n_30d"].fillna(0).to_numpy()
        seen = features["item_n_before"].fillna(0).to_numpy() > 0
        tier = np.where(
            iv_30 >= p.high_iv_sales,
            "high",
            np.where((iv_30 >= 1) | (item_30 >= p.medium_item_sales), "medium", "low"),
        )
        class_sales = features["asset_class"].map(self._state.class_sales).fillna(0).to_numpy()
        thin_class = class_sales < p.min_class_sales
        tier = np.where(thin_class & np.isin(tier, ["high", "medium"]), "low", tier)
        return np.where(seen, tier, "none").astype(object)

    def _widen_unseen(
        self,
        features: pd.DataFrame,
        raw: pd.DataFrame,
        lower: np.ndarray,
        upper: np.ndarray,
        coverage: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """For tier `none` and thin classes: at least the spread of class prices."""
        classes = features["asset_class"].astype(str).to_numpy()
        class_sales = pd.Series(classes).map(self._state.class_sales).fillna(0).to_numpy()
        thin = class_sales < self.params.min_class_sales
        widen = (raw["tier"] == "none").to_numpy() | thin
        if not widen.any():
            return lower, upper

        log_ref, _ = reference(features, self._state.class_median, self._state.global_median)
        alpha = 1.0 - coverage
        fallback = math.log(self.params.thin_spread_factor)
        for row in np.flatnonzero(widen):
            spread = self._state.class_spread.get(classes[row], np.array([]))
            if len(spread) >= self.params.min_tier_scores:
                lo, hi = np.quantile(spread, [alpha / 2, 1 - alpha / 2])
            else:
                lo, hi = min([*spread, -fallback]), max([*spread, fallback])
            lower[row] = min(lower[row], math.exp(log_ref[row] + lo))
            upper[row] = max(upper[row], math.exp(log_ref[row] + hi))
        return lower, upper

    # ----------------------------------------------------------------------------------------
    # Conformal scores

    @staticmethod
    def _score(raw: pd.DataFrame, log_price: np.ndarray) -> np.ndarray:
        """CQR conformity scores: how far outside [lower, upper] the price fell (log space)."""
        return np.maximum(raw["lower"].to_numpy() - log_price, log_price - raw["upper"].to_numpy())

    def _add_scores(self, dates: pd.Series, tiers: pd.Series, scores: np.ndarray) -> None:
        new = pd.DataFrame(
            {
                "sale_date": pd.to_datetime(dates).to_numpy(),
                "tier": np.asarray(tiers, dtype=object),
                "score": scores,
            }
        )
        combined = new if self._scores.empty else pd.concat([self._scores, new], ignore_index=True)
        horizon = combined["sale_date"].max() - pd.Timedelta(days=4 * self.params.score_days)
        self._scores = combined[combined["sale_date"] >= horizon].reset_index(drop=True)

    def _recent_scores(self) -> dict[str, np.ndarray]:
        """Per tier, the scores of the last `score_days` days (at least `min_scores` of them)."""
        p = self.params
        out: dict[str, np.ndarray] = {}
        if self._scores.empty:
            return {tier: np.array([]) for tier in TIERS}
        newest = self._scores["sale_date"].max()
        start = newest - pd.Timedelta(days=p.score_days - 1)
        for tier, group in self._scores.groupby("tier"):
            recent = group[group["sale_date"] >= start]
            if len(recent) < p.min_scores:
                recent = group.sort_values("sale_date", kind="stable").tail(p.min_scores)
            out[str(tier)] = recent["score"].to_numpy()
        return {tier: out.get(tier, np.array([])) for tier in TIERS}

    def _thresholds(self, alpha: float) -> dict[str, float]:
        """Per tier, the conformal quantile of its scores at the adapted miscoverage level."""
        recent = self._recent_scores()
        thresholds: dict[str, float] = {}
        for position, tier in enumerate(TIERS):
            scores = recent[tier]
            if len(scores) < self.params.min_tier_scores:
                scores = np.concatenate([recent[t] for t in TIERS[position:]])
            if len(scores) < self.params.min_tier_scores:
                scores = np.concatenate(list(recent.values()))
            level = alpha + self._aci_shift[tier]
            thresholds[tier] = conformal_quantile(scores, level)
        return thresholds

    def _adapt(self, tiers: np.ndarray, scores: np.ndarray) -> None:
        """Adaptive conformal inference: move each tier's level by the observed miss rate."""
        alpha = 1.0 - self.params.coverage
        thresholds = self._thresholds(alpha)
        for tier in TIERS:
            mine = tiers == tier
            if not mine.any():
                continue
            missed = float(np.mean(scores[mine] > thresholds[tier]))
            weight = min(1.0, mine.sum() / 50.0)
            shift = self._aci_shift[tier] + self.params.aci_step * weight * (alpha - missed)
            self._aci_shift[tier] = float(np.clip(shift, -alpha, 0.5 - alpha))


@dataclass(frozen=True)
class ConstantModel:
    """A stand-in for a LightGBM model on too few sales: the same target for every row."""

    target: float

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        return np.full(len(matrix), self.target)


@dataclass
class _Design:
    matrix: pd.DataFrame
    log_ref: np.ndarray
    level: np.ndarray


# --------------------------------------------------------------------------------------------
# Reference, premium, spreads: plain functions of the features


REFERENCE_LEVELS: tuple[str, ...] = (
    "iv_30d",
    "item_30d_adjusted",
    "iv_365d",
    "item_365d_adjusted",
    "iv_last",
    "item_last",
    "class_30d",
    "class_fit",
    "global_fit",
)
"""Names of the reference levels, in fallback order (index = `ref_level`)."""


def reference(
    features: pd.DataFrame,
    class_median: dict[str, float] | None = None,
    global_median: float = math.nan,
) -> tuple[np.ndarray, np.ndarray]:
    """ln(reference price) and the level it came from (index into REFERENCE_LEVELS)."""
    premium = variant_premium(features)
    class_fit = features["asset_class"].map(class_median or {}).astype(float)
    candidates = [
        _log(features["iv_med_30d"]),
        _log(features["item_med_30d"]) + premium,
        _log(features["iv_med_365d"]),
        _log(features["item_med_365d"]) + premium,
        _log(features["iv_last_price"]),
        _log(features["item_last_price"]),
        _log(features["class_med_30d"]),
        _log(class_fit),
        np.full(len(features), math.log(global_median) if global_median > 0 else math.nan),
    ]
    log_ref = np.full(len(features), math.nan)
    level = np.full(len(features), math.nan)
    for position, candidate in enumerate(candidates):
        take = np.isnan(log_ref) & np.isfinite(candidate)
        log_ref[take] = candidate[take]
        level[take] = position
    return log_ref, level


def variant_premium(features: pd.DataFrame) -> np.ndarray:
    """ln(variant's 365-day median / item's 365-day median), 0 where either is unknown."""
    premium = _log(features["iv_med_365d"]) - _log(features["item_med_365d"])
    return np.where(np.isfinite(premium), premium, 0.0)


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal quantile: the ceil((n + 1)(1 - alpha))-th smallest score.

    Beyond the largest score (tiny n or alpha near 0) the largest score is used; without any
    score the interval gets no conformal margin (0) and relies on the quantile models.
    """
    scores = np.sort(np.asarray(scores, dtype=float))
    n = len(scores)
    if n == 0:
        return 0.0
    rank = math.ceil((n + 1) * (1.0 - min(max(alpha, 0.0), 1.0)))
    return float(scores[min(max(rank, 1), n) - 1])


def _class_spread(frame: pd.DataFrame, days: int) -> dict[str, np.ndarray]:
    """Per class, ln(price / class 30-day median) over the last `days` days of training."""
    recent = frame[frame["sale_date"] >= frame["sale_date"].max() - pd.Timedelta(days=days)]
    recent = recent[recent["class_med_30d"] > 0]
    spread = np.log(recent["price_usd"].to_numpy(float)) - _log(recent["class_med_30d"])
    out: dict[str, np.ndarray] = {}
    for name, positions in recent.groupby("asset_class").indices.items():
        values = np.sort(spread[positions])
        if len(values) > 5000:
            values = values[np.linspace(0, len(values) - 1, 5000).astype(int)]
        out[str(name)] = values
    return out


def _log(values: pd.Series | np.ndarray) -> np.ndarray:
    """Natural log with NaN for missing or non-positive values."""
    array = np.asarray(values, dtype=float)
    out = np.full(array.shape, math.nan)
    positive = array > 0
    out[positive] = np.log(array[positive])
    return out


def _sorted(features: pd.DataFrame) -> pd.DataFrame:
    """Rows with a positive price, in time order (ties by sale_id), for time-ordered splits."""
    frame = features[features["price_usd"] > 0]
    return frame.sort_values(["sale_date", "sale_id"], kind="stable")
