"""Rebuild the real-data part of the bundled default from ../shared/data (run from the repo root).

The bundled landing files are byte-for-byte row subsets of the shared files, gzip-compressed,
so they keep their source formats and exercise the same parsers as files users drop.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import shutil
import sys
from pathlib import Path

logger = logging.getLogger("build_bundled_landing")

SHARED = Path("../shared/data")
TARGET = Path("cardvalue_dagster/sources/bundled/landing")


def gzip_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as raw, gzip.GzipFile(target, "wb", mtime=0) as packed:
        shutil.copyfileobj(raw, packed)


def split_rows(source: Path, targets: dict[Path, str], column: str) -> None:
    """Write the rows of `source` whose `column` contains each key word to its own gzip file."""
    text = source.read_text(encoding="utf-8")
    header, *lines = text.splitlines(keepends=True)
    index = next(csv.reader([header])).index(column)
    for target, word in targets.items():
        kept = [line for line in lines if word in next(csv.reader(io.StringIO(line)))[index]]
        target.parent.mkdir(parents=True, exist_ok=True)
        with gzip.GzipFile(target, "wb", mtime=0) as packed:
            packed.write((header + "".join(kept)).encode("utf-8"))


def main() -> int:
    if not SHARED.exists():
        logger.error("run from the repository root, with ../shared/data beside it")
        return 1
    gzip_copy(
        SHARED / "sneakers/stockx_2019_contest_train.csv",
        TARGET / "sneakers/stockx_2019_contest.csv.gz",
    )
    gzip_copy(
        SHARED / "sports_cards/ebay_topps_chrome_psa10_sales_train.csv",
        TARGET / "mlb/ebay_130point_topps_chrome_psa10.csv.gz",
    )
    split_rows(
        SHARED / "tcg_graded_sales/psa_apr_pokemon_mtg_train.csv",
        {
            TARGET / "pokemon/psa_apr_pokemon.csv.gz": "pokemon",
            TARGET / "mtg/psa_apr_black_lotus.csv.gz": "magic",
        },
        column="set_slug",
    )
    gzip_copy(
        SHARED / "pokemon_tcg_price_history/tcgplayer_pokemon_price_history_train.csv",
        TARGET / "pokemon/tcgplayer_price_history.csv.gz",
    )
    gzip_copy(
        SHARED / "pokemon_graded_prices/pricecharting_pokemon_graded_train.csv",
        TARGET / "pokemon/pricecharting_graded.csv.gz",
    )
    gzip_copy(
        SHARED / "api_fixtures/pokemontcg/v2_cards_search_swsh6_metagross.json",
        TARGET / "pokemon/2024-03-29/pokemontcg_metagross_v.json.gz",
    )
    gzip_copy(
        SHARED / "api_fixtures/ygoprodeck/v7_cardinfo_sample_2021.json",
        TARGET / "yugioh/2021-07-01/ygoprodeck_cardinfo_sample.json.gz",
    )
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
