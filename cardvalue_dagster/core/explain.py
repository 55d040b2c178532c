"""Why the valuator says what it says: SHAP values of its point model, in log space and in USD.

The valuator's value is `reference * exp(f(x))`, with `f` the point model (see
`cardvalue_dagster.core.valuator`). TreeSHAP splits `f(x)` exactly into an expected value `E`
(the model's average output) plus one contribution per model input. So every value reads as:
the recent comps say `reference`; the model's average adjustment makes that the *baseline*
`reference * exp(E)`; the inputs move the baseline to the value.

**Engine: LightGBM's own TreeSHAP (`predict(..., pred_contrib=True)`).** It is not faster per
row than `shap.TreeExplainer`, it is the same computation: for a LightGBM model in its default
(tree path dependent) mode shap calls that very method, and on 10,000 StockX sales the two gave
identical values in the same time (benchmarks/RESULTS.md, section bench_shap). Calling it
directly only skips the fixed costs, importing shap (about 2 s) and parsing the model into
shap's tree format (about 0.4 s for 400 trees), and keeps shap out of the serving path. shap's
own C++ TreeSHAP is no alternative: run on the category codes it was up to a third faster but
missed the model's output (by up to 0.07 in log space, on 9,999 of 10,000 rows): its copy of
the trees does not reproduce the model, apparently at the categorical splits (the largest
differences are on `buyer_region`). TreeSHAP costs 3-5 ms per row for the 400-tree point
model on one thread of the shared two-core machine, hence the sampling in `shap_summary`.

**USD contributions.** Log contributions `phi_j` sum to `S = f(x) - E`, and the value minus the
baseline is `baseline * (exp(S) - 1)`. Each input gets `phi_j * baseline * (exp(S) - 1) / S`
dollars: the same dollars per log unit for every input of a row (the average slope of `exp`
between the baseline and the value), so the dollars keep the signs and the ratios of the log
contributions and add up exactly to value minus baseline. The rate tends to `baseline` as `S`
tends to 0, so there is no division blow-up when the contributions cancel out.

**Thin data.** A valuator trained on fewer than `min_model_sales` sales has a `ConstantModel`:
it adds the same log shift to every reference, so `E` is that shift and every input's
contribution is exactly 0; the reference carries the whole value.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardvalue_dagster.core.valuator import REFERENCE_LEVELS, ConstantModel, Valuator

logger = logging.getLogger(__name__)

ENGINE = "lightgbm pred_contrib (TreeSHAP, tree path dependent)"
"""How the SHAP values are computed, for metadata and reports."""

REFERENCE_ENTRY = "reference"
"""The `feature` name of the first entry of each row in `top_contributions`."""

PLOT_FEATURES = 20
"""Features shown in the plots; the rest are summed into one line by shap."""


@dataclass(frozen=True)
class ShapSummary:
    """SHAP values of the point model on a sample of rows.

    `values[i, j]` is input `matrix.columns[j]`'s contribution to row i's model output, in log
    space; `values[i].sum() + expected_value` is the model's output for the row.
    """

    matrix: pd.DataFrame
    values: np.ndarray
    expected_value: float
    importances: pd.DataFrame
    """Columns feature, mean_abs_shap, rank (1 = most important), sorted by rank."""
    engine: str = ENGINE


@dataclass(frozen=True)
class _Explained:
    """Everything needed to explain some rows: model inputs, log contributions, anchors."""

    matrix: pd.DataFrame
    log_ref: np.ndarray
    values: np.ndarray
    expected_value: float

    @property
    def baseline(self) -> np.ndarray:
        """The reference shifted by the model's average output, per row (USD)."""
        return np.exp(self.log_ref + self.expected_value)

    @property
    def value(self) -> np.ndarray:
        """The valuator's value per row (USD): the baseline moved by all contributions."""
        return np.exp(self.log_ref + self.expected_value + self.values.sum(axis=1))


# --------------------------------------------------------------------------------------------
# SHAP values


def log_contributions(model: Any, matrix: pd.DataFrame) -> tuple[np.ndarray, float]:
    """TreeSHAP values (rows × inputs, log space) and the expected value of a point model.

    A `ConstantModel` gets zeros and its constant target as the expected value.
    """
    if isinstance(model, ConstantModel):
        return np.zeros(matrix.shape), float(model.target)
    if matrix.empty:
        raise ValueError("no rows to explain: the expected value needs at least one row")

    contributions = np.asarray(model.predict(matrix, pred_contrib=True), dtype=float)
    return contributions[:, :-1], float(contributions[0, -1])


def _explain(valuator: Valuator, features: pd.DataFrame) -> _Explained:
    matrix, log_ref = valuator.model_inputs(features)
    values, expected = log_contributions(valuator.point_model, matrix)
    return _Explained(matrix, np.asarray(log_ref, dtype=float), values, expected)


def shap_summary(
    valuator: Valuator, features: pd.DataFrame, sample_size: int = 2000, seed: int = 0
) -> ShapSummary:
    """SHAP values of the point model on a seeded random sample of `features` rows.

    The sample (without replacement, kept in the input order) bounds the cost: TreeSHAP takes
    about 3 ms a row. The same rows, model and seed give the same summary.
    """
    positions = _sample_positions(len(features), sample_size, seed)
    explained = _explain(valuator, features.iloc[positions])

    importances = importance_table(list(explained.matrix.columns), explained.values)
    logger.info(
        "SHAP values of %d of %d rows; top features: %s",
        len(positions),
        len(features),
        ", ".join(importances["feature"].head(3)),
    )
    return ShapSummary(explained.matrix, explained.values, explained.expected_value, importances)


def _sample_positions(n_rows: int, sample_size: int, seed: int) -> np.ndarray:
    """Sorted row positions of a seeded sample without replacement (all rows if fewer)."""
    if n_rows == 0:
        raise ValueError("no rows to explain")
    if n_rows <= sample_size:
        return np.arange(n_rows)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=sample_size, replace=False))


def importance_table(feature_names: list[str], values: np.ndarray) -> pd.DataFrame:
    """Mean |SHAP| per input, ranked (1 = most important; ties keep the input order)."""
    mean_abs = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(feature_names))
    table = pd.DataFrame({"feature": feature_names, "mean_abs_shap": mean_abs.astype(float)})
    table = table.sort_values("mean_abs_shap", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Plots


def save_plots(summary: ShapSummary, folder: Path, title: str) -> dict[str, Path]:
    """A beeswarm and a bar chart of the summary's SHAP values as PNGs in `folder`.

    Drawn with shap's plots on matplotlib's Agg backend (headless; it becomes the process's
    pyplot backend); every figure is closed after saving. Categorical inputs are coloured by
    their category code, missing values in grey.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        # shap's colour maps use matplotlib calls marked for deprecation; nothing to act on here.
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        import shap

    folder.mkdir(parents=True, exist_ok=True)
    explanation = shap.Explanation(
        values=summary.values,
        base_values=np.full(len(summary.values), summary.expected_value),
        data=_numeric(summary.matrix),
        feature_names=list(summary.matrix.columns),
    )
    drawers = {
        "beeswarm": lambda: shap.plots.beeswarm(explanation, max_display=PLOT_FEATURES, show=False),
        "bar": lambda: shap.plots.bar(explanation, max_display=PLOT_FEATURES, show=False),
    }

    paths: dict[str, Path] = {}
    for kind, draw in drawers.items():
        plt.close("all")
        with warnings.catch_warnings():
            # An input missing on every sampled row (player stats for sneakers) has no colour scale.
            warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
            draw()
        paths[kind] = _save_current_figure(plt, folder / f"shap_{kind}.png", f"{title} ({kind})")
    return paths


def _save_current_figure(plt: Any, path: Path, title: str) -> Path:
    """Title, save and close pyplot's current figure."""
    figure = plt.gcf()
    try:
        figure.suptitle(title)
        figure.savefig(path, dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)
    logger.info("wrote %s", path)
    return path


def _numeric(matrix: pd.DataFrame) -> np.ndarray:
    """The matrix as floats for colouring: categories as their codes, missing as NaN."""
    columns = {}
    for name in matrix.columns:
        column = matrix[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy(dtype=float)
            columns[name] = np.where(codes < 0, np.nan, codes)
        else:
            columns[name] = column.to_numpy(dtype=float)
    return pd.DataFrame(columns, index=matrix.index).to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------
# Per-row reasons in USD


def usd_contributions(explained_values: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Log contributions (rows × inputs) as USD, adding up to value minus baseline per row.

    Every input of a row gets the row's rate `baseline * (exp(S) - 1) / S` dollars per log
    unit, S being the row's sum of log contributions (the rate is `baseline` at S = 0).
    """
    total = explained_values.sum(axis=1)
    small = np.abs(total) < 1e-12
    safe = np.where(small, 1.0, total)
    rate = baseline * np.where(small, 1.0, np.expm1(safe) / safe)
    return explained_values * rate[:, None]


def top_contributions(
    valuator: Valuator, features: pd.DataFrame, top: int = 5
) -> list[list[dict[str, Any]]]:
    """Per row, the reference and the `top` inputs that moved the value most, in USD.

    Each row's list starts with the anchor, `{"feature": "reference", "value": the reference
    price, "contribution_usd": the baseline, "level": which comps it came from}` (see the
    module docstring: the baseline is the reference shifted by the model's average output),
    followed by up to `top` inputs, largest absolute contribution first: `{"feature": input
    name, "value": the row's input as the model saw it (float, str or None),
    "contribution_usd": float}`. Inputs with an exact 0 contribution are left out, so a
    `ConstantModel` gives the reference alone. The anchor plus all inputs' contributions add
    up to the value; `reference_breakdown` gives the whole account per row.
    """
    if features.empty:
        return []
    explained = _explain(valuator, features)
    baseline = explained.baseline
    dollars = usd_contributions(explained.values, baseline)
    order = np.argsort(-np.abs(explained.values), axis=1, kind="stable")[:, : max(top, 0)]

    names = list(explained.matrix.columns)
    inputs = {name: explained.matrix[name].to_numpy(dtype=object) for name in names}
    levels = explained.matrix["ref_level"].to_numpy(dtype=float)
    rows = []
    for row in range(len(features)):
        entries = [_reference_entry(explained.log_ref[row], baseline[row], levels[row])]
        for column in order[row]:
            if explained.values[row, column] == 0.0:
                continue
            name = names[column]
            entries.append(
                {
                    "feature": name,
                    "value": _plain(inputs[name][row]),
                    "contribution_usd": float(dollars[row, column]),
                }
            )
        rows.append(entries)
    return rows


def reference_breakdown(valuator: Valuator, features: pd.DataFrame) -> list[dict[str, Any]]:
    """Per row: the reference and its level, the baseline, what the inputs add, the value (USD).

    `baseline_usd + inputs_usd == value_usd`, and `value_usd` is `Valuator.predict`'s value.
    """
    if features.empty:
        return []
    explained = _explain(valuator, features)
    baseline, value = explained.baseline, explained.value
    levels = explained.matrix["ref_level"].to_numpy(dtype=float)
    return [
        {
            "reference_usd": float(math.exp(explained.log_ref[row])),
            "reference_level": _level_name(levels[row]),
            "baseline_usd": float(baseline[row]),
            "inputs_usd": float(value[row] - baseline[row]),
            "value_usd": float(value[row]),
        }
        for row in range(len(features))
    ]


def _reference_entry(log_ref: float, baseline: float, level: float) -> dict[str, Any]:
    return {
        "feature": REFERENCE_ENTRY,
        "value": float(math.exp(log_ref)),
        "contribution_usd": float(baseline),
        "level": _level_name(level),
    }


def _level_name(level: float) -> str | None:
    """The name of a reference level (index into REFERENCE_LEVELS), None when unknown."""
    if not np.isfinite(level):
        return None
    return REFERENCE_LEVELS[int(level)]


def _plain(value: Any) -> float | str | None:
    """An input value as JSON-friendly Python: a float, a string, or None when missing."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, str):
        return value
    number = float(value)
    return number if math.isfinite(number) else None
