"""The valuator: conformal coverage near nominal, honest tiers, determinism, pickling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from cardvalue_dagster.core.metrics import coverage
from cardvalue_dagster.core.valuator import Valuator, ValuatorParams, conformal_quantile
from cardvalue_dagster_tests.core.helpers import features_of, frame, sale, synthetic_market

TRAIN_DAYS = 90
PARAMS = ValuatorParams(n_estimators=150, quantile_estimators=100, seed=3)


@pytest.fixture(scope="module")
def market_features() -> pd.DataFrame:
    """120 days of an exchangeable market plus one sale of an item never seen before."""
    sales = synthetic_market(days=120, per_day=70, seed=1)
    newcomer = frame([sale(TRAIN_DAYS + 5, 900, "never-seen", "size 9", sale_id="newcomer")])
    return features_of(pd.concat([sales, newcomer], ignore_index=True))


@pytest.fixture(scope="module")
def split(market_features: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    first_test_day = market_features["sale_date"].min() + pd.Timedelta(days=TRAIN_DAYS)
    train = market_features[market_features["sale_date"] < first_test_day]
    test = market_features[market_features["sale_date"] >= first_test_day]
    return train, test


@pytest.fixture(scope="module")
def fitted(split: tuple[pd.DataFrame, pd.DataFrame]) -> Valuator:
    return Valuator(PARAMS).fit(split[0])


def test_conformal_quantile_covers_exchangeable_scores() -> None:
    rng = np.random.default_rng(0)
    calibration, fresh = np.abs(rng.normal(size=2000)), np.abs(rng.normal(size=2000))

    threshold = conformal_quantile(calibration, 0.1)

    assert 0.88 <= float(np.mean(fresh <= threshold)) <= 0.92
    assert conformal_quantile(np.array([]), 0.1) == 0.0
    assert conformal_quantile(np.array([1.0, 2.0]), 0.1) == 2.0  # beyond the largest score


def test_intervals_cover_exchangeable_sales_near_nominal(
    fitted: Valuator, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    test = split[1][split[1]["sale_id"] != "newcomer#0"]
    predicted = fitted.predict(test)

    assert len(test) >= 2000
    assert 0.85 <= coverage(test["price_usd"], predicted["lower"], predicted["upper"]) <= 0.95
    assert (predicted["lower"] <= predicted["value"]).all()
    assert (predicted["value"] <= predicted["upper"]).all()
    assert predicted.index.equals(test.index)


def test_unseen_item_gets_tier_none_and_a_wide_interval(
    fitted: Valuator, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    predicted = fitted.predict(split[1])
    relative_width = (predicted["upper"] - predicted["lower"]) / predicted["value"]
    newcomer = split[1]["sale_id"] == "newcomer#0"

    assert predicted.loc[newcomer, "confidence"].tolist() == ["none"]
    assert set(predicted.loc[~newcomer, "confidence"]) <= {"high", "medium"}
    high = relative_width[predicted["confidence"] == "high"].median()
    assert relative_width[newcomer].iloc[0] > 4 * high
    assert relative_width[newcomer].iloc[0] > 1.0


def test_thin_class_is_never_high() -> None:
    rows = [sale(day, 1000 + day, "painting", "", asset_class="art") for day in range(30)]
    features = features_of(frame(rows))
    valuator = Valuator(PARAMS).fit(features[features["sale_date"] < features["sale_date"].max()])

    tiers = valuator.predict(features.tail(1))["confidence"]

    assert tiers.tolist() == ["low"]


def test_deterministic_and_picklable(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = split[0].tail(2500), split[1].head(300)
    first = Valuator(PARAMS).fit(train).predict(test)
    again = Valuator(PARAMS).fit(train)
    restored = pickle.loads(pickle.dumps(again))

    pd.testing.assert_frame_equal(first, again.predict(test))
    pd.testing.assert_frame_equal(first, restored.predict(test))


def test_recalibrate_adds_scores_and_summary_is_json(
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, test = split[0].tail(2500), split[1]
    valuator = Valuator(PARAMS).fit(train)
    before = sum(valuator.to_dict()["conformal_scores"].values())

    valuator.recalibrate(test.head(200))
    summary = json.loads(json.dumps(valuator.to_dict()))

    assert sum(summary["conformal_scores"].values()) == before + 200
    assert summary["trained_through"] == train["sale_date"].max().date().isoformat()
    assert valuator.calibrated_through == test.head(200)["sale_date"].max()
    assert summary["params"]["seed"] == 3


@pytest.mark.parametrize("sales", [1, 5, 16])
def test_thin_class_fits_and_says_it_knows_little(sales: int) -> None:
    rows = [sale(day % 7, 100.0 + day, item=f"item {day % 3}") for day in range(sales)]
    features = features_of(frame(rows))

    predicted = Valuator().fit(features).predict(features)

    assert set(predicted["confidence"]) <= {"low", "none"}
    assert (predicted["lower"] <= predicted["value"]).all()
    assert (predicted["value"] <= predicted["upper"]).all()
    assert (predicted["upper"] / predicted["lower"] >= 3.0**2 * 0.999).all()
