"""Player statistics known on a day: contract, point-in-time honesty, speed and name linking."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from cardvalue_dagster.asset_classes import SPORTS
from cardvalue_dagster.sources.canonical import STATS_COLUMNS
from cardvalue_dagster.sources.sports_reference import (
    BUNDLE_DIR,
    resolve_player_id,
    stats_known_on,
)

A_DAY_WITH_DATA = {
    "nba": dt.date(2018, 7, 1),
    "nfl": dt.date(2016, 9, 1),
    "mlb": dt.date(2019, 12, 1),
    "nhl": dt.date(2022, 3, 1),
    "soccer": dt.date(2023, 7, 1),
    "ufc": dt.date(2022, 9, 5),
}

FIRST_KNOWN = {
    "nba": dt.date(1997, 7, 1),
    "nfl": dt.date(2010, 2, 15),
    "mlb": dt.date(2005, 11, 1),
    "nhl": dt.date(2022, 2, 15),
    "soccer": dt.date(2023, 6, 30),
    "ufc": dt.date(1994, 3, 12),
}


def _known_from(sport: str, season: str) -> dt.date:
    """The documented known-from rules, written again independently of the module."""
    if sport == "nba":
        return dt.date(int(season[:4]) + 1, 7, 1)
    if sport == "nfl":
        return dt.date(int(season) + 1, 2, 15)
    if sport == "mlb":
        return dt.date(int(season), 11, 1)
    if sport == "nhl":
        return dt.date(2022, 2, 15)
    if sport == "soccer":
        return dt.date(2023, 6, 30)
    return dt.date.fromisoformat(season) + dt.timedelta(days=1)


@pytest.mark.parametrize("sport", SPORTS)
def test_frame_has_the_stats_contract(sport: str) -> None:
    day = A_DAY_WITH_DATA[sport]
    stats = stats_known_on(sport, day)

    assert list(stats.columns) == list(STATS_COLUMNS)
    assert len(stats) > 100
    assert stats["player_id"].is_unique
    assert stats["player_id"].str.startswith(f"{sport}:").all()
    assert (stats["asset_class"] == sport).all()
    assert stats["as_of_date"].dtype == "datetime64[ns]"
    assert (stats["as_of_date"] == pd.Timestamp(day)).all()
    assert stats["performance"].between(0, 1, inclusive="right").all()
    assert (stats["seasons_played"] >= 1).all()
    assert stats["stats"].map(lambda s: isinstance(json.loads(s), dict)).all()


@pytest.mark.parametrize("sport", SPORTS)
def test_nothing_is_known_before_the_first_season(sport: str) -> None:
    first = FIRST_KNOWN[sport]

    before = stats_known_on(sport, first - dt.timedelta(days=1))
    on = stats_known_on(sport, first)

    assert before.empty
    assert list(before.columns) == list(STATS_COLUMNS)
    assert not on.empty


@pytest.mark.parametrize("sport", SPORTS)
def test_no_line_is_known_after_the_day(sport: str) -> None:
    """The core property: every returned line was public on the day it is returned for."""
    days = pd.date_range(FIRST_KNOWN[sport], "2026-12-31", periods=25).date
    for day in [*days, A_DAY_WITH_DATA[sport]]:
        stats = stats_known_on(sport, day)
        known_from = stats["last_season"].map(lambda s: _known_from(sport, s))
        assert (known_from <= day).all(), f"{sport} on {day} returns a line known later"


def test_nba_season_becomes_known_on_july_first() -> None:
    before = stats_known_on("nba", dt.date(2018, 6, 30)).set_index("player_id")
    after = stats_known_on("nba", dt.date(2018, 7, 1)).set_index("player_id")

    lebron = "nba:lebron-james"
    assert before.at[lebron, "last_season"] == "2016-17"
    assert after.at[lebron, "last_season"] == "2017-18"
    assert "2017-18" not in set(before["last_season"])
    seasons = (before.at[lebron, "seasons_played"], after.at[lebron, "seasons_played"])
    assert seasons == (14, 15)


def test_nba_latest_line_matches_the_bundled_file() -> None:
    """Recompute each player's latest qualifying season from the raw file and compare."""
    day = dt.date(2016, 9, 1)
    raw = pd.read_csv(BUNDLE_DIR / "nba_player_seasons.csv.gz")
    raw = raw[(raw["gp"] >= 10) & (raw["season"].map(lambda s: _known_from("nba", s)) <= day)]
    expected = raw.groupby("player_name")["season"].max()

    stats = stats_known_on("nba", day)
    got = stats.set_index("player_name")["last_season"]
    common = got.index.intersection(expected.index).drop_duplicates(keep=False)

    assert len(common) > 300
    assert (got.loc[common] == expected.loc[common]).all()
    assert set(stats["last_season"]) == {"2013-14", "2014-15", "2015-16"}


def test_ufc_record_excludes_fights_on_or_after_the_day() -> None:
    fights = pd.read_csv(BUNDLE_DIR / "ufc_fights_1994_2023.csv.gz", sep=";")
    fights["date"] = pd.to_datetime(fights["date"], format="%B %d, %Y")
    name = "Israel Adesanya"
    own = fights[(fights["R_fighter"] == name) | (fights["B_fighter"] == name)]
    fight_day = own["date"].max().date()

    on = stats_known_on("ufc", fight_day).set_index("player_name").loc[name]
    after = stats_known_on("ufc", fight_day + dt.timedelta(days=1)).set_index("player_name")

    assert on["seasons_played"] == (own["date"].dt.date < fight_day).sum()
    assert after.loc[name, "seasons_played"] == len(own)
    assert dt.date.fromisoformat(str(on["last_season"])) < fight_day
    assert after.loc[name, "last_season"] == fight_day.isoformat()


def test_ufc_returns_fighters_active_in_the_last_three_years() -> None:
    day = dt.date(2022, 9, 5)
    stats = stats_known_on("ufc", day)
    last_fight = pd.to_datetime(stats["last_season"])

    assert (last_fight < pd.Timestamp(day)).all()
    assert (last_fight >= pd.Timestamp(day) - pd.DateOffset(years=3)).all()
    assert (stats["seasons_played"] == stats["games_played"]).all()


def test_form_is_null_with_a_single_season() -> None:
    stats = stats_known_on("nba", dt.date(2018, 7, 1))
    rookies = stats[stats["seasons_played"] == 1]

    assert not rookies.empty
    assert rookies["form"].isna().all()
    assert stats["form"].notna().mean() > 0.5
    assert stats_known_on("nhl", dt.date(2022, 3, 1))["form"].isna().all()


def test_mlb_ranks_batters_by_ops_and_pitchers_by_era() -> None:
    stats = stats_known_on("mlb", dt.date(2019, 12, 1))

    assert set(stats["headline_stat_name"]) == {"OPS", "ERA"}
    batters = stats[stats["headline_stat_name"] == "OPS"]
    pitchers = stats[stats["headline_stat_name"] == "ERA"]
    assert batters["headline_stat"].corr(batters["performance"], method="spearman") > 0.9
    assert pitchers["headline_stat"].corr(pitchers["performance"], method="spearman") < -0.9


@pytest.mark.parametrize("sport", SPORTS)
def test_later_days_reuse_the_parsed_sources(sport: str, monkeypatch) -> None:
    """Once a sport's files are parsed, a daily partition of another day reads no file again."""
    day = A_DAY_WITH_DATA[sport]
    first = stats_known_on(sport, day)

    def no_reading(*args, **kwargs):
        raise AssertionError(f"{sport}: a source file was read again: {args[:1]}")

    monkeypatch.setattr(pd, "read_csv", no_reading)
    later = stats_known_on(sport, day + dt.timedelta(days=17))

    assert list(later.columns) == list(first.columns) and len(later) > 0


@pytest.mark.parametrize(
    ("sport", "name", "player_id"),
    [
        ("mlb", "Aaron Judge", "mlb:judgeaa01"),
        ("mlb", "aaron judge", "mlb:judgeaa01"),
        ("mlb", "José Altuve", "mlb:altuvjo01"),
        ("mlb", "Ronald Acuña Jr.", "mlb:acunaro01"),
        ("mlb", "Elly De La Cruz", None),
        ("nba", "LEBRON JAMES", "nba:lebron-james"),
        ("nfl", "Tom Brady", "nfl:00-0019596"),
        ("nhl", "Connor McDavid", "nhl:mcdavco01"),
        ("soccer", "Kylian Mbappe", "soccer:kylian-mbappé"),
        ("soccer", "Filip Đuričić", "soccer:filip-uri-i"),
        ("ufc", "Israel Adesanya", "ufc:israel-adesanya"),
        ("ufc", "Nobody Atall", None),
    ],
)
def test_resolve_player_id(sport: str, name: str, player_id: str | None) -> None:
    assert resolve_player_id(sport, name) == player_id


def test_resolved_ids_are_the_ids_in_the_stats() -> None:
    stats = stats_known_on("mlb", dt.date(2019, 12, 1))
    assert resolve_player_id("mlb", "Aaron Judge") in set(stats["player_id"])


def test_unknown_sport_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sport"):
        stats_known_on("cricket", dt.date(2020, 1, 1))
