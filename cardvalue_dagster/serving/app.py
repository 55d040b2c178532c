"""The FastAPI application: fair values, their reasons, and what the platform knows of its models.

Every answer is JSON; the schema is published at /openapi.json (and browsable at /docs). Errors
say what to do: 422 names the field of a malformed request or of an item that cannot be
identified, 503 names the asset to materialize when a class has no promoted model, or says the
warehouse is busy (a run is writing it) and when to retry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi import Query as QueryParam
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from cardvalue_dagster.home import Home
from cardvalue_dagster.serving.models import NoPromotedModel, RegistryUnavailable
from cardvalue_dagster.serving.schemas import (
    AssetClass,
    Health,
    InsightRequest,
    Insights,
    ModelStatus,
    Problem,
    Rows,
    Sales,
    Valuations,
    ValueRequest,
)
from cardvalue_dagster.serving.service import Appraiser, InvalidItem, Query
from cardvalue_dagster.serving.snapshots import (
    WarehouseBusy,
    WarehouseMissing,
    has_table,
    read_only,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
"""What a 503 for a busy warehouse asks the client to wait."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A request body that could not be read as text."},
    422: {"model": Problem, "description": "Malformed request or an item that is not valuable."},
    503: {"model": Problem, "description": "No promoted model for a class, or warehouse busy."},
}


def create_app(home: Home, *, check_seconds: float = 30.0) -> FastAPI:
    """The service over `home`: its warehouse and its MLflow registry.

    `check_seconds` is how often each class's `champion` alias is looked up again. Valuations
    of known items are precomputed in the background per snapshot and model (see `known`).
    """
    appraiser = Appraiser(home, check_seconds=check_seconds, precompute=True)
    app = FastAPI(
        title="CardValue",
        version="1.0",
        description="Fair values of collectibles with 90 % intervals, from promoted valuators.",
        lifespan=_warming_up(appraiser),
    )
    app.state.appraiser = appraiser
    _add_error_handlers(app)
    # Drift reports and SHAP plots, so the Dagster UI's links open in a browser.
    reports = StaticFiles(directory=home.reports, check_dir=False)
    app.mount("/reports", reports, name="reports")

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """Liveness, and the valuator version loaded for each class.

        Promoted models are loaded in the background at startup; null means the class has
        no promoted model, or it is still loading.
        """
        loaded = appraiser.models.loaded()
        precomputed = appraiser.known.counts() if appraiser.known else {}
        return Health(
            status="ok",
            home=str(home.root),
            warehouse_exists=home.warehouse.exists(),
            models={
                c.value: ModelStatus(
                    version=loaded[c.value].version if c.value in loaded else None,
                    loaded_at=loaded[c.value].loaded_at if c.value in loaded else None,
                    precomputed=precomputed.get(c.value, 0),
                )
                for c in AssetClass
            },
        )

    @app.get("/metrics", response_model=Rows, responses=_ERRORS)
    def metrics(asset_class: AssetClass | None = None) -> Rows:
        """The latest walk-forward backtest per class: valuator, recent comps and the forest.

        `valuator_backtest` replaces a class's rows on each materialization, so the table holds
        only the latest backtest of each class.
        """
        sql = (
            "SELECT * FROM valuator_backtests WHERE ($1 IS NULL OR asset_class = $1) "
            "ORDER BY asset_class, method"
        )
        rows = _table_rows(home, "valuator_backtests", sql, [_name(asset_class)])
        return Rows(rows=_materialized(rows, "valuator_backtest", asset_class))

    @app.get("/feature-importances", response_model=Rows, responses=_ERRORS)
    def feature_importances(asset_class: AssetClass | None = None) -> Rows:
        """Mean absolute SHAP value of each model input, ranked per class (1 = most important)."""
        sql = (
            "SELECT * FROM shap_importances WHERE ($1 IS NULL OR asset_class = $1) "
            "ORDER BY asset_class, rank"
        )
        rows = _table_rows(home, "shap_importances", sql, [_name(asset_class)])
        return Rows(rows=_materialized(rows, "shap_summary", asset_class))

    @app.get("/latest-sales", response_model=Sales, responses=_ERRORS)
    def latest_sales(
        asset_class: AssetClass | None = None,
        limit: int = QueryParam(default=20, ge=1, le=1000),
    ) -> Sales:
        """The newest sales in the warehouse; each can be posted back as `attributes`."""
        sql = (
            "SELECT * EXCLUDE (source_format, source_file, source_row) FROM raw_sales "
            "WHERE ($1 IS NULL OR asset_class = $1) ORDER BY sale_date DESC, sale_id LIMIT $2"
        )
        rows = _table_rows(home, "raw_sales", sql, [_name(asset_class), limit])
        for row in rows:
            row["attributes"] = json.loads(row["attributes"] or "{}")
        return Sales(sales=rows)

    @app.post("/predict", response_model=Valuations, responses=_ERRORS)
    def predict(request: ValueRequest) -> Valuations:
        """Fair value, interval and confidence per item, from its class's promoted valuator."""
        valued = _appraise(appraiser, request)
        return Valuations.model_validate({"valuations": valued})

    @app.post("/feature-insights", response_model=Insights, responses=_ERRORS)
    def feature_insights(request: InsightRequest) -> Insights:
        """Valuations with what moved each value (USD) and the comparable sales behind it."""
        valued = _appraise(appraiser, request, reasons=True, top=request.top)
        return Insights.model_validate({"valuations": valued})

    return app


def _appraise(appraiser: Appraiser, request: ValueRequest, **options: Any) -> list[Any]:
    """The request's valuations; an invalid item is located in the request's own form."""
    try:
        return appraiser.value(
            _queries(request), as_of=request.as_of, coverage=request.coverage, **options
        )
    except InvalidItem as exc:
        exc.in_batch = request.items is not None
        raise


class NotMaterialized(LookupError):
    """A read endpoint found nothing because the asset that writes it has not run yet."""

    def __init__(self, asset: str, asset_class: str | None) -> None:
        scope = f"the {asset_class} partition of " if asset_class else ""
        super().__init__(f"nothing yet: materialize {scope}{asset} first")
        self.asset = asset
        self.asset_class = asset_class


def _materialized(
    rows: list[dict[str, Any]], asset: str, asset_class: AssetClass | None
) -> list[dict[str, Any]]:
    """`rows`, or NotMaterialized (a 503 naming the asset) when there are none."""
    if not rows:
        raise NotMaterialized(asset, _name(asset_class))
    return rows


def _queries(request: ValueRequest) -> list[Query]:
    return [Query(q.asset_class.value, q.attributes) for q in request.queries()]


def _name(asset_class: AssetClass | None) -> str | None:
    return None if asset_class is None else asset_class.value


def _table_rows(home: Home, table: str, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows of a query on a short read-only connection; none while the table does not exist."""
    with read_only(home.warehouse) as con:
        if not has_table(con, table):
            return []
        frame = con.execute(sql, params).df()
    return [_plain_record({str(k): v for k, v in r.items()}) for r in frame.to_dict("records")]


def _plain_record(record: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe values: NaN and NaT as null, timestamps as ISO text, numpy as Python."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            out[key] = None
        elif isinstance(value, pd.Timestamp | dt.date | dt.datetime):
            out[key] = value.isoformat()
        elif hasattr(value, "item"):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def _warming_up(appraiser: Appraiser) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that loads every promoted model in a background thread at startup.

    The server answers at once; /health lists each class's version as soon as it is loaded,
    and the first /predict of a class does not pay for loading its model.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        classes = [c.value for c in AssetClass]
        threading.Thread(
            target=appraiser.warm_up, args=(classes,), name="warm-up", daemon=True
        ).start()
        yield

    return lifespan


def _add_error_handlers(app: FastAPI) -> None:
    """Map the service's exceptions to 422 and 503 answers that say what to do."""

    @app.exception_handler(InvalidItem)
    def invalid_item(request: Request, exc: InvalidItem) -> JSONResponse:
        where = ["items", exc.position] if exc.in_batch else []
        location: list[Any] = ["body", *where, "attributes"]
        if exc.field:
            location.append(exc.field)
        detail = [{"loc": location, "msg": str(exc), "type": "unvaluable_item"}]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(NoPromotedModel)
    def no_model(request: Request, exc: NoPromotedModel) -> JSONResponse:
        content = {
            "detail": str(exc),
            "asset": "valuator",
            "partition": exc.asset_class,
        }
        return JSONResponse(status_code=503, content=content)

    @app.exception_handler(NotMaterialized)
    def not_materialized(request: Request, exc: NotMaterialized) -> JSONResponse:
        content = {"detail": str(exc), "asset": exc.asset, "partition": exc.asset_class}
        return JSONResponse(status_code=503, content=content)

    @app.exception_handler(RegistryUnavailable)
    def no_registry(request: Request, exc: RegistryUnavailable) -> JSONResponse:
        return _unavailable(str(exc))

    @app.exception_handler(WarehouseBusy)
    def busy(request: Request, exc: WarehouseBusy) -> JSONResponse:
        return _unavailable(str(exc))

    @app.exception_handler(WarehouseMissing)
    def missing(request: Request, exc: WarehouseMissing) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc), "asset": "raw_sales"})


def _unavailable(message: str) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={"detail": message},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
