"""The valuation stage: point-in-time features, the per-class valuator, its backtest, promotion.

The math lives in `cardvalue_dagster.core` (no Dagster there); these assets read the warehouse,
call it, write results back, and record each training in MLflow through dagster-mlflow.

A training registers a new model version; `promoted_valuator` moves the class's `champion`
alias (what serving reads) to it only when the backtest gate passed, so a worse model never
replaces a better one by itself.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    ResourceParam,
    asset,
    asset_check,
)

from cardvalue_dagster.asset_classes import HOBBY_GAMES, SPORTS
from cardvalue_dagster.assets.ingest import WAREHOUSE_POOL, hobby_prices, raw_sales, sports_stats
from cardvalue_dagster.assets.metadata import (
    OWNER,
    derived_table_metadata,
    preview,
    table_metadata,
)
from cardvalue_dagster.conditions import follow_new_day, follow_new_model
from cardvalue_dagster.core.features import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, ID_COLUMNS
from cardvalue_dagster.partitions import (
    ASSET_CLASS_DIMENSION,
    class_date_partitions,
    class_partitions,
    history_mapping,
    split_partition_keys,
    subset_mapping,
)
from cardvalue_dagster.resources import HomeResource
from cardvalue_dagster.tracking import tracking_uri
from cardvalue_dagster.warehouse import Warehouse

if TYPE_CHECKING:  # imported inside the assets at run time, keeping the code location fast to load
    from cardvalue_dagster.core.drift import DriftBaseline

FEATURES_GROUP = "features"
MODEL_GROUP = "model"

FEATURE_LOOKBACK_DAYS = 365
"""The longest comps window: a feature partition reads this many earlier days of sales."""

BACKTEST_DAYS = 28
"""The walk-forward backtest values the most recent four weeks of a class's sales."""
REFIT_EVERY_DAYS = 7
"""Valuator and prototype are refit weekly in the backtest; calibration updates daily."""

DRIFT_WARNING_METRIC = "drift_warning_share"
"""The MLflow metric of a training run that holds its version's drift warning share."""

GATE_COVERAGE = (0.87, 0.93)
"""The promotion gate: nominal 90 % intervals must hold 87-93 % of the backtest's sales."""


ID_TYPES = {"sale_date": "DATE", "price_usd": "DOUBLE", "is_simulated": "BOOLEAN"}
FEATURE_TABLE_COLUMNS = {
    **{name: ID_TYPES.get(name, "VARCHAR") for name in ID_COLUMNS},
    **{name: "VARCHAR" if name in CATEGORICAL_COLUMNS else "DOUBLE" for name in FEATURE_COLUMNS},
}
FEATURE_DESCRIPTIONS = {
    "price_usd": "the sale's price: the target, never a feature of its own sale",
    "iv_med_30d": "median price of the same item and variant over the 30 days before the sale",
    "item_med_30d": "median price of the same item, any variant, over the 30 days before",
    "iv_last_price": "price on the latest earlier day the item and variant sold",
    "class_med_30d": "median price of the class over the 30 days before",
    "player_performance": "the player's performance index as of the sale day (sports cards)",
    "ref_price_usd": "the market reference price as of the sale day (hobby cards)",
}


@asset(
    deps=[
        AssetDep(raw_sales, partition_mapping=history_mapping(FEATURE_LOOKBACK_DAYS)),
        AssetDep(sports_stats, partition_mapping=subset_mapping(SPORTS)),
        AssetDep(hobby_prices, partition_mapping=subset_mapping(HOBBY_GAMES)),
    ],
    partitions_def=class_date_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    group_name=FEATURES_GROUP,
    owners=[OWNER],
    kinds={"duckdb", "sql"},
    metadata=derived_table_metadata(
        "enriched_features", FEATURE_TABLE_COLUMNS, FEATURE_DESCRIPTIONS
    ),
    automation_condition=follow_new_day("raw_sales"),
)
def enriched_features(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Each sale of a class and day with what was known before its day: comps, stats, prices.

    Comparable sales come only from earlier days, never the sale's own day or later; player
    statistics and reference prices are the ones known on the sale's day. A day whose raw
    sales had quarantined rows is left out: nothing is built on a partition that failed its
    contract.
    """
    from cardvalue_dagster.core.features import build_features

    partitions = split_partition_keys(context.partition_keys)
    blocked = _days_with_quarantined_rows(warehouse, partitions)
    wanted = [p for p in partitions if p not in blocked]
    if blocked:
        context.log.warning(f"{len(blocked)} partitions skipped: their raw sales failed contract")

    frames = []
    with warehouse.connection() as con:
        for asset_class, days in _days_by_class(wanted).items():
            frames.append(
                build_features(
                    con,
                    "raw_sales",
                    days=sorted(days),
                    asset_classes=[asset_class],
                    stats="sports_stats",
                    prices="hobby_prices",
                )
            )
    features = pd.concat([f for f in frames if not f.empty] or [pd.DataFrame()], ignore_index=True)
    if not features.empty:
        warehouse.replace_partitions("enriched_features", features, wanted)

    context.log.info(f"{len(features):,} sales with features over {len(wanted)} class-days")
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(features),
            "partitions": len(wanted),
            "skipped_partitions": len(blocked),
            "columns": len(features.columns),
            "preview": preview(features),
        }
    )


CLASS_FEATURES = AssetDep(
    enriched_features,
    partition_mapping=MultiToSingleDimensionPartitionMapping(ASSET_CLASS_DIMENSION),
)
"""How a class-partitioned asset (valuator, backtest, SHAP) reads features: every day of its
class."""


@asset(
    deps=[CLASS_FEATURES],
    partitions_def=class_partitions,
    pool=WAREHOUSE_POOL,
    group_name=MODEL_GROUP,
    owners=[OWNER],
    kinds={"lightgbm", "mlflow"},
)
def valuator(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    home: HomeResource,
    mlflow: ResourceParam[Any],
) -> MaterializeResult:
    """A class's valuator: LightGBM on its features, with conformal 90 % intervals.

    Trained on every materialized day of the class; each training is an MLflow run (parameters,
    metrics, the model with its signature) registered as a new version of the class's model.
    The run also records the version's drift warning share (`core.drift.drift_baseline`): how
    much the window's own latest days drift from it, which `drift_report` must exceed to warn.
    """
    from cardvalue_dagster.core.drift import drift_baseline
    from cardvalue_dagster.core.valuator import Valuator
    from cardvalue_dagster.model_registry import log_valuator

    asset_class = context.partition_key
    features = class_features(warehouse, asset_class)
    model = Valuator().fit(features)
    baseline = drift_baseline(features)
    summary = {**_training_summary(model.to_dict()), **_baseline_summary(baseline)}
    mlflow.set_tags({"asset_class": asset_class, "dagster_partition": asset_class})
    mlflow.log_params(model.to_dict()["params"])
    mlflow.log_metrics(summary)
    logged = log_valuator(model, asset_class, features.tail(200))
    mlflow.end_run()

    context.log.info(f"{asset_class}: registered version {logged.version} from run {logged.run_id}")
    context.log.info(f"{asset_class}: drift baseline: {baseline.describe()}")
    return MaterializeResult(
        metadata={
            "first_day": str(features["sale_date"].min())[:10],
            "last_day": str(features["sale_date"].max())[:10],
            "registered_model": logged.registered_name,
            "model_version": logged.version,
            "mlflow_run_id": logged.run_id,
            "mlflow_run": MetadataValue.url(_mlflow_run_url(logged.experiment_id, logged.run_id)),
            "mlflow_store": tracking_uri(home.layout),
            "trained_through": str(model.trained_through)[:10],
            "drift_baseline": baseline.describe(),
            **summary,
        }
    )


BACKTEST_COLUMNS = {
    "method": "valuator, comps (recent comparable sales) or rf (the prototype's forest)",
    "n": "test sales valued",
    "mae": "mean absolute error, USD",
    "mape": "mean absolute percentage error, a fraction",
    "mdape": "median absolute percentage error, a fraction",
    "coverage": "share of test sales inside the 90 % interval (null: no interval)",
    "median_width": "median interval width relative to the value (null: no interval)",
    "model_version": "the registered valuator version trained just before the backtest",
}


@asset(
    deps=[valuator, CLASS_FEATURES],
    partitions_def=class_partitions,
    automation_condition=follow_new_model("valuator"),
    pool=WAREHOUSE_POOL,
    group_name=MODEL_GROUP,
    owners=[OWNER],
    kinds={"lightgbm", "duckdb"},
    metadata=table_metadata("valuator_backtests", BACKTEST_COLUMNS),
)
def valuator_backtest(
    context: AssetExecutionContext, warehouse: Warehouse, home: HomeResource
) -> MaterializeResult:
    """Walk-forward backtest of the last four weeks: valuator vs recent comps vs the prototype.

    Each sale day is valued using only earlier sales; valuator and prototype are refit weekly
    and the valuator's calibration is updated daily. It walks over the class's
    `enriched_features`, the very inputs the valuator was trained on (player statistics and
    reference prices included). The table is logged to the valuator's MLflow run too.
    """
    from cardvalue_dagster.core.backtest import walk_forward_on_features
    from cardvalue_dagster.model_registry import latest_version

    asset_class = context.partition_key
    features = class_features(warehouse, asset_class)
    _, test = _split_last_days(features, BACKTEST_DAYS)
    result = walk_forward_on_features(
        features,
        set(test["sale_id"]),
        refit_every_days=REFIT_EVERY_DAYS,
        progress=context.log.info,
    )
    metrics = result.metrics()
    table = result.markdown_table()

    version = latest_version(tracking_uri(home.layout), asset_class)
    rows = _backtest_rows(asset_class, metrics, test, version.version if version else None)
    warehouse.replace_class_rows("valuator_backtests", rows, asset_class)
    if version is not None:
        _log_backtest_to_run(tracking_uri(home.layout), version.run_id, metrics, table)

    return MaterializeResult(
        metadata={
            "backtest": MetadataValue.md(table),
            "test_sales": int(metrics["n"]),
            "test_days": f"{test['sale_date'].min():%Y-%m-%d}..{test['sale_date'].max():%Y-%m-%d}"
            if not test.empty
            else "none",
            **({"model_version": str(version.version)} if version else {}),
            **_flat_metrics(metrics),
        }
    )


@dataclass(frozen=True)
class GateVerdict:
    """Whether a class's latest backtest clears the promotion gate, and why."""

    passed: bool
    reason: str
    model_version: str | None
    metadata: dict[str, float | None]


def gate_verdict(warehouse: Warehouse, asset_class: str) -> GateVerdict:
    """The gate on the latest backtest: coverage in 87-93 % and median error below comps'."""
    rows = warehouse.query(
        "SELECT * FROM valuator_backtests WHERE asset_class = ?", [asset_class]
    ).set_index("method")
    if not {"valuator", "comps"} <= set(rows.index):
        return GateVerdict(False, "no backtest for this class yet", None, {})

    coverage = _maybe_float(rows.loc["valuator", "coverage"])
    model_error = _maybe_float(rows.loc["valuator", "mdape"])
    comps_error = _maybe_float(rows.loc["comps", "mdape"])
    covered = coverage is not None and GATE_COVERAGE[0] <= coverage <= GATE_COVERAGE[1]
    better = model_error is not None and comps_error is not None and model_error < comps_error
    version: Any = rows.loc["valuator", "model_version"]
    return GateVerdict(
        passed=bool(covered and better),
        reason=_gate_reason(covered, better),
        model_version=None if version is None or pd.isna(version) else str(version),
        metadata={
            "coverage": coverage,
            "valuator_mdape": model_error,
            "comps_mdape": comps_error,
            "test_sales": _maybe_float(rows.loc["valuator", "n"]),
        },
    )


@asset_check(asset=valuator_backtest, partitions_def=class_partitions)
def valuator_backtest_gate(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    """Promotion gate: coverage within 87-93 % and the valuator's median error below comps'."""
    verdict = gate_verdict(warehouse, context.partition_key)
    return AssetCheckResult(
        passed=verdict.passed,
        severity=AssetCheckSeverity.ERROR,
        description=verdict.reason,
        metadata={**verdict.metadata, "model_version": verdict.model_version},
    )


@asset(
    deps=[valuator_backtest],
    partitions_def=class_partitions,
    automation_condition=follow_new_model("valuator_backtest"),
    group_name=MODEL_GROUP,
    owners=[OWNER],
    kinds={"mlflow"},
)
def promoted_valuator(context: AssetExecutionContext, warehouse: Warehouse, home: HomeResource):
    """The version serving uses: the class's `champion` alias in the MLflow model registry.

    The newest registered version is promoted only when the backtest gate passed on it (the
    backtest rows name the version they were computed after); otherwise the alias stays where
    it was, and a class that never passed has no champion (serving answers 503 for it).
    """
    from cardvalue_dagster.model_registry import latest_version, promote, promoted_version

    asset_class = context.partition_key
    uri = tracking_uri(home.layout)
    candidate = latest_version(uri, asset_class)
    if candidate is None:
        raise ValueError(f"no registered valuator for {asset_class}: materialize valuator first")

    verdict = gate_verdict(warehouse, asset_class)
    tested = verdict.model_version == str(candidate.version)
    if verdict.passed and tested:
        promote(uri, asset_class, str(candidate.version))
        context.log.info(f"{asset_class}: version {candidate.version} promoted")
    else:
        why = verdict.reason if tested else "the latest backtest is of another version"
        context.log.warning(f"{asset_class}: version {candidate.version} not promoted: {why}")

    champion = promoted_version(uri, asset_class)
    return MaterializeResult(
        metadata={
            "candidate_version": str(candidate.version),
            "champion_version": champion or "none",
            "promoted": bool(verdict.passed and tested),
            "gate": verdict.reason if tested else "latest backtest is of another version",
        }
    )


def class_features(warehouse: Warehouse, asset_class: str) -> pd.DataFrame:
    """Every stored feature row of a class, in time order; an error naming the asset if none."""
    features = warehouse.query(
        "SELECT * FROM enriched_features WHERE asset_class = ? ORDER BY sale_date, sale_id",
        [asset_class],
    )
    if features.empty:
        raise ValueError(f"no features for {asset_class}: materialize enriched_features first")
    return features


def _training_summary(fitted: dict[str, Any]) -> dict[str, float]:
    """The numbers of a fit worth plotting over trainings: size and conformal scores per tier."""
    summary = {"training_sales": float(fitted["n_train"])}
    for tier, count in fitted["conformal_scores"].items():
        summary[f"conformal_scores_{tier}"] = float(count)
    return summary


def _baseline_summary(baseline: "DriftBaseline") -> dict[str, float]:
    """The version's drift warning share and what it rests on, as MLflow metrics."""
    summary = {
        DRIFT_WARNING_METRIC: float(baseline.warning_share),
        "drift_baseline_days": float(len(baseline.shares)),
    }
    if baseline.highest_share is not None:
        summary["drift_baseline_highest_share"] = float(baseline.highest_share)
    return summary


def _gate_reason(covered: bool, better: bool) -> str:
    if covered and better:
        return "coverage within 87-93 % and median error below recent comps'"
    reasons = []
    if not covered:
        reasons.append("90 % interval coverage outside 87-93 %")
    if not better:
        reasons.append("median error not below recent comps'")
    return "; ".join(reasons)


def _days_with_quarantined_rows(
    warehouse: Warehouse, partitions: list[tuple[str, dt.date]]
) -> set[tuple[str, dt.date]]:
    keys = pd.DataFrame(partitions, columns=["asset_class", "partition_date"])
    with warehouse.connection() as con:
        con.register("run_partitions", keys)
        rows = con.execute(
            "SELECT DISTINCT q.asset_class, q.partition_date FROM quarantine q "
            "JOIN run_partitions p USING (asset_class, partition_date)"
        ).fetchall()
    return {(c, d if isinstance(d, dt.date) else d.date()) for c, d in rows}


def _days_by_class(partitions: list[tuple[str, dt.date]]) -> dict[str, set[dt.date]]:
    grouped: dict[str, set[dt.date]] = defaultdict(set)
    for asset_class, day in partitions:
        grouped[asset_class].add(day)
    return dict(grouped)


def _split_last_days(sales: pd.DataFrame, days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History before, and test within, the last `days` days of sales."""
    if sales.empty:
        return sales, sales
    dates = pd.to_datetime(sales["sale_date"])
    cutoff = dates.max() - pd.Timedelta(days=days - 1)
    return sales[dates < cutoff].copy(), sales[dates >= cutoff].copy()


def _backtest_rows(
    asset_class: str, metrics: dict, test: pd.DataFrame, version: str | None
) -> pd.DataFrame:
    evaluated_at = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = []
    for method in ("valuator", "comps", "rf"):
        rows.append(
            {
                "asset_class": asset_class,
                "method": method,
                "n": metrics["n"],
                **metrics[method],
                "test_start": test["sale_date"].min() if not test.empty else None,
                "test_end": test["sale_date"].max() if not test.empty else None,
                "model_version": version,
                "evaluated_at": evaluated_at,
            }
        )
    return pd.DataFrame(rows)


def _log_backtest_to_run(uri: str, run_id: str, metrics: dict, table: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(
            {f"backtest_{k}": v for k, v in _flat_metrics(metrics).items() if v is not None}
        )
        mlflow.log_text(table, "backtest.md")


def _flat_metrics(metrics: dict) -> dict[str, float | None]:
    flat: dict[str, float | None] = {}
    for method in ("valuator", "comps", "rf"):
        for name, value in metrics[method].items():
            flat[f"{method}_{name}"] = _maybe_float(value)
    return flat


def _maybe_float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _mlflow_run_url(experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI that `cardvalue mlflow` serves on 127.0.0.1:5000."""
    return f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}"


VALUATION_ASSETS = [enriched_features, valuator, valuator_backtest, promoted_valuator]
VALUATION_CHECKS = [valuator_backtest_gate]
