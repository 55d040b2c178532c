"""Request and response bodies of the HTTP service, as published in its OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cardvalue_dagster.asset_classes import ASSET_CLASSES
from cardvalue_dagster.core.appraisal import DAY_RANGE

MAX_BATCH = 1000
"""Most items one request may value."""

AssetClass = Enum("AssetClass", {name: name for name in ASSET_CLASSES}, type=str)  # type: ignore[misc]
"""The twelve asset classes; anything else is rejected with 422 naming the field."""


class ItemQuery(BaseModel):
    """One item to value: its class and what is known about it."""

    asset_class: AssetClass
    attributes: dict[str, Any] = Field(
        description=(
            "What identifies the item: a sale record with item_id (as /latest-sales returns "
            "it), or the class's own fields, e.g. sneakers {sneaker_name, size}, sports cards "
            "{player_name, year, set, card_number, grade}, pokemon {set, card, grade}."
        ),
        examples=[{"sneaker_name": "Adidas Yeezy Boost 350 V2 Zebra", "size": 10}],
    )


class ValueRequest(BaseModel):
    """One item (`asset_class` and `attributes`) or a batch (`items`), valued on `as_of`."""

    model_config = ConfigDict(extra="forbid")

    asset_class: AssetClass | None = None
    attributes: dict[str, Any] | None = None
    items: list[ItemQuery] | None = Field(default=None, min_length=1, max_length=MAX_BATCH)
    as_of: dt.date | None = Field(
        default=None,
        ge=dt.date(1900, 1, 1),
        le=DAY_RANGE[1],
        description="Valuation day; by default the day after the class's newest known sale.",
    )
    coverage: float = Field(default=0.9, gt=0.0, lt=1.0, description="Interval coverage.")

    @model_validator(mode="after")
    def _one_form(self) -> ValueRequest:
        single = self.asset_class is not None or self.attributes is not None
        if single and self.items is not None:
            raise ValueError("give either asset_class and attributes, or items, not both")
        if self.items is None and (self.asset_class is None or self.attributes is None):
            missing = "asset_class" if self.asset_class is None else "attributes"
            raise ValueError(f"{missing} is required (or give a list of items)")
        return self

    def queries(self) -> list[ItemQuery]:
        """The items of the request, a single item included, in order."""
        if self.items is not None:
            return list(self.items)
        assert self.asset_class is not None and self.attributes is not None
        return [ItemQuery(asset_class=self.asset_class, attributes=self.attributes)]


class InsightRequest(ValueRequest):
    """A valuation request that also asks why: contributions and comparable sales."""

    top: int = Field(default=5, ge=1, le=50, description="Inputs to list per item.")


class Valuation(BaseModel):
    """The fair value of one item with its interval and how much data backs it."""

    asset_class: str
    item_id: str
    variant: str
    as_of: dt.date
    value: float
    lower: float
    upper: float
    confidence: str = Field(description="high, medium, low or none (never sold before).")
    coverage: float
    model_version: str


class Contribution(BaseModel):
    """What moved the value: the reference anchor first, then the model's inputs, in USD."""

    model_config = ConfigDict(extra="allow")

    feature: str
    value: float | str | None = None
    contribution_usd: float | None = None


class ComparableSale(BaseModel):
    """A sale the comps were built from."""

    date: dt.date
    price_usd: float
    venue: str | None
    variant: str


class Insight(Valuation):
    """A valuation with its reasons and the comparable sales behind it."""

    reasons: list[Contribution]
    comparable_level: str | None = Field(description="item+variant, item, or null (none).")
    comparable_sales: list[ComparableSale]


class Valuations(BaseModel):
    valuations: list[Valuation]


class Insights(BaseModel):
    valuations: list[Insight]


class ModelStatus(BaseModel):
    version: str | None
    loaded_at: dt.datetime | None = None
    precomputed: int = Field(
        default=0, description="Valuations of known items ready for the class's default day."
    )


class Health(BaseModel):
    status: str
    home: str
    warehouse_exists: bool
    models: dict[str, ModelStatus] = Field(description="Loaded valuator version per class.")


class Rows(BaseModel):
    """Rows of a warehouse table, as JSON records."""

    rows: list[dict[str, Any]]


class Sales(BaseModel):
    sales: list[dict[str, Any]]


class Problem(BaseModel):
    """An error the service answers with instead of a value."""

    detail: Any
