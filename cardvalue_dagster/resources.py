"""Dagster resources: the home folder, the DuckDB warehouse inside it, MLflow, the card APIs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar

from cardvalue_dagster.home import Home
from cardvalue_dagster.warehouse import Warehouse

POKEMONTCG_KEY_ENV = "POKEMONTCG_API_KEY"


class HomeResource(ConfigurableResource):
    """The CARDVALUE_HOME folder: landing zone, receipts, reports, MLflow store."""

    path: str

    @property
    def layout(self) -> Home:
        return Home(Path(self.path))


def build_resources(home: Home) -> dict[str, Any]:
    """The resources every CardValue asset, check, sensor and job runs with, for one home.

    The PokemonTCG.io key is optional (the API allows 30 requests a minute without one): only
    whether the variable is set is looked at here; its value is read by Dagster at run time.
    """
    from cardvalue_dagster.refresh import CardApis
    from cardvalue_dagster.tracking import mlflow_resource

    key = EnvVar(POKEMONTCG_KEY_ENV) if os.environ.get(POKEMONTCG_KEY_ENV) else None
    return {
        "home": HomeResource(path=str(home.root)),
        "warehouse": Warehouse(database=str(home.warehouse)),
        "card_apis": CardApis(pokemontcg_api_key=key),
        "mlflow": mlflow_resource(home),
    }
