"""The HTTP service: fair values of collectibles from each class's promoted valuator.

`create_app(home)` builds the FastAPI application that `cardvalue serve` runs. The valuation
itself is `cardvalue_dagster.core.appraisal`; this package adds what serving needs around it:
the promoted model of each class, kept in memory and reloaded when its `champion` alias moves
(`models`), the warehouse read through short-lived read-only connections into per-class
in-memory snapshots (`snapshots`), the valuations of every known item precomputed per snapshot
and model (`known`), the request and response schemas (`schemas`), and the `Appraiser` that the
app and `cardvalue value` share (`service`).
"""

from cardvalue_dagster.serving.app import create_app

__all__ = ["create_app"]
