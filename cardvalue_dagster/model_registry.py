"""The valuator as an MLflow model: logged with its signature, registered per class, reloaded.

MLflow is imported inside the functions: only runs that train, evaluate or serve pay for it.
"""

from __future__ import annotations

import pickle
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cardvalue_dagster.tracking import registered_model_name

PIP_REQUIREMENTS = ["lightgbm", "pandas", "numpy", "scikit-learn", "duckdb"]
"""Passed explicitly: MLflow spends 8-9 s inferring requirements otherwise."""


@dataclass(frozen=True)
class LoggedModel:
    """Where a trained valuator went in MLflow."""

    run_id: str
    experiment_id: str
    registered_name: str
    version: str


NOT_INPUTS: tuple[str, ...] = ("price_usd", "sale_id")
"""Feature-table columns that are not the model's inputs: the target and the sale's id."""


def log_valuator(valuator: Any, asset_class: str, sample: pd.DataFrame) -> LoggedModel:
    """Log `valuator` to the active MLflow run and register it as a new version of its class.

    The signature is inferred from a sample of the features it was trained on and what it
    predicts for them, so a caller can see the expected columns before sending any. The
    sale's price and id are left out of it: a caller values an item before it sells.
    """
    import mlflow
    from mlflow.models import infer_signature

    from cardvalue_dagster.valuator_pyfunc import ValuatorPyfunc

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_valuator needs an active MLflow run")

    inputs = sample.drop(columns=[c for c in NOT_INPUTS if c in sample.columns])
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # MLflow warns when no input example is logged; the signature above is inferred from
        # real training rows, which is what the example would be used for.
        warnings.filterwarnings("ignore", message=".*An input example was not provided")
        path = Path(folder) / "valuator.pkl"
        path.write_bytes(pickle.dumps(valuator))
        info = mlflow.pyfunc.log_model(
            name="valuator",
            python_model=ValuatorPyfunc(),
            artifacts={"valuator": str(path)},
            signature=infer_signature(inputs, valuator.predict(inputs)),
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=registered_model_name(asset_class),
        )

    return LoggedModel(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        registered_name=registered_model_name(asset_class),
        version=str(info.registered_model_version),
    )


def latest_version(tracking_uri: str, asset_class: str) -> Any | None:
    """The newest registered version of a class's valuator, or None if it was never trained."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    versions = client.search_model_versions(f"name = '{registered_model_name(asset_class)}'")
    if not versions:
        return None
    return max(versions, key=lambda v: int(v.version))


def load_valuator(tracking_uri: str, asset_class: str, version: str) -> Any:
    """The fitted valuator of one registered version, as the core object (not the pyfunc)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    uri = f"models:/{registered_model_name(asset_class)}/{version}"
    folder = mlflow.artifacts.download_artifacts(artifact_uri=f"{uri}/artifacts/valuator.pkl")
    return pickle.loads(Path(folder).read_bytes())


PROMOTED_ALIAS = "champion"
"""The registry alias of the version serving reads; set only when a version passes the gate."""


def promote(tracking_uri: str, asset_class: str, version: str) -> None:
    """Point the class's `champion` alias at `version` (the serving side follows it)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    client.set_registered_model_alias(registered_model_name(asset_class), PROMOTED_ALIAS, version)


def promoted_version(tracking_uri: str, asset_class: str) -> str | None:
    """The version behind the class's `champion` alias, or None if none was ever promoted."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        found = client.get_model_version_by_alias(
            registered_model_name(asset_class), PROMOTED_ALIAS
        )
    except MlflowException:
        return None
    return str(found.version)


def monitored_version(tracking_uri: str, asset_class: str) -> Any | None:
    """The version whose data drift is watched: the champion (what serving answers with), or
    the newest version while none has passed the gate. None if the class was never trained.

    Not the newest version: after a failed gate the champion keeps serving, so it is the
    champion's training window that today's sales must still resemble.
    """
    from mlflow.tracking import MlflowClient

    champion = promoted_version(tracking_uri, asset_class)
    if champion is None:
        return latest_version(tracking_uri, asset_class)
    client = MlflowClient(tracking_uri=tracking_uri)
    return client.get_model_version(registered_model_name(asset_class), champion)
