"""The two baselines the valuator is judged against, on canonical sales and features.

**Recent comps** is what a collector does by hand: the median price of the same item+variant
(e.g. one shoe model in one size) over the 30 days before the sale day, falling back to the same
item in any variant, then to the class, then to everything earlier in the class. It has no
interval. It is computed here with pandas rolling windows straight from the sales, independently
of the feature SQL, with the plain (arithmetic) median of prices.

**The prototype** is the original random forest: RandomForestRegressor on the price, from
one-hot item, variant and venue plus a few numeric attributes (days since release, retail price,
size), with the interval value ± 1.96 × the standard deviation of the per-tree predictions.
It keeps scikit-learn's defaults (the prototype is known only as "a random forest", so the
defaults are the faithful reading): 100 trees, unlimited depth, all features at each split
(`max_features=1.0`), `min_samples_leaf=1`. That is affordable here: on 58-80 k StockX sales
with 48 + 26 + 1 one-hot columns and 3 numeric ones a fit took 9-13 s on two cores (binary
columns leave few split points, unlike the 137 s of STACK_NOTES' 100 k × 20 dense numeric
case), so the eight weekly refits of an eight-week walk-forward cost about 100 s. A lighter forest
(`max_features=0.3`, 60 trees) fits 4× faster but its trees disagree more, which widens the
± 1.96 sd band, so it would not be the prototype any more. Fit times are measured by
benchmarks/bench_valuator.py.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def recent_comps(sales: pd.DataFrame, *, window_days: int = 30) -> pd.Series:
    """The recent-comps valuation of every sale, using only sales of earlier days.

    Returns a float Series aligned to `sales.index` (NaN only for the first sales of a class).
    """
    frame = _comps_base(sales)
    value = pd.Series(np.nan, index=frame.index)
    for keys in (["item_id", "variant"], ["item_id"], ["asset_class"]):
        missing = value.isna()
        if not missing.any():
            break
        median = _rolling_median(frame, keys, f"{window_days}D")
        value[missing] = median[missing]

    missing = value.isna()
    if missing.any():
        earlier = _rolling_median(frame, ["asset_class"], None)
        value[missing] = earlier[missing]
    return value.reindex(sales.index)


def _comps_base(sales: pd.DataFrame) -> pd.DataFrame:
    frame = sales[["asset_class", "item_id", "variant", "sale_date", "price_usd"]].copy()
    frame["variant"] = frame["variant"].fillna("")
    frame["sale_date"] = pd.to_datetime(frame["sale_date"]).dt.normalize()
    return frame


def _rolling_median(frame: pd.DataFrame, keys: list[str], window: str | None) -> pd.Series:
    """Median price of the group's sales in [day - window, day) (all earlier days if None).

    Groups are numbered in sorted order so the rolling result lines up with the frame sorted
    by (group, date); sales of one group on one day share their window, so ties cannot
    misalign values.
    """
    ordered = frame.assign(group=frame.groupby(keys, sort=True).ngroup())
    ordered = ordered.sort_values(["group", "sale_date"], kind="stable")
    grouped = ordered.groupby("group", sort=True)
    if window is None:
        rolling = grouped.rolling("36500D", on="sale_date", closed="left")["price_usd"]
    else:
        rolling = grouped.rolling(window, on="sale_date", closed="left")["price_usd"]
    values = pd.Series(rolling.median().to_numpy(), index=ordered.index)
    return values.sort_index()


@dataclass(frozen=True)
class ForestParams:
    """Settings of the prototype random forest (see the module docstring for the choice)."""

    n_estimators: int = 100
    max_depth: int | None = None
    max_features: float = 1.0
    min_samples_leaf: int = 1
    seed: int = 0
    n_jobs: int = 2


NUMERIC_COLUMNS: tuple[str, ...] = ("days_since_release", "retail_price_usd", "size")
"""Numeric inputs of the prototype, taken from the feature rows (missing → -1)."""

ONE_HOT_COLUMNS: tuple[str, ...] = ("item_id", "variant", "venue")
"""Inputs of the prototype one-hot encoded, with the categories seen at fit time."""


class PrototypeForest:
    """The original prototype: a random forest on one-hot ids, interval ± 1.96 tree std."""

    def __init__(self, params: ForestParams | None = None) -> None:
        self.params = params or ForestParams()
        self._categories: dict[str, list[str]] = {}
        self._model: Any = None

    def fit(self, features: pd.DataFrame) -> PrototypeForest:
        """Train on feature rows (ID columns + the NUMERIC_COLUMNS), price_usd as target."""
        from sklearn.ensemble import RandomForestRegressor

        frame = features[features["price_usd"] > 0]
        self._categories = {
            column: sorted(frame[column].fillna("").astype(str).unique())
            for column in ONE_HOT_COLUMNS
        }
        p = self.params
        self._model = RandomForestRegressor(
            n_estimators=p.n_estimators,
            max_depth=p.max_depth,
            max_features=p.max_features,
            min_samples_leaf=p.min_samples_leaf,
            random_state=p.seed,
            n_jobs=p.n_jobs,
        )
        self._model.fit(self._matrix(frame), frame["price_usd"].to_numpy(dtype=float))
        return self

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """`value`, `lower`, `upper`: the forest mean ± 1.96 × the std across its trees."""
        if self._model is None:
            raise RuntimeError("PrototypeForest.fit must be called before predicting")
        matrix = self._matrix(features)
        per_tree = np.stack([tree.predict(matrix) for tree in self._model.estimators_])
        value = per_tree.mean(axis=0)
        spread = 1.96 * per_tree.std(axis=0)
        return pd.DataFrame(
            {"value": value, "lower": value - spread, "upper": value + spread},
            index=features.index,
        )

    def to_dict(self) -> dict[str, Any]:
        """Parameters for logging."""
        return {"params": asdict(self.params), "categories": len(self._categories)}

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        """One-hot blocks for the id columns (unseen values: all zeros) and numeric columns."""
        blocks: list[np.ndarray] = []
        for column, categories in self._categories.items():
            codes = pd.Categorical(features[column].fillna("").astype(str), categories).codes
            block = np.zeros((len(features), len(categories)), dtype=np.float32)
            known = codes >= 0
            block[np.flatnonzero(known), codes[known]] = 1.0
            blocks.append(block)
        for column in NUMERIC_COLUMNS:
            values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype=float)
            blocks.append(np.where(np.isfinite(values), values, -1.0)[:, None].astype(np.float32))
        return np.hstack(blocks)
