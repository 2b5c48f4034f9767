"""`lgsp`: the command line of the platform (Typer + Rich).

    lgsp up           run every pipeline once (as `lgsp run`), then serve the portal and APIs
    lgsp run          start the simulated registries, run every pipeline once, print a summary
    lgsp specs        validate (load + dry run) and list the dataset specs; exit 1 if one is bad
    lgsp registries   serve the simulated registries in the foreground, print `export` lines
    lgsp airflow      Airflow on the embedded defaults: `standalone --port`, `test DAG_ID`
    lgsp query SQL    read-only SELECT over the curated and quarantine tables (sandboxed)
    lgsp serve        serve open data (CKAN Action API, downloads, DCAT) on 127.0.0.1
    lgsp reconcile    full compare of source and curated per dataset; repairs and counts drift
    lgsp clients      agency API clients (register, rotate, revoke, list)
    lgsp grants       grants per client and dataset (add, approve, refuse, revoke, list)
    lgsp audit        the hash-chained audit log (verify, who-accessed)
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from api import cli as api_cli
from catalog.spec import SpecError, in_dependency_order, load_catalog
from lgsp.config import Settings

if TYPE_CHECKING:
    from lgsp.attempts import Attempt
    from lgsp.pipeline import RunSummary

app = typer.Typer(help="LGSP shared-data bus: registries -> quality gate -> curated tables.",
                  no_args_is_help=True, add_completion=False)
airflow_app = typer.Typer(help="Airflow on the embedded defaults (SQLite, one DAG file per spec).")
app.add_typer(airflow_app, name="airflow")
app.add_typer(api_cli.clients_app, name="clients")
app.add_typer(api_cli.grants_app, name="grants")
app.add_typer(api_cli.audit_app, name="audit")
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)


def _specs(settings: Settings, datasets: list[str] | None):  # type: ignore[no-untyped-def]
    """The valid specs asked for (default: all), in dependency order. A malformed spec the
    command does not need is reported and left out; one it needs stops it (exit 2)."""
    catalog = load_catalog(settings.specs_dir)
    broken = {path.stem: err for path, err in catalog.errors.items()}
    if datasets:
        for name in sorted(set(datasets) & set(broken)):
            err_console.print(f"[red]{escape(str(broken[name]))}[/red]")
        unknown = set(datasets) - catalog.ids - set(broken)
        if unknown:
            err_console.print(f"[red]unknown dataset(s): {escape(', '.join(sorted(unknown)))}[/red]")
        if unknown or set(datasets) & set(broken):
            raise typer.Exit(2)
        specs = [s for s in catalog.specs if s.id in datasets]
    else:
        for err in broken.values():
            err_console.print(f"[red]{escape(str(err))}[/red] (left out)")
        specs = catalog.specs
    try:
        return in_dependency_order(specs)
    except SpecError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(2) from None


@app.command()
def specs() -> None:
    """Validate every dataset spec (loading it, then a dry run: transport built, checks'
    SQL planned) and list the valid ones; exit 1 if any is invalid, each named with its
    file, key path and problem."""
    from expectations.reference import ensure_reference
    from expectations.spec_dry_run import dry_run

    settings = Settings.from_env()
    catalog = load_catalog(settings.specs_dir)
    errors = {path: str(err) for path, err in catalog.errors.items()}
    communes = ensure_reference(settings.reference_dir)
    table = Table("id", "title", "owner", "connector", "schedule", "columns", "open")
    for spec in catalog.specs:
        found = dry_run(spec, communes)
        if found:  # loads, but a run would reject it
            errors[spec.path or settings.specs_dir / f"{spec.id}.yaml"] = "\n".join(
                [f"{spec.path}: invalid dataset spec (dry run)"] + [f"  - {p}" for p in found])
            continue
        table.add_row(*(escape(v) for v in (
            spec.id, spec.title.vi, spec.owner.agency.vi, spec.source.connector,
            str(spec.schedule), str(len(spec.columns)), "yes" if spec.open_data else "no")))
    console.print(table)
    for text in errors.values():
        err_console.print(f"[red]{escape(text)}[/red]", soft_wrap=True)
    if errors:
        err_console.print(f"[red]{len(errors)} invalid spec(s)[/red] of "
                          f"{len(catalog.errors) + len(catalog.specs)} in {settings.specs_dir}")
        raise typer.Exit(1)


@app.command()
def run(
    datasets: Annotated[list[str] | None, typer.Argument(help="dataset ids (default: all)")] = None,
    simulate: Annotated[bool, typer.Option(help="start the simulated registries")] = True,
    size: Annotated[int, typer.Option(help="people in the simulated population")] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
    wait: Annotated[float | None, typer.Option(
        help="seconds to wait for another run of the same dataset to finish "
             "(default: LGSP_RUN_LOCK_WAIT, 0 = stop at once naming it)", min=0)] = None,
) -> None:
    """Run every pipeline once (extract -> validate -> publish) and print a summary."""
    import dataclasses

    from lgsp import pipeline
    from lgsp.registries_runtime import running_registries

    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    if wait is not None:
        settings = dataclasses.replace(settings, run_lock_wait=wait)
    chosen = _specs(settings, datasets)
    console.print(f"[bold]LGSP[/bold] home: {settings.home}")
    summaries = []
    failures = []
    if not datasets:  # a malformed spec was left out (named above): the run is not a success
        failures += [(path.stem, "invalid dataset spec (left out)")
                     for path in load_catalog(settings.specs_dir).errors]

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
    report_error = None
    if summaries:  # a report step: its failure is reported apart, never fails the runs
        with console.status("rendering Great Expectations Data Docs"):
            docs, report_error = pipeline.report_data_docs(
                settings, [(s.dataset, s.run_id) for s in summaries])
        if docs:
            console.print(f"quality reports (GX Data Docs): {docs}", soft_wrap=True)
    table = Table("dataset", "extracted", "quarantined", "published", "rows in table",
                  "quality score", "status", "seconds", title="Pipeline summary")
    for s in summaries:
        table.add_row(s.dataset, f"{s.extracted:,}", f"{s.quarantined:,}", f"{s.published:,}",
                      f"{s.total_rows:,}", _score(s.quality_score), _run_status(s),
                      f"{s.seconds:.1f}")
    console.print(table)
    if report_error:
        console.print(f"[yellow]quality report failed (the runs above stand):[/yellow] "
                      f"{escape(report_error)}", soft_wrap=True)
    for dataset, message in failures:
        console.print(f"[red]{dataset} failed:[/red] {message}")
    if failures or any(s.blocked for s in summaries):
        raise typer.Exit(1)


def _score(score: float | None) -> str:
    return "no rows" if score is None else f"{score:.2f}%"


def _run_status(summary: RunSummary) -> str:
    if summary.blocked:
        return "[red]blocked[/red]: " + escape("; ".join(summary.block_reasons))
    if summary.outcome == "no changes":
        return "[green]no changes[/green]"
    return "[green]published[/green]"


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
    datasets: Annotated[list[str] | None, typer.Argument(
        help="serve only the registries these datasets read (default: all)")] = None,
    size: Annotated[int, typer.Option()] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Serve the simulated registries until Ctrl-C. Standard output is shell: one
    `export NAME=value` line per variable the specs read (e.g. `lgsp registries > env.sh &`,
    then `. ./env.sh`); messages go to standard error."""
    import shlex

    from lgsp.registries_runtime import running_registries

    settings = Settings.from_env()
    chosen = {s.id for s in _specs(settings, datasets)} if datasets else None
    with running_registries(size=size, seed=seed, datasets=chosen,
                            specs_dir=settings.specs_dir) as env:
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        err_console.print("simulated registries running; Ctrl-C to stop")
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
def up(
    datasets: Annotated[list[str] | None, typer.Argument(help="dataset ids (default: all)")] = None,
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="worker processes")] = 2,
    size: Annotated[int, typer.Option(help="people in the simulated population")] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Run every pipeline once (as `lgsp run` does), then serve the portal, the CKAN API and
    downloads over what it published on 127.0.0.1, until Ctrl-C. A failed pipeline is
    reported and the rest is served."""
    import subprocess

    from server.run import serve as run_server

    # The pipelines run in their own process: the server's workers start from a clean one
    # (after the runs' threads, DuckDB and GX state, a granian worker died at start).
    batch = subprocess.run([sys.executable, "-m", "lgsp", "run", *(datasets or []),
                            "--size", str(size), "--seed", str(seed)], check=False)
    if batch.returncode:
        console.print("[yellow]some pipelines did not publish (above); "
                      "serving what was published[/yellow]")
    settings = Settings.from_env()
    base = f"http://{host}:{port}"
    console.print(f"portal:      [cyan]{base}/[/cyan]", soft_wrap=True)
    console.print(f"CKAN API:    [cyan]{base}/api/3/action/package_list[/cyan]", soft_wrap=True)
    console.print(f"DCAT:        [cyan]{base}/catalog.ttl[/cyan]", soft_wrap=True)
    console.print("Ctrl-C to stop")
    run_server(settings, host=host, port=port, workers=workers)


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
def airflow_standalone(port: Annotated[int, typer.Option(help="API server and UI port")] = 8080) -> None:
    """Start Airflow (scheduler, API server, DAG processor) for scheduled runs."""
    from lgsp import airflow_env

    settings = Settings.from_env()
    airflow_env.migrate(settings)
    raise typer.Exit(airflow_env.airflow_command(settings, ["standalone"], api_port=port))


@airflow_app.command("test")
def airflow_test(
    dag_id: str,
    simulate: Annotated[bool, typer.Option(
        help="start the simulated registry the DAG reads, as `lgsp run` does")] = True,
    size: Annotated[int, typer.Option(help="people in the simulated population")] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Run one DAG once with dag.test() on the embedded defaults. Prints the outcome and, if
    it failed, each failing task's error; Airflow's full output goes to a log file."""
    from contextlib import nullcontext

    from lgsp import airflow_env
    from lgsp.dag_test import RESULT
    from lgsp.registries_runtime import running_registries

    settings = Settings.from_env()
    dataset = dag_id.removeprefix("lgsp_")
    registries_ctx = (running_registries(size=size, seed=seed, datasets={dataset},
                                         specs_dir=settings.specs_dir) if simulate else nullcontext({}))
    with console.status("starting the simulated registries"):
        env = registries_ctx.__enter__()
    try:
        for name, value in env.items():
            console.print(f"simulated registry: [cyan]{escape(name)}[/cyan]={escape(value)}")
        airflow_env.migrate(settings)
        with console.status(f"running {escape(dag_id)} with dag.test()"):
            result = airflow_env.dag_test(settings, dag_id)
    finally:
        registries_ctx.__exit__(None, None, None)
    log = settings.airflow_home / "logs" / f"dag-test-{dag_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout + "\n" + result.stderr, encoding="utf-8")
    outcome = [line.removeprefix(RESULT) for line in result.stdout.splitlines()
               if line.startswith(RESULT)]
    for line in outcome:
        style = "green" if line.endswith("state=success") else "red"
        console.print(f"[{style}]{escape(line)}[/{style}]", soft_wrap=True)
    if not outcome:  # the run did not get as far as reporting: the end of the error
        console.print(escape(result.stderr.strip().splitlines()[-1] if result.stderr.strip()
                             else f"exit code {result.returncode}"))
    console.print(f"Airflow's output: {log}", soft_wrap=True)
    raise typer.Exit(result.returncode)


@app.command()
def quality(lang: Annotated[str, typer.Option(help="vi or en")] = "vi") -> None:
    """Quality per owner agency: latest score, trend and the checks that fail most."""
    from catalog.quality_report import by_agency
    from warehouse.reconcile import RECONCILE_HEADER, describe_last

    settings = Settings.from_env()
    for agency, datasets in by_agency(settings, _specs(settings, None), lang).items():
        table = Table("dataset", "runs", "score", "trend", "failing checks (rows)",
                      "identifiers repaired", RECONCILE_HEADER, title=agency)
        for q in datasets:
            score = "never run" if not q.runs else _score(q.latest_score)
            trend = ""
            if q.latest_score is not None and q.previous_score is not None:
                delta = q.latest_score - q.previous_score
                trend = f"{delta:+.2f}"
            worst = Text(", ".join(f"{n} [{s}] {r:,}" for n, s, r in q.failing_checks[:4]))
            repaired = ", ".join(f"{c} {n:,}" for c, n in q.repaired_identifiers.items())
            table.add_row(q.dataset, str(q.runs), score, trend, worst, repaired,
                          describe_last(settings, q.dataset))
        console.print(table)


@app.command()
def status(datasets: Annotated[list[str] | None, typer.Argument(
        help="dataset ids: one block each, every field on its own line (default: a table of all)")] = None,
) -> None:
    """Last publish of each dataset, with its quality score, and the last attempt (published,
    no changes, blocked or failed) with when and why."""
    import json

    from lgsp import attempts
    from warehouse.reconcile import RECONCILE_HEADER, describe_last

    settings = Settings.from_env()
    headers = ("dataset", "last publish", "published", "quarantined", "rows", "quality score",
               RECONCILE_HEADER, "last attempt")
    rows = []
    for spec in _specs(settings, datasets):
        attempt = attempts.last(settings, spec.id)
        tried = "never" if attempt is None else _attempt_text(attempt)
        history = settings.quality_dir / spec.id / "history.jsonl"
        if not history.exists():
            rows.append((spec.id, "never", "", "", "", "", describe_last(settings, spec.id), tried))
            continue
        last = json.loads(history.read_text("utf-8").splitlines()[-1])
        rows.append((spec.id, last["run_id"], f"{last['published_rows']:,}",
                     f"{last['quarantined_rows']:,}", f"{last['curated_rows_total']:,}",
                     _score(last["quality_score"]), describe_last(settings, spec.id), tried))
    if not datasets:
        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    for row in rows:  # asked by name: every field whole, wrapped in its own line
        block = Table(show_header=False, title=row[0], title_justify="left")
        block.add_column("field", style="bold")
        block.add_column("value", overflow="fold")
        for name, value in zip(headers[1:], row[1:], strict=True):
            block.add_row(name, value or "-")
        console.print(block)


def _attempt_text(attempt: Attempt) -> str:
    colour = {"blocked": "red", "failed": "red"}.get(attempt.outcome, "green")
    text = f"[{colour}]{attempt.outcome}[/{colour}] {escape(attempt.at)}"
    if attempt.outcome in ("blocked", "failed"):
        text += f" in {attempt.stage}: {escape(attempt.message)}"
    if attempt.report_error:
        text += f"; [yellow]report failed[/yellow]: {escape(attempt.report_error)}"
    return text


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
