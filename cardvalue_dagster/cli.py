"""The `cardvalue` command line."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import click

from cardvalue_dagster.demo import DEFAULT_DAYS, run_demo
from cardvalue_dagster.home import HOME_ENV_VAR, current_home, write_dotenv
from cardvalue_dagster.sources.bundled_default import DEFAULT_SEED, seed_landing_zone

UI_HOST = "127.0.0.1"
UI_PORT = 3000


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
def main(verbose: bool) -> None:
    """CardValue: fair values for collectibles, built as a Dagster asset graph."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("dagster", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@main.command()
@click.option("--days", default=DEFAULT_DAYS, show_default=True, help="Days per class to build.")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Simulator seed.")
def demo(days: int, seed: int) -> None:
    """Seed the landing zone with the bundled default and materialize the whole graph."""
    home = current_home()
    click.echo(f"CardValue home: {home.root}  (set {HOME_ENV_VAR} to use another)", err=True)
    outcomes = run_demo(home, days=days, seed=seed, progress=lambda m: click.echo(m, err=True))
    dotenv = write_dotenv(Path.cwd(), home)

    failed = [o for o in outcomes if not o.success]
    click.echo(
        f"\nMaterialized {len(outcomes) - len(failed)} of {len(outcomes)} runs "
        f"in {sum(o.seconds for o in outcomes):.0f}s."
    )
    click.echo(f"Open the UI:  cardvalue ui   (serves http://{UI_HOST}:{UI_PORT})")
    if dotenv is not None:
        click.echo(f"          or  dagster dev   (from here; {dotenv.name} points it at this home)")
    if failed:
        for outcome in failed:
            click.echo(
                f"FAILED: {outcome.run.job_name} {outcome.run.asset_class} run {outcome.run_id}"
            )
        sys.exit(1)


@main.command()
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Simulator seed.")
def seed(seed: int) -> None:
    """Copy the bundled default into the landing zone without materializing anything."""
    home = current_home().create()
    written = seed_landing_zone(home.landing, seed)
    click.echo(f"{len(written)} files added under {home.landing}")


@main.command()
@click.option("--port", default=UI_PORT, show_default=True)
def ui(port: int) -> None:
    """Start the Dagster UI and daemon on 127.0.0.1 over this home's instance."""
    home = current_home().create()
    dagster = shutil.which("dagster") or os.path.join(os.path.dirname(sys.executable), "dagster")
    env = {**os.environ, "DAGSTER_HOME": str(home.dagster), HOME_ENV_VAR: str(home.root)}
    args = [dagster, "dev", "-h", UI_HOST, "-p", str(port), "-m", "cardvalue_dagster.definitions"]
    os.execve(dagster, args, env)
