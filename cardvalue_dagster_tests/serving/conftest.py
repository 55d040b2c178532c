"""One served home for the serving tests: real sales, a promoted valuator, a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cardvalue_dagster.serving import create_app
from cardvalue_dagster_tests.serving.homes import ServedHome, build_served_home, serving

CHECK_SECONDS = 0.3
"""How often the test server looks up the champion alias again (production: 30 s)."""


@pytest.fixture(scope="session")
def served_home(tmp_path_factory: pytest.TempPathFactory) -> ServedHome:
    """A home with about 800 real StockX sales and 495 MLB sales; sneakers has a champion."""
    return build_served_home(tmp_path_factory.mktemp("served") / "home")


@pytest.fixture(scope="session")
def base_url(served_home: ServedHome) -> Iterator[str]:
    """The service over the served home, live on a loopback port."""
    app = create_app(served_home.home, check_seconds=CHECK_SECONDS)
    with serving(app) as url:
        yield url
