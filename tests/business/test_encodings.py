"""Legacy Vietnamese encodings: decoders against independent encoders, detection, repair.

TCVN3 and Windows-1258 are checked against glibc iconv (the reference implementation);
VNI, which has no codec anywhere, against the generator's letter-by-letter table (and the
population simulator's own VNI encoder, written separately).
"""

from __future__ import annotations

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


@settings(max_examples=40, deadline=None)
@given(SENTENCE, st.sampled_from(enc.LEGACY))
def test_detection_finds_the_legacy_encoding_of_vietnamese_text(sentence, encoding):
    write = {enc.TCVN3: encoders.tcvn3_bytes, enc.VNI: encoders.vni_bytes,
             enc.CP1258: encoders.cp1258_bytes}[encoding]
    raw = write(sentence)
    lines = [line for line in raw.split(b"\n") if not line.isascii()]
    found = enc.detect_legacy(lines)
    assert found.encoding == encoding, found.scores
    assert enc.LINE_DECODERS[found.encoding](raw) == sentence


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
    with pytest.raises(enc.UnknownEncoding, match="no Vietnamese encoding fits"):
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
