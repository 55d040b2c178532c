"""`cardvalue evaluate`: two sales files in, the three methods' walk-forward metrics out."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from cardvalue_dagster.cli import main
from cardvalue_dagster_tests.core.helpers import synthetic_market

METRIC_KEYS = {"mae", "mape", "mdape", "coverage", "median_width"}


def _write(sales: pd.DataFrame, path: Path) -> Path:
    sales = sales.assign(sale_date=sales["sale_date"].dt.date.astype(str))
    sales.to_csv(path, index=False)
    return path


def _files(tmp_path: Path, test_days: int = 5) -> tuple[Path, Path, pd.DataFrame]:
    sales = synthetic_market(40, 30, seed=8)
    cut = sales["sale_date"].max() - pd.Timedelta(days=test_days - 1)
    train, test = sales[sales["sale_date"] < cut], sales[sales["sale_date"] >= cut]
    return _write(train, tmp_path / "train.csv"), _write(test, tmp_path / "test.csv"), test


def test_json_has_the_three_methods_with_the_agreed_keys(tmp_path: Path) -> None:
    train, test, test_sales = _files(tmp_path)

    arguments = ["--train", str(train), "--test", str(test), "--asset-class", "sneakers"]
    result = CliRunner().invoke(main, ["evaluate", *arguments, "--json"])

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert set(printed) == {"n", "valuator", "comps", "rf"}
    assert printed["n"] == len(test_sales)
    for method in ("valuator", "comps", "rf"):
        assert set(printed[method]) == METRIC_KEYS
        assert 0 <= printed[method]["mdape"] < 0.5
    assert printed["comps"]["coverage"] is None and printed["comps"]["median_width"] is None
    assert 0.5 <= printed["valuator"]["coverage"] <= 1.0
    assert "refit on" in result.stderr and "sales valued per method" in result.stderr


def test_later_test_days_count_earlier_test_days_as_history(tmp_path: Path) -> None:
    """Only the first test day is valued by a model fitted on the training file alone."""
    train, test, test_sales = _files(tmp_path, test_days=9)

    result = CliRunner().invoke(
        main, ["evaluate", "--train", str(train), "--test", str(test), "--asset-class", "sneakers"]
    )

    assert result.exit_code == 0, result.output
    first = sorted(test_sales["sale_date"].dt.date.unique())[0]
    second = first + dt.timedelta(days=7)  # the weekly refit, on known test days
    refits = [line for line in result.stderr.splitlines() if "refit on" in line]
    assert [line.split(":")[0] for line in refits] == [str(first), str(second)]
    n_train = len(pd.read_csv(train))
    known_test = int((test_sales["sale_date"].dt.date < second).sum())
    assert f"refit on {n_train:,} sales" in refits[0]
    assert f"refit on {n_train + known_test:,} sales" in refits[1]
    assert "| valuator |" in result.stdout and "| recent comps (30 d) |" in result.stdout
