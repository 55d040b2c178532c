"""Reading portfolio files (bad lines named, never fatal) and adding up their values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from cardvalue_dagster.core.portfolio import portfolio_summary, read_portfolio


def test_csv_lines_become_items_and_bad_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "vault.csv"
    path.write_text(
        "label,asset_class,sneaker_name,size,cost_basis_usd\n"
        "Sesame 10,sneakers,Adidas-Yeezy-Boost-350-V2-Sesame,10,260\n"
        "mystery,comics,Action Comics,,\n"
        "cheap,sneakers,Some Shoe,9,-5\n"
    )

    lines, bad = read_portfolio(path)

    assert [line.line for line in lines] == [1]
    assert lines[0].attributes == {"sneaker_name": "Adidas-Yeezy-Boost-350-V2-Sesame", "size": "10"}
    assert lines[0].cost_basis_usd == 260.0
    assert [(b.file, b.line) for b in bad] == [("vault.csv", 2), ("vault.csv", 3)]
    assert "comics" in bad[0].rule and "cost_basis_usd" in bad[1].rule


def test_json_attributes_object_and_loose_keys_merge(tmp_path: Path) -> None:
    path = tmp_path / "vault.json"
    path.write_text(
        json.dumps([{"asset_class": "MLB", "grade": 10, "attributes": {"player": "Aaron Judge"}}])
    )

    [line], bad = read_portfolio(path)

    assert not bad and line.asset_class == "mlb"
    assert line.attributes == {"grade": 10, "player": "Aaron Judge"}


def test_total_interval_adds_bounds_and_names_the_shaky_share() -> None:
    valued = pd.DataFrame(
        {
            "status": ["valued", "valued", "not valued: unknown item"],
            "value": [100.0, 300.0, None],
            "lower": [90.0, 200.0, None],
            "upper": [120.0, 450.0, None],
            "confidence": ["high", "low", None],
            "cost_basis_usd": [80.0, None, 50.0],
        }
    )

    summary = portfolio_summary(valued)

    assert summary["total_value"] == 400.0
    assert (summary["total_lower"], summary["total_upper"]) == (290.0, 570.0)
    assert summary["independent_lower"] == pytest.approx(400 - math.hypot(10, 100))
    assert summary["independent_upper"] == pytest.approx(400 + math.hypot(20, 150))
    assert summary["total_lower"] <= summary["independent_lower"] <= summary["total_value"]
    assert summary["not_confident_share"] == pytest.approx(0.75)
    assert (summary["valued_items"], summary["unvalued_items"]) == (2, 1)
    assert summary["cost_basis_usd"] == 80.0
