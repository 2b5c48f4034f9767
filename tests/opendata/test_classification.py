"""What may leave as open data: the classification rule and the identifier value scan.

Property tests generate identifiers of every kind (valid CCCD, BHXH, BHYT, phone numbers in
the ways people write them) inside arbitrary text and check the DuckDB scan finds each,
names the column and counts the rows; text without such a digit run is never flagged; and
valid enterprise tax codes in a column the spec checks as tax codes are not flagged."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum.vn import mst

from catalog.spec import get_spec
from opendata.classification import (
    IDENTIFIER_PATTERNS,
    ClassificationError,
    ExportRefused,
    check_open_rows,
    closed_columns,
    identifier_kinds,
    open_columns,
    scan_identifiers,
)

CCCD, BHXH, BHYT, PHONE = IDENTIFIER_PATTERNS

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _n(k: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=k, max_size=k)


cccds = _n(12)
bhxhs = _n(10).filter(lambda s: not s.startswith(("03", "05", "07", "08", "09", "02", "84")))
bhyts = st.builds(lambda a, b, c: a + b + c,
                  st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
                  st.sampled_from("12345"), _n(12))
phones = st.builds(
    lambda prefix, first, rest, sep: prefix + sep.join([first + rest[:2], rest[2:5], rest[5:]]),
    st.sampled_from(["0", "+84", "+84 ", "84"]), st.sampled_from("35789"), _n(8),
    st.sampled_from(["", " ", "."]),
)
# Surrounding text that cannot extend a digit run or a card number.
padding = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",),
                                         exclude_characters="0123456789+"), max_size=12)
safe_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
).filter(lambda s: max((len(r) for r in __import__("re").findall("[0-9]+", s)), default=0) < 8)


def _scan(values: list[str | None], tax_codes: set[str] | None = None) -> list:  # type: ignore[type-arg]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (c VARCHAR, other VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, 'ok')", [(v,) for v in values])
    return scan_identifiers(con, "t", ["c", "other"], tax_codes or set())


def _embed(before: str, ident: str, after: str) -> str:
    # keep letters from touching a BHYT card's leading letters
    return f"{before} {ident} {after}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.tuples(st.just(CCCD), cccds), st.tuples(st.just(BHXH), bhxhs),
                 st.tuples(st.just(BHYT), bhyts), st.tuples(st.just(PHONE), phones)),
       padding, padding, st.integers(min_value=0, max_value=5))
def test_every_identifier_kind_is_found_in_any_text(kind_ident, before, after, clean_rows) -> None:  # type: ignore[no-untyped-def]
    kind, ident = kind_ident
    value = _embed(before, ident, after)
    assert kind in identifier_kinds(value)
    findings = _scan([value] + ["nothing here"] * clean_rows)
    hits = {(f.column, f.kind): f.rows for f in findings}
    assert hits.get(("c", kind)) == 1  # named column, one row, whatever the other rows
    assert not any(col == "other" for col, _ in hits)


@settings(max_examples=60, deadline=None)
@given(st.lists(safe_text, min_size=1, max_size=6))
def test_text_without_long_digit_runs_is_never_flagged(values) -> None:  # type: ignore[no-untyped-def]
    assert _scan(values) == []
    assert all(not identifier_kinds(v) for v in values)


@settings(max_examples=40, deadline=None)
@given(_n(9), st.booleans())
def test_valid_tax_codes_are_exempt_only_in_a_tax_code_column(first9, branch) -> None:  # type: ignore[no-untyped-def]
    code = first9 + mst.calc_check_digit(first9) + ("-001" if branch else "")
    assume(mst.is_valid(code))
    assert _scan([code], {"c"}) == []
    assert _scan([code], set()) != []  # the same value anywhere else is refused


def test_invalid_tax_code_in_a_tax_code_column_is_still_refused() -> None:
    first9 = "010123456"
    wrong = str((int(mst.calc_check_digit(first9)) + 1) % 10)
    findings = _scan([first9 + wrong, "0101234567" + "99"], {"c"})
    kinds = {f.kind for f in findings}
    assert BHXH in kinds and CCCD in kinds


def test_null_values_are_not_findings() -> None:
    assert _scan([None, None]) == []


def test_only_public_columns_of_an_open_dataset_may_leave() -> None:
    spec = get_spec("business_registry")
    names = [c.name for c in open_columns(spec)]
    assert "owner_personal_id" not in names
    assert "owner_personal_id" in closed_columns(spec)
    assert all(spec.column(n).classification == "public" for n in names)
    with pytest.raises(ClassificationError, match="population: not open data"):
        open_columns(get_spec("population"))


def test_internal_columns_never_leave() -> None:
    spec = get_spec("business_registry")
    cols = [c.model_copy(update={"classification": "internal"}) if c.name == "address" else c
            for c in spec.columns]
    spec = spec.model_copy(update={"columns": cols})
    assert "address" not in [c.name for c in open_columns(spec)]


def test_a_spec_marking_the_id_column_public_is_refused_naming_the_column() -> None:
    spec = get_spec("business_registry")
    wrong = spec.model_copy(update={"columns": [
        c.model_copy(update={"classification": "public"}) if c.name == "owner_personal_id" else c
        for c in spec.columns]})
    assert "owner_personal_id" in [c.name for c in open_columns(wrong)]
    codes = [c for c in (f"01012345{i}" + mst.calc_check_digit(f"01012345{i}") for i in range(10))
             if mst.is_valid(c)][:3]
    con = duckdb.connect()
    con.execute("CREATE TABLE rows (enterprise_code VARCHAR, unit_type VARCHAR, name VARCHAR, "
                "owner_personal_id VARCHAR)")
    con.executemany("INSERT INTO rows VALUES (?, 'doanh nghiệp', ?, ?)",
                    list(zip(codes, ["Công ty A", "Công ty B", "Công ty C"],
                             ["079190000123", "079190000124", None], strict=True)))
    con.execute("CREATE VIEW v AS SELECT *, NULL AS legal_form, NULL AS status_code, NULL AS address, "
                "NULL AS commune_code, NULL AS commune_code_era, NULL AS sector_code, "
                "NULL AS registered_date, NULL AS updated_at FROM rows")
    with pytest.raises(ExportRefused) as err:
        check_open_rows(wrong, con, "v")
    message = str(err.value)
    assert "'owner_personal_id'" in message and "2 row(s)" in message and CCCD in message
    assert "079190000123" not in message  # never the value itself
    check_open_rows(spec, con, "v")  # rightly classified: the column is not even read
