"""The `cardvalue` command line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from cardvalue_dagster.asset_classes import ASSET_CLASSES
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
    # MLflow draws a progress bar for every one-file artifact download (each model load).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


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


@main.command()
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--test", "test_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--asset-class", required=True, type=click.Choice(ASSET_CLASSES))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def evaluate(train_path: str, test_path: str, asset_class: str, as_json: bool) -> None:
    """Walk-forward backtest of the valuator and both baselines on two sales files.

    The files may be in any landing format (the StockX export included). Each test day is valued
    using the training sales and the test sales of earlier days only.
    """
    from cardvalue_dagster.core.backtest import walk_forward

    history = read_sales_file(Path(train_path), asset_class)
    test = read_sales_file(Path(test_path), asset_class)
    click.echo(f"{len(history):,} training and {len(test):,} test sales", err=True)

    result = walk_forward(history, test, progress=lambda m: click.echo(m, err=True))
    valued = ", ".join(f"{method} {count:,}" for method, count in result.valued().items())
    click.echo(f"sales valued per method: {valued}", err=True)
    metrics = _finite_or_null(result.metrics())
    click.echo(json.dumps(metrics) if as_json else result.markdown_table())


def _finite_or_null(value: Any) -> Any:
    """`value` with every NaN or infinite float as None, so the JSON printed is valid JSON."""
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@main.command("mlflow")
@click.option("--port", default=5000, show_default=True)
def mlflow_ui(port: int) -> None:
    """Serve the MLflow UI on 127.0.0.1 over this home's tracking store and registry."""
    from cardvalue_dagster.tracking import tracking_uri

    home = current_home().create()
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    args = [mlflow, "ui", "--backend-store-uri", tracking_uri(home), "-h", UI_HOST, "-p", str(port)]
    os.execv(mlflow, args)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve fair values over HTTP from each class's promoted valuator (docs at /docs)."""
    import uvicorn

    from cardvalue_dagster.serving import create_app

    home = current_home()
    click.echo(f"CardValue home: {home.root}; serving http://{host}:{port}/docs", err=True)
    uvicorn.run(create_app(home), host=host, port=port, log_level="info")


@main.command()
@click.option("--asset-class", type=click.Choice(ASSET_CLASSES), help="Class of the one item.")
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="An attribute.")
@click.option(
    "--file",
    "items_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Items: JSON [{asset_class, attributes}, ...] or CSV (asset_class + one column each).",
)
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Valuation day.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def value(
    asset_class: str | None,
    attrs: tuple[str, ...],
    items_file: str | None,
    as_of: dt.datetime | None,
    as_json: bool,
) -> None:
    """Value items with the promoted valuators, e.g. --asset-class sneakers --attr size=10 ..."""
    from cardvalue_dagster.serving.values import read_queries, valuation_table, value_queries

    queries = read_queries(asset_class, attrs, Path(items_file) if items_file else None)
    valuations = value_queries(current_home(), queries, as_of.date() if as_of else None)
    click.echo(json.dumps(valuations, indent=2) if as_json else valuation_table(valuations))


def read_sales_file(path: Path, asset_class: str) -> pd.DataFrame:
    """The sales in one file of any landing format; rows it cannot read are left out, and said."""
    from cardvalue_dagster.sources.landing_formats import parse_landing_file

    parsed = parse_landing_file(path.resolve(), path.resolve().parent, asset_class)
    if parsed.table != "sales":
        raise click.BadParameter(f"{path} holds {parsed.table}, not sales ({parsed.format})")
    rows = parsed.rows
    unreadable = rows["parse_problem"].notna() | rows["sale_date"].isna() | rows["price_usd"].isna()
    if unreadable.any():
        click.echo(f"{path}: {int(unreadable.sum())} unreadable rows left out", err=True)
    return rows[~unreadable].drop(columns=["parse_problem"]).reset_index(drop=True)
