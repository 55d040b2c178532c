"""Benchmark of SHAP on the valuator's point model: shap.TreeExplainer against LightGBM's TreeSHAP.

On the shared StockX sample (`/work/shared/data/sneakers/...`): the valuator is fitted on all
but the newest `--rows` sales (default 10,000; no calibration tail, SHAP only concerns the point
model) and the newest `--rows` sales are explained, as new sales would be. Within this one
execution it times, `--repeats` times each, interleaved:

- LightGBM's own TreeSHAP, `point_model.predict(matrix, pred_contrib=True)`;
- `shap.TreeExplainer(point_model)`: building the explainer, `shap_values(matrix)`, and the
  `explainer(matrix)` call that returns an `Explanation` (what shap's plots take);
- shap's own C++ TreeSHAP, forced on the same model with the categories as their codes (shap
  only uses it for LightGBM when it has no shortcut), to see whether it is a faster alternative;

then checks that the values agree and add up to the model's output, and times the functions of
`cardvalue_dagster.core.explain` end to end (`shap_summary`, `top_contributions`, `save_plots`).

It writes its figures to stdout and replaces its own section of RESULTS.md (between the
`<!-- BEGIN bench_shap -->` / `<!-- END bench_shap -->` markers). It asserts nothing about
timings.

    .venv/bin/python benchmarks/bench_shap.py                # ~6 minutes
    .venv/bin/python benchmarks/bench_shap.py --rows 2000 --repeats 1
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from _common import Stopwatch, command, emit, machine, now, write_section
from bench_valuator import load_stockx

from cardvalue_dagster.core.explain import save_plots, shap_summary, top_contributions
from cardvalue_dagster.core.features import build_features
from cardvalue_dagster.core.valuator import Valuator

logger = logging.getLogger("benchmarks.bench_shap")

SECTION = "bench_shap"


@dataclass
class Timings:
    """Seconds of each timed way, one entry per repeat."""

    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.seconds.setdefault(name, []).append(seconds)
        logger.info("%s: %.2f s", name, seconds)

    def best(self, name: str) -> float:
        return min(self.seconds[name])


def main() -> None:
    args = _arguments()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("cardvalue_dagster").setLevel(logging.WARNING)
    started_machine, started = machine(), now()

    with Stopwatch() as shap_import:
        shap = importlib.import_module("shap")
    valuator, explained, n_train = fitted_on_stockx(args.rows)
    matrix, _ = valuator.model_inputs(explained)

    timings = Timings()
    for repeat in range(args.repeats):
        logger.info("repeat %d of %d on %d rows", repeat + 1, args.repeats, len(matrix))
        values = time_ways(shap, valuator.point_model, matrix, timings)
    agreement = check_agreement(valuator.point_model, matrix, values)
    end_to_end = time_explain_functions(valuator, explained, timings)

    body = _section(
        args, started, started_machine, n_train, matrix, shap_import.seconds, timings, agreement
    )
    body += "\n\n" + end_to_end
    emit(body)
    write_section(SECTION, body)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="newest sales to explain")
    parser.add_argument("--repeats", type=int, default=2, help="timings of each way")
    return parser.parse_args()


def fitted_on_stockx(rows: int) -> tuple[Valuator, pd.DataFrame, int]:
    """A valuator fitted on all StockX sales but the newest `rows`, and those newest rows."""
    sales = load_stockx()
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.register("sales_frame", sales)
        con.execute("CREATE TABLE sales AS SELECT * FROM sales_frame")
        features = build_features(con, "sales")
    features = features.sort_values(["sale_date", "sale_id"], kind="stable")

    train, explained = features.iloc[:-rows], features.iloc[-rows:]
    with Stopwatch() as fit:
        valuator = Valuator().fit(train, calibrate=False)
    logger.info("fitted on %d sales in %.1f s; explaining %d", len(train), fit.seconds, rows)
    return valuator, explained, len(train)


# --------------------------------------------------------------------------------------------
# The ways of computing SHAP values


def time_ways(
    shap: Any, model: Any, matrix: pd.DataFrame, timings: Timings
) -> dict[str, np.ndarray]:
    """Time each way once; return each way's SHAP values (rows × inputs, log space)."""
    values: dict[str, np.ndarray] = {}

    contrib = _timed(
        timings, "lightgbm pred_contrib", lambda: model.predict(matrix, pred_contrib=True)
    )
    values["lightgbm pred_contrib"] = contrib[:, :-1]
    values["lightgbm expected value"] = contrib[:, -1]

    explainer = _timed(timings, "shap.TreeExplainer(model)", lambda: shap.TreeExplainer(model))
    values["shap shap_values"] = _timed(
        timings, "explainer.shap_values(matrix)", lambda: explainer.shap_values(matrix)
    )
    values["shap expected value"] = np.atleast_1d(explainer.expected_value)
    explanation = _timed(timings, "explainer(matrix) → Explanation", lambda: explainer(matrix))
    values["shap Explanation"] = np.asarray(explanation.values)

    internal = _shap_internal_explainer(shap, model)
    codes = _category_codes(matrix)
    values["shap internal"] = _timed(
        timings,
        "shap's own C++ TreeSHAP on category codes (forced)",
        lambda: internal.shap_values(codes, check_additivity=False),
    )
    values["shap internal expected value"] = np.atleast_1d(internal.expected_value)
    return values


def _timed(timings: Timings, name: str, function: Callable[[], Any]) -> Any:
    with Stopwatch() as watch:
        result = function()
    timings.add(name, watch.seconds)
    return result


def _shap_internal_explainer(shap: Any, model: Any) -> Any:
    """A TreeExplainer that runs shap's own TreeSHAP instead of calling LightGBM's.

    shap takes the LightGBM shortcut whenever its parsed model says `model_type == "lightgbm"`;
    relabelling the parsed model `internal` (the label shap gives models it parsed itself)
    sends it down its own C++ path. A benchmark-only poke at shap's internals.
    """
    explainer = shap.TreeExplainer(model)
    explainer.model.model_type = "internal"
    return explainer


def _category_codes(matrix: pd.DataFrame) -> np.ndarray:
    """The matrix as floats, categories as LightGBM sees them (their codes), missing as NaN."""
    columns = {}
    for name in matrix.columns:
        column = matrix[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy(dtype=float)
            columns[name] = np.where(codes < 0, np.nan, codes)
        else:
            columns[name] = column.to_numpy(dtype=float)
    return pd.DataFrame(columns).to_numpy(dtype=float)


def check_agreement(model: Any, matrix: pd.DataFrame, values: dict[str, np.ndarray]) -> list[str]:
    """Table rows: each way's largest difference to LightGBM's values and additivity error."""
    output = model.predict(matrix)
    reference = values["lightgbm pred_contrib"]
    ways = [
        ("lightgbm pred_contrib", "lightgbm expected value"),
        ("shap shap_values", "shap expected value"),
        ("shap Explanation", "shap expected value"),
        ("shap internal", "shap internal expected value"),
    ]
    rows = []
    for way, expected_key in ways:
        expected = float(values[expected_key][0])
        difference = float(np.abs(values[way] - reference).max())
        error = np.abs(values[way].sum(axis=1) + expected - output)
        rows.append(
            f"| {way} | {difference:.2e} | {expected:.6f} | {error.max():.2e} | "
            f"{int((error > 1e-9).sum()):,} of {len(error):,} |"
        )
    return rows


# --------------------------------------------------------------------------------------------
# The explain module end to end


def time_explain_functions(valuator: Valuator, explained: pd.DataFrame, timings: Timings) -> str:
    """`shap_summary` (all rows and the default sample), `top_contributions`, `save_plots`."""
    n = len(explained)
    summary = _timed(
        timings, f"shap_summary, {n:,} rows", lambda: shap_summary(valuator, explained, n)
    )
    default = _timed(
        timings, "shap_summary, default sample", lambda: shap_summary(valuator, explained)
    )
    _timed(
        timings,
        f"top_contributions, {n:,} rows, top 5",
        lambda: top_contributions(valuator, explained),
    )
    one = explained.tail(1)
    _timed(timings, "top_contributions, 1 row, top 5", lambda: top_contributions(valuator, one))
    with tempfile.TemporaryDirectory(prefix="bench-shap-") as folder:
        _timed(
            timings,
            f"save_plots, {len(default.matrix):,} rows",
            lambda: save_plots(default, Path(folder), "sneakers"),
        )

    names = [
        f"shap_summary, {n:,} rows",
        "shap_summary, default sample",
        f"top_contributions, {n:,} rows, top 5",
        "top_contributions, 1 row, top 5",
        f"save_plots, {len(default.matrix):,} rows",
    ]
    top = summary.importances.head(10)
    return "\n".join(
        [
            "### The explain module end to end (one run each)",
            "",
            "| call | seconds |",
            "|---|---|",
            *(f"| `{name}` | {timings.best(name):.2f} |" for name in names),
            "",
            f"Top inputs by mean |SHAP| on the {n:,} explained sales (log space):",
            "",
            "| rank | input | mean abs SHAP |",
            "|---|---|---|",
            *(
                f"| {r['rank']} | {r['feature']} | {r['mean_abs_shap']:.4f} |"
                for r in top.to_dict("records")
            ),
        ]
    )


def _section(
    args: argparse.Namespace,
    started: str,
    started_machine: str,
    n_train: int,
    matrix: pd.DataFrame,
    shap_import: float,
    timings: Timings,
    agreement: list[str],
) -> str:
    import lightgbm
    import shap

    rows = len(matrix)
    categorical = sum(isinstance(dtype, pd.CategoricalDtype) for dtype in matrix.dtypes)
    lightgbm_best = timings.best("lightgbm pred_contrib")
    ways = [
        name for name in timings.seconds if not name.startswith(("shap_summary", "top_", "save_"))
    ]
    way_rows = [
        f"| {name} | {' / '.join(f'{s:.2f}' for s in timings.seconds[name])} | "
        f"{timings.best(name):.2f} | {1000 * timings.best(name) / rows:.2f} | "
        f"{timings.best(name) / lightgbm_best:.2f}× |"
        for name in ways
    ]
    return "\n".join(
        [
            "## SHAP of the valuator's point model (bench_shap.py)",
            "",
            f"- command: `{command()}`",
            f"- date: {started}",
            f"- machine at start: {started_machine}",
            f"- machine at end: {machine()}; shap {shap.__version__}, "
            f"LightGBM {lightgbm.__version__} (1 thread, the valuator's `n_jobs`)",
            "",
            f"Valuator (default parameters, no calibration tail) fitted on the {n_train:,} oldest "
            f"shared StockX sales; SHAP values of its point model on the {rows:,} newest "
            f"({matrix.shape[1]} inputs, {categorical} categorical). "
            f"First `import shap` in this process: {shap_import:.2f} s "
            "(not counted below).",
            "",
            f"| way | seconds, each of {args.repeats} repeats | best | ms per row | "
            "best / LightGBM |",
            "|---|---|---|---|---|",
            *way_rows,
            "",
            "Agreement (log space): largest difference to LightGBM's values, the expected value, "
            "and how far values + expected value miss the model's output (`predict`).",
            "",
            "| way | max abs difference | expected value | max additivity error | "
            "rows off by > 1e-9 |",
            "|---|---|---|---|---|",
            *agreement,
        ]
    )


if __name__ == "__main__":
    main()
