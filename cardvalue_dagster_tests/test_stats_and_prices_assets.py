"""sports_stats and hobby_prices materialized in-process into a DuckDB file in a temporary home."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
from dagster import AssetKey

from cardvalue_dagster.definitions import build_definitions
from cardvalue_dagster.partitions import partition_key
from cardvalue_dagster.sources.sports_reference import resolve_player_id
from cardvalue_dagster_tests.conftest import days_from, query, run_range

TCGPLAYER_SAMPLE = (
    Path(__file__).parent / "fixtures" / "landing" / "tcgplayer_pokemon_price_history_head.csv"
)


def test_sports_stats_holds_one_row_per_player_and_day_with_only_seasons_known_that_day(
    home, instance
):
    # The NBA 2017-18 season line becomes known on 2018-07-01; the day before, 2016-17 is latest.
    days = days_from(dt.date(2018, 6, 30), 4)
    defs = build_definitions(home)

    result = run_range(defs, instance, "build_sports_stats", "nba", days[0], days[-1])

    assert result.success
    stats = query(home, "SELECT * FROM sports_stats ORDER BY as_of_date, player_id")
    assert set(stats["asset_class"]) == {"nba"}
    assert sorted(stats["as_of_date"].dt.date.unique()) == days
    assert not stats.duplicated(["as_of_date", "player_id"]).any()
    per_day = stats.groupby(stats["as_of_date"].dt.date)["player_id"].apply(frozenset)
    assert per_day[days[1]] == per_day[days[2]] == per_day[days[3]], "no season ends in July"
    assert per_day[days[0]] != per_day[days[1]]

    lebron = resolve_player_id("nba", "LeBron James")
    assert lebron is not None
    his = stats[stats["player_id"] == lebron]
    his = his.set_index(his["as_of_date"].dt.date)
    assert his.index.tolist() == days
    assert his["last_season"].to_dict() == {
        days[0]: "2016-17",
        days[1]: "2017-18",
        days[2]: "2017-18",
        days[3]: "2017-18",
    }
    # 2016-17: 74 games, 26.4 + 8.6 + 8.7; 2017-18: 82 games, 27.5 + 8.6 + 9.1 per game.
    assert his["games_played"].tolist() == [74, 82, 82, 82]
    assert his["headline_stat"].round(1).tolist() == [43.7, 45.2, 45.2, 45.2]
    assert instance.get_materialized_partitions(AssetKey("sports_stats")) == {
        partition_key("nba", d) for d in days
    }


def test_hobby_prices_holds_the_latest_price_known_on_each_day_and_nothing_later(home, instance):
    (home.landing / "pokemon").mkdir()
    shutil.copy(TCGPLAYER_SAMPLE, home.landing / "pokemon" / TCGPLAYER_SAMPLE.name)
    # The sample's dated rows end their periods on 2025-04-22, 04-23 and 04-24.
    days = days_from(dt.date(2025, 4, 21), 4)
    defs = build_definitions(home)

    result = run_range(defs, instance, "build_hobby_prices", "pokemon", days[0], days[-1])

    assert result.success
    ordered = "SELECT * FROM hobby_prices ORDER BY as_of_date, card_id, printing, source"
    prices = query(home, ordered)
    assert set(prices["asset_class"]) == {"pokemon"}
    assert set(prices["source"]) == {"tcgplayer_history"}
    assert (prices["observed_on"] <= prices["as_of_date"]).all(), "nothing observed after the day"
    assert not prices.duplicated(["as_of_date", "card_id", "printing", "source"]).any()
    counts = prices.groupby(prices["as_of_date"].dt.date).size().to_dict()
    assert counts == {days[1]: 6, days[2]: 8, days[3]: 10}, "no card is known on 2025-04-21"

    def card(name: str) -> pd.DataFrame:
        rows = prices[prices["card_name"] == name]
        return rows.set_index(rows["as_of_date"].dt.date)

    charizard = card("Charizard ex 223")
    assert charizard["set_name"].unique().tolist() == ["SV03"]
    assert charizard["printing"].unique().tolist() == ["holofoil"]
    assert charizard["price_usd"].to_dict() == {days[1]: 55.41, days[2]: 55.86, days[3]: 55.69}
    assert charizard["source_row"].to_dict() == {days[1]: 46, days[2]: 51, days[3]: 57}

    # Gardevoir was not observed on 04-23: that day carries its 04-22 price forward.
    gardevoir = card("Gardevoir ex 245")
    assert gardevoir["price_usd"].to_dict() == {days[1]: 49.73, days[2]: 49.73, days[3]: 49.65}
    assert gardevoir["observed_on"].dt.date.to_dict() == {
        days[1]: days[1],
        days[2]: days[1],
        days[3]: days[3],
    }
    # First observed on 04-24: absent on every earlier day.
    assert card("Mew ex 232").index.tolist() == [days[3]]

    again = run_range(defs, instance, "build_hobby_prices", "pokemon", days[0], days[-1])
    assert again.success
    pd.testing.assert_frame_equal(prices, query(home, ordered))
