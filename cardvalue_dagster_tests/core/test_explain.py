"""Explanations: SHAP that finds the true price driver, adds up, converts to USD, and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardvalue_dagster.core.explain import (
    REFERENCE_ENTRY,
    log_contributions,
    reference_breakdown,
    save_plots,
    shap_summary,
    top_contributions,
    usd_contributions,
)
from cardvalue_dagster.core.valuator import ConstantModel, Valuator, ValuatorParams
from cardvalue_dagster_tests.core.helpers import features_of, frame, sale

PARAMS = ValuatorParams(n_estimators=120, quantile_estimators=40, seed=5)
REGION_PREMIUM = {"California": 1.5, "Oregon": 1.0, "Texas": 0.7}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def region_market(days: int = 80, per_day: int = 60, seed: int = 0) -> pd.DataFrame:
    """Sales whose price is the item's level times a large premium of the buyer's region.

    The region is drawn independently of the item, so the comps (item medians) cannot know it:
    only `buyer_region` explains where a sale lands around its reference. Day-of-week and size
    carry no signal beyond small log-normal noise.
    """
    rng = np.random.default_rng(seed)
    regions = list(REGION_PREMIUM)
    rows = []
    for day in range(days):
        for n in range(per_day):
            item, size = int(rng.integers(3)), int(rng.integers(3))
            region = regions[int(rng.integers(len(regions)))]
            noise = float(np.exp(rng.normal(0.0, 0.03)))
            price = round(200.0 * (1 + item) * REGION_PREMIUM[region] * noise, 2)
            attributes = {"brand": "Yeezy", "size": 8.0 + size, "buyer_region": region}
            rows.append(
                sale(day, price, f"item{item}", f"size {8 + size}", attributes=attributes,
                     sale_id=f"s{day}-{n}")
            )  # fmt: skip
    return frame(rows)


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return features_of(region_market())


@pytest.fixture(scope="module")
def fitted(market: pd.DataFrame) -> Valuator:
    return Valuator(PARAMS).fit(market, calibrate=False)


@pytest.fixture(scope="module")
def recent(market: pd.DataFrame) -> pd.DataFrame:
    """The last ten days' sales: each has 30 days of comps behind it."""
    return market[market["sale_date"] >= market["sale_date"].max() - pd.Timedelta(days=9)]


@pytest.fixture(scope="module")
def thin() -> tuple[Valuator, pd.DataFrame]:
    """A valuator on 20 sales: below `min_model_sales`, so its point model is a constant."""
    rows = [sale(day, 100 + 3 * day, "rare", "size 9") for day in range(20)]
    features = features_of(frame(rows))
    return Valuator(PARAMS).fit(features, calibrate=False), features


def test_importances_rank_the_true_price_driver_first(
    fitted: Valuator, market: pd.DataFrame
) -> None:
    summary = shap_summary(fitted, market, sample_size=1500, seed=1)
    table = summary.importances
    mean_abs = dict(zip(table["feature"], table["mean_abs_shap"], strict=True))

    assert table["feature"].iloc[0] == "buyer_region"
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert table["mean_abs_shap"].is_monotonic_decreasing
    assert mean_abs["buyer_region"] > 20 * mean_abs["day_of_week"]
    # ln(1.5) and ln(0.7) around the middle region: a mean |SHAP| of the order of 0.3.
    assert 0.15 < mean_abs["buyer_region"] < 0.6


def test_shap_values_and_expected_value_reproduce_the_point_model(
    fitted: Valuator, market: pd.DataFrame
) -> None:
    summary = shap_summary(fitted, market, sample_size=500, seed=2)

    reproduced = summary.values.sum(axis=1) + summary.expected_value
    np.testing.assert_allclose(reproduced, fitted.point_model.predict(summary.matrix), atol=1e-9)
    assert summary.values.shape == (500, summary.matrix.shape[1])
    assert set(summary.importances["feature"]) == set(summary.matrix.columns)


def test_sample_is_seeded_and_bounded(fitted: Valuator, market: pd.DataFrame) -> None:
    first = shap_summary(fitted, market, sample_size=300, seed=7)
    again = shap_summary(fitted, market, sample_size=300, seed=7)
    other = shap_summary(fitted, market, sample_size=300, seed=8)
    everything = shap_summary(fitted, market.head(100), sample_size=300, seed=7)

    assert first.matrix.index.equals(again.matrix.index)
    np.testing.assert_array_equal(first.values, again.values)
    pd.testing.assert_frame_equal(first.importances, again.importances)
    assert not first.matrix.index.equals(other.matrix.index)
    assert first.matrix.index.is_monotonic_increasing
    assert everything.matrix.index.equals(market.head(100).index)


def test_usd_contributions_add_up_to_value_minus_baseline(
    fitted: Valuator, recent: pd.DataFrame
) -> None:
    value = fitted.predict(recent)["value"].to_numpy()
    matrix, log_ref = fitted.model_inputs(recent)
    values, expected = log_contributions(fitted.point_model, matrix)
    baseline = np.exp(log_ref + expected)

    dollars = usd_contributions(values, baseline)

    np.testing.assert_allclose(dollars.sum(axis=1), value - baseline, rtol=1e-9, atol=1e-6)
    assert (np.sign(dollars) == np.sign(values)).all()


def test_usd_contributions_stay_finite_when_log_contributions_cancel() -> None:
    values = np.array([[0.2, -0.2, 0.0], [0.0, 0.0, 0.0]])

    dollars = usd_contributions(values, np.array([100.0, 50.0]))

    np.testing.assert_allclose(dollars, [[20.0, -20.0, 0.0], [0.0, 0.0, 0.0]])


def test_top_contributions_explain_each_value_in_usd(
    fitted: Valuator, recent: pd.DataFrame
) -> None:
    rows = recent.head(40)
    predicted = fitted.predict(rows)["value"].to_numpy()
    breakdown = reference_breakdown(fitted, rows)

    reasons = top_contributions(fitted, rows, top=3)

    assert len(reasons) == len(rows)
    for entries, account, value, region in zip(
        reasons, breakdown, predicted, rows["buyer_region"], strict=True
    ):
        anchor, *inputs = entries
        assert anchor["feature"] == REFERENCE_ENTRY
        assert anchor["level"] == "iv_30d"
        assert anchor["value"] == pytest.approx(account["reference_usd"])
        assert anchor["contribution_usd"] == pytest.approx(account["baseline_usd"])
        assert account["baseline_usd"] + account["inputs_usd"] == pytest.approx(value)
        assert account["value_usd"] == pytest.approx(value)
        assert 1 <= len(inputs) <= 3
        sizes = [abs(entry["contribution_usd"]) for entry in inputs]
        assert sizes == sorted(sizes, reverse=True)
        assert inputs[0] == {
            "feature": "buyer_region",
            "value": region,
            "contribution_usd": inputs[0]["contribution_usd"],
        }
        assert all(isinstance(e["value"], float | str | type(None)) for e in inputs)


def test_region_contribution_has_the_sign_of_its_premium(
    fitted: Valuator, recent: pd.DataFrame
) -> None:
    reasons = top_contributions(fitted, recent, top=1)
    by_region: dict[str, list[float]] = {}
    for entries in reasons:
        region = entries[1]
        by_region.setdefault(str(region["value"]), []).append(region["contribution_usd"])

    assert min(by_region["California"]) > 0
    assert max(by_region["Texas"]) < 0


def test_constant_model_gives_zero_contributions(thin: tuple[Valuator, pd.DataFrame]) -> None:
    valuator, features = thin

    summary = shap_summary(valuator, features)
    reasons = top_contributions(valuator, features, top=5)
    breakdown = reference_breakdown(valuator, features)

    assert isinstance(valuator.point_model, ConstantModel)
    assert not summary.values.any()
    assert summary.expected_value == valuator.point_model.target
    assert (summary.importances["mean_abs_shap"] == 0).all()
    assert [len(entries) for entries in reasons] == [1] * len(features)
    value = valuator.predict(features)["value"].to_numpy()
    np.testing.assert_allclose([e[0]["contribution_usd"] for e in reasons], value)
    assert all(account["inputs_usd"] == 0 for account in breakdown)


def test_empty_input_gives_no_reasons(fitted: Valuator, market: pd.DataFrame) -> None:
    assert top_contributions(fitted, market.head(0)) == []
    assert reference_breakdown(fitted, market.head(0)) == []
    with pytest.raises(ValueError, match="no rows"):
        shap_summary(fitted, market.head(0))


def test_plots_are_written_as_png(
    fitted: Valuator, market: pd.DataFrame, thin: tuple[Valuator, pd.DataFrame], tmp_path: Path
) -> None:
    import matplotlib.pyplot as plt

    summary = shap_summary(fitted, market, sample_size=300)
    paths = save_plots(summary, tmp_path / "plots", "sneakers")
    constant = save_plots(shap_summary(*thin), tmp_path / "thin", "thin class")

    for written in (paths, constant):
        assert set(written) == {"beeswarm", "bar"}
        for path in written.values():
            assert path.read_bytes()[:8] == PNG_SIGNATURE
            assert path.stat().st_size > 5_000
    assert paths["beeswarm"].parent == tmp_path / "plots"
    assert plt.get_fignums() == []
