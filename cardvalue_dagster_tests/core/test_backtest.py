"""The walk-forward backtest on real StockX sales: shape, metrics, and no use of future data."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from cardvalue_dagster.core import backtest
from cardvalue_dagster.core.backtest import METHODS, walk_forward
from cardvalue_dagster.core.baselines import ForestParams
from cardvalue_dagster.core.features import build_features
from cardvalue_dagster.core.valuator import ValuatorParams
from cardvalue_dagster.sources.landing_formats import parse_landing_file

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
SHARED_STOCKX = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "sneakers"
    / "stockx_2019_contest_train.csv"
)
FAST: dict[str, Any] = {
    "valuator_params": ValuatorParams(n_estimators=120, quantile_estimators=60),
    "forest_params": ForestParams(n_estimators=10),
}


def _stockx(path: Path) -> pd.DataFrame:
    return parse_landing_file(path, path.parent, "sneakers").rows.drop(columns="parse_problem")


def _check_shape_and_provenance(result, test: pd.DataFrame) -> None:
    predictions = result.predictions
    assert len(predictions) == len(test)
    assert set(predictions["sale_id"]) == set(test["sale_id"])
    for column in ("valuator_value", "valuator_lower", "valuator_upper", "comps_value"):
        assert predictions[column].notna().all(), column
    assert predictions["confidence"].isin(["high", "medium", "low", "none"]).all()
    # every model and conformal score behind a prediction predates the sale
    assert (predictions["trained_through"] < predictions["sale_date"]).all()
    calibrated = predictions["calibrated_through"].dropna()
    assert (calibrated < predictions.loc[calibrated.index, "sale_date"]).all()

    metrics = result.metrics()
    assert metrics["n"] == len(test)
    assert set(metrics) == {"n", *METHODS}
    assert metrics["comps"]["coverage"] is None
    assert 0 <= metrics["valuator"]["coverage"] <= 1
    assert "| valuator |" in result.markdown_table()


def test_walk_forward_on_the_stockx_fixture() -> None:
    sales = _stockx(FIXTURE / "stockx_2019_contest_head.csv")
    cut = pd.Timestamp("2017-09-03")
    history, test = sales[sales["sale_date"] < cut], sales[sales["sale_date"] >= cut]

    result = walk_forward(history, test, refit_every_days=1, **FAST)

    _check_shape_and_provenance(result, test)
    assert result.refit_days == [d.date() for d in sorted(test["sale_date"].unique())]


@pytest.mark.skipif(
    not SHARED_STOCKX.exists(),
    reason=f"the shared StockX sample is not on this machine ({SHARED_STOCKX})",
)
def test_walk_forward_on_a_real_slice_never_uses_future_sales() -> None:
    sales = _stockx(SHARED_STOCKX)
    busiest = sales["item_id"].value_counts().index[8:14]
    sales = sales[sales["item_id"].isin(busiest) & (sales["sale_date"] >= "2018-09-01")]
    sales = sales[sales["sale_date"] <= "2018-11-30"].reset_index(drop=True)
    is_test = sales["sale_date"] > "2018-11-18"
    history, test = sales[~is_test], sales[is_test]

    result = walk_forward(history, test, **FAST)
    _check_shape_and_provenance(result, test)
    assert len(result.refit_days) == 2

    # A shock on the last day must not move any earlier prediction.
    last_day = test["sale_date"].max()
    shocked = test.copy()
    shocked.loc[shocked["sale_date"] == last_day, "price_usd"] *= 10
    again = walk_forward(history, shocked, **FAST).predictions
    columns = ["valuator_value", "valuator_lower", "valuator_upper", "comps_value", "rf_value"]
    before = result.predictions.set_index("sale_id")
    after = again.set_index("sale_id").loc[before.index]
    earlier = (before["sale_date"] < last_day).to_numpy()
    np.testing.assert_allclose(after.loc[earlier, columns], before.loc[earlier, columns])


def test_features_spill_to_the_given_folder_or_a_removed_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sales = _stockx(FIXTURE / "stockx_2019_contest_head.csv")
    seen: list[str] = []

    def spying(con: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> pd.DataFrame:
        seen.append(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
        return build_features(con, *args, **kwargs)

    monkeypatch.setattr(backtest, "build_features", spying)
    working = tmp_path / "working"
    working.mkdir()
    monkeypatch.chdir(working)
    given = tmp_path / "spill"
    for spill in (given, None):
        features = backtest._features(backtest._combined(sales, sales.iloc[:0]), spill)
        assert len(features) == len(sales)

    assert seen[0] == str(given)
    assert Path(seen[1]).parent == Path(tempfile.gettempdir())
    assert not Path(seen[1]).exists()
    assert list(working.iterdir()) == []
