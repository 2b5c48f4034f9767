"""`lgsp`: the command line of the platform (Typer + Rich).

    lgsp run          start the simulated registries, run every pipeline once, print a summary
    lgsp specs        validate and list the dataset specs
    lgsp registries   serve the simulated registries in the foreground
    lgsp airflow      Airflow on the embedded defaults: `standalone`, `test DAG_ID`, or any args
    lgsp query SQL    query the curated tables with DuckDB (each dataset is a view)
    lgsp serve        serve open data (CKAN Action API, downloads) on 127.0.0.1
    lgsp clients      agency API clients (register, rotate, revoke, list)
    lgsp grants       grants per client and dataset (add, approve, refuse, revoke, list)
    lgsp audit        the hash-chained audit log (verify, who-accessed)
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api import cli as api_cli
from catalog.spec import SpecError, in_dependency_order, load_specs
from lgsp.config import Settings

app = typer.Typer(help="LGSP shared-data bus: registries -> quality gate -> curated tables.",
                  no_args_is_help=True, add_completion=False)
airflow_app = typer.Typer(help="Airflow on the embedded defaults (SQLite, local dags/).")
app.add_typer(airflow_app, name="airflow")
app.add_typer(api_cli.clients_app, name="clients")
app.add_typer(api_cli.grants_app, name="grants")
app.add_typer(api_cli.audit_app, name="audit")
console = Console(width=None if sys.stdout.isatty() else 150)


def _specs(settings: Settings, datasets: list[str] | None):  # type: ignore[no-untyped-def]
    try:
        specs = load_specs(settings.specs_dir)
    except SpecError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    if datasets:
        unknown = set(datasets) - {s.id for s in specs}
        if unknown:
            console.print(f"[red]unknown dataset(s): {', '.join(sorted(unknown))}[/red]")
            raise typer.Exit(2)
        specs = [s for s in specs if s.id in datasets]
    return in_dependency_order(specs)


@app.command()
def specs() -> None:
    """Validate every dataset spec and list them."""
    settings = Settings.from_env()
    table = Table("id", "title", "owner", "connector", "schedule", "columns", "open")
    for spec in _specs(settings, None):
        table.add_row(spec.id, spec.title.vi, spec.owner.agency.vi, spec.source.connector,
                      str(spec.schedule), str(len(spec.columns)), "yes" if spec.open_data else "no")
    console.print(table)


@app.command()
def run(
    datasets: Annotated[list[str] | None, typer.Argument(help="dataset ids (default: all)")] = None,
    simulate: Annotated[bool, typer.Option(help="start the simulated registries")] = True,
    size: Annotated[int, typer.Option(help="people in the simulated population")] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Run every pipeline once (extract -> validate -> publish) and print a summary."""
    from lgsp import pipeline
    from lgsp.registries_runtime import running_registries

    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    chosen = _specs(settings, datasets)
    console.print(f"[bold]LGSP[/bold] home: {settings.home}")
    summaries = []
    failures = []

    def go() -> None:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                      console=console) as progress:
            for spec in chosen:
                task = progress.add_task(f"{spec.id}: extract", total=None)
                try:
                    summary = pipeline.run_dataset(
                        spec, settings, progress=lambda n, t=task: progress.advance(t, n)
                    )
                except Exception as exc:  # noqa: BLE001 - reported, other datasets go on
                    failures.append((spec.id, str(exc)))
                    progress.update(task, description=f"[red]{spec.id}: failed[/red]")
                    continue
                progress.update(task, description=f"{spec.id}: done", total=summary.extracted,
                                completed=summary.extracted)
                summaries.append(summary)

    if simulate:
        with console.status("starting the simulated registries"):
            ctx = running_registries(size=size, seed=seed, datasets={s.id for s in chosen})
            urls = ctx.__enter__()
        try:
            for name, url in urls.items():
                console.print(f"simulated registry: [cyan]{name}[/cyan]={url}")
            go()
        finally:
            ctx.__exit__(None, None, None)
    else:
        go()

    _refresh_open_data(settings, chosen, summaries)
    if summaries:
        with console.status("rendering Great Expectations Data Docs"):
            docs = pipeline.data_docs(settings, [(s.dataset, s.run_id) for s in summaries])
        if docs:
            console.print(f"quality reports (GX Data Docs): {docs}", soft_wrap=True)
    table = Table("dataset", "extracted", "quarantined", "published", "rows in table",
                  "quality score", "status", "seconds", title="Pipeline summary")
    for s in summaries:
        status = "[red]blocked[/red]: " + "; ".join(s.block_reasons) if s.blocked else "[green]published"
        table.add_row(s.dataset, f"{s.extracted:,}", f"{s.quarantined:,}", f"{s.published:,}",
                      f"{s.total_rows:,}", f"{s.quality_score:.2f}%", status, f"{s.seconds:.1f}")
    console.print(table)
    for dataset, message in failures:
        console.print(f"[red]{dataset} failed:[/red] {message}")
    if failures or any(s.blocked for s in summaries):
        raise typer.Exit(1)


def _refresh_open_data(settings: Settings, chosen, summaries) -> None:  # type: ignore[no-untyped-def]
    """Catalogue and open-data exports of each published dataset; a refused or failed
    export is reported, never unpublishes (the run's exit code is the pipeline's)."""
    from opendata.refresh import refresh_after_publish

    published = {s.dataset for s in summaries if not s.blocked}
    for spec in chosen:
        if spec.id not in published:
            continue
        try:
            with console.status(f"{spec.id}: catalogue, open-data exports and indicators"):
                outcomes = refresh_after_publish(spec, settings)
        except Exception as exc:  # noqa: BLE001 - reported; the publish stands
            console.print(f"[red]{spec.id}: open-data export failed:[/red] {exc}")
            continue
        for outcome in outcomes:
            if outcome.status == "exported":
                console.print(f"open data: [cyan]{outcome.dataset}[/cyan] {outcome.message} "
                              f"(snapshot {outcome.snapshot_id})")
            elif outcome.status == "refused":
                console.print(f"[red]open data refused:[/red] {outcome.message}", soft_wrap=True)


@app.command()
def registries(
    size: Annotated[int, typer.Option()] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Serve the simulated registries until Ctrl-C."""
    from lgsp.registries_runtime import running_registries

    with running_registries(size=size, seed=seed) as urls:
        for name, url in urls.items():
            console.print(f"[cyan]{name}[/cyan] {url}")
        console.print("Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="worker processes")] = 2,
) -> None:
    """Serve the ASGI application (open data: CKAN Action API under /api/3/action/,
    downloads under /download/) with granian, until Ctrl-C."""
    from server.run import serve as run_server

    settings = Settings.from_env()
    console.print(f"serving [cyan]http://{host}:{port}/api/3/action/package_list[/cyan] "
                  f"({workers} workers, home {settings.home})")
    run_server(settings, host=host, port=port, workers=workers)


@app.command()
def query(sql: str) -> None:
    """Run SQL over the current snapshots of the curated tables (views named by dataset id)."""
    from warehouse.query import curated_connection

    settings = Settings.from_env()
    con = curated_connection(settings)
    cur = con.execute(sql)
    table = Table(*[d[0] for d in cur.description])
    for row in cur.fetchmany(200):
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


@airflow_app.command("standalone")
def airflow_standalone(port: Annotated[int, typer.Option()] = 8080) -> None:
    """Start Airflow (scheduler, API server, DAG processor) for scheduled runs."""
    from lgsp import airflow_env

    settings = Settings.from_env()
    airflow_env.migrate(settings)
    raise typer.Exit(airflow_env.airflow_command(settings, ["standalone"]))


@airflow_app.command("test")
def airflow_test(dag_id: str) -> None:
    """Run one DAG once with dag.test() on the embedded defaults."""
    from lgsp import airflow_env

    settings = Settings.from_env()
    airflow_env.migrate(settings)
    result = airflow_env.dag_test(settings, dag_id)
    console.print(result.stdout[-4000:])
    if result.returncode:
        console.print(result.stderr[-4000:])
    raise typer.Exit(result.returncode)


@app.command()
def quality(lang: Annotated[str, typer.Option(help="vi or en")] = "vi") -> None:
    """Quality per owner agency: latest score, trend and the checks that fail most."""
    from catalog.quality_report import by_agency

    settings = Settings.from_env()
    for agency, datasets in by_agency(settings, _specs(settings, None), lang).items():
        table = Table("dataset", "runs", "score", "trend", "failing checks (rows)", title=agency)
        for q in datasets:
            score = f"{q.latest_score:.2f}%" if q.latest_score is not None else "never run"
            trend = ""
            if q.latest_score is not None and q.previous_score is not None:
                delta = q.latest_score - q.previous_score
                trend = f"{delta:+.2f}"
            worst = ", ".join(f"{n} [{s}] {r:,}" for n, s, r in q.failing_checks[:4])
            table.add_row(q.dataset, str(q.runs), score, trend, worst)
        console.print(table)


@app.command()
def status() -> None:
    """Last publish of each dataset, with its quality score."""
    import json

    settings = Settings.from_env()
    table = Table("dataset", "last run", "published", "quarantined", "rows", "quality score")
    for spec in _specs(settings, None):
        history = settings.quality_dir / spec.id / "history.jsonl"
        if not history.exists():
            table.add_row(spec.id, "never", "", "", "", "")
            continue
        last = json.loads(history.read_text("utf-8").splitlines()[-1])
        table.add_row(spec.id, last["run_id"], f"{last['published_rows']:,}",
                      f"{last['quarantined_rows']:,}", f"{last['curated_rows_total']:,}",
                      f"{last['quality_score']:.2f}%")
    console.print(table)
