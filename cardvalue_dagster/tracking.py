"""MLflow tracking and the model registry, kept under the home, reached through dagster-mlflow.

`mlflow_tracking` is dagster-mlflow's resource, imported only when a run needs it: importing
dagster_mlflow (and so mlflow) costs about 2.3 s, which every process that loads the code
location (each run, the sensors) would otherwise pay. Before delegating, the experiment is
created with its artifact location inside the home; MLflow would otherwise put artifacts under
the working directory. The tracking store is SQLite: MLflow refuses its file store by default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import Field, InitResourceContext, ResourceDefinition, resource

from cardvalue_dagster.home import Home

logger = logging.getLogger(__name__)

EXPERIMENT = "cardvalue-valuator"


def tracking_uri(home: Home) -> str:
    """The SQLite tracking store of `home`."""
    return f"sqlite:///{home.mlflow / 'mlflow.db'}"


def registered_model_name(asset_class: str) -> str:
    """The MLflow registry name of a class's valuator."""
    return f"cardvalue-valuator-{asset_class}"


def ensure_experiment(uri: str, name: str, artifact_root: Path) -> str:
    """Create the experiment with its artifacts under `artifact_root` if it does not exist."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    artifact_root.mkdir(parents=True, exist_ok=True)
    return str(mlflow.create_experiment(name, artifact_location=artifact_root.as_uri()))


@resource(
    config_schema={
        "experiment_name": Field(str, default_value=EXPERIMENT),
        "mlflow_tracking_uri": Field(str),
        "artifact_root": Field(str),
    },
    description="dagster-mlflow's mlflow_tracking, loaded lazily, with artifacts in the home.",
)
def mlflow_tracking(init_context: InitResourceContext) -> Iterator[Any]:
    """dagster-mlflow's resource: one MLflow run per Dagster run, tagged with its run id."""
    from dagster_mlflow import mlflow_tracking as dagster_mlflow_tracking

    config = init_context.resource_config
    ensure_experiment(
        config["mlflow_tracking_uri"], config["experiment_name"], Path(config["artifact_root"])
    )
    # Dagster types resource_fn loosely (with or without a context); this one takes the context.
    resource_fn: Any = dagster_mlflow_tracking.resource_fn
    yield from resource_fn(init_context)


def mlflow_resource(home: Home) -> ResourceDefinition:
    """The tracking resource configured for `home`."""
    return mlflow_tracking.configured(
        {
            "experiment_name": EXPERIMENT,
            "mlflow_tracking_uri": tracking_uri(home),
            "artifact_root": str(home.mlflow / "artifacts"),
        }
    )
