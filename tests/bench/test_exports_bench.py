"""The exports benchmark runs end to end at a tiny size: for each source, our writer,
DuckDB's COPY and pandas each wrote the format (rows, time and peak memory measured), and
a format it does not know is refused by name. Our writer and COPY run --repeat times, the
median printed."""

from __future__ import annotations

import pytest

from bench.opendata_exports import run, table


def test_one_format_on_both_sources_three_ways() -> None:
    rows = run(2000, ["csv-bom"], repeat=2)
    got = {(r["source"].split(" ")[0], r["approach"]) for r in rows}
    assert got == {(s, a) for s in ("business_registry", "population")
                   for a in ("lgsp", "duckdb", "pandas")}
    assert all(r["format"] == "csv-bom" and r["rows"] == 2000 and r["seconds"] > 0
               and r["peak_mb"] > 0 for r in rows)
    assert all(r["tenth_peak_mb"] > 0 for r in rows if r["approach"] != "pandas")
    assert table(rows).row_count == len(rows)
    for r in rows:  # lgsp and COPY ran twice each, the median printed; pandas once
        if r["approach"] == "pandas":
            assert "runs" not in r
        else:
            assert len(r["runs"]) == 2
            assert min(r["runs"]) <= r["seconds"] <= max(r["runs"])


def test_an_unknown_format_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown format\(s\) \['xls'\]"):
        run(10, ["xls"])
