"""`castable`: a typed column's raw text must be a value of its type as written, not merely
something DuckDB can coerce ('1.5' would become the integer 2)."""

from __future__ import annotations

import duckdb
import pytest

from catalog.spec import Check, get_spec
from expectations.rules import RULES, RuleContext


@pytest.mark.parametrize(("value", "bad"), [
    ("12", False), ("-3", False), (" 7 ", False), ("1.5", True), ("1e3", True), ("12a", True),
    ("", False),  # empty is missing, reported by not_null, not by castable
])
def test_whole_numbers_must_be_written_in_digits(value, bad, tmp_path):
    spec = get_spec("land_parcels")
    [check] = RULES["castable"](Check(rule="castable", column="map_sheet"),
                                RuleContext(spec=spec, communes_parquet=tmp_path / "x.parquet"))
    sql = f"SELECT count(*) FROM ({check.unexpected_rows_query('(SELECT ? AS map_sheet)')})"
    assert bool(duckdb.connect().execute(sql, [value]).fetchone()[0]) is bad
