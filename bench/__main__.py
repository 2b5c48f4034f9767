"""`python -m bench [population|land|generator|exports|reconcile|cdc|portal|api|suppression] [--size N]
[--duration S]`: print tables."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False)
console = Console() if sys.stdout.isatty() else Console(width=150)  # piped: keep rows whole
RESULTS = Path(__file__).parent / "results"


def _table(title: str, rows: list[dict]) -> Table:
    table = Table("approach", "stage", "rows", "seconds", "rows/s", "peak MB", title=title)
    for r in rows:
        if r.get("detail"):  # a part of the stage above: its time only
            table.add_row("", f"  {r['name']}", "", f"{r['seconds']:.2f}", "", "",
                          style="dim")
            continue
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        table.add_row(r["approach"], r["name"], f"{r['rows']:,}", f"{r['seconds']:.2f}",
                      f"{rate:,.0f}", f"{r['peak_mb']:.0f}")
    return table


def population_summary(rows: list[dict]) -> Table:
    """Totals over the stages (details excluded) against the issue's targets."""
    stages = [r for r in rows if not r.get("detail")]
    ours = [r for r in stages if r["approach"] == "lgsp"
            and r["name"].startswith(("extract", "gate", "publish", "Data Docs"))]
    naive = [r for r in stages if r["approach"].startswith("naive")]

    def one(approach: str, prefix: str, among: list[dict]) -> dict | None:
        return next((r for r in among if r["approach"].startswith(approach)
                     and r["name"].startswith(prefix)), None)

    ours_s = sum(r["seconds"] for r in ours)
    naive_s = sum(r["seconds"] for r in naive)
    ours_mb = max((r["peak_mb"] for r in ours), default=0)
    naive_mb = max((r["peak_mb"] for r in naive), default=0)
    gate, sql = one("lgsp", "gate", stages), one("lgsp", "same checks", stages)
    ours_import = one("lgsp", "└ GX import", rows)
    naive_import = one("naive", "└ GX import", rows)
    limit = one("limit", "", stages)
    rows_n = ours[0]["rows"] if ours else 0

    def verdict(ok: bool, miss: str) -> str:
        return "[green]met[/green]" if ok else f"[red]missed[/red] ({miss})"

    table = Table("measure", "value", "target", "result",
                  title=f"Population, {rows_n:,} people: end to end")
    table.add_row("lgsp end to end (extract + gate + publish + Data Docs)",
                  f"{ours_s:.1f} s ({rows_n / ours_s:,.0f} rows/s)" if ours_s else "-", "", "")
    table.add_row("naive end to end (requests + DataFrame + GX pandas + to_parquet)",
                  f"{naive_s:.1f} s" if naive_s else "-", "", "")
    if ours_s and naive_s:
        speed = naive_s / ours_s
        table.add_row("speed-up vs naive", f"{speed:.2f}x", ">= 3x",
                      verdict(speed >= 3, f"needs lgsp <= {naive_s / 3:.1f} s, "
                              f"{ours_s - naive_s / 3:.1f} s over"))
    if naive_mb:
        ratio = ours_mb / naive_mb
        table.add_row("peak memory lgsp / naive (largest stage process)",
                      f"{ours_mb:.0f} / {naive_mb:.0f} MB = {ratio:.2f}", "< 0.33",
                      verdict(ratio < 1 / 3, f"needs < {naive_mb / 3:.0f} MB, "
                              f"{ours_mb - naive_mb / 3:.0f} MB over"))
    if gate and sql:
        ratio = gate["seconds"] / sql["seconds"]
        table.add_row("gate / same checks in direct DuckDB SQL",
                      f"{gate['seconds']:.1f} / {sql['seconds']:.1f} s = {ratio:.2f}x", "<= 2x",
                      verdict(ratio <= 2, f"needs gate <= {2 * sql['seconds']:.1f} s"))
    if ours_import and naive_import:
        table.add_row("GX import, once per process (inside the totals above)",
                      f"lgsp {ours_import['seconds']:.1f} s (overlaps the split), "
                      f"naive {naive_import['seconds']:.1f} s", "", "")
    if limit and ours:
        table.add_row("limit: DuckDB writes the same rows to Parquet",
                      f"{limit['seconds']:.2f} s ({limit['rows'] / limit['seconds']:,.0f} rows/s)",
                      "", "")
    return table


def land_summary(rows: list[dict]) -> Table:
    """Ours (SQL -> raw Parquet) against each dlt backend, end to end (extract + normalize +
    load to Parquet) and, stricter, against dlt's extract step alone."""
    ours = next(r for r in rows if r["approach"] == "lgsp")  # "setup" rows are not compared
    rate = ours["rows"] / ours["seconds"]
    table = Table("contender", "rows/s end to end", "rows/s extract only", "peak MB",
                  "lgsp faster by", title="Land: SQL connector vs dlt (target: faster than the "
                  "fastest backend, memory <= pyarrow backend)")
    table.add_row("lgsp", f"{rate:,.0f}", f"{rate:,.0f}", f"{ours['peak_mb']:.0f}", "")
    for approach in sorted({r["approach"] for r in rows if r["approach"].startswith("dlt")}):
        stages = [r for r in rows if r["approach"] == approach]
        extract = stages[0]
        total = sum(r["seconds"] for r in stages)
        table.add_row(approach, f"{ours['rows'] / total:,.0f}",
                      f"{ours['rows'] / extract['seconds']:,.0f}",
                      f"{max(r['peak_mb'] for r in stages):.0f}",
                      f"{total / ours['seconds']:.1f}x "
                      f"(extract only {extract['seconds'] / ours['seconds']:.1f}x)")
    return table


@app.command()
def main(which: Annotated[str, typer.Argument()] = "population",
         size: Annotated[int | None, typer.Option(
             help="people (population, default 1.2 M; generator, default 2,000) or parcels "
                  "(land, default 1 M; api, default 1.2 M)")] = None,
         duration: Annotated[int | None, typer.Option(
             help="seconds of load per variant (api, default 30)")] = None,
         formats: Annotated[str | None, typer.Option(
             help="exports: only these formats, comma-separated (e.g. csv-bom,json)")] = None,
         repeat: Annotated[int | None, typer.Option(
             help="exports: runs per contender, median printed (default 3)")] = None,
         ) -> None:
    RESULTS.mkdir(exist_ok=True)
    if which == "population":
        from bench.population import main as run

        size = size or 1_200_000
        rows = run(size=size)
        console.print(_table(f"Population registry, {size:,} people", rows))
        console.print(population_summary(rows))
    elif which == "land":
        from bench.land_sql import run as run_land

        size = size or 1_000_000
        rows = run_land(size)
        console.print(land_summary(rows))
        console.print(_table(f"Land registry through SQL, {size:,} parcels", rows))
    elif which == "generator":
        from bench.generator import TARGET_SECONDS_PER_2000
        from bench.generator import run as run_generator

        size = size or 2000
        rows = run_generator(size)
        console.print(_table(f"Population generator (target: 2,000 people warm in "
                             f"< {TARGET_SECONDS_PER_2000} s)", rows))
    elif which == "exports":
        from bench.opendata_exports import run as run_exports
        from bench.opendata_exports import table as exports_table

        rows = run_exports(size or 1_200_000, formats.split(",") if formats else None,
                           repeat or 3)
        console.print(exports_table(rows))
    elif which == "reconcile":
        from bench.reconcile import run as run_reconcile

        size = size or 1_000_000
        rows = run_reconcile(size)
        console.print(_table(f"Reconciliation of {size:,} parcels (PostgreSQL)", rows))
    elif which == "cdc":
        from bench.pg_logical import run as run_cdc

        size = size or 100_000
        rows = run_cdc(size)
        console.print(_table(f"Log-based capture vs timestamps: {size:,} changes", rows))
    elif which == "portal":
        from bench.portal_pages import run as run_portal

        rows = run_portal()
        table = Table("page", "served as", "bytes", "p50 ms", "p99 ms", "req/s", "non-2xx",
                      title="Portal pages under wrk (2 threads, 8 connections; target p99 < 50 ms)")
        for r in rows:
            table.add_row(r["page"], r["served_as"], f"{r['bytes']:,}", f"{r['p50_ms']:.2f}",
                          f"{r['p99_ms']:.2f}", f"{r['rps']:,.0f}", f"{r['non_2xx']:.0f}")
        console.print(table)
    elif which == "api":
        from bench.api_load import results_table, verdict_table
        from bench.api_load import run as run_api

        rows = run_api(size or 1_200_000, duration or 30, log=console.print)
        console.print(results_table(rows))
        console.print(verdict_table(rows))
    elif which == "suppression":
        from bench.suppression import run as run_suppression

        rows = run_suppression()
        table = Table("linked group", "hidden", "exposed", "one audit s", "protection s",
                      "hidden after", title="Joint suppression of linked indicators "
                      "(tables of this LGSP_HOME's curated snapshots, each protected alone first)")
        for r in rows:
            table.add_row(r["group"], f"{r['hidden']:,}", f"{r['exposed']:,}",
                          f"{r['audit_s']:.2f}", f"{r['protect_s']:.2f}", f"{r['hidden_after']:,}")
        console.print(table)
    else:
        raise typer.BadParameter(f"unknown benchmark {which!r}: population, land, generator, "
                                 "exports, reconcile, cdc, portal, api or suppression")
    out = RESULTS / f"{which}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    console.print(f"saved {out}")


if __name__ == "__main__":
    app()
