"""Landing-zone parsers on real samples: detection by content, canonical rows, row problems.

The samples in `fixtures/landing/` are byte-exact prefixes of the real files in shared/data (see
the PROVENANCE.md there). Single real lines from later in those files are quoted inline where a
test needs a case the prefix does not hold. Tests on the complete files skip if they are absent.
"""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cardvalue_dagster.sources.canonical import PRICE_COLUMNS, SALE_COLUMNS
from cardvalue_dagster.sources.landing_formats import (
    CANONICAL_INPUT_COLUMNS,
    LandingFileError,
    ParsedFile,
    detect_format,
    parse_landing_file,
)

FIXTURES = Path(__file__).parent / "fixtures" / "landing"
SHARED = Path("/work/shared/data")

SAMPLES: dict[str, tuple[str, str]] = {
    "stockx": ("stockx_2019_contest_head.csv", "sneakers"),
    "ebay_130point": ("ebay_topps_chrome_psa10_sales_head.csv", "mlb"),
    "psa_apr": ("psa_apr_pokemon_mtg_head.csv", "pokemon"),
    "tcgplayer_history": ("tcgplayer_pokemon_price_history_head.csv", "pokemon"),
    "pricecharting_graded": ("pricecharting_pokemon_graded_head.csv", "pokemon"),
}
"""Format -> (sample file, landing class it is dropped into)."""

SALE_OUTPUT = [*SALE_COLUMNS, "parse_problem"]
PRICE_OUTPUT = [*PRICE_COLUMNS, "parse_problem"]

STOCKX_HEADER = (
    "Order Date,Brand,Sneaker Name,Sale Price,Retail Price,Release Date,Shoe Size,Buyer Region"
)
STOCKX_FIRST = (
    '9/1/17, Yeezy,Adidas-Yeezy-Boost-350-Low-V2-Beluga,"$1,097 ",$220 ,9/24/16,11,California'
)
EBAY_HEADER = "player_name,card_id,sale_date,sold_price"
EBAY_TITLE_CASE = (  # line 75 of the shared file
    "Gunnar Henderson,Gunnar Henderson_2023 Topps Chrome PSA 10,2023-11-29 19:00:00+00:00,28.06"
)
PSA_LINES = {  # lines 140, 495 and 1133 of the shared file
    "empty_grade": "2002-pokemon-neo-destiny-shining-mewtwo.csv,tcg-cards,2002-pokemon-neo-destiny,"
    "shining-mewtwo,5/12/2017,,,11.99,eBay,4_sharp_corners,Buy It Now,28813838,"
    "https://d9nvuahg4xykp.cloudfront.net/3200414257844888644/-8166625037796411897.jpg,"
    "https://www.psacard.com/auctionprices/tcg-cards/2002-pokemon-neo-destiny/shining-mewtwo/"
    "auction/1445831",
    "authentic": "1999-pokemon-game-charizard-holo.csv,tcg-cards,1999-pokemon-game,charizard-holo,"
    "11/6/2017,Authentic,,1188.0,eBay,muckinmofo,Best Offer,26765152,"
    "https://d9nvuahg4xykp.cloudfront.net/-8896947120434142991/4371101873886568717.jpg,"
    "https://www.psacard.com/auctionprices/tcg-cards/1999-pokemon-game/charizard-holo/auction/"
    "853444",
    "qualifier": "1999-pokemon-game-charizard-holo.csv,tcg-cards,1999-pokemon-game,charizard-holo,"
    "7/23/2018,9.0,(OC),3849.0,eBay,jusboro,Auction,41204748,"
    "https://d1w8cc2yygc27j.cloudfront.net/-6570558075195380879/3220877107320598221.jpg,"
    "https://www.psacard.com/auctionprices/tcg-cards/1999-pokemon-game/charizard-holo/auction/"
    "1964306",
}
TCG_HEADER = (
    "set,type,period,name,period_start_date,period_end_date,timestamp,holofoil_price,volume,"
    "period_start_date_fixed,period_end_date_fixed"
)
TCG_LINES = [  # lines 1179, 6918 and 6920 of the shared file
    "SV09,Booster Box,3M,Journey Together,2025-05-21,2025-05-23,2025-07-24 22:18:34,0.0,1,"
    "2025-05-21,2025-05-23",
    "SV02,Card,3M,Magikarp 203,2026-10-02,2026-10-04,2026-01-01 06:26:46,399.58,4,2025-10-02,"
    "2025-10-04",
    "SV03,Booster Box,3M,Obsidian Flames,2026-10-02,2026-10-04,2026-01-01 06:22:14,332.29,7,"
    "2025-10-02,2025-10-04",
]
PRICECHARTING_FAILED = (  # line 227 of the shared file
    "pokemon-twilight-masquerade,ninetails,27,,2025-12-24T20:41:06.548765,"
    "2025-12-24T20:42:52.260763,,,,,,,failed,parsing_failed,Price table not found on page "
    "(tried id=price_data and class=info_box),"
    "https://www.pricecharting.com/game/pokemon-twilight-masquerade/ninetails-27"
)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


def sample_bytes(fmt: str) -> bytes:
    return (FIXTURES / SAMPLES[fmt][0]).read_bytes()


def drop(landing: Path, asset_class: str, name: str, data: bytes | str) -> Path:
    """Write `data` to landing/<asset_class>/<name> (name may hold a date folder)."""
    path = landing / asset_class / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def parse_sample(landing: Path, fmt: str, name: str | None = None) -> ParsedFile:
    file_name, asset_class = SAMPLES[fmt]
    path = drop(landing, asset_class, name or file_name, sample_bytes(fmt))
    return parse_landing_file(path, landing, asset_class)


def csv_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def without_provenance(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns=["source_file"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Detection


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
@pytest.mark.parametrize("name", ["data.txt", "weird.csv", "prices.json", "no_extension"])
def test_each_sample_is_detected_from_its_content_not_its_name(
    tmp_path: Path, fmt: str, name: str
) -> None:
    path = tmp_path / name
    shutil.copyfile(FIXTURES / SAMPLES[fmt][0], path)
    assert detect_format(path) == fmt


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_gzipped_sample_parses_like_the_plain_one(landing: Path, fmt: str) -> None:
    asset_class = SAMPLES[fmt][1]
    plain = parse_sample(landing, fmt)
    path = drop(landing, asset_class, "2025-01-01/blob.gz", gzip.compress(sample_bytes(fmt)))

    assert detect_format(path) == fmt
    zipped = parse_landing_file(path, landing, asset_class, dt.date(2025, 1, 1))
    assert zipped.format == fmt
    assert zipped.relative_path == f"{asset_class}/2025-01-01/blob.gz"
    assert set(zipped.rows["source_file"]) == {f"{asset_class}/2025-01-01/blob.gz"}
    pd.testing.assert_frame_equal(without_provenance(zipped.rows), without_provenance(plain.rows))
    assert zipped.skipped_rows == plain.skipped_rows


# --------------------------------------------------------------------------------------------
# Sales formats on their real samples


def test_stockx_sample(landing: Path) -> None:
    parsed = parse_sample(landing, "stockx")
    rows = parsed.rows

    assert (parsed.format, parsed.table) == ("stockx", "sales")
    assert list(rows.columns) == SALE_OUTPUT
    assert len(rows) == 60
    assert rows["parse_problem"].isna().all()
    first = rows.iloc[0]
    assert first["sale_date"] == pd.Timestamp("2017-09-01")
    assert first["price_usd"] == 1097.0
    assert first["item_id"] == "sneakers:adidas-yeezy-boost-350-low-v2-beluga"
    assert first["item_name"] == "Adidas-Yeezy-Boost-350-Low-V2-Beluga"
    assert first["variant"] == "size 11"
    assert (first["venue"], first["condition"]) == ("StockX", "new")
    assert pd.isna(first["grade"]) and first["grading_company"] is None
    assert json.loads(first["attributes"]) == {
        "brand": "Yeezy",
        "size": 11.0,
        "retail_price_usd": 220.0,
        "release_date": "2016-09-24",
        "buyer_region": "California",
    }
    assert first["source_row"] == 1 and rows["source_row"].iloc[-1] == 60
    assert not rows["is_simulated"].any()
    assert rows["sale_id"].str.fullmatch(r"[0-9a-f]{20}").all()
    assert rows["sale_id"].is_unique


def test_stockx_types(landing: Path) -> None:
    rows = parse_sample(landing, "stockx").rows
    assert rows["sale_date"].dtype == "datetime64[ns]"
    assert (rows["sale_date"] == rows["sale_date"].dt.normalize()).all()
    assert rows["price_usd"].dtype == "float64"
    assert rows["grade"].dtype == "float64"
    assert rows["source_row"].dtype == "int64"
    assert rows["is_simulated"].dtype == bool
    for column in ("sale_id", "item_id", "variant", "attributes", "parse_problem"):
        assert rows[column].dtype == object


def test_stockx_half_sizes_and_name_case(landing: Path) -> None:
    lower_case = STOCKX_FIRST.replace("Adidas-Yeezy", "adidas-Yeezy").replace(",11,", ",11.5,")
    path = drop(landing, "sneakers", "x.csv", csv_text(STOCKX_HEADER, STOCKX_FIRST, lower_case))
    rows = parse_landing_file(path, landing, "sneakers").rows

    assert rows["item_id"].nunique() == 1
    assert list(rows["item_name"]) == [
        "Adidas-Yeezy-Boost-350-Low-V2-Beluga",
        "adidas-Yeezy-Boost-350-Low-V2-Beluga",
    ]
    assert list(rows["variant"]) == ["size 11", "size 11.5"]
    assert json.loads(rows["attributes"][1])["size"] == 11.5


def test_ebay_130point_sample(landing: Path) -> None:
    parsed = parse_sample(landing, "ebay_130point")
    rows = parsed.rows

    assert (parsed.format, parsed.table, len(rows)) == ("ebay_130point", "sales", 60)
    assert rows["parse_problem"].isna().all()
    first = rows.iloc[0]
    assert first["asset_class"] == "mlb"
    assert first["item_id"] == "mlb:aaron-judge-2017-topps-chrome"
    assert first["item_name"] == "Aaron Judge 2017 Topps Chrome"
    assert first["sale_date"] == pd.Timestamp("2022-01-14")
    assert first["price_usd"] == 80.0
    assert (first["variant"], first["grade"], first["grading_company"]) == ("PSA 10", 10.0, "PSA")
    assert first["venue"] == "eBay"
    assert json.loads(first["attributes"]) == {
        "player_name": "Aaron Judge",
        "year": 2017,
        "set": "topps chrome",
        "card_title": "Aaron Judge_2017 topps chrome psa 10",
    }


def test_ebay_title_case_card_and_utc_day(landing: Path) -> None:
    late = EBAY_TITLE_CASE.replace("2023-11-29 19:00:00+00:00", "2023-11-29 21:30:00-05:00")
    path = drop(landing, "mlb", "x.csv", csv_text(EBAY_HEADER, EBAY_TITLE_CASE, late))
    rows = parse_landing_file(path, landing, "mlb").rows

    assert list(rows["item_id"]) == ["mlb:gunnar-henderson-2023-topps-chrome"] * 2
    assert list(rows["variant"]) == ["PSA 10", "PSA 10"]
    assert list(rows["sale_date"]) == [pd.Timestamp("2023-11-29"), pd.Timestamp("2023-11-30")]
    assert rows["price_usd"][0] == 28.06


def test_psa_apr_sample(landing: Path) -> None:
    parsed = parse_sample(landing, "psa_apr")
    rows = parsed.rows

    assert (parsed.format, parsed.table, len(rows)) == ("psa_apr", "sales", 70)
    first = rows.iloc[0]
    assert first["item_id"] == "pokemon:1999-pokemon-game-charizard-holo"
    assert first["item_name"] == "1999 Pokemon Game Charizard Holo"
    assert first["sale_date"] == pd.Timestamp("2016-09-10")
    assert (first["price_usd"], first["grade"], first["variant"]) == (919.0, 8.0, "PSA 8")
    assert (first["venue"], first["grading_company"]) == ("eBay", "PSA")
    assert json.loads(first["attributes"]) == {
        "set_slug": "1999-pokemon-game",
        "card_slug": "charizard-holo",
        "seller": "dslang2012",
        "sale_type": "Auction",
        "psa_certification": "2460906",
        "lot_url": "https://www.psacard.com/auctionprices/tcg-cards/1999-pokemon-game/"
        "charizard-holo/auction/163751",
    }


def test_psa_apr_magic_rows_are_flagged_in_a_pokemon_folder(landing: Path) -> None:
    rows = parse_sample(landing, "psa_apr").rows
    lotus = rows[rows["source_row"] == 68].iloc[0]

    assert lotus["asset_class"] == "mtg"
    assert lotus["item_id"] == "mtg:1993-magic-gathering-unlimited-black-lotus"
    assert lotus["price_usd"] == 3000.0
    assert lotus["parse_problem"] == (
        "asset_class: set '1993-magic-gathering-unlimited' is a mtg set, "
        "the file sits in landing/pokemon/"
    )
    assert rows["parse_problem"].notna().sum() == 1


def test_psa_apr_qualifier_authentic_and_missing_grade(landing: Path) -> None:
    header = (FIXTURES / SAMPLES["psa_apr"][0]).read_text().splitlines()[0]
    lines = [PSA_LINES["qualifier"], PSA_LINES["authentic"], PSA_LINES["empty_grade"]]
    path = drop(landing, "pokemon", "x.csv", csv_text(header, *lines))
    rows = parse_landing_file(path, landing, "pokemon").rows

    assert list(rows["variant"][:2]) == ["PSA 9 (OC)", "PSA Authentic"]
    assert rows["grade"][0] == 9.0 and pd.isna(rows["grade"][1])
    assert json.loads(rows["attributes"][0])["qualifier"] == "(OC)"
    assert rows["parse_problem"][0] is None and rows["parse_problem"][1] is None
    assert rows["parse_problem"][2] == "grade: empty"
    assert rows["variant"][2] is None and rows["price_usd"][2] == 11.99


# --------------------------------------------------------------------------------------------
# Reference-price formats


def test_tcgplayer_history_sample_skips_no_data_rows(landing: Path) -> None:
    parsed = parse_sample(landing, "tcgplayer_history")
    rows = parsed.rows

    assert (parsed.format, parsed.table) == ("tcgplayer_history", "prices")
    assert list(rows.columns) == PRICE_OUTPUT
    assert parsed.skipped_rows == 43
    assert parsed.skip_reason is not None and "43 rows without data" in parsed.skip_reason
    assert len(rows) == 17
    assert rows["parse_problem"].isna().all()
    first = rows.iloc[0]
    assert first["source_row"] == 44
    assert first["card_id"] == "pokemon:sv01-gardevoir-ex-245"
    assert (first["card_name"], first["set_name"]) == ("Gardevoir ex 245", "SV01")
    assert first["printing"] == "holofoil"
    assert first["observed_on"] == pd.Timestamp("2025-04-22")
    assert (first["price_usd"], first["volume"]) == (49.73, 12.0)
    assert first["source"] == "tcgplayer_history"
    assert rows["observed_on"].dtype == "datetime64[ns]"
    assert rows["source_row"].dtype == "int64"


def test_tcgplayer_history_fixed_dates_sealed_products_and_zero_prices(landing: Path) -> None:
    path = drop(landing, "pokemon", "x.csv", csv_text(TCG_HEADER, *TCG_LINES))
    parsed = parse_landing_file(path, landing, "pokemon")
    rows = parsed.rows

    assert parsed.skipped_rows == 1  # SV09 booster box at price 0.0
    assert list(rows["source_row"]) == [2, 3]
    assert list(rows["observed_on"]) == [pd.Timestamp("2025-10-04")] * 2  # the _fixed year
    assert list(rows["printing"]) == ["holofoil", "booster box"]
    assert rows["card_id"][1] == "pokemon:sv03-obsidian-flames"


def test_tcgplayer_history_without_fixed_columns_uses_period_end(landing: Path) -> None:
    header = TCG_HEADER.rsplit(",", 2)[0]
    line = TCG_LINES[1].rsplit(",", 2)[0]
    path = drop(landing, "pokemon", "x.csv", csv_text(header, line))
    rows = parse_landing_file(path, landing, "pokemon").rows
    assert rows["observed_on"][0] == pd.Timestamp("2026-10-04")


def test_pricecharting_sample_one_row_per_grade(landing: Path) -> None:
    parsed = parse_sample(landing, "pricecharting_graded")
    rows = parsed.rows

    assert (parsed.format, parsed.table, parsed.skipped_rows) == (
        "pricecharting_graded",
        "prices",
        0,
    )
    assert rows["parse_problem"].isna().all()
    first = rows[rows["source_row"] == 1]
    assert list(first["printing"]) == ["ungraded", "grade 8", "grade 9", "grade 9.5", "psa 10"]
    assert list(first["price_usd"]) == [1.29, 7.75, 8.50, 9.00, 28.00]
    assert set(first["card_id"]) == {"pokemon:pokemon-twilight-masquerade-luxray-ex-68"}
    assert set(first["observed_on"]) == {pd.Timestamp("2025-11-27")}
    assert set(first["source"]) == {"pricecharting"}
    assert rows["source_row"].is_monotonic_increasing
    assert rows["source_row"].nunique() == 60


def test_pricecharting_failed_rows_are_skipped_and_counted(landing: Path) -> None:
    lines = (FIXTURES / SAMPLES["pricecharting_graded"][0]).read_text().splitlines()
    path = drop(landing, "pokemon", "x.csv", csv_text(lines[0], lines[1], PRICECHARTING_FAILED))
    parsed = parse_landing_file(path, landing, "pokemon")

    assert parsed.skipped_rows == 1
    assert parsed.skip_reason == "1 rows with status 'failed' (no prices)"
    assert set(parsed.rows["source_row"]) == {1}


def test_pricecharting_bad_price_is_flagged(landing: Path) -> None:
    lines = (FIXTURES / SAMPLES["pricecharting_graded"][0]).read_text().splitlines()
    broken = lines[1].replace("$7.75", "$7.7x")
    path = drop(landing, "pokemon", "x.csv", csv_text(lines[0], lines[2], broken))
    rows = parse_landing_file(path, landing, "pokemon").rows

    bad = rows[rows["parse_problem"].notna()]
    assert len(bad) == 1
    assert bad.iloc[0]["source_row"] == 2 and bad.iloc[0]["printing"] == "grade 8"
    assert bad.iloc[0]["parse_problem"] == "price_usd (grade_8): cannot parse '$7.7x'"
    assert pd.isna(bad.iloc[0]["price_usd"])


# --------------------------------------------------------------------------------------------
# Canonical contract: CSV, JSON lines, Parquet


def canonical_frame(landing: Path) -> pd.DataFrame:
    """Real StockX sample rows restated in the canonical landing contract."""
    rows = parse_sample(landing, "stockx").rows
    return rows[["sale_id", *CANONICAL_INPUT_COLUMNS]].copy()


def write_canonical(frame: pd.DataFrame, path: Path, encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if encoding == "csv":
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    elif encoding == "jsonl":
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        frame.to_parquet(path, index=False)


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("csv", "sales.txt"), ("jsonl", "sales.data"), ("parquet", "sales.parquet")],
)
def test_canonical_round_trip(landing: Path, encoding: str, name: str) -> None:
    frame = canonical_frame(landing)
    frame["sale_id"] = "ignored"
    path = landing / "sneakers" / name
    write_canonical(frame, path, encoding)

    assert detect_format(path) == "canonical"
    parsed = parse_landing_file(path, landing, "sneakers")
    rows = parsed.rows
    assert (parsed.format, parsed.table, len(rows)) == ("canonical", "sales", 60)
    assert list(rows.columns) == SALE_OUTPUT
    assert rows["parse_problem"].isna().all()
    expected = frame[list(CANONICAL_INPUT_COLUMNS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows[list(CANONICAL_INPUT_COLUMNS)], expected)
    assert list(rows["source_row"]) == list(range(1, 61))
    assert rows["sale_id"].str.fullmatch(r"[0-9a-f]{20}").all() and rows["sale_id"].is_unique


def test_canonical_ids_do_not_depend_on_the_encoding(landing: Path) -> None:
    frame = canonical_frame(landing)
    ids = {}
    for encoding, name in [("csv", "a.csv"), ("jsonl", "b.jsonl"), ("parquet", "c.parquet")]:
        write_canonical(frame, landing / "sneakers" / name, encoding)
        ids[encoding] = list(
            parse_landing_file(landing / "sneakers" / name, landing, "sneakers").rows["sale_id"]
        )
    assert ids["csv"] == ids["jsonl"] == ids["parquet"]


def test_canonical_gzipped_parquet_and_jsonl(landing: Path, tmp_path: Path) -> None:
    frame = canonical_frame(landing)
    for encoding, name in [("jsonl", "s.jsonl"), ("parquet", "s.parquet")]:
        plain = tmp_path / name
        write_canonical(frame, plain, encoding)
        zipped = drop(landing, "sneakers", f"{name}.gz", gzip.compress(plain.read_bytes()))
        rows = parse_landing_file(zipped, landing, "sneakers").rows
        assert len(rows) == 60 and rows["parse_problem"].isna().all()
        assert rows["price_usd"][0] == 1097.0


def test_canonical_row_of_another_class_is_kept_and_flagged(landing: Path) -> None:
    frame = canonical_frame(landing).head(3)
    frame.loc[1, "asset_class"] = "nba"
    write_canonical(frame, landing / "sneakers" / "s.csv", "csv")
    rows = parse_landing_file(landing / "sneakers" / "s.csv", landing, "sneakers").rows

    assert list(rows["asset_class"]) == ["sneakers", "nba", "sneakers"]
    assert rows["parse_problem"][1] == (
        "asset_class: 'nba' is not the class of its landing folder 'sneakers'"
    )
    assert rows["parse_problem"].notna().sum() == 1


def test_canonical_is_simulated_values(landing: Path) -> None:
    frame = canonical_frame(landing).head(4).astype({"is_simulated": object})
    frame["is_simulated"] = ["true", "FALSE", "maybe", ""]
    write_canonical(frame, landing / "sneakers" / "s.csv", "csv")
    rows = parse_landing_file(landing / "sneakers" / "s.csv", landing, "sneakers").rows

    assert list(rows["is_simulated"]) == [True, False, True, True]
    assert list(rows["parse_problem"]) == [
        None,
        None,
        "is_simulated: cannot parse 'maybe' as true/false",
        "is_simulated: empty",
    ]


def test_canonical_without_is_simulated_cannot_be_read(landing: Path) -> None:
    frame = canonical_frame(landing).drop(columns=["is_simulated"])
    write_canonical(frame, landing / "sneakers" / "s.csv", "csv")
    with pytest.raises(LandingFileError, match=r"landing/sneakers/s.csv: cannot read: .*"):
        parse_landing_file(landing / "sneakers" / "s.csv", landing, "sneakers")


def test_jsonl_bad_and_blank_lines(landing: Path) -> None:
    frame = canonical_frame(landing).head(2)
    good = frame.to_json(orient="records", lines=True, date_format="iso").splitlines()
    text = "\n".join([good[0], "", "{not json", good[1], "[1, 2]"]) + "\n"
    path = drop(landing, "sneakers", "s.jsonl", text)
    parsed = parse_landing_file(path, landing, "sneakers")
    rows = parsed.rows

    assert list(rows["source_row"]) == [1, 3, 4, 5]
    assert parsed.skipped_rows == 1 and parsed.skip_reason == "1 blank lines"
    assert rows["parse_problem"][0] is None and rows["parse_problem"][2] is None
    assert rows["parse_problem"][1].startswith("row: not valid JSON")
    assert rows["parse_problem"][3].startswith("row: a JSON list, not an object")
    assert rows["price_usd"][2] == 685.0


# --------------------------------------------------------------------------------------------
# Row problems: bad cells become null with a note, nothing is dropped


def test_bad_cells_become_null_with_a_problem_and_the_right_row(landing: Path) -> None:
    lines = (FIXTURES / SAMPLES["stockx"][0]).read_text().splitlines()
    lines[3] = lines[3].replace("$690 ", "$abc")
    lines[5] = lines[5].replace("9/1/17", "13/45/19", 1)
    lines[7] = lines[7].replace("Adidas-Yeezy-Boost-350-V2-Core-Black-White", "")
    path = drop(landing, "sneakers", "bad.csv", csv_text(*lines))
    rows = parse_landing_file(path, landing, "sneakers").rows

    assert len(rows) == 60
    flagged = rows[rows["parse_problem"].notna()].set_index("source_row")
    assert dict(flagged["parse_problem"]) == {
        3: "price_usd: cannot parse '$abc'",
        5: "sale_date: cannot parse '13/45/19' as m/d/yy",
        7: "item_name: empty",
    }
    assert flagged["price_usd"].isna()[3] and flagged["sale_date"].isna()[5]
    assert flagged.loc[7, "item_name"] is None and flagged.loc[7, "item_id"] is None
    assert flagged["price_usd"][5] == 828.0
    # rows without date or price get no id (assign_sale_ids cannot hash a missing date)
    assert flagged.loc[3, "sale_id"] is None and flagged.loc[5, "sale_id"] is None
    assert flagged.loc[7, "sale_id"] is not None
    assert rows["sale_id"].notna().sum() == 58


def test_row_with_too_many_fields_is_kept_and_flagged(landing: Path) -> None:
    lines = (FIXTURES / SAMPLES["stockx"][0]).read_text().splitlines()[:5]
    lines[2] = lines[2] + ",extra"
    path = drop(landing, "sneakers", "wide.csv", csv_text(*lines))
    rows = parse_landing_file(path, landing, "sneakers").rows

    assert list(rows["source_row"]) == [1, 2, 3, 4]
    assert rows["parse_problem"][1].startswith("row: has 9 fields, the header has 8")
    assert rows["parse_problem"][[0, 2, 3]].isna().all()
    assert rows["price_usd"][2] == 690.0


# --------------------------------------------------------------------------------------------
# Sale ids


def test_same_file_gives_the_same_ids_under_any_name(landing: Path) -> None:
    first = parse_sample(landing, "stockx").rows["sale_id"]
    again = parse_sample(landing, "stockx").rows["sale_id"]
    renamed = parse_sample(landing, "stockx", name="2017-09-01/other.txt").rows["sale_id"]
    assert list(first) == list(again) == list(renamed)


def test_identical_rows_get_different_ids_and_appending_keeps_ids(landing: Path) -> None:
    one = drop(landing, "sneakers", "one.csv", csv_text(STOCKX_HEADER, STOCKX_FIRST))
    two = drop(landing, "sneakers", "two.csv", csv_text(STOCKX_HEADER, STOCKX_FIRST, STOCKX_FIRST))
    single = parse_landing_file(one, landing, "sneakers").rows["sale_id"]
    double = parse_landing_file(two, landing, "sneakers").rows["sale_id"]

    assert double[0] != double[1]
    assert double[0] == single[0]


# --------------------------------------------------------------------------------------------
# Files that cannot be read at all


CORRUPT_FILES: dict[str, tuple[str, bytes]] = {
    "unknown header": ("x.csv", b"a,b,c\n1,2,3\n"),
    "binary garbage": ("x.csv", bytes(range(256)) * 4),
    "not utf-8": ("x.csv", "Order Date,Marke\n1,\xe4\n".encode("latin-1")),
    "empty file": ("x.csv", b""),
    "only whitespace": ("x.csv", b"  \n\n"),
    "truncated gzip": ("x.csv.gz", gzip.compress(b"player_name,card_id\n" * 500)[:60]),
    "not gzip": ("x.gz", b"player_name,card_id,sale_date,sold_price\n"),
    "empty gzip": ("x.gz", gzip.compress(b"")),
    "invalid json": ("x.json", b'{"object": "list", "data": [\n'),
    "corrupt parquet": ("x.parquet", b"PAR1 this is not parquet PAR1"),
    "semicolons": ("x.csv", b"Order Date;Brand;Sneaker Name\n9/1/17;Yeezy;x\n"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_FILES))
def test_unreadable_file_raises_naming_the_file(landing: Path, case: str) -> None:
    name, data = CORRUPT_FILES[case]
    path = drop(landing, "nba", name, data)

    with pytest.raises(LandingFileError) as raised:
        parse_landing_file(path, landing, "nba")
    assert str(raised.value).startswith(f"landing/nba/{name}: cannot read: ")
    assert raised.value.file == f"landing/nba/{name}"
    with pytest.raises(LandingFileError, match="cannot read"):
        detect_format(path)


def test_unknown_header_lists_its_columns(landing: Path) -> None:
    path = drop(landing, "nba", "x.csv", b"a,b,c\n1,2,3\n")
    with pytest.raises(LandingFileError) as raised:
        parse_landing_file(path, landing, "nba")
    assert str(raised.value) == (
        "landing/nba/x.csv: cannot read: header matches no known format (columns: a, b, c)"
    )


def test_header_only_file_has_no_rows(landing: Path) -> None:
    path = drop(landing, "sneakers", "x.csv", STOCKX_HEADER + "\n")
    parsed = parse_landing_file(path, landing, "sneakers")
    assert parsed.rows.empty and list(parsed.rows.columns) == SALE_OUTPUT


def test_caller_mistakes_are_value_errors(landing: Path, tmp_path: Path) -> None:
    path = drop(landing, "sneakers", "x.csv", csv_text(STOCKX_HEADER, STOCKX_FIRST))
    with pytest.raises(ValueError, match="unknown asset class"):
        parse_landing_file(path, landing, "beanie_babies")
    outside = tmp_path / "x.csv"
    outside.write_text(csv_text(STOCKX_HEADER, STOCKX_FIRST))
    with pytest.raises(ValueError, match="not inside the landing root"):
        parse_landing_file(outside, landing, "sneakers")


# --------------------------------------------------------------------------------------------
# JSON API responses (normalised by cardvalue_dagster.sources.card_apis)

needs_card_apis = pytest.mark.skipif(
    importlib.util.find_spec("cardvalue_dagster.sources.card_apis") is None,
    reason="cardvalue_dagster.sources.card_apis (the API normalisers) is not written yet",
)

API_SAMPLES = {
    "v2_cards_search_swsh6_metagross.json": ("pokemon", "pokemontcg_cards"),
    "list-of-cards.json": ("mtg", "scryfall_list"),
}


@needs_card_apis
@pytest.mark.parametrize("name", sorted(API_SAMPLES))
@pytest.mark.parametrize("gzipped", [False, True])
def test_api_response_in_a_dated_folder(landing: Path, name: str, gzipped: bool) -> None:
    asset_class, fmt = API_SAMPLES[name]
    data = (FIXTURES / name).read_bytes()
    file_name = f"2024-04-01/response{'.gz' if gzipped else '.txt'}"
    path = drop(landing, asset_class, file_name, gzip.compress(data) if gzipped else data)

    assert detect_format(path) == fmt
    parsed = parse_landing_file(path, landing, asset_class, dt.date(2024, 4, 1))
    rows = parsed.rows
    assert (parsed.format, parsed.table) == (fmt, "prices")
    assert list(rows.columns) == PRICE_OUTPUT
    assert len(rows) > 0 and (rows["price_usd"] > 0).all()
    assert set(rows["asset_class"]) == {asset_class}
    assert set(rows["source_file"]) == {f"{asset_class}/{file_name}"}
    assert rows["parse_problem"].isna().all()
    assert rows["source_row"].dtype == "int64" and rows["source_row"].min() == 1


@needs_card_apis
def test_pokemontcg_response_values(landing: Path) -> None:
    name = "v2_cards_search_swsh6_metagross.json"
    path = drop(landing, "pokemon", f"2024-04-01/{name}", (FIXTURES / name).read_bytes())
    rows = parse_landing_file(path, landing, "pokemon", dt.date(2024, 4, 1)).rows
    payload = json.loads((FIXTURES / name).read_text())

    assert set(rows["card_name"]) == {card["name"] for card in payload["data"]}
    assert set(rows["source"]) == {"pokemontcg"}


@needs_card_apis
def test_api_response_of_another_game_is_flagged(landing: Path) -> None:
    name = "list-of-cards.json"
    path = drop(landing, "pokemon", f"2024-04-01/{name}", (FIXTURES / name).read_bytes())
    rows = parse_landing_file(path, landing, "pokemon", dt.date(2024, 4, 1)).rows
    assert rows["parse_problem"].str.startswith("asset_class: 'mtg' is not the class").all()


@needs_card_apis
def test_api_response_needs_a_date_folder(landing: Path) -> None:
    name = "list-of-cards.json"
    path = drop(landing, "mtg", name, (FIXTURES / name).read_bytes())
    with pytest.raises(LandingFileError, match=r"landing/mtg/list-of-cards.json: .*dated folder"):
        parse_landing_file(path, landing, "mtg")


@needs_card_apis
def test_unknown_json_document_cannot_be_read(landing: Path) -> None:
    path = drop(landing, "mtg", "2024-04-01/x.json", b'{"hello": "world"}')
    with pytest.raises(LandingFileError, match="matches no known API payload"):
        parse_landing_file(path, landing, "mtg", dt.date(2024, 4, 1))


# --------------------------------------------------------------------------------------------
# The complete shared files

FULL_FILES = {
    "stockx": "sneakers/stockx_2019_contest_train.csv",
    "ebay_130point": "sports_cards/ebay_topps_chrome_psa10_sales_train.csv",
    "psa_apr": "tcg_graded_sales/psa_apr_pokemon_mtg_train.csv",
    "tcgplayer_history": "pokemon_tcg_price_history/tcgplayer_pokemon_price_history_train.csv",
    "pricecharting_graded": "pokemon_graded_prices/pricecharting_pokemon_graded_train.csv",
}
needs_shared = pytest.mark.skipif(
    not (SHARED / FULL_FILES["stockx"]).exists(), reason="shared/data is not on this machine"
)


@needs_shared
def test_full_stockx_file_parses_clean() -> None:
    """All 79,952 real StockX sales parse clean (speed: benchmarks/bench_parsing.py)."""
    parsed = parse_landing_file(SHARED / FULL_FILES["stockx"], SHARED, "sneakers")

    rows = parsed.rows
    assert len(rows) == 79_952
    assert rows["parse_problem"].isna().all()
    assert rows["sale_id"].is_unique
    assert rows["sale_date"].min() == pd.Timestamp("2017-09-01")
    assert rows["sale_date"].max() == pd.Timestamp("2018-12-25")
    assert rows["item_id"].nunique() == 48


@needs_shared
def test_full_files_counts() -> None:
    def parse(fmt: str, asset_class: str) -> ParsedFile:
        return parse_landing_file(SHARED / FULL_FILES[fmt], SHARED, asset_class)

    ebay = parse("ebay_130point", "mlb")
    assert len(ebay.rows) == 495 and ebay.rows["parse_problem"].isna().all()
    assert ebay.rows["sale_id"].is_unique

    psa = parse("psa_apr", "pokemon")
    problems = psa.rows["parse_problem"].value_counts()
    assert len(psa.rows) == 1844
    assert problems.filter(like="is a mtg set").sum() == 16
    assert problems.get("grade: empty") == 2
    assert (psa.rows["variant"] == "PSA Authentic").sum() == 5

    tcg = parse("tcgplayer_history", "pokemon")
    assert (tcg.skipped_rows, len(tcg.rows)) == (90, 19_461 - 90)
    assert tcg.rows["parse_problem"].isna().all()

    graded = parse("pricecharting_graded", "pokemon")
    assert graded.skipped_rows == 13
    assert graded.rows["source_row"].nunique() == 883 - 13
    assert graded.rows["parse_problem"].isna().all()
