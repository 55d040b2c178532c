"""Explain and watch the valuator: its SHAP summary, and daily drift of its features.

The math is in `cardvalue_dagster.core.explain` and `cardvalue_dagster.core.drift`; these
assets pick the data, save the plots and reports under the home, and put the numbers where the
UI shows them (metadata, plotted over time) and where serving reads them (the warehouse).
"""

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetDep,
    AssetExecutionContext,
    AssetMaterialization,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    Output,
    asset,
)

from cardvalue_dagster.assets.checks import Verdict, partition_evaluations, per_partition_check
from cardvalue_dagster.assets.ingest import WAREHOUSE_POOL
from cardvalue_dagster.assets.metadata import OWNER, table_metadata
from cardvalue_dagster.assets.valuation import (
    CLASS_FEATURES,
    DRIFT_WARNING_METRIC,
    enriched_features,
    valuator,
)
from cardvalue_dagster.conditions import follow_new_day, follow_new_model
from cardvalue_dagster.partitions import (
    ASSET_CLASS_DIMENSION,
    class_date_partitions,
    class_partitions,
    partition_key,
    split_partition_keys,
)
from cardvalue_dagster.resources import HomeResource
from cardvalue_dagster.tracking import tracking_uri
from cardvalue_dagster.warehouse import Warehouse

MONITORING_GROUP = "monitoring"

SHAP_SAMPLE_ROWS = 2000
"""Rows explained per class: a seeded sample of the most recent `SHAP_RECENT_DAYS` of features."""
SHAP_RECENT_DAYS = 90
SHAP_SEED = 0

SHAP_COLUMNS = {
    "feature": "an input of the point model (comps relative to the reference, attributes...)",
    "mean_abs_shap": "mean |SHAP value| over the sample, in log-price units",
    "rank": "1 = the feature that moves valuations most",
    "sample_rows": "rows explained",
    "model_version": "the registered valuator version explained",
}

DRIFT_COLUMNS_DOC = {
    "day": "the sale day compared with the valuator's training window",
    "enough_data": "false when the day had too few sales to judge (see reason)",
    "drifted_share": "share of the feature columns Evidently found drifted",
    "drifted_columns": "JSON list of the drifted columns",
    "warning_share": "the share from which this day warns (its model version's, at least 0.3)",
    "report_path": "the HTML report under the home",
}


@asset(
    deps=[valuator, CLASS_FEATURES],
    partitions_def=class_partitions,
    automation_condition=follow_new_model("valuator"),
    pool=WAREHOUSE_POOL,
    group_name=MONITORING_GROUP,
    owners=[OWNER],
    kinds={"lightgbm", "shap", "mlflow"},
    metadata=table_metadata("shap_importances", SHAP_COLUMNS),
)
def shap_summary(
    context: AssetExecutionContext, warehouse: Warehouse, home: HomeResource
) -> MaterializeResult:
    """What moves the class's valuations: TreeSHAP of the LightGBM point model.

    Explains the newest registered version on a seeded sample of its class's recent features
    (LightGBM's own TreeSHAP, `pred_contrib`; the prototype's forest is never explained). Writes
    the ranked mean |SHAP| per feature to `shap_importances`, a beeswarm and a bar plot under
    `reports/shap/<class>/`, shown here and logged to the version's MLflow run.
    """
    from cardvalue_dagster.core.explain import save_plots
    from cardvalue_dagster.core.explain import shap_summary as explain
    from cardvalue_dagster.model_registry import latest_version, load_valuator

    asset_class = context.partition_key
    uri = tracking_uri(home.layout)
    version = latest_version(uri, asset_class)
    if version is None:
        raise ValueError(f"no registered valuator for {asset_class}: materialize valuator first")
    model = load_valuator(uri, asset_class, str(version.version))

    features = _recent_features(warehouse, asset_class, SHAP_RECENT_DAYS)
    summary = explain(model, features, sample_size=SHAP_SAMPLE_ROWS, seed=SHAP_SEED)
    folder = home.layout.reports / "shap" / asset_class / f"v{version.version}"
    plots = save_plots(summary, folder, f"{asset_class} valuator v{version.version}")

    rows = summary.importances.assign(
        asset_class=asset_class,
        sample_rows=len(summary.matrix),
        model_version=str(version.version),
        computed_at=pd.Timestamp.now(tz="UTC").tz_localize(None),
    )
    warehouse.replace_class_rows("shap_importances", rows, asset_class)
    _log_plots_to_run(uri, version.run_id, plots, summary.importances)

    context.log.info(f"{asset_class}: SHAP of {len(summary.matrix)} rows, plots in {folder}")
    return MaterializeResult(
        metadata={
            "model_version": str(version.version),
            "sample_rows": len(summary.matrix),
            "engine": summary.engine,
            "importances": MetadataValue.md(summary.importances.head(20).to_markdown(index=False)),
            "bar_plot": MetadataValue.md(_inline_png(plots["bar"])),
            "beeswarm_plot": MetadataValue.md(_inline_png(plots["beeswarm"])),
            "bar_png": MetadataValue.path(str(plots["bar"])),
            "beeswarm_png": MetadataValue.path(str(plots["beeswarm"])),
            "top_feature": str(summary.importances["feature"].iloc[0]),
        }
    )


@asset(
    deps=[
        AssetDep(enriched_features),
        AssetDep(
            valuator,
            partition_mapping=MultiToSingleDimensionPartitionMapping(ASSET_CLASS_DIMENSION),
        ),
    ],
    partitions_def=class_date_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=follow_new_day("enriched_features", also_present=("valuator",)),
    pool=WAREHOUSE_POOL,
    group_name=MONITORING_GROUP,
    owners=[OWNER],
    kinds={"evidently", "duckdb"},
    metadata=table_metadata("drift_days", DRIFT_COLUMNS_DOC),
)
def drift_report(
    context: AssetExecutionContext, warehouse: Warehouse, home: HomeResource
) -> Iterator[MaterializeResult | AssetMaterialization]:
    """Has a day's data moved away from what the valuator learned? An Evidently drift report.

    Each class and day: that day's features against the features of the valuator's training
    window (the champion's, or the newest version's while none was promoted; the day itself
    left out), over the columns listed in `cardvalue_dagster.core.drift.DRIFT_COLUMNS`.
    Evidently picks each column's test by its type and the sample size (its defaults). The
    window is sampled to 1,000 rows (seeded), which keeps it on its small-sample tests: the
    K-S test for numeric columns, chi-squared for categorical ones (a Z-test when binary),
    drifted at p < 0.05; a day's size is then accounted for, where its large-sample distances
    (Wasserstein, Jensen-Shannon) flag even same-market days of a few dozen sales
    (`core.drift` says why, with figures). `tests_used` in each partition's metadata names the
    tests actually run. A column empty on one side only counts as drifted. A day with fewer than
    `DEFAULT_MIN_ROWS` sales gets no report and says so. The HTML report is saved under
    `reports/drift/<class>/<day>.html`. Each day records the warning share of the version it
    was judged against (its `drift_warning_share`, at least 0.3), which the check and
    `drift_sensor` apply.

    A run over many days records each partition twice: once with the run's summary (Dagster's
    materialization of the range), then with its own metadata (drifted share, every column's
    score, the report), which is the latest and what the UI plots over time.
    """
    partitions = split_partition_keys(context.partition_keys)
    rows, per_partition = [], {}
    for asset_class, days in _days_by_class(partitions).items():
        window = _training_window(warehouse, home, asset_class)
        current = _features_of_days(warehouse, asset_class, days)
        for day in days:
            day_rows = current[current["sale_date"] == pd.Timestamp(day)]
            row, metadata = _drift_of_day(home, asset_class, day, window, day_rows)
            rows.append(row)
            per_partition[partition_key(asset_class, day)] = metadata
    warehouse.replace_partitions("drift_days", pd.DataFrame(rows), partitions)

    judged = [r for r in rows if r["enough_data"]]
    context.log.info(f"{len(rows)} class-days: {len(judged)} judged, the rest too few sales")
    yield MaterializeResult(metadata={"class_days": len(rows), "judged_days": len(judged)})
    for key, metadata in per_partition.items():
        yield AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=metadata)


@per_partition_check(asset=drift_report, partitions_def=class_date_partitions)
def drift_share_below_warning(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[AssetCheckEvaluation | Output]:
    """Warns when a day's drifted share of feature columns reaches its version's warning share.

    The floor is `DRIFT_SHARE_WARNING` (0.3): the columns move together, so a new price level
    alone drifts about a third of them, while days of a steady market stay near 0. A class whose
    own ordinary days drift more has a higher share, set when the valuator is trained
    (`core.drift.drift_baseline`). Days too thin to judge pass, with the reason in the metadata.
    """
    partitions = split_partition_keys(context.partition_keys)
    stored = warehouse.query(
        "SELECT * FROM drift_days WHERE list_contains(?, asset_class)",
        [sorted({c for c, _ in partitions})],
    )
    verdicts = {}
    for asset_class, day in partitions:
        same_day = (stored["asset_class"] == asset_class) & (stored["day"] == pd.Timestamp(day))
        verdict = _drift_verdict(stored[same_day])
        verdicts[partition_key(asset_class, day)] = verdict
    yield from partition_evaluations(
        drift_report.key, "drift_share_below_warning", verdicts, blocking=False
    )


def _drift_verdict(match: pd.DataFrame) -> Verdict:
    from cardvalue_dagster.core.drift import DRIFT_SHARE_WARNING

    if match.empty:
        return Verdict(False, {"reason": "no drift row stored for this day"})
    row = match.iloc[0]
    stored = row["warning_share"]
    threshold = DRIFT_SHARE_WARNING if pd.isna(stored) else float(stored)
    if not row["enough_data"]:
        return Verdict(True, {"reason": str(row["reason"]), "threshold": threshold})
    share = float(row["drifted_share"])
    return Verdict(share < threshold, {"drifted_share": share, "threshold": threshold})


@dataclass(frozen=True)
class TrainingWindow:
    """What a day is judged against: the monitored version's training features and warning
    share."""

    features: pd.DataFrame
    version: str
    warning_share: float


def _drift_of_day(
    home: HomeResource,
    asset_class: str,
    day: dt.date,
    window: TrainingWindow,
    current: pd.DataFrame,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored row and the partition's metadata for one class and day."""
    from cardvalue_dagster.core.drift import drift_report as compare
    from cardvalue_dagster.core.drift import save_html

    reference, version = window.features, window.version
    result = compare(reference[reference["sale_date"] != pd.Timestamp(day)], current)
    row: dict[str, Any] = {
        "asset_class": asset_class,
        "day": day,
        "enough_data": result.enough_data,
        "reason": result.reason,
        "drifted_share": result.drifted_share,
        "drifted_columns": json.dumps(result.drifted_columns) if result.enough_data else None,
        "n_current": result.n_current,
        "n_reference": result.n_reference,
        "methods": ", ".join(result.methods_used) or None,
        "report_path": None,
        "model_version": version,
        "warning_share": window.warning_share,
    }
    metadata: dict[str, Any] = {
        "enough_data": result.enough_data,
        "current_sales": result.n_current,
        "reference_sales": result.n_reference,
        "model_version": version,
        "warning_share": window.warning_share,
    }
    if not result.enough_data:
        metadata["reason"] = str(result.reason)
        return row, metadata

    path = save_html(result, home.layout.reports / "drift" / asset_class / f"{day}.html")
    row["report_path"] = str(path)
    metadata.update(
        {
            "drifted_share": float(result.drifted_share or 0.0),
            "drifted_columns": ", ".join(result.drifted_columns) or "none",
            "tests_used": ", ".join(result.methods_used),
            "report": MetadataValue.path(str(path)),
            "report_url": MetadataValue.url(home.layout.report_url(path)),
            **_column_scores(result.per_column),
        }
    )
    return row, metadata


def _column_scores(per_column: pd.DataFrame) -> dict[str, float]:
    """Each judged column's drift score, as numeric metadata the UI can plot over days."""
    scores = per_column.dropna(subset=["score"])
    return {
        f"score/{column}": float(score)
        for column, score in zip(scores["column"], scores["score"], strict=True)
    }


def _training_window(warehouse: Warehouse, home: HomeResource, asset_class: str) -> TrainingWindow:
    """The class's features up to the monitored version's last training day.

    The monitored version is the champion (what serving answers with), or the newest version
    while none passed the gate (`model_registry.monitored_version`).

    A version trained before warning shares were recorded warns from the floor, 0.3.
    """
    from mlflow.tracking import MlflowClient

    from cardvalue_dagster.core.drift import DRIFT_SHARE_WARNING
    from cardvalue_dagster.model_registry import load_valuator, monitored_version

    uri = tracking_uri(home.layout)
    version = monitored_version(uri, asset_class)
    if version is None:
        raise ValueError(f"no registered valuator for {asset_class}: materialize valuator first")
    model = load_valuator(uri, asset_class, str(version.version))
    reference = warehouse.query(
        "SELECT * FROM enriched_features WHERE asset_class = ? AND sale_date <= ?",
        [asset_class, model.trained_through.date()],
    )
    metrics = MlflowClient(tracking_uri=uri).get_run(version.run_id).data.metrics
    warning = float(metrics.get(DRIFT_WARNING_METRIC, DRIFT_SHARE_WARNING))
    return TrainingWindow(_as_dates(reference), str(version.version), warning)


def _features_of_days(warehouse: Warehouse, asset_class: str, days: list[dt.date]) -> pd.DataFrame:
    frame = warehouse.query(
        "SELECT * FROM enriched_features WHERE asset_class = ? "
        "AND list_contains(?::DATE[], CAST(sale_date AS DATE))",
        [asset_class, days],
    )
    return _as_dates(frame)


def _recent_features(warehouse: Warehouse, asset_class: str, days: int) -> pd.DataFrame:
    frame = warehouse.query(
        "SELECT * FROM enriched_features WHERE asset_class = ? AND sale_date >= "
        "(SELECT max(sale_date) FROM enriched_features WHERE asset_class = ?) "
        "- to_days(CAST(? AS INTEGER))",
        [asset_class, asset_class, days],
    )
    if frame.empty:
        raise ValueError(f"no features for {asset_class}: materialize enriched_features first")
    return frame


def _as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    if not frame.empty:
        frame["sale_date"] = pd.to_datetime(frame["sale_date"])
    return frame


def _days_by_class(partitions: list[tuple[str, dt.date]]) -> dict[str, list[dt.date]]:
    grouped: dict[str, list[dt.date]] = {}
    for asset_class, day in partitions:
        grouped.setdefault(asset_class, []).append(day)
    return grouped


def _inline_png(path: Path) -> str:
    """Markdown that shows the PNG inline in the Dagster UI (a data URI; the file stays too)."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"![{path.stem}](data:image/png;base64,{encoded})"


def _log_plots_to_run(uri: str, run_id: str, plots: dict[str, Path], table: pd.DataFrame) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        for path in plots.values():
            mlflow.log_artifact(str(path), artifact_path="shap")
        mlflow.log_text(table.to_markdown(index=False), "shap/importances.md")


MONITORING_ASSETS = [shap_summary, drift_report]
MONITORING_CHECKS = [drift_share_below_warning]
