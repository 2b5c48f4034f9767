"""VNI Windows against known byte pairs written out here from the VNI table (each
Vietnamese letter as the bytes VNI fonts store: the base letter, then a mark byte; ơ, ư, đ
and some i/y forms are one byte), not against the project's own VNI encoders: the
connector's decoder and both simulators' encoders must give exactly these bytes.

Upper case is the same layout shifted by the Latin-1 case offset: ASCII letters upper-cased,
bytes 0xE0-0xFE minus 0x20 ("Ấ" = 41 C1, "Ư" = D6, "Đ" = D1)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import encodings as enc
from registries.business import encoders
from registries.population.legacy_text import to_vni_mojibake

LOWER: dict[str, str] = {
    "à": "61 F8", "á": "61 F9", "ả": "61 FB", "ã": "61 F5", "ạ": "61 EF",
    "ă": "61 EA", "ằ": "61 E8", "ắ": "61 E9", "ẳ": "61 FA", "ẵ": "61 FC", "ặ": "61 EB",
    "â": "61 E2", "ầ": "61 E0", "ấ": "61 E1", "ẩ": "61 E5", "ẫ": "61 E3", "ậ": "61 E4",
    "è": "65 F8", "é": "65 F9", "ẻ": "65 FB", "ẽ": "65 F5", "ẹ": "65 EF",
    "ê": "65 E2", "ề": "65 E0", "ế": "65 E1", "ể": "65 E5", "ễ": "65 E3", "ệ": "65 E4",
    "ì": "EC", "í": "ED", "ỉ": "E6", "ĩ": "F3", "ị": "F2",
    "ò": "6F F8", "ó": "6F F9", "ỏ": "6F FB", "õ": "6F F5", "ọ": "6F EF",
    "ô": "6F E2", "ồ": "6F E0", "ố": "6F E1", "ổ": "6F E5", "ỗ": "6F E3", "ộ": "6F E4",
    "ơ": "F4", "ờ": "F4 F8", "ớ": "F4 F9", "ở": "F4 FB", "ỡ": "F4 F5", "ợ": "F4 EF",
    "ù": "75 F8", "ú": "75 F9", "ủ": "75 FB", "ũ": "75 F5", "ụ": "75 EF",
    "ư": "F6", "ừ": "F6 F8", "ứ": "F6 F9", "ử": "F6 FB", "ữ": "F6 F5", "ự": "F6 EF",
    "ỳ": "79 F8", "ý": "79 F9", "ỷ": "79 FB", "ỹ": "79 F5", "ỵ": "EE",
    "đ": "F1",
}


def _upper(hex_bytes: str) -> str:
    out = []
    for b in bytes.fromhex(hex_bytes):
        out.append(b - 0x20 if b >= 0xE0 or 0x61 <= b <= 0x7A else b)
    return bytes(out).hex(" ").upper()


KNOWN: dict[str, bytes] = {
    **{k: bytes.fromhex(v) for k, v in LOWER.items()},
    **{k.upper(): bytes.fromhex(_upper(v)) for k, v in LOWER.items()},
}
PHRASES = [  # as VNI text shows in a Windows-1252 program (DOMAIN.md: "Xin chaøo")
    ("Xin chào", "Xin chaøo"),
    ("Nguyễn Văn Ánh", "Nguyeãn Vaên AÙnh"),
    ("ẤP TÂN HƯNG", "AÁP TAÂN HÖNG"),
    ("Đỗ Hữu Lợi", "Ñoã Höõu Lôïi"),
    ("Ủy ban nhân dân tỉnh Cà Mau", "UÛy ban nhaân daân tænh Caø Mau"),
]


def test_the_table_covers_every_vietnamese_letter():
    assert len(LOWER) == 67 and len(KNOWN) == 134
    assert KNOWN["Ấ"] == b"\x41\xc1" and KNOWN["Ư"] == b"\xd6" and KNOWN["Đ"] == b"\xd1"


@pytest.mark.parametrize("letter", sorted(KNOWN))
def test_each_letter(letter):
    raw = KNOWN[letter]
    assert enc.LINE_DECODERS[enc.VNI](raw) == letter
    assert encoders.vni_bytes(letter) == raw
    assert to_vni_mojibake(letter).encode("cp1252") == raw


@pytest.mark.parametrize(("text", "shown"), PHRASES)
def test_known_phrases(text, shown):
    assert enc.vni_to_unicode(shown) == text
    assert enc.LINE_DECODERS[enc.VNI](shown.encode("cp1252")) == text
    assert encoders.to_vni(text) == shown and to_vni_mojibake(text) == shown


ASCII = "abcdeghiklmnopqrstuvxyABCDGHKLMNOPQRSTVXY ,.-0123456789"
TEXT = st.text(alphabet=st.sampled_from(sorted(KNOWN) + list(ASCII)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_any_text_is_the_letters_bytes_in_order(text):
    raw = b"".join(KNOWN[ch] if ch in KNOWN else ch.encode("ascii") for ch in text)
    assert enc.LINE_DECODERS[enc.VNI](raw) == text
    assert encoders.vni_bytes(text) == raw
    assert to_vni_mojibake(text).encode("cp1252") == raw
    assert unicodedata.is_normalized("NFC", text)
