"""`lgsp`: the command line of the platform (Typer + Rich).

    lgsp run          start the simulated registries, run every pipeline once, print a summary
    lgsp specs        validate and list the dataset specs
    lgsp registries   serve the simulated registries in the foreground
    lgsp airflow      Airflow on the embedded defaults: `standalone`, `test DAG_ID`, or any args
    lgsp query SQL    read-only SELECT over the curated and quarantine tables (sandboxed)
    lgsp reconcile    full compare of source and curated per dataset; repairs and counts drift
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
from rich.text import Text

from catalog.spec import SpecError, in_dependency_order, load_specs
from lgsp.config import Settings

app = typer.Typer(help="LGSP shared-data bus: registries -> quality gate -> curated tables.",
                  no_args_is_help=True, add_completion=False)
airflow_app = typer.Typer(help="Airflow on the embedded defaults (SQLite, local dags/).")
app.add_typer(airflow_app, name="airflow")
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
def query(
    sql: Annotated[str, typer.Argument(help="one SELECT statement")],
    output_format: Annotated[str, typer.Option(
        "--format", help="table, csv or json")] = "table",
    as_of: Annotated[str | None, typer.Option(
        help="read the tables as they were at this ISO 8601 time (no offset = UTC)")] = None,
    limit: Annotated[int, typer.Option(min=1, help="print at most this many rows")] = 200,
) -> None:
    """Run one read-only SELECT over the published tables: one view per dataset, and
    <id>_quarantine with its rejected rows. No file, network, extension or settings access."""
    from lgsp import query_output
    from warehouse import sandbox

    try:
        fmt = query_output.OutputFormat(output_format)
    except ValueError:
        typer.echo(f"error: --format must be table, csv or json, not {output_format!r}", err=True)
        raise typer.Exit(1) from None
    try:
        when = sandbox.parse_timestamp(as_of) if as_of else None
        result = sandbox.query(Settings.from_env(), sql, as_of=when, limit=limit)
    except sandbox.QueryRefused as err:
        typer.echo(f"refused: {err}", err=True)
        raise typer.Exit(1) from None
    except sandbox.QueryError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except Exception as err:  # noqa: BLE001 - the catalog or specs failing to open: one line
        typer.echo(f"error: {type(err).__name__}: {sandbox.one_line(err)}", err=True)
        raise typer.Exit(1) from None
    if fmt is query_output.OutputFormat.csv:
        query_output.write_csv(result, sys.stdout)
    elif fmt is query_output.OutputFormat.json:
        query_output.write_json(result, sys.stdout)
    else:
        query_output.print_table(result, console)
    if result.truncated:
        typer.echo(f"showing the first {limit:,} rows; the result has more (raise --limit)",
                   err=True)


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
    from warehouse.reconcile import RECONCILE_HEADER, describe_last

    settings = Settings.from_env()
    for agency, datasets in by_agency(settings, _specs(settings, None), lang).items():
        table = Table("dataset", "runs", "score", "trend", "failing checks (rows)",
                      RECONCILE_HEADER,
                      title=agency)
        for q in datasets:
            score = f"{q.latest_score:.2f}%" if q.latest_score is not None else "never run"
            trend = ""
            if q.latest_score is not None and q.previous_score is not None:
                delta = q.latest_score - q.previous_score
                trend = f"{delta:+.2f}"
            worst = Text(", ".join(f"{n} [{s}] {r:,}" for n, s, r in q.failing_checks[:4]))
            table.add_row(q.dataset, str(q.runs), score, trend, worst,
                          describe_last(settings, q.dataset))
        console.print(table)


@app.command()
def status() -> None:
    """Last publish of each dataset, with its quality score."""
    import json

    from warehouse.reconcile import RECONCILE_HEADER, describe_last

    settings = Settings.from_env()
    table = Table("dataset", "last run", "published", "quarantined", "rows", "quality score",
                  RECONCILE_HEADER)
    for spec in _specs(settings, None):
        history = settings.quality_dir / spec.id / "history.jsonl"
        if not history.exists():
            table.add_row(spec.id, "never", "", "", "", "", describe_last(settings, spec.id))
            continue
        last = json.loads(history.read_text("utf-8").splitlines()[-1])
        table.add_row(spec.id, last["run_id"], f"{last['published_rows']:,}",
                      f"{last['quarantined_rows']:,}", f"{last['curated_rows_total']:,}",
                      f"{last['quality_score']:.2f}%", describe_last(settings, spec.id))
    console.print(table)


@app.command()
def reconcile(datasets: Annotated[list[str], typer.Argument(help="dataset ids")]) -> None:
    """Compare each dataset's whole source with its curated table by key and row hash;
    repair drift (missing rows inserted, stale ones updated, ghosts removed) and count it."""
    from warehouse.reconcile import ReconcileBlocked
    from warehouse.reconcile import reconcile as run_reconcile

    settings = Settings.from_env()
    failed = False
    table = Table("dataset", "source rows", "inserted", "updated", "removed", "curated rows")
    for spec in _specs(settings, datasets):
        try:
            r = run_reconcile(spec, settings)
        except (ReconcileBlocked, ValueError) as exc:
            console.print(Text(str(exc), style="red"))
            failed = True
            continue
        table.add_row(spec.id, f"{r.source_rows:,}", f"{r.inserted:,}", f"{r.updated:,}",
                      f"{r.removed:,}", f"{r.curated_rows_after:,}")
    console.print(table)
    if failed:
        raise typer.Exit(1)
