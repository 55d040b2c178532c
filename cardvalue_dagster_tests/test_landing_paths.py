"""What a landing path says about its rows, and what is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from cardvalue_dagster.automation import bounded_ranges
from cardvalue_dagster.sources.landing import (
    BadLandingPath,
    ingested_days,
    locate,
    write_receipt,
)


def test_class_folder_and_optional_date_folder(tmp_path):
    root = tmp_path / "landing"
    (root / "nba" / "2026-11-02").mkdir(parents=True)
    plain = locate(root / "nba" / "x.csv", root)
    dated = locate(root / "nba" / "2026-11-02" / "y.csv", root)

    assert (plain.asset_class, plain.drop_date, plain.relative_path) == ("nba", None, "nba/x.csv")
    assert dated.drop_date == dt.date(2026, 11, 2)


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("x.csv", "not the root"),
        ("baseball/x.csv", "'baseball' is not an asset class"),
        ("nba/2026-13-45/x.csv", "'2026-13-45' is not a YYYY-MM-DD date"),
        ("nba/a/b/x.csv", "too deep"),
        ("../outside.csv", "outside the landing root"),
    ],
)
def test_bad_paths_are_refused_with_a_reason(tmp_path, relative, message):
    root = tmp_path / "landing"
    root.mkdir()
    with pytest.raises(BadLandingPath, match=message):
        locate(root / relative, root)


def test_a_symlink_out_of_the_landing_root_is_refused(tmp_path):
    root = tmp_path / "landing"
    (root / "nba").mkdir(parents=True)
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n")
    (root / "nba" / "link.csv").symlink_to(secret)

    with pytest.raises(BadLandingPath, match="outside the landing root"):
        locate(root / "nba" / "link.csv", root)


def test_receipts_remember_days_per_file_version_and_class(tmp_path):
    root = tmp_path / "landing"
    (root / "mlb").mkdir(parents=True)
    file = locate(root / "mlb" / "s.csv", root)
    write_receipt(tmp_path / "r", file, "abc", [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "run1")
    write_receipt(tmp_path / "r", file, "abc", [dt.date(2026, 1, 5)], "run2")

    assert ingested_days(tmp_path / "r", "abc", "mlb") == {
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 2),
        dt.date(2026, 1, 5),
    }
    assert ingested_days(tmp_path / "r", "abc", "nba") == set()
    assert ingested_days(tmp_path / "r", "other", "mlb") == set()


def test_bounded_ranges_merge_the_closest_gaps_first():
    d = dt.date(2026, 1, 1)
    days = {d, d + dt.timedelta(1), d + dt.timedelta(3), d + dt.timedelta(10), d + dt.timedelta(30)}

    assert bounded_ranges(days, 10) == [
        (d, d + dt.timedelta(1)),
        (d + dt.timedelta(3), d + dt.timedelta(3)),
        (d + dt.timedelta(10), d + dt.timedelta(10)),
        (d + dt.timedelta(30), d + dt.timedelta(30)),
    ]
    assert bounded_ranges(days, 2) == [(d, d + dt.timedelta(10)), (d + dt.timedelta(30),) * 2]
