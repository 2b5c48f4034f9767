"""`python -m bench [population|land] [--size N]`: run benchmarks, print tables, save JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False)
console = Console()
RESULTS = Path(__file__).parent / "results"


def _table(title: str, rows: list[dict]) -> Table:
    table = Table("approach", "stage", "rows", "seconds", "rows/s", "peak MB", title=title)
    for r in rows:
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        table.add_row(r["approach"], r["name"], f"{r['rows']:,}", f"{r['seconds']:.2f}",
                      f"{rate:,.0f}", f"{r['peak_mb']:.0f}")
    return table


def population_summary(rows: list[dict]) -> Table:
    def total(approach_prefix: str, names: tuple[str, ...] | None = None) -> tuple[float, float]:
        sel = [r for r in rows if r["approach"].startswith(approach_prefix)
               and (names is None or any(r["name"].startswith(n) for n in names))]
        return sum(r["seconds"] for r in sel), max((r["peak_mb"] for r in sel), default=0)

    ours_s, ours_mb = total("lgsp", ("extract", "gate", "publish"))
    naive_s, naive_mb = total("naive")
    gate_s, _ = total("lgsp", ("gate",))
    sql_s, _ = total("lgsp", ("same checks",))
    table = Table("measure", "value", "target", title="Population: end to end")
    table.add_row("lgsp end to end (extract+gate+publish) s", f"{ours_s:.1f}", "")
    table.add_row("naive end to end s", f"{naive_s:.1f}", "")
    table.add_row("speed-up vs naive", f"{naive_s / ours_s:.1f}x" if ours_s else "-", ">= 3x")
    table.add_row("peak memory lgsp / naive", f"{ours_mb:.0f} / {naive_mb:.0f} MB "
                  f"({ours_mb / naive_mb:.2f})" if naive_mb else "-", "< 0.33")
    table.add_row("gate / direct SQL", f"{gate_s / sql_s:.2f}x" if sql_s else "-", "<= 2x")
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
             help="people (population, default 1.2 M) or parcels (land, default 1 M)")] = None,
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
    else:
        raise typer.BadParameter(f"unknown benchmark {which!r}: population or land")
    out = RESULTS / f"{which}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    console.print(f"saved {out}")


if __name__ == "__main__":
    app()
