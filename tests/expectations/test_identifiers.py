"""Identifier columns (`normalize: identifier`) are cleared of harmless noise before the
checks: a tax code with a trailing or no-break space, or in full-width digits, is repaired
(counted, the value as delivered kept in <col>_raw), not quarantined.

The reference is python-stdnum: `stdnum.util.clean` (its map of Unicode spaces, dashes and
digits to ASCII) and `stdnum.vn.mst.compact`. Digits stdnum does not know (Arabic-Indic,
Devanagari, ...) are checked against Python's `unicodedata.decimal`.
"""

from __future__ import annotations

import unicodedata

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.util import clean
from stdnum.vn import mst

from catalog.spec import get_spec
from expectations.gate import run_gate
from expectations.rules import identifier_sql

# Written out here, from the Unicode names stdnum maps (not from the code under test).
STDNUM_SPACES = ["\u0020", "\u00a0", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004",
                 "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u202f",
                 "\u205f", "\u3000"]
"""SPACE, NO-BREAK SPACE, EN QUAD ... HAIR SPACE, NARROW NO-BREAK SPACE, MEDIUM
MATHEMATICAL SPACE, IDEOGRAPHIC SPACE."""
STRIPPED_ONLY = ["\t", "\n", "\r"]
"""Not in stdnum's map, but stripped by `compact` (str.strip) at either end."""
DIGIT_ZEROS = [0xFF10, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6]
"""FULLWIDTH, MATHEMATICAL BOLD, DOUBLE-STRUCK, SANS-SERIF, SANS-SERIF BOLD, MONOSPACE
DIGIT ZERO: the digit d of each style is zero + d."""
OTHER_SCRIPT_ZEROS = [0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1040]
"""Arabic-Indic, extended Arabic-Indic, Devanagari, Bengali, Thai, Myanmar zeros."""

_CON = duckdb.connect()
_SQL = f"SELECT {identifier_sql('v')} FROM t ORDER BY i"


def normalised(values: list[str | None]) -> list[str | None]:
    _CON.register("t", pa.table({"i": list(range(len(values))),
                                 "v": pa.array(values, pa.string())}))
    return [r[0] for r in _CON.execute(_SQL).fetchall()]


def _styled(digits: str, styles: list[int | None]) -> str:
    return "".join(d if s is None else chr(s + int(d)) for d, s in zip(digits, styles, strict=True))


@st.composite
def noisy_codes(draw: st.DrawFn, zeros: list[int]) -> tuple[str, str]:
    """(canonical code, the same code with noise): each digit maybe in another style,
    blanks around it."""
    code = draw(st.text(alphabet="0123456789", min_size=10, max_size=10))
    if draw(st.booleans()):
        code += "-" + draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    styles = draw(st.lists(st.one_of(st.none(), st.sampled_from(zeros)),
                           min_size=len(code), max_size=len(code)))
    body = "".join(ch if ch == "-" else _styled(ch, [s]) for ch, s in zip(code, styles, strict=True))
    pad = st.text(alphabet=st.sampled_from(STDNUM_SPACES + STRIPPED_ONLY), max_size=3)
    return code, draw(pad) + body + draw(pad)


@settings(max_examples=120, deadline=None)
@given(st.lists(noisy_codes(DIGIT_ZEROS), min_size=1, max_size=20))
def test_normalisation_equals_stdnum_clean_and_compact(pairs):
    out = normalised([noisy for _, noisy in pairs])
    for (code, noisy), got in zip(pairs, out, strict=True):
        assert got == code
        assert got == clean(noisy).strip()
        assert mst.compact(got) == mst.compact(noisy)


NOISE = st.text(alphabet=st.sampled_from(
    list("0123456789-. ") + STDNUM_SPACES + STRIPPED_ONLY
    + [chr(z + d) for z in DIGIT_ZEROS for d in (0, 5, 9)] + ["\u2013", "\uff0d", "\uff0e"]),
    max_size=20)


@settings(max_examples=120, deadline=None)
@given(st.lists(NOISE, min_size=1, max_size=20))
def test_stdnum_compact_reads_any_value_as_it_reads_the_normalised_one(values):
    """Normalisation never changes what stdnum takes the number to be (it keeps inner
    separators, which stdnum drops and the checks reject with a reason)."""
    for value, got in zip(values, normalised(values), strict=True):
        assert mst.compact(got) == mst.compact(value), repr(value)


@settings(max_examples=100, deadline=None)
@given(st.lists(noisy_codes(OTHER_SCRIPT_ZEROS), min_size=1, max_size=20))
def test_digits_of_other_scripts_are_read_as_their_decimal_value(pairs):
    out = normalised([noisy for _, noisy in pairs])
    for (code, noisy), got in zip(pairs, out, strict=True):
        expected = "".join(str(unicodedata.decimal(ch)) if unicodedata.decimal(ch, None) is not None
                           else ch for ch in noisy.strip())
        assert got == expected == code


def test_clean_values_null_and_letters():
    assert normalised(["0100109106", None, "", "   ", "ＤＮ４７９", "01.00.233.488",
                       "0100 109106"]) == [
        "0100109106", None, "", "", "DN479", "01.00.233.488", "0100 109106"]


# --- in the gate ------------------------------------------------------------------------

GOOD = {
    "enterprise_code": "2058654677", "unit_type": "doanh nghiệp",
    "name": "Công ty TNHH Thủy sản Đất Mũi", "legal_form": "TNHH một thành viên",
    "status_code": "00", "address": "Số 12, ấp Tân Hưng", "commune_code": "32248",
    "commune_code_era": "2025", "owner_personal_id": "096181060426", "sector_code": "0111",
    "registered_date": "2012-10-07", "updated_at": "2024-03-02T11:28:42+07:00",
}
"""One valid business record (the check digit of 205865467 is 7, by stdnum)."""


@pytest.mark.parametrize("gx", [False, True])
def test_noisy_identifiers_are_repaired_not_quarantined(gx, settings, raw_run_factory):
    spec = get_spec("business_registry")
    assert mst.is_valid("2058654677")
    noisy = ["2058654677 ", "\u00a02058654677", "２０５８６５４６７７", "2058654677\u3000"]
    rows = [dict(GOOD, enterprise_code=code, updated_at=f"2024-03-0{i + 1}T11:28:42+07:00")
            for i, code in enumerate(noisy)]
    rows[1]["owner_personal_id"] = "０９６１８１０６０４２６ "
    rows.append(dict(GOOD, enterprise_code="20.58654677 ", owner_personal_id="096181060426"))
    gate = run_gate(spec, raw_run_factory(spec, rows), settings, use_gx=gx, keep_gx_result=False)
    assert (gate.curated_rows, gate.quarantined_rows) == (4, 1)
    assert gate.normalised_identifiers == {"enterprise_code": 5, "owner_personal_id": 1}
    curated = duckdb.sql(
        f"SELECT enterprise_code, enterprise_code_raw, owner_personal_id, owner_personal_id_raw "
        f"FROM read_parquet('{gate.staging_dir}/curated.parquet') ORDER BY updated_at").fetchall()
    assert [r[0] for r in curated] == ["2058654677"] * 4
    assert [r[1] for r in curated] == noisy
    assert curated[1][2:] == ("096181060426", "０９６１８１０６０４２６ ")
    # the unique check saw one code: the three older copies are flagged (warn), kept
    unique = next(c for c in gate.checks if c.rule == "unique")
    assert unique.failed_rows == 3
    # a separator inside is not noise: quarantined, with the value as delivered
    [(value, reasons)] = duckdb.sql(
        f"SELECT enterprise_code, _reasons FROM read_parquet('{gate.staging_dir}/quarantine.parquet')"
    ).fetchall()
    assert value == "20.58654677 "
    assert "is not a tax code" in reasons


def test_repairs_are_in_the_quality_report(settings, raw_run_factory):
    from tests.pipeline.test_cli_main_job import _lgsp
    from warehouse.publish import publish

    spec = get_spec("business_registry")
    rows = [dict(GOOD, enterprise_code="２０５８６５４６７７\u00a0")]
    run = raw_run_factory(spec, rows)
    publish(spec, run, run_gate(spec, run, settings, use_gx=False), settings)
    report = _lgsp(["quality", "--lang", "en"], settings.home)
    assert report.returncode == 0, report.stderr
    line = next(ln for ln in report.stdout.splitlines() if "business_registry" in ln)
    assert "enterprise_code 1" in line
