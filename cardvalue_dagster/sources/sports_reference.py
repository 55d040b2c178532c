"""Player statistics as they were known on a given day, for the six sports-card classes.

A card's value follows how its player is doing, but a valuation on day d may only use what was
public on d. This module turns the bundled season tables (`bundled/reference/sports/`, see the
PROVENANCE.md there) into *season lines*, each stamped with the day it became known, and answers
`stats_known_on(sport, day)`: the latest line of every recently active player that was known on
`day`, never one published later.

When a season line becomes known (the known-from rule), and what counts as a line:

    sport   line                              known from                       qualifies with
    nba     season '2017-18'                  July 1 of the end year (2018)    >= 10 games
    nfl     season 2015 (passing + rushing)   February 15 of the next year     >= 20 plays
    mlb     season 2015, batter or pitcher    November 1 of the same year      >= 100 PA / 40 IP
    nhl     2021-22 as of February 2022       2022-02-15 (partial season)      >= 1 game
    soccer  FBref Big-5 2022-23               2023-06-30                       >= 450 minutes
    ufc     record to date, fight by fight    the day after each fight         every fight

The headline metric of each sport (`HEADLINE_STATS`) and why:

    nba     points + rebounds + assists per game: rewards stars of every position, not only scorers
    nfl     total EPA, passing plus rushing (nflscrapR): value added; the receiving file is absent,
            so receivers count only through their rushes
    mlb     OPS for batters, ERA for pitchers; each ranks within its own role and season (lower ERA
            ranks higher); a player qualifying in both roles keeps the role he ranks higher in
    nhl     points (goals + assists)
    soccer  goals + assists per 90 minutes (FBref gives goals as a total and assists per 90)
    ufc     win rate, smoothed as (wins + 1) / (fights + 2) so that a 1-0 debutant does not rank
            with a 20-0 champion; the raw win rate is in `stats`

`performance` is the percentile (pandas `rank(pct=True)`, in (0, 1]) of the headline among the
qualifying lines of the same season (UFC: among the fighters active on `day`). `form` is the
latest percentile minus the mean percentile of the player's up to three previous qualifying
lines, null without one; for UFC it is the win share of the last three fights minus the career
win rate, null after a single fight. `seasons_played` counts every season with an appearance,
qualifying or not (MLB adds the seasons before 2005 from People, since only 2005+ rows are
bundled); for UFC it counts fights.

Who is returned: players whose latest known line is in one of the sport's three latest seasons
known on `day`; for UFC, fighters with a fight in the three years before `day`.

Player ids are '<sport>:<source id>': Lahman playerID, GSIS id (NFL), hockey-reference id (NHL),
and name slugs where the source has no id (NBA, soccer, UFC). A slug shared by different people
gets a suffix: the draft year for NBA (`nba:marcus-williams-2006`), the birth year for soccer.

Known shortcomings, said plainly: NHL and soccer each hold a single season, so their form is
always null and their stats never change after they become known (stale by 2026); the soccer
file is itself a mid-season snapshot (at most 23 matches per player) although stamped known at
season end; NFL has no team, position or games column (team and games_played are null,
position is 'QB' for passers with 50+ attempts, else null), its names are abbreviated as in the
source ('T.Brady'), and a few GSIS ids carry different names in different seasons (the latest is
used); two NBA players sharing a name and draft status in the same season (Chris Johnson,
2012-13) collapse to the line with more games.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from cardvalue_dagster.asset_classes import SPORTS
from cardvalue_dagster.sources.canonical import STATS_COLUMNS, attributes_json, slugify

logger = logging.getLogger(__name__)

BUNDLE_DIR = Path(__file__).parent / "bundled" / "reference" / "sports"
"""Where the trimmed sports reference files live (see PROVENANCE.md there)."""

HEADLINE_STATS: dict[str, str] = {
    "nba": "points+rebounds+assists per game",
    "nfl": "total EPA (passing + rushing)",
    "mlb": "OPS (batters) / ERA (pitchers)",
    "nhl": "points",
    "soccer": "goals+assists per 90",
    "ufc": "win rate (smoothed)",
}
"""The headline metric of each sport, as documented in the module docstring."""

ACTIVE_SEASONS = 3
"""A player is returned if his latest line is in the sport's last three known seasons."""

FORM_LOOKBACK = 3
"""`form` compares the latest percentile with the mean of up to this many previous ones."""

UFC_ACTIVE_YEARS = 3
"""A fighter is returned if he fought in this many years before the day."""

NHL_KNOWN_FROM = pd.Timestamp("2022-02-15")
SOCCER_KNOWN_FROM = pd.Timestamp("2023-06-30")

_LINE_COLUMNS: tuple[str, ...] = (
    "player_id",
    "player_name",
    "team",
    "position",
    "last_season",
    "season_key",
    "known_from",
    "seasons_played",
    "games_played",
    "headline_stat_name",
    "headline_stat",
    "performance",
    "form",
    "stats",
)

_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})

_UFC_WEIGHT_CLASS = re.compile(
    r"(Women's Strawweight|Women's Flyweight|Women's Bantamweight|Women's Featherweight"
    r"|Light Heavyweight|Heavyweight|Middleweight|Welterweight|Lightweight|Featherweight"
    r"|Bantamweight|Flyweight|Catch Weight|Open Weight)"
)


def stats_known_on(sport: str, day: dt.date) -> pd.DataFrame:
    """The latest season line of every recently active player, as known on `day`.

    Returns exactly the columns of `STATS_COLUMNS`, one row per player, sorted by player_id; an
    empty frame with those columns if nothing of `sport` was known yet on `day`.
    """
    _require_sport(sport)
    day_ts = pd.Timestamp(day).normalize()

    if sport == "ufc":
        latest = _ufc_snapshot(day_ts)
    else:
        calendar = _season_calendar(sport)
        n_known = int(np.searchsorted(calendar.to_numpy(), day_ts.to_datetime64(), side="right"))
        latest = _season_snapshot(sport, n_known)

    return _stats_frame(sport, latest, day_ts)


def resolve_player_id(sport: str, player_name: str) -> str | None:
    """The player_id of `player_name` in `sport`, or None if no player of that name is known.

    Matching ignores case, accents, punctuation and suffixes like 'Jr.'; when several players
    share a name, the one with the most recent season wins. NFL names are abbreviated in the
    source ('T.Brady'), so a full name matches on last name and first-name prefix; soccer names
    whose accented letters the source destroyed to '?' match any letter there.
    """
    _require_sport(sport)
    key = _name_key(player_name)
    if not key:
        return None

    exact = _name_index(sport).get(key)
    if exact is not None:
        return exact
    if sport == "nfl":
        return _resolve_abbreviated(key)
    if sport == "soccer":
        return _resolve_wildcard(key)
    return None


# --- output ---------------------------------------------------------------------------------


def _stats_frame(sport: str, latest: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """Shape snapshot lines into the `sports_stats` contract for one sport and day."""
    out = pd.DataFrame(
        {
            "asset_class": pd.Series(sport, index=latest.index, dtype=object),
            "as_of_date": pd.Series(day, index=latest.index, dtype="datetime64[ns]"),
            "player_id": latest["player_id"].astype(object),
            "player_name": latest["player_name"].astype(object),
            "team": latest["team"].astype(object),
            "position": latest["position"].astype(object),
            "last_season": latest["last_season"].astype(object),
            "seasons_played": latest["seasons_played"].astype("int64"),
            "games_played": latest["games_played"].astype("Int64"),
            "headline_stat_name": latest["headline_stat_name"].astype(object),
            "headline_stat": latest["headline_stat"].astype(float),
            "performance": latest["performance"].astype(float),
            "form": latest["form"].astype(float),
            "stats": latest["stats"].astype(object),
        },
        columns=list(STATS_COLUMNS),
    )
    return out.reset_index(drop=True)


@functools.lru_cache(maxsize=128)
def _season_snapshot(sport: str, n_known: int) -> pd.DataFrame:
    """Latest line per player when the first `n_known` seasons of `sport` are known."""
    lines = _season_lines(sport)
    if n_known == 0:
        return lines.iloc[0:0]

    keys = _season_keys(sport)
    recent = keys[max(0, n_known - ACTIVE_SEASONS) : n_known]
    known = lines[lines["season_key"] <= keys[n_known - 1]]

    latest = known.drop_duplicates("player_id", keep="last")
    latest = latest[latest["season_key"].isin(recent)]
    return latest.sort_values("player_id", kind="stable")


@functools.lru_cache(maxsize=8)
def _season_calendar(sport: str) -> pd.Series:
    """The known-from day of each season of `sport`, in season order."""
    lines = _season_lines(sport)
    seasons = lines.drop_duplicates("season_key").sort_values("season_key")
    return seasons["known_from"].reset_index(drop=True)


@functools.lru_cache(maxsize=8)
def _season_keys(sport: str) -> tuple[int, ...]:
    return tuple(sorted(_season_lines(sport)["season_key"].unique().tolist()))


# --- season lines ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _season_lines(sport: str) -> pd.DataFrame:
    """All qualifying season lines of `sport`, sorted by player and season, with percentiles."""
    builders = {
        "nba": _nba_lines,
        "nfl": _nfl_lines,
        "mlb": _mlb_lines,
        "nhl": _nhl_lines,
        "soccer": _soccer_lines,
    }
    lines = builders[sport]()
    lines = _add_form(lines)

    logger.info(
        "%s: %d season lines for %d players, seasons %s..%s",
        sport,
        len(lines),
        lines["player_id"].nunique(),
        lines["last_season"].iloc[lines["season_key"].argmin()],
        lines["last_season"].iloc[lines["season_key"].argmax()],
    )
    return lines[list(_LINE_COLUMNS)]


def _nba_lines() -> pd.DataFrame:
    """NBA.com per-game seasons; headline points + rebounds + assists per game."""
    raw = pd.read_csv(BUNDLE_DIR / "nba_player_seasons.csv.gz")
    raw["season_key"] = raw["season"].str[:4].astype(int)
    raw["player_id"] = "nba:" + _disambiguated_slugs(raw["player_name"], raw["draft_year"])

    raw = raw.sort_values(["player_id", "season_key", "gp"], kind="stable")
    raw = raw.drop_duplicates(["player_id", "season_key"], keep="last")
    raw["seasons_played"] = raw.groupby("player_id").cumcount() + 1

    raw["pra"] = (raw["pts"] + raw["reb"] + raw["ast"]).round(1)
    lines = raw[raw["gp"] >= 10].copy()
    stats_cols = ["season", "team_abbreviation", "age", "gp", "pts", "reb", "ast", "pra"]
    stats_cols += ["net_rating", "usg_pct", "ts_pct", "draft_year", "draft_round", "draft_number"]

    return _finish_lines(
        lines.assign(
            team=lines["team_abbreviation"],
            position=None,
            last_season=lines["season"],
            known_from=pd.to_datetime((lines["season_key"] + 1).astype(str) + "-07-01"),
            games_played=lines["gp"],
            headline_stat=lines["pra"],
            stats=_stats_json(lines, stats_cols),
        ),
        sport="nba",
    )


def _nfl_lines() -> pd.DataFrame:
    """nflscrapR season passing and rushing, joined on GSIS id; headline total EPA."""
    passing = pd.read_csv(BUNDLE_DIR / "nfl_season_passing.csv.gz")
    rushing = pd.read_csv(BUNDLE_DIR / "nfl_season_rushing.csv.gz")
    passing = passing.rename(columns={"Passer_ID": "gsis_id"}).add_prefix("pass_")
    rushing = rushing.rename(columns={"Rusher_ID": "gsis_id"}).add_prefix("rush_")

    both = passing.merge(
        rushing,
        left_on=["pass_Season", "pass_gsis_id"],
        right_on=["rush_Season", "rush_gsis_id"],
        how="outer",
    )
    both["season_key"] = both["pass_Season"].fillna(both["rush_Season"]).astype(int)
    both["gsis_id"] = both["pass_gsis_id"].fillna(both["rush_gsis_id"])
    both["player_name"] = both["pass_Player_Name"].fillna(both["rush_Player_Name"])
    counts = ["pass_Attempts", "rush_Carries", "pass_Total_EPA", "rush_Total_EPA"]
    both[counts] = both[counts].fillna(0.0)

    both["player_id"] = "nfl:" + both["gsis_id"].astype(str)
    both = both.sort_values(["player_id", "season_key"], kind="stable")
    both["seasons_played"] = both.groupby("player_id").cumcount() + 1
    both["player_name"] = _latest_name(both)

    both["plays"] = (both["pass_Attempts"] + both["rush_Carries"]).astype(int)
    both["total_epa"] = (both["pass_Total_EPA"] + both["rush_Total_EPA"]).round(3)
    lines = both[both["plays"] >= 20].copy()
    stats_cols = ["season_key", "plays", "total_epa", "pass_Attempts", "pass_Completions"]
    stats_cols += ["pass_Total_Yards", "pass_TDs", "pass_Interceptions", "pass_Total_EPA"]
    stats_cols += ["rush_Carries", "rush_Total_Yards", "rush_TDs", "rush_Fumbles"]
    stats_cols += ["rush_Total_EPA"]

    return _finish_lines(
        lines.assign(
            team=None,
            position=pd.Series("QB", index=lines.index).where(lines["pass_Attempts"] >= 50),
            last_season=lines["season_key"].astype(str),
            known_from=pd.to_datetime((lines["season_key"] + 1).astype(str) + "-02-15"),
            games_played=None,
            headline_stat=lines["total_epa"],
            stats=_stats_json(lines.rename(columns={"season_key": "season"}), _season(stats_cols)),
        ),
        sport="nfl",
    )


def _mlb_lines() -> pd.DataFrame:
    """Lahman batting (OPS) and pitching (ERA) seasons from 2005, stints summed per season."""
    batting = _sum_stints(pd.read_csv(BUNDLE_DIR / "mlb_batting_2005_2019.csv.gz"))
    pitching = _sum_stints(pd.read_csv(BUNDLE_DIR / "mlb_pitching_2005_2019.csv.gz"))
    people = pd.read_csv(BUNDLE_DIR / "mlb_people_2005_2019.csv.gz")

    seasons = _mlb_seasons_played(batting, pitching, people)
    names = people.set_index("playerID")
    full_name = (names["nameFirst"].fillna("") + " " + names["nameLast"].fillna("")).str.strip()

    lines = pd.concat([_mlb_batter_lines(batting), _mlb_pitcher_lines(pitching)])
    lines = lines.merge(seasons, on=["playerID", "yearID"], how="left")
    lines["player_id"] = "mlb:" + lines["playerID"]
    lines["player_name"] = lines["playerID"].map(full_name).fillna(lines["playerID"])
    lines["season_key"] = lines["yearID"]

    return _finish_lines(
        lines.assign(
            team=lines["teamID"],
            last_season=lines["yearID"].astype(str),
            known_from=pd.to_datetime(lines["yearID"].astype(str) + "-11-01"),
            games_played=lines["G"],
        ),
        sport="mlb",
    )


def _mlb_batter_lines(batting: pd.DataFrame) -> pd.DataFrame:
    """Batting seasons with at least 100 plate appearances, headline OPS."""
    b = batting.copy()
    b["PA"] = b["AB"] + b["BB"] + b["HBP"] + b["SF"] + b["SH"]
    b = b[b["PA"] >= 100].copy()

    on_base = b["AB"] + b["BB"] + b["HBP"] + b["SF"]
    total_bases = b["H"] + b["X2B"] + 2 * b["X3B"] + 3 * b["HR"]
    b["AVG"] = (b["H"] / b["AB"]).round(3)
    b["OBP"] = ((b["H"] + b["BB"] + b["HBP"]) / on_base).round(3)
    b["SLG"] = (total_bases / b["AB"]).round(3)
    b["OPS"] = (b["OBP"] + b["SLG"]).round(3)

    stats_cols = ["yearID", "teamID", "G", "PA", "AB", "H", "X2B", "X3B", "HR", "RBI", "SB"]
    stats_cols += ["BB", "SO", "AVG", "OBP", "SLG", "OPS"]
    return b.assign(
        position="batter",
        headline_stat_name="OPS",
        headline_stat=b["OPS"],
        rank_value=b["OPS"],
        rank_group=b["yearID"].astype(str) + "-bat",
        stats=_stats_json(b.rename(columns={"yearID": "season"}), _season(stats_cols, "yearID")),
    )


def _mlb_pitcher_lines(pitching: pd.DataFrame) -> pd.DataFrame:
    """Pitching seasons with at least 40 innings, headline ERA (lower ranks higher)."""
    p = pitching[pitching["IPouts"] >= 120].copy()
    p["IP"] = (p["IPouts"] / 3).round(1)
    p["ERA"] = (27 * p["ER"] / p["IPouts"]).round(2)
    p["WHIP"] = (3 * (p["BB"] + p["H"]) / p["IPouts"]).round(2)

    stats_cols = ["yearID", "teamID", "G", "GS", "W", "L", "SV", "IP", "H", "ER", "HR", "BB"]
    stats_cols += ["SO", "ERA", "WHIP"]
    return p.assign(
        position="pitcher",
        headline_stat_name="ERA",
        headline_stat=p["ERA"],
        rank_value=-p["ERA"],
        rank_group=p["yearID"].astype(str) + "-pit",
        stats=_stats_json(p.rename(columns={"yearID": "season"}), _season(stats_cols, "yearID")),
    )


def _mlb_seasons_played(
    batting: pd.DataFrame, pitching: pd.DataFrame, people: pd.DataFrame
) -> pd.DataFrame:
    """Seasons with any appearance up to each season, including those before 2005."""
    years = pd.concat([batting[["playerID", "yearID"]], pitching[["playerID", "yearID"]]])
    years = years.drop_duplicates().sort_values(["playerID", "yearID"])

    prior = people.set_index("playerID")["seasons_before_2005"]
    years["seasons_played"] = years.groupby("playerID").cumcount() + 1
    years["seasons_played"] += years["playerID"].map(prior).fillna(0).astype(int)
    return years


def _sum_stints(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per player and season: counts summed over stints, team of the last stint."""
    rows = rows.sort_values(["playerID", "yearID", "stint"])
    counts = [c for c in rows.columns if c not in ("playerID", "yearID", "stint", "teamID")]

    summed = rows.groupby(["playerID", "yearID"], as_index=False)[counts].sum()
    teams = rows.groupby(["playerID", "yearID"], as_index=False)["teamID"].last()
    return summed.merge(teams, on=["playerID", "yearID"])


def _nhl_lines() -> pd.DataFrame:
    """Hockey-Reference skaters, 2021-22 as of February 2022; headline points."""
    raw = pd.read_csv(BUNDLE_DIR / "nhl_skaters_2021_22.csv.gz")
    raw = raw[raw["gamesplayed"] >= 1].copy()

    stats_cols = ["season", "team", "age", "position", "gamesplayed", "goals", "assists"]
    stats_cols += ["points", "pm", "pim", "ps", "sog", "shotpct", "toiavg"]
    raw["season"] = "2021-22"

    return _finish_lines(
        raw.assign(
            player_id="nhl:" + raw["playerid"],
            player_name=raw["player"],
            seasons_played=1,
            last_season="2021-22",
            season_key=2021,
            known_from=NHL_KNOWN_FROM,
            games_played=raw["gamesplayed"],
            headline_stat=raw["points"].astype(float),
            stats=_stats_json(raw, stats_cols),
        ),
        sport="nhl",
    )


def _soccer_lines() -> pd.DataFrame:
    """FBref Big-5 2022-23; a player's rows at two clubs are merged; headline G+A per 90."""
    raw = pd.read_csv(BUNDLE_DIR / "soccer_fbref_big5_2022_23.csv.gz", sep=";")
    raw["player_id"] = "soccer:" + _disambiguated_slugs(raw["Player"], raw["Born"])
    raw["assists_total"] = raw["Assists"] * raw["90s"]

    raw = raw.sort_values(["player_id", "Min"], kind="stable")
    totals = ["MP", "Starts", "Min", "90s", "Goals", "assists_total"]
    summed = raw.groupby("player_id")[totals].sum()
    merged = raw.drop_duplicates("player_id", keep="last").set_index("player_id")
    merged[totals] = summed
    merged["clubs"] = raw.groupby("player_id")["Squad"].agg(lambda s: ", ".join(sorted(s)))
    merged = merged.reset_index()

    merged = merged[merged["90s"] >= 5].copy()
    merged["assists_total"] = merged["assists_total"].round(0)
    merged["ga_per90"] = ((merged["Goals"] + merged["assists_total"]) / merged["90s"]).round(3)
    merged["season"] = "2022-23"
    stats_cols = ["season", "Squad", "clubs", "Comp", "Nation", "Pos", "Age", "Born", "MP"]
    stats_cols += ["Starts", "Min", "90s", "Goals", "assists_total", "ga_per90", "SCA", "GCA"]

    return _finish_lines(
        merged.assign(
            player_name=merged["Player"],
            team=merged["Squad"],
            position=merged["Pos"],
            seasons_played=1,
            last_season="2022-23",
            season_key=2022,
            known_from=SOCCER_KNOWN_FROM,
            games_played=merged["MP"],
            headline_stat=merged["ga_per90"],
            stats=_stats_json(merged, stats_cols),
        ),
        sport="soccer",
    )


def _finish_lines(lines: pd.DataFrame, sport: str) -> pd.DataFrame:
    """Rank each line within its season and sort by player and season.

    MLB lines carry their own `rank_group` (season and role) and `rank_value` (ERA negated);
    a player with both a batting and a pitching line keeps the one he ranks higher in.
    """
    lines = lines.copy()
    if "rank_group" not in lines:
        lines["rank_group"] = lines["season_key"]
        lines["rank_value"] = lines["headline_stat"]
    if "headline_stat_name" not in lines:
        lines["headline_stat_name"] = HEADLINE_STATS[sport]

    lines["performance"] = lines.groupby("rank_group")["rank_value"].rank(pct=True)
    lines = lines.sort_values(["player_id", "season_key", "performance"], kind="stable")
    lines = lines.drop_duplicates(["player_id", "season_key"], keep="last")

    lines["known_from"] = pd.to_datetime(lines["known_from"])
    return lines.reset_index(drop=True)


def _add_form(lines: pd.DataFrame) -> pd.DataFrame:
    """Latest percentile minus the mean of the player's up to three previous qualifying ones."""
    by_player = lines.groupby("player_id")["performance"]
    previous = pd.concat([by_player.shift(k) for k in range(1, FORM_LOOKBACK + 1)], axis=1)
    return lines.assign(form=lines["performance"] - previous.mean(axis=1, skipna=True))


# --- UFC ------------------------------------------------------------------------------------


def _ufc_snapshot(day: pd.Timestamp) -> pd.DataFrame:
    """Each active fighter's record over the fights before `day`, ranked among active fighters."""
    records = _ufc_records()
    n_known = int(np.searchsorted(records["known_from"].to_numpy(), day.to_datetime64(), "right"))

    latest = records.iloc[:n_known].drop_duplicates("player_id", keep="last")
    active_since = day - pd.DateOffset(years=UFC_ACTIVE_YEARS)
    latest = latest[latest["fight_date"] >= active_since].copy()

    latest["performance"] = latest["headline_stat"].rank(pct=True)
    return latest.sort_values("player_id", kind="stable")


@functools.lru_cache(maxsize=1)
def _ufc_records() -> pd.DataFrame:
    """One row per fighter and fight: the fighter's record including that fight.

    Sorted by the day the fight became known (the day after it), so that the rows known on a
    day are a prefix of the frame.
    """
    fights = pd.read_csv(BUNDLE_DIR / "ufc_fights_1994_2023.csv.gz", sep=";")
    fights["fight_date"] = pd.to_datetime(fights["date"], format="%B %d, %Y")
    fights["bout"] = np.arange(len(fights))
    for col in ("R_fighter", "B_fighter", "Winner"):
        fights[col] = fights[col].str.strip()

    rows = pd.concat([_ufc_corner(fights, "R", "B"), _ufc_corner(fights, "B", "R")])
    rows = rows.sort_values(["player_id", "fight_date", "bout"], kind="stable")
    rows = _ufc_cumulate(rows)

    rows["known_from"] = rows["fight_date"] + pd.Timedelta(days=1)
    rows = rows.sort_values(["known_from", "bout"], kind="stable").reset_index(drop=True)
    logger.info("ufc: %d fights, %d fighters", len(fights), rows["player_id"].nunique())
    return rows


def _ufc_corner(fights: pd.DataFrame, corner: str, other: str) -> pd.DataFrame:
    """The fights seen from one corner: fighter, opponent, result and method."""
    fighter = fights[f"{corner}_fighter"]
    result = np.where(
        fights["Winner"] == fighter,
        "win",
        np.where(fights["Winner"] == fights[f"{other}_fighter"], "loss", "draw/nc"),
    )
    return pd.DataFrame(
        {
            "player_id": "ufc:" + fighter.map(slugify),
            "player_name": fighter,
            "opponent": fights[f"{other}_fighter"],
            "fight_date": fights["fight_date"],
            "bout": fights["bout"],
            "result": result,
            "method": fights["win_by"],
            "weight_class": fights["Fight_type"].str.extract(_UFC_WEIGHT_CLASS, expand=False),
            "title_fight": fights["Fight_type"].str.contains("Title", na=False),
        }
    )


def _ufc_cumulate(rows: pd.DataFrame) -> pd.DataFrame:
    """Career record to date on every fighter-fight row (rows sorted by fighter and date)."""
    by_fighter = rows.groupby("player_id")
    win = (rows["result"] == "win").astype(int)
    loss = (rows["result"] == "loss").astype(int)
    method = rows["method"].fillna("")

    rows = rows.assign(
        fights=by_fighter.cumcount() + 1,
        wins=win.groupby(rows["player_id"]).cumsum(),
        losses=loss.groupby(rows["player_id"]).cumsum(),
        ko_tko_wins=(win * method.str.contains("KO")).groupby(rows["player_id"]).cumsum(),
        submission_wins=(win * (method == "Submission")).groupby(rows["player_id"]).cumsum(),
        decision_wins=(win * method.str.startswith("Decision")).groupby(rows["player_id"]).cumsum(),
        title_fights=rows["title_fight"].astype(int).groupby(rows["player_id"]).cumsum(),
    )

    recent = pd.concat([win.groupby(rows["player_id"]).shift(k) for k in range(3)], axis=1)
    rows["win_rate"] = (rows["wins"] / rows["fights"]).round(3)
    rows["last3_win_share"] = recent.mean(axis=1, skipna=True).round(3)
    rows["form"] = np.where(rows["fights"] > 1, rows["last3_win_share"] - rows["win_rate"], np.nan)
    rows["headline_stat"] = ((rows["wins"] + 1) / (rows["fights"] + 2)).round(4)

    rows["last_season"] = rows["fight_date"].dt.strftime("%Y-%m-%d")
    stats = rows.rename(
        columns={
            "last_season": "last_fight_date",
            "opponent": "last_opponent",
            "result": "last_result",
            "method": "last_method",
        }
    )
    stats_cols = ["last_fight_date", "weight_class", "fights", "wins", "losses", "win_rate"]
    stats_cols += ["last3_win_share", "ko_tko_wins", "submission_wins", "decision_wins"]
    stats_cols += ["title_fights", "last_opponent", "last_result", "last_method"]

    return rows.assign(
        team=None,
        position=rows["weight_class"],
        seasons_played=rows["fights"],
        games_played=rows["fights"],
        headline_stat_name=HEADLINE_STATS["ufc"],
        stats=_stats_json(stats, stats_cols),
    )


# --- names ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _name_index(sport: str) -> dict[str, str]:
    """Normalised name -> player_id; later seasons (then more games) overwrite earlier ones."""
    lines = _player_names(sport)
    return dict(zip(lines["player_name"].map(_name_key), lines["player_id"], strict=True))


@functools.lru_cache(maxsize=8)
def _player_names(sport: str) -> pd.DataFrame:
    """Every (player_id, player_name) of `sport`, oldest first, so later ones win in a dict."""
    if sport == "ufc":
        lines = _ufc_records()[["player_id", "player_name", "fight_date", "fights"]]
        return lines.sort_values(["fight_date", "fights"], kind="stable")

    lines = _season_lines(sport)[["player_id", "player_name", "season_key", "games_played"]]
    return lines.sort_values(["season_key", "games_played"], kind="stable")


def _resolve_abbreviated(key: str) -> str | None:
    """NFL: match 'tom brady' to 'T.Brady' (first-name prefix, same last name)."""
    parts = key.split(" ")
    if len(parts) < 2:
        return None
    first, last = parts[0], " ".join(parts[1:])

    names = _nfl_abbreviations()
    prefix_fits = names["prefix"].map(first.startswith)
    matches = names[(names["last"] == last) & prefix_fits]
    return None if matches.empty else str(matches["player_id"].iloc[-1])


@functools.lru_cache(maxsize=1)
def _nfl_abbreviations() -> pd.DataFrame:
    """NFL source names split into first-name prefix and last name, oldest season first."""
    names = _player_names("nfl")
    split = names["player_name"].str.extract(r"^\s*([A-Za-z]+)\.\s*(.+)$")
    frame = pd.DataFrame(
        {
            "player_id": names["player_id"],
            "prefix": split[0].str.lower(),
            "last": split[1].map(_name_key, na_action="ignore"),
        }
    )
    return frame.dropna()


def _resolve_wildcard(key: str) -> str | None:
    """Soccer: source names with '?' for destroyed letters match any single letter there."""
    found = None
    for pattern, player_id in _soccer_wildcards():
        if pattern.fullmatch(key):
            found = player_id
    return found


@functools.lru_cache(maxsize=1)
def _soccer_wildcards() -> tuple[tuple[re.Pattern[str], str], ...]:
    names = _player_names("soccer")
    damaged = names[names["player_name"].str.contains("?", regex=False)]
    patterns = []
    for name, player_id in zip(damaged["player_name"], damaged["player_id"], strict=True):
        key = _name_key(name.replace("?", "\x00"), keep="\x00")
        patterns.append((re.compile(re.escape(key).replace("\x00", r"\w")), player_id))
    return tuple(patterns)


def _name_key(name: str, keep: str = "") -> str:
    """Case-, accent- and punctuation-free name; suffixes dropped, initials joined ('jd')."""
    decomposed = unicodedata.normalize("NFKD", str(name))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    cleaned = "".join(ch if ch.isalnum() or ch in keep else " " for ch in plain)

    merged: list[str] = []
    in_initials = False
    for token in cleaned.split():
        if token in _NAME_SUFFIXES:
            continue
        initial = len(token) == 1
        if initial and in_initials:
            merged[-1] += token
        else:
            merged.append(token)
        in_initials = initial
    return " ".join(merged)


# --- helpers --------------------------------------------------------------------------------


def _disambiguated_slugs(names: pd.Series, tiebreak: pd.Series) -> pd.Series:
    """Name slugs, with '-<tiebreak>' appended where one slug covers several tiebreak values."""
    slugs = names.map(slugify)
    ambiguous = tiebreak.astype(str).groupby(slugs).transform("nunique") > 1
    suffix = tiebreak.astype(str).map(slugify)
    return slugs.where(~ambiguous, slugs + "-" + suffix)


def _latest_name(lines: pd.DataFrame) -> pd.Series:
    """Each player's name in his latest line (the source misspells some ids' names)."""
    latest = lines.dropna(subset=["player_name"]).drop_duplicates("player_id", keep="last")
    return lines["player_id"].map(latest.set_index("player_id")["player_name"])


def _season(columns: list[str], key: str = "season_key") -> list[str]:
    """Stats columns with the season key renamed to 'season'."""
    return ["season" if c == key else c for c in columns]


def _stats_json(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The JSON object of `columns` per row: nulls dropped, floats to 4 decimals, whole counts
    as integers."""
    values = frame[columns].copy()
    for col in values.columns:
        if pd.api.types.is_float_dtype(values[col]):
            whole = values[col].dropna().mod(1).eq(0).all()
            values[col] = values[col].astype("Int64") if whole else values[col].round(4)
    values = values.astype(object).where(values.notna(), None)

    records = values.to_dict("records")
    texts = [attributes_json({str(k): v for k, v in r.items()}) for r in records]
    return pd.Series(texts, index=frame.index, dtype=object)


def _require_sport(sport: str) -> None:
    if sport not in SPORTS:
        raise ValueError(f"unknown sport {sport!r}; expected one of {SPORTS}")
