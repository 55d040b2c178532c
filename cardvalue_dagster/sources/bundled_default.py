"""The bundled default: the data `cardvalue demo` ingests on a fresh machine, offline.

Real files (see `bundled/PROVENANCE.md`) are copied into the landing zone as they are, in their
source formats. Classes with no real sales in them get simulated sales, written as canonical
landing files flagged `is_simulated`: nba, nfl, nhl, soccer, ufc (cards priced from real player
statistics), yugioh, art and luxury (priced from real card, auction and listing prices). The
simulation is seeded, so the same seed always writes the same bytes.
"""

from __future__ import annotations

import gzip
import logging
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20261203

SIMULATED_CLASSES: tuple[str, ...] = (
    "nba",
    "nfl",
    "nhl",
    "soccer",
    "ufc",
    "yugioh",
    "art",
    "luxury",
)
"""Classes whose bundled sales are simulated; every other class's bundled sales are real."""


def bundled_landing() -> Path:
    """The packaged folder of real landing files."""
    return Path(str(resources.files("cardvalue_dagster.sources") / "bundled" / "landing"))


def seed_landing_zone(landing: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Put the bundled default into `landing`; files already there are left untouched.

    Returns the files it wrote. Nothing in the landing zone is ever overwritten, so a user's own
    files and edits survive a second `cardvalue demo`.
    """
    written = []
    source_root = bundled_landing()
    for source in sorted(p for p in source_root.rglob("*") if p.is_file()):
        target = landing / source.relative_to(source_root)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written.append(target)

    for asset_class in SIMULATED_CLASSES:
        target = landing / asset_class / f"simulated_{asset_class}_seed{seed}.csv.gz"
        if not target.exists():
            sales = simulated_sales(asset_class, seed)
            write_canonical_csv(sales, target)
            logger.info("simulated %s: %d sales -> %s", asset_class, len(sales), target)
            written.append(target)
    return written


def simulated_sales(asset_class: str, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The simulated sales of one class, from the class's documented simulator."""
    return _simulator_for(asset_class)(asset_class, seed)


def write_canonical_csv(sales: pd.DataFrame, target: Path) -> None:
    """Write sales as a gzip canonical CSV whose bytes depend only on the rows."""
    target.parent.mkdir(parents=True, exist_ok=True)
    frame = sales.copy()
    frame["sale_date"] = pd.to_datetime(frame["sale_date"]).dt.strftime("%Y-%m-%d")
    with gzip.GzipFile(target, "wb", mtime=0) as packed:
        packed.write(frame.to_csv(index=False).encode("utf-8"))


def _simulator_for(asset_class: str) -> Callable[[str, int], pd.DataFrame]:
    if asset_class in ("nba", "nfl", "nhl", "soccer", "ufc"):
        from cardvalue_dagster.sources.simulate_sports import simulate_sports_sales

        return simulate_sports_sales
    if asset_class in ("yugioh", "art", "luxury"):
        from cardvalue_dagster.sources.simulate_collectibles import simulate_collectible_sales

        return simulate_collectible_sales
    raise ValueError(f"{asset_class} has real bundled sales; it is not simulated")
