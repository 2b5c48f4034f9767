"""Legacy Vietnamese encodings: decoders against independent encoders, detection, repair.

TCVN3, VISCII and Windows-1258 are checked against glibc iconv (the reference
implementation) and Python's cp1258 codec;
VNI, which has no codec anywhere, against the generator's letter-by-letter table (and the
population simulator's own VNI encoder, written separately).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import encodings as enc
from expectations.rules import VIETNAMESE_LETTERS
from registries.business import encoders

TEXT = st.text(alphabet=st.sampled_from(VIETNAMESE_LETTERS + " ,.;:-/()0123456789"),
               min_size=1, max_size=80)
WORDS = ("Nguyễn Trần Lê Phạm Huỳnh Võ Đặng Bùi Đỗ Hồ Ngô Dương công ty trách nhiệm hữu hạn "
         "một thành viên cổ phần thương mại dịch vụ xây dựng thủy sản chế biến vận tải nông "
         "nghiệp du lịch tư vấn thiết kế xuất nhập khẩu đầu tư phát triển xăng dầu vật liệu "
         "chi nhánh doanh nghiệp tư nhân hợp danh số đường ấp khóm xã phường Cà Mau Bạc Liêu "
         "Năm Căn Đầm Dơi Thới Bình Sông Đốc Đất Mũi Ngọc Hiển Phước Lộc Kim Ngân Hưng "
         "Thịnh Vượng Ánh Dương Ước Mơ Út Hiền Ủy ban nhân dân tỉnh huyện").split()
SENTENCE = st.lists(st.sampled_from(WORDS), min_size=12, max_size=40).map(" ".join)


def _iconv_lines(texts: list[str], target: str) -> list[bytes]:
    out = subprocess.run(["iconv", "-f", "UTF-8", "-t", target], check=True,
                         input="\n".join(texts).encode("utf-8"), capture_output=True).stdout
    return out.split(b"\n")


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=20))
def test_tcvn3_decoder_inverts_glibc_iconv(texts):
    for text, raw in zip(texts, _iconv_lines(texts, "TCVN5712-1"), strict=True):
        assert enc.LINE_DECODERS[enc.TCVN3](raw) == unicodedata.normalize("NFC", text)


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=20))
def test_cp1258_decoding_of_glibc_iconv_output_is_nfc(texts):
    for text, raw in zip(texts, _iconv_lines(texts, "WINDOWS-1258"), strict=True):
        decoded = enc.LINE_DECODERS[enc.CP1258](raw)
        assert decoded == unicodedata.normalize("NFC", text)
        assert unicodedata.is_normalized("NFC", decoded)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_vni_decoder_inverts_the_generator(text):
    raw = encoders.vni_bytes(text)
    assert enc.LINE_DECODERS[enc.VNI](raw) == unicodedata.normalize("NFC", text)


@settings(max_examples=100, deadline=None)
@given(TEXT)
def test_vni_decoder_inverts_the_population_simulators_encoder(text):
    legacy_text = pytest.importorskip("registries.population.legacy_text")
    assert enc.vni_to_unicode(legacy_text.to_vni_mojibake(text)) == unicodedata.normalize(
        "NFC", text)


def test_documented_examples():
    assert enc.vni_to_unicode("Xin chaøo") == "Xin chào"
    assert enc.vni_to_unicode("Nguyeãn") == "Nguyễn"
    assert enc.vni_to_unicode("AÁP TAÂN HÖNG") == "ẤP TÂN HƯNG"
    assert enc.tcvn3_to_unicode("hép møt tÕt") == "hộp mứt tết"
    assert enc.tcvn3_to_unicode("NguyÔn V¨n An") == "Nguyễn Văn An"
    assert enc.LINE_DECODERS[enc.CP1258]("Hoa\u0300".encode("cp1258")) == "Hoà"


# --- detection, from real encoders ------------------------------------------------------
# Text is built from syllables written out here (onset + rhyme with its tone), not from the
# detector's own tables; bytes come from glibc iconv, Python's cp1258 codec and (VNI has no
# codec anywhere) the generator's letter-by-letter table.

ONSETS = ("", "b", "c", "ch", "d", "đ", "g", "gi", "h", "kh", "l", "m", "n", "ng", "nh", "ph",
          "qu", "r", "s", "t", "th", "tr", "v", "x")
RHYMES = ("à", "á", "ả", "ã", "ạ", "ăn", "ắt", "ặc", "ân", "ấp", "ầu", "èm", "ét", "ê", "ếch",
          "ệnh", "ìn", "ít", "iên", "iệt", "òng", "óc", "ô", "ốc", "ồng", "ơ", "ời", "ợp", "ủ",
          "ụt", "ưng", "ư", "ừng", "ức", "ương", "ước", "ưởi", "uyên", "uyết", "oàn", "oạt", "ỹ",
          "ải", "ậu", "ưa", "ữa", "ổi", "ẫn", "ềnh", "ỏ")
CASES = (str.lower, str.title, str.upper)


def _syllable(onset: str, rhyme: str, case) -> str:
    return case(onset + rhyme)


SYLLABLE = st.builds(_syllable, st.sampled_from(ONSETS), st.sampled_from(RHYMES),
                     st.sampled_from(CASES))
PUNCTUATION = ("“", "”", "–", "—", "…", "²", "³", "‘", "’", "«", "»", "•")
PAGE = st.lists(st.tuples(st.sampled_from(ONSETS), st.sampled_from(RHYMES),
                          st.sampled_from(CASES)),
                min_size=24, max_size=60, unique_by=lambda t: t[1]).map(
    lambda parts: "\n".join(" ".join(_syllable(*p) for p in parts[i:i + 6])
                            for i in range(0, len(parts), 6)))
"""A page of text: at least 24 syllables, each rhyme once (a real page varies its rhymes)."""


def _iconv(text: str, target: str) -> bytes:
    return subprocess.run(["iconv", "-f", "UTF-8", "-t", target], check=True,
                          input=text.encode("utf-8"), capture_output=True).stdout


def _python_cp1258(text: str) -> bytes:
    """Windows-1258 by Python's codec: precomposed letters where the code page has them,
    the tone as a combining mark after its letter."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            out.append(ch.encode("cp1258"))
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            tone = "".join(c for c in parts if c in "\u0300\u0301\u0303\u0309\u0323")
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tone))
            out.append((base + tone).encode("cp1258"))
    return b"".join(out)


REAL_ENCODERS = {
    "iconv TCVN5712-1": (enc.TCVN3, lambda t: _iconv(t, "TCVN5712-1")),
    "iconv VISCII": (enc.VISCII, lambda t: _iconv(t, "VISCII")),
    "iconv WINDOWS-1258": (enc.CP1258, lambda t: _iconv(t, "WINDOWS-1258")),
    "python cp1258": (enc.CP1258, _python_cp1258),
    "VNI letter table": (enc.VNI, encoders.vni_bytes),
}


def _non_ascii_lines(raw: bytes) -> list[bytes]:
    return [line for line in raw.split(b"\n") if not line.isascii()]


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=20))
def test_viscii_decoder_inverts_glibc_iconv(texts):
    for text, raw in zip(texts, _iconv_lines(texts, "VISCII"), strict=True):
        assert enc.LINE_DECODERS[enc.VISCII](raw) == unicodedata.normalize("NFC", text)


def test_viscii_letters_on_control_bytes_are_decoded():
    raw = _iconv("ẲẴẪỶỸỴ", "VISCII")
    assert raw.isascii()  # RFC 1456 puts these six on C0 control bytes
    assert enc.LINE_DECODERS[enc.VISCII](raw) == "ẲẴẪỶỸỴ"


@settings(max_examples=120, deadline=None)
@given(PAGE, st.sampled_from(sorted(REAL_ENCODERS)))
def test_a_page_from_a_real_encoder_is_detected_and_read_back(page, encoder):
    encoding, write = REAL_ENCODERS[encoder]
    raw = write(page)
    found = enc.detect_legacy(_non_ascii_lines(raw))
    assert found.encoding == encoding, found.scores
    decoded = [enc.LINE_DECODERS[found.encoding](line) for line in raw.split(b"\n")]
    assert "\n".join(decoded) == unicodedata.normalize("NFC", page)


@settings(max_examples=120, deadline=None)
@given(st.lists(SYLLABLE, min_size=1, max_size=30).map(" ".join),
       st.sampled_from(sorted(REAL_ENCODERS)))
def test_detection_is_right_or_refuses_naming_every_candidate(text, encoder):
    """However little text: the right encoding, or an error with every candidate's score,
    never another encoding."""
    encoding, write = REAL_ENCODERS[encoder]
    try:
        found = enc.detect_legacy(_non_ascii_lines(write(text)))
    except enc.UnknownEncoding as exc:
        for name in enc.LEGACY:
            assert re.search(rf"{name} \d+% of \d+ words", str(exc)), str(exc)
    else:
        assert found.encoding == encoding, found.scores


@settings(max_examples=60, deadline=None)
@given(PAGE)
def test_an_unsupported_encoding_is_refused_not_read_as_another(page):
    """VISCII text when the detector knows only the other three: refused, not read as TCVN3
    (what the connector did before it knew VISCII)."""
    others = tuple(n for n in enc.LEGACY if n != enc.VISCII)
    with pytest.raises(enc.UnknownEncoding, match="no Vietnamese encoding recognised"):
        enc.detect_legacy(_non_ascii_lines(_iconv(page, "VISCII")), candidates=others)


@settings(max_examples=60, deadline=None)
@given(PAGE, st.lists(st.sampled_from(PUNCTUATION), min_size=1, max_size=12), st.randoms())
def test_nfd_text_with_punctuation_scores_as_its_nfc_twin_and_is_not_repaired(page, marks, rnd):
    words = page.split(" ")
    for mark in marks:
        i = rnd.randrange(len(words))
        words[i] = rnd.choice((mark + words[i], words[i] + mark, mark))
    text = " ".join(words)
    nfd, nfc = unicodedata.normalize("NFD", text), unicodedata.normalize("NFC", text)
    assert enc.score_text([nfd]) == enc.score_text([nfc])
    assert enc.detect_text([nfd]).repair is None
    assert enc.detect_text([nfc]).repair is None


@settings(max_examples=40, deadline=None)
@given(SENTENCE)
def test_unicode_text_is_never_repaired_and_font_text_always_is(sentence):
    assert enc.detect_text([sentence]).repair is None
    font = encoders.tcvn3_font_text([sentence])
    found = enc.detect_text(font)
    assert found.repair == enc.TCVN3
    assert enc.TEXT_REPAIRS[enc.TCVN3](font[0]) == sentence
    vni = encoders.to_vni(sentence)
    assert enc.detect_text([vni]).repair == enc.VNI


def test_utf8_read_as_a_legacy_encoding_is_not_vietnamese():
    garbled = "Công ty TNHH Thủy sản Nguyễn Văn Ấp Chợ".encode()
    with pytest.raises(enc.UnknownEncoding, match="no Vietnamese encoding recognised with confidence"):
        enc.detect_legacy([garbled])


def test_undefined_bytes_are_named():
    with pytest.raises(enc.UndecodableLine, match="0x81"):
        enc.LINE_DECODERS[enc.CP1258](b"abc\x81")
    with pytest.raises(enc.UndecodableLine, match="0x8D"):
        enc.LINE_DECODERS[enc.VNI](b"abc\x8d")
    with pytest.raises(enc.UndecodableLine, match="not valid UTF-8"):
        enc.LINE_DECODERS[enc.UTF8](b"ab\xe1\xbbc")


@pytest.mark.parametrize(("word", "ok"), [
    ("Nguyễn", True), ("người", True), ("khuyến", True), ("Quốc", True), ("giữa", True),
    ("NguyÔn", False), ("Nguyeăn", False), ("Nguyờịn", False), ("V¨n", False), ("ñoàng", False),
    ("ắc", True), ("ẳng", True), ("hoặc", True), ("ươi", True), ("eê", False),
])
def test_syllable_shape(word, ok):
    assert enc.is_syllable(word) is ok
