"""Formula injection (warehouse.cell_safety, the one rule the open-data writers use): the
Python and the DuckDB faces of the rule agree on any text, and a
neutralised value never starts with a trigger character (OWASP CSV injection)."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.cell_safety import FORMULA_PREFIXES, escape_formula, escape_formula_sql

texts = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
    st.builds(lambda t, s: t + s, st.sampled_from(FORMULA_PREFIXES), st.text(max_size=10)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=10))
def test_python_and_sql_agree_and_no_value_starts_a_formula(values) -> None:  # type: ignore[no-untyped-def]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    sql = con.execute(f"SELECT {escape_formula_sql('v')} FROM t ORDER BY i").fetchall()
    assert [r[0] for r in sql] == [escape_formula(v) for v in values]
    for original, safe in zip(values, (r[0] for r in sql), strict=True):
        assert not safe.startswith(FORMULA_PREFIXES)
        assert safe == original or safe == "'" + original  # nothing else changes


def test_known_payloads() -> None:
    assert escape_formula('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert escape_formula("@SUM(1+1)") == "'@SUM(1+1)"
    assert escape_formula("\t=1") == "'\t=1"
    assert escape_formula("Công ty =A") == "Công ty =A"


def test_sql_reads_the_first_code_point_not_the_grapheme() -> None:
    con = duckdb.connect()
    for value in ("=\u0301SUM(1)", "\u0301=x", "-\u20ac", "ắ=1"):
        (got,) = con.execute(f"SELECT {escape_formula_sql('v')} FROM (SELECT ? AS v)",
                             [value]).fetchone()  # type: ignore[misc]
        assert got == escape_formula(value), value
