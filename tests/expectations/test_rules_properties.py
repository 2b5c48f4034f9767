"""Property tests of the rule SQL: DuckDB's verdict on generated values equals a plain
Python statement of the DOMAIN.md rules."""

from __future__ import annotations

import unicodedata
from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.spec import get_spec
from expectations.reference import ensure_reference
from expectations.rules import compile_checks
from tests.province_codes import ID_PREFIXES, PROVINCES_2004


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    ref = ensure_reference(tmp_path_factory.mktemp("ref"))
    return {c.name: c for c in compile_checks(get_spec("population"), ref)}


def _bad(check, row: dict[str, str | None]) -> bool:
    con = duckdb.connect()
    cols = ", ".join(f"CAST(? AS VARCHAR) AS {k}" for k in row)
    con.execute(f"CREATE TABLE t AS SELECT {cols}, 1 AS _row", list(row.values()))
    return bool(con.execute(f"SELECT count(*) FROM ({check.unexpected_rows_query('t')})").fetchone()[0])


def _personal_id(province: str, born: date, female: bool, tail: int) -> str:
    digit = (born.year // 100 - 19) * 2 + (1 if female else 0)
    return f"0{province}{digit}{born.year % 100:02d}{tail:06d}"


people = st.builds(
    lambda p, d, f, t: (p, d, f, t),
    st.sampled_from(sorted(PROVINCES_2004)),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 1)),
    st.booleans(),
    st.integers(0, 999_999),
)
ID_CHECKS = (
    "personal_id:personal_id:format",
    "personal_id:personal_id:province",
    "personal_id:personal_id:birth_year",
    "personal_id:personal_id:sex",
)


@settings(max_examples=150, deadline=None)
@given(people)
def test_consistent_personal_ids_pass(checks, person):
    province, born, female, tail = person
    row = {
        "personal_id": _personal_id(province, born, female, tail),
        "date_of_birth": born.isoformat(),
        "sex": "Nữ" if female else "Nam",
    }
    for name in ID_CHECKS:
        assert not _bad(checks[name], row), (name, row)


def test_the_province_prefix_is_a_2004_province_or_a_country(checks):
    """Every 3-digit prefix on an otherwise consistent ID (a woman born 1985)."""
    import pyarrow as pa

    ids = [f"{n:03d}185001234" for n in range(1000)]
    con = duckdb.connect()
    con.register("t", pa.table({"personal_id": ids, "date_of_birth": ["1985-03-14"] * 1000,
                                "sex": ["Nữ"] * 1000, "_row": list(range(1000))}))
    query = checks["personal_id:personal_id:province"].unexpected_rows_query("t")
    rejected = {row[0] for row in con.execute(f"SELECT personal_id FROM ({query})").fetchall()}
    assert {pid[:3] for pid in rejected} == {pid[:3] for pid in ids} - ID_PREFIXES


@settings(max_examples=150, deadline=None)
@given(people, st.integers(0, 9))
def test_a_wrong_century_sex_digit_is_caught(checks, person, digit):
    province, born, female, tail = person
    good = _personal_id(province, born, female, tail)
    if digit == int(good[3]):
        return
    row = {
        "personal_id": good[:3] + str(digit) + good[4:],
        "date_of_birth": born.isoformat(),
        "sex": "Nữ" if female else "Nam",
    }
    caught = _bad(checks["personal_id:personal_id:birth_year"], row) or _bad(
        checks["personal_id:personal_id:sex"], row
    )
    assert caught, row


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=14))
def test_id_format_matches_a_regex_oracle(checks, text):
    import re

    expected_bad = re.fullmatch(r"[0-9]{12}", text) is None
    assert _bad(checks["personal_id:personal_id:format"], {"personal_id": text}) == expected_bad


SYLLABLES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Thạch",
    "Văn",
    "Thị",
    "Hữu",
    "Minh",
    "Ngọc",
    "Quốc",
    "Thanh",
    "Xuân",
    "Khánh",
    "Nghĩa",
    "Trường",
    "Giang",
    "Quyên",
    "Khuê",
    "Uyên",
    "Hoài",
    "Tuấn",
    "Phượng",
    "Hương",
    "Thủy",
    "Duyên",
    "Nhung",
    "Yến",
    "Oanh",
    "Ngoan",
    "Khoa",
    "Huệ",
    "Quỳnh",
    "Luyến",
    "Tiến",
    "Nguyệt",
    "Khuya",
    "Giữa",
    "Xoong",
    "Hiếu",
    "Nhiều",
    "Khuỷu",
    "Sa",
    "Rết",
    "Danh",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=4),
    st.sampled_from(["NFC", "NFD"]),
    st.booleans(),
)
def test_vietnamese_names_pass_in_nfc_nfd_and_upper_case(checks, words, form, upper):
    name = " ".join(words)
    name = unicodedata.normalize(form, name.upper() if upper else name)
    assert not _bad(checks["vietnamese_name:full_name"], {"full_name": name})


@pytest.mark.parametrize(
    "mojibake",
    [
        "NguyÔn V¨n An",
        "Nguyeãn Vaên An",
        "Tr§n ThÞ B×nh",
        "Lê Văn 3",
        "Hoà@ng",
        "Traàn Thò Bình",
        "Phaïm Quoác",
    ],
)
def test_legacy_encoded_or_stray_names_fail(checks, mojibake):
    assert _bad(checks["vietnamese_name:full_name"], {"full_name": mojibake})


# A plain-Python statement of "a Vietnamese name", written from the language, not from
# expectations/rules.py: every word is a syllable = onset? + vowel nucleus + coda?, in any
# letter case. Vowel letters count by their base vowel (ă, â -> a; ê -> e; ô, ơ -> o;
# ư -> u), whatever their tone; a vowel may be followed by up to two of Vietnamese's eight
# combining marks (NFD text: the five tones, circumflex, breve, horn), never another mark;
# consonants are b c d đ g h k l m n p q r s t v x and carry no mark.
_MARKS = {0x300, 0x301, 0x303, 0x309, 0x323, 0x302, 0x306, 0x31B}
_VOWELS = {"a": "aàáảãạăằắẳẵặâầấẩẫậ", "e": "eèéẻẽẹêềếểễệ", "i": "iìíỉĩị",
           "o": "oòóỏõọôồốổỗộơờớởỡợ", "u": "uùúủũụưừứửữự", "y": "yỳýỷỹỵ"}
_BASE = {letter: base for base, letters in _VOWELS.items()
         for letter in letters + letters.upper()}
_CONSONANTS = set("bcdđghklmnpqrstvx")
_ONSETS = {"", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng",
           "ngh", "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x"}
_NUCLEI = {  # vowel skeletons of Vietnamese rhymes (ươu -> uou, uyê -> uye, oong -> oo, ...)
    "a", "e", "i", "o", "u", "y",
    "ai", "ao", "au", "ay", "eo", "eu", "ia", "ie", "iu", "oa", "oe", "oi", "oo", "ua", "ue",
    "ui", "uo", "uu", "uy", "ye",
    "ieu", "yeu", "oai", "oao", "oay", "oeo", "uay", "uoi", "uou", "uya", "uye", "uyu"}
_CODAS = {"", "c", "ch", "m", "n", "ng", "nh", "p", "t"}


def _skeleton(word: str) -> str | None:
    """The word as lower-case base letters, or None if a character cannot be in a syllable."""
    out: list[str] = []
    marks = 0  # on the last letter
    for ch in word:
        if ord(ch) in _MARKS and out and out[-1] in _VOWELS and marks < 2:
            marks += 1  # a mark on the vowel before it
            continue
        marks = 0
        if ch in _BASE:
            out.append(_BASE[ch])
        elif ch.lower() in _CONSONANTS and ch.isascii() or ch in "đĐ":
            out.append(ch.lower())
        else:
            return None
    return "".join(out)


def _is_syllable(word: str) -> bool:
    skeleton = _skeleton(word)
    if not skeleton:
        return False
    for i in range(len(skeleton) + 1):
        for j in range(i + 1, len(skeleton) + 1):
            if (skeleton[:i] in _ONSETS and skeleton[i:j] in _NUCLEI
                    and skeleton[j:] in _CODAS):
                return True
    return False


def is_vietnamese_name(trimmed: str) -> bool:
    return all(_is_syllable(word) for word in trimmed.split(" "))


def test_the_name_oracle_itself():
    for name in SYLLABLES + ["Nguyễn Văn An", "NGUYỄN THỊ KHUYẾN", "Người", "khuỷu", "Xoong",
                             unicodedata.normalize("NFD", "Trần Thị Bích")]:
        assert is_vietnamese_name(name), name
    for name in ["NguyÔn", "Nguyeãn", "Jack", "Lê  Văn", "Ngyo", "Sa3", "Nguyễn\u212a", "ſa", "qa",
                 "Nguye\u0308n", "A\u030a", "Ba\u0301\u0301\u0301"]:
        assert not is_vietnamese_name(name), name


def test_name_check_equals_letters_and_syllables_for_every_code_point(checks):
    """The name check must accept exactly the names the plain-Python statement above
    accepts. Every Unicode code point is tried inside and around syllables."""
    import pyarrow as pa

    chars = [chr(i) for i in range(1, 0x30000) if not 0xD800 <= i <= 0xDFFF]
    values = [t.format(c=c) for t in ("{c}a", "ng{c}", "Nguy{c}n", "b{c}ng", "{c}o Th{c}")
              for c in chars]
    con = duckdb.connect()
    con.register("names", pa.table({"full_name": values}))
    check = checks["vietnamese_name:full_name"].over("names")
    verdicts = con.execute(f"SELECT full_name, trim(full_name), ({check}) FROM names").fetchall()
    differ = [(name, bad) for name, trimmed, bad in verdicts
              if bool(bad) == is_vietnamese_name(trimmed)]
    assert differ[:5] == []
    # and the check does reject things: every template with a non-letter in it
    assert sum(bool(bad) for _, _, bad in verdicts) > len(chars)
