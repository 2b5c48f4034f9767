"""`castable`: a typed column's raw text must be a value of its type as written, not merely
something DuckDB can coerce ('1.5' would become the integer 2, '2026-04-27T07:5' 07:05),
and the curated cast agrees with it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.spec import Check, get_spec
from expectations.rules import RULES, RuleContext
from warehouse.curate import curated_select


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


# --- timestamps and dates parse only in full ------------------------------------------------
# The oracle is Python's datetime (strptime with the formats written out here), not the
# rule's pattern. The curated cast is checked against the same oracle, so the gate and the
# curated table agree on every value.

OFFSETS = [timedelta(0), timedelta(hours=7), timedelta(hours=5, minutes=30),
           timedelta(hours=-3), timedelta(hours=-9, minutes=-30), timedelta(hours=14)]
_FORMATS = [f"%Y-%m-%d{sep}%H:%M:%S{frac}%z" for sep in "T " for frac in ("", ".%f")]
_COMPLETE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d(:?\d\d)?)")


def _oracle(text: str) -> datetime | None:
    """The instant a complete timestamp denotes, else None. strptime's %z needs minutes, so
    PostgreSQL's "+07" is read as "+07:00"; strptime accepts one-digit fields, which a
    complete form never has (the shape test)."""
    text = text.strip()
    if not _COMPLETE.fullmatch(text):
        return None
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _write(moment: datetime, sep: str, fraction: bool, style: str) -> str:
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + (
        f".{moment.microsecond:06d}" if fraction else "")
    offset = moment.utcoffset()
    assert offset is not None
    sign, rest = ("-", -offset) if offset < timedelta(0) else ("+", offset)
    hh, mm = divmod(int(rest.total_seconds()) // 60, 60)
    if style == "Z" and offset == timedelta(0):
        return text + "Z"
    if style == "hh" and mm == 0:
        return text + f"{sign}{hh:02d}"
    if style == "hhmm":
        return text + f"{sign}{hh:02d}{mm:02d}"
    return text + f"{sign}{hh:02d}:{mm:02d}"


TIMESTAMPS = st.builds(
    _write,
    st.builds(lambda naive, off: naive.replace(tzinfo=timezone(off)),
              st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
              st.sampled_from(OFFSETS)),
    st.sampled_from("T "), st.booleans(), st.sampled_from(["Z", "hh", "hhmm", "hh:mm"]))


@pytest.fixture(scope="module")
def updated_at():
    spec = get_spec("population")
    [check] = RULES["castable"](Check(rule="castable", column="updated_at"),
                                RuleContext(spec=spec, communes_parquet=Path("unused")))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return spec, check, con


def _source_columns(spec) -> list[str]:
    """The gate's source query: the spec's columns, and <col>_raw beside an identifier."""
    return [n for c in spec.columns
            for n in ([c.name, c.name + "_raw"] if c.normalize == "identifier" else [c.name])]


def _raw_table(con, spec, column: str, values: list[str]) -> None:
    """A raw run: `values` in `column`, the spec's other columns NULL, _row = position."""
    others = ", ".join(f"CAST(NULL AS VARCHAR) AS {name}" for name in _source_columns(spec)
                       if name != column)
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw AS SELECT {others}, v AS {column}, "
                f"CAST(i - 1 AS INTEGER) AS _row FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(v, i)",
                [values])


def _verdicts(fixture, values: list[str]) -> list[tuple[str, bool, datetime | None]]:
    """(value, rejected by castable, curated value) for each value, in one DuckDB pass."""
    spec, check, con = fixture
    _raw_table(con, spec, "updated_at", values)
    rejected = {r[0] for r in con.execute(
        f"SELECT _row FROM ({check.unexpected_rows_query('raw')})").fetchall()}
    curated = con.execute(f"SELECT updated_at FROM (SELECT _row, "
                          f"{curated_select(spec, 'run', lenient=True)} FROM raw) ORDER BY _row"
                          ).fetchall()
    return [(v, i in rejected, curated[i][0]) for i, v in enumerate(values)]


def test_the_issues_truncated_timestamp_is_rejected(updated_at):
    verdicts = _verdicts(updated_at, ["2026-04-27T07:55:50+07:00", "2026-04-27T07:5",
                                       "2026-04-27T07:55:50", "2026-04-27 07:55:50+07"])
    assert [rejected for _, rejected, _ in verdicts] == [False, True, True, False]
    assert verdicts[0][2] == datetime(2026, 4, 27, 0, 55, 50)  # UTC, offset applied


@settings(max_examples=150, deadline=None)
@given(text=TIMESTAMPS, pad=st.sampled_from(["", " ", "  "]))
def test_a_timestamp_is_accepted_whole_and_curated_as_the_instant_it_names(text, pad, updated_at):
    [(_, rejected, curated)] = _verdicts(updated_at, [pad + text + pad])
    expected = _oracle(text)
    assert expected is not None
    assert not rejected
    assert curated == expected.astimezone(UTC).replace(tzinfo=None)


@settings(max_examples=150, deadline=None)
@given(text=TIMESTAMPS)
def test_every_prefix_of_a_timestamp_is_rejected_unless_complete_itself(text, updated_at):
    prefixes = [text[:k] for k in range(1, len(text))]
    for value, rejected, curated in _verdicts(updated_at, prefixes):
        expected = _oracle(value)
        assert rejected is (expected is None), value
        if expected is not None:  # "+07:00" cut to "+07": still the same offset
            assert curated == expected.astimezone(UTC).replace(tzinfo=None), value


def test_the_strict_curated_cast_never_turns_a_cut_timestamp_into_null_or_another_time():
    spec = get_spec("population")
    con = duckdb.connect()
    names = _source_columns(spec)
    cols = ", ".join(f"CAST(? AS VARCHAR) AS {n}" for n in names)
    values = [None] * len(names)
    values[names.index("updated_at")] = "2026-04-27T07:5"
    with pytest.raises(duckdb.InvalidInputException, match="updated_at: not a valid timestamp"):
        con.execute(f"SELECT {curated_select(spec, 'run')} FROM (SELECT {cols})", values)


@settings(max_examples=100, deadline=None)
@given(day=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_every_prefix_of_a_date_is_rejected(day, updated_at):
    spec, _, con = updated_at
    [check] = RULES["castable"](Check(rule="castable", column="date_of_birth"),
                                RuleContext(spec=spec, communes_parquet=Path("unused")))
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    _raw_table(con, spec, "date_of_birth", [text[:k] for k in range(1, len(text) + 1)])
    rejected = {r[0] for r in con.execute(
        f"SELECT _row FROM ({check.unexpected_rows_query('raw')})").fetchall()}
    assert rejected == set(range(len(text) - 1))  # all but the whole date
