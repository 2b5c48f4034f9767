"""Vietnamese text encodings of dropped files: detect which one a file uses, decode to NFC.

Provincial systems still export in five encodings, and Python has codecs for two of them:

- UTF-8, often with a byte-order mark (BOM) written by Excel; UTF-16 with a BOM is accepted.
- Windows-1258 (Python codec `cp1258`): a base letter plus a combining tone byte, so the
  decoded text is decomposed until it is normalised to NFC.
- TCVN3 (TCVN 5712:1993, the "ABC" fonts): one byte per letter, no Python codec. The table
  below is glibc's TCVN5712-1 (`iconv -f TCVN5712-1`), the reference implementation; tests
  check the decoder against iconv.
- VISCII (RFC 1456), still met in old files: one byte per letter, no Python codec; the
  table below is glibc's `iconv -f VISCII`, and tests check the decoder against iconv.
- VNI Windows: no codec anywhere. A letter is a base byte followed by a mark byte (both in
  the Windows-1252 range): "Xin chaøo" = "Xin chào". The decoder below is table-driven:
  three small tables (tone marks, circumflex + tone, breve + tone) turn each mark byte
  into combining marks, a fourth gives the letters VNI writes as one byte (đ, ơ, ư, the
  toned i's, ỵ); NFC then composes each base with its marks.

Detection (`detect_bytes`): a BOM decides; otherwise a file that is valid UTF-8 throughout is
UTF-8; otherwise each legacy decoding of the file's non-ASCII lines is scored by the share of
its non-ASCII words that are well-formed Vietnamese syllables (at most one tone mark, a
valid onset + vowel nucleus + coda, a stop coda only with the rising or heavy tone). Wrong
decodings give "NguyÔn", "Nguyeăn", "Nguyờịn": letters of the Vietnamese alphabet, often,
but not syllables. The winner must reach `min_share` and lead the runner-up by `min_lead`;
otherwise the file fails with every candidate's score (an encoding not supported here
reads as some other one with a middling score, and is not guessed). Words are runs of
letters and combining marks of the NFC text, so punctuation (curly quotes, dashes, the
ellipsis, superscripts) is never a word and NFD text scores as its NFC twin.
charset-normalizer alone does not know TCVN3 or VNI, so it is not used.

Repair (`detect_text`): text that is already Unicode (XLSX cells, UTF-8 files) may still
carry a legacy encoding typed through a legacy font ("NguyÔn V¨n An"); the same score
decides whether the whole file is repaired, never single values.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
UTF16 = "utf-16"
TCVN3 = "tcvn3"
VNI = "vni"
CP1258 = "cp1258"
VISCII = "viscii"
LEGACY = (TCVN3, VNI, CP1258, VISCII)
"""Legacy byte encodings the detector tries."""

BOMS = ((b"\xef\xbb\xbf", UTF8_BOM), (b"\xff\xfe", UTF16), (b"\xfe\xff", UTF16))

# --- TCVN3 ------------------------------------------------------------------------------

_TCVN3_HIGH = (
    "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ"  # 0x80
    "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"  # 0x90
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA0
    "\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴ"  # 0xB0: combining tone marks first
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC0
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD0
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE0
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF0
)
_TCVN3_LOW = {0x01: "Ú", 0x02: "Ụ", 0x04: "Ừ", 0x05: "Ử", 0x06: "Ữ", 0x11: "Ứ", 0x12: "Ự",
              0x13: "Ỳ", 0x14: "Ỷ", 0x15: "Ỹ", 0x16: "Ý", 0x17: "Ỵ"}
"""TCVN5712-1 puts 12 upper-case letters on control bytes; tab, CR and LF are kept."""


def _cp1252_char(byte: int) -> str | None:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return None


def _tcvn3_table() -> dict[int, str]:
    """Translate table from the Latin-1 reading of each byte (how `decode_line` reads the
    file) and from its Windows-1252 reading (how TCVN3 text typed in an ABC font looks in a
    Unicode program) to the TCVN3 character."""
    table: dict[int, str] = {b: ch for b, ch in _TCVN3_LOW.items()}
    for offset, ch in enumerate(_TCVN3_HIGH):
        byte = 0x80 + offset
        table[byte] = ch
        shown = _cp1252_char(byte)
        if shown is not None and shown != chr(byte):
            table[ord(shown)] = ch
    return table


TCVN3_TABLE = _tcvn3_table()
TCVN3_DECODING = "".join(_TCVN3_LOW.get(b, chr(b)) for b in range(0x80)) + _TCVN3_HIGH
"""Charmap decoding table (byte -> character) for `codecs.charmap_decode`."""

# --- VISCII -----------------------------------------------------------------------------

_VISCII_HIGH = (
    "ẠẮẰẶẤẦẨẬẼẸẾỀỂỄỆỐ"  # 0x80
    "ỒỔỖỘỢỚỜỞỊỎỌỈỦŨỤỲ"  # 0x90
    "Õắằặấầẩậẽẹếềểễệố"  # 0xA0
    "ồổỗỠƠộờởịỰỨỪỬơớƯ"  # 0xB0
    "ÀÁÂÃẢĂẳẵÈÉÊẺÌÍĨỳ"  # 0xC0
    "ĐứÒÓÔạỷừửÙÚỹỵÝỡư"  # 0xD0
    "àáâãảăữẫèéêẻìíĩỉ"  # 0xE0
    "đựòóôõỏọụùúũủýợỮ"  # 0xF0
)
_VISCII_LOW = {0x02: "Ẳ", 0x05: "Ẵ", 0x06: "Ẫ", 0x14: "Ỷ", 0x19: "Ỹ", 0x1E: "Ỵ"}
"""VISCII (RFC 1456) puts six upper-case letters on control bytes."""
VISCII_DECODING = "".join(_VISCII_LOW.get(b, chr(b)) for b in range(0x80)) + _VISCII_HIGH

# --- VNI --------------------------------------------------------------------------------

_GRAVE, _ACUTE, _TILDE, _HOOK, _DOT = "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"
_CIRCUMFLEX, _BREVE, _HORN = "\u0302", "\u0306", "\u031b"
TONE_MARKS = _GRAVE + _ACUTE + _TILDE + _HOOK + _DOT

_VNI_TONE = {"ø": _GRAVE, "ù": _ACUTE, "õ": _TILDE, "û": _HOOK, "ï": _DOT}
_VNI_CIRCUMFLEX = {"â": "", "à": _GRAVE, "á": _ACUTE, "ã": _TILDE, "å": _HOOK, "ä": _DOT}
_VNI_BREVE = {"ê": "", "è": _GRAVE, "é": _ACUTE, "ü": _TILDE, "ú": _HOOK, "ë": _DOT}
_VNI_SINGLE = {"ñ": "đ", "ô": "ơ", "ö": "ư", "ì": "ì", "í": "í", "ó": "ĩ", "æ": "ỉ", "ò": "ị",
               "î": "ỵ"}
"""Letters VNI writes as one byte. ô and ö (ơ, ư) also take a tone byte after them."""


def _vni_table() -> dict[int, str]:
    """Translate table: each mark byte to its combining marks, each one-byte letter to its
    letter (upper-case bytes too). A mark byte means the same after every base letter (the
    three mark sets are disjoint), so decoding is this table followed by NFC, which
    composes base + marks into one letter."""
    table: dict[int, str] = {}
    for marks, modifier in ((_VNI_TONE, ""), (_VNI_CIRCUMFLEX, _CIRCUMFLEX),
                            (_VNI_BREVE, _BREVE)):
        for mark, tone in marks.items():
            table[ord(mark)] = table[ord(mark.upper())] = modifier + tone
    for byte, letter in _VNI_SINGLE.items():
        table[ord(byte)], table[ord(byte.upper())] = letter, letter.upper()
    return table


VNI_TABLE = _vni_table()
VNI_DECODING = {
    b: VNI_TABLE.get(ord(ch), ch)
    for b in range(256) if (ch := chr(b) if b < 0x80 else _cp1252_char(b)) is not None
}
"""Charmap decoding (byte -> characters) for `codecs.charmap_decode`: Windows-1252, with
VNI's mark bytes as combining marks and its one-byte letters as letters; the 5 bytes
Windows-1252 leaves undefined are undefined."""


def vni_to_unicode(text: str) -> str:
    """VNI text read as Windows-1252 ("Xin chaøo") to Unicode NFC ("Xin chào")."""
    return unicodedata.normalize("NFC", text.translate(VNI_TABLE))


def tcvn3_to_unicode(text: str) -> str:
    """TCVN3 text read as Latin-1 or Windows-1252 ("NguyÔn") to Unicode NFC ("Nguyễn")."""
    return unicodedata.normalize("NFC", text.translate(TCVN3_TABLE))


def cp1258_to_unicode(text: str) -> str:
    """Windows-1258 text read as Windows-1252 ("NguyêÞn") to Unicode NFC."""
    data = bytearray()
    for ch in text:
        try:
            data += ch.encode("cp1252")
        except UnicodeEncodeError:
            data += ch.encode("latin-1", errors="replace")
    return unicodedata.normalize("NFC", data.decode("cp1258", errors="replace"))


# --- decoding lines of a file -----------------------------------------------------------


class UndecodableLine(ValueError):
    """A line's bytes are not valid in the file's encoding; the message says which byte."""


_TCVN3_CONTROL_BYTES = re.compile(b"[" + bytes(sorted(_TCVN3_LOW)) + b"]")
_VISCII_CONTROL_BYTES = re.compile(b"[" + bytes(sorted(_VISCII_LOW)) + b"]")
"""Letters on control bytes: an ASCII line holding one is not plain ASCII."""


def _charmap(raw: bytes, table: str | dict[int, str], name: str,
             control_letters: re.Pattern[bytes] | None = None) -> str:
    if raw.isascii() and (control_letters is None or not control_letters.search(raw)):
        return raw.decode("ascii")
    try:
        text, _ = codecs.charmap_decode(raw, "strict", table)
    except UnicodeDecodeError as exc:
        raise UndecodableLine(f"byte 0x{raw[exc.start]:02X} at position {exc.start + 1} is not "
                              f"defined in {name}") from None
    return unicodedata.normalize("NFC", text)


def _decode_tcvn3(raw: bytes) -> str:
    return _charmap(raw, TCVN3_DECODING, "TCVN3", _TCVN3_CONTROL_BYTES)


def _decode_viscii(raw: bytes) -> str:
    return _charmap(raw, VISCII_DECODING, "VISCII", _VISCII_CONTROL_BYTES)


def _decode_vni(raw: bytes) -> str:
    return _charmap(raw, VNI_DECODING, "VNI (Windows-1252)")


def _decode_cp1258(raw: bytes) -> str:
    try:
        return unicodedata.normalize("NFC", raw.decode("cp1258"))
    except UnicodeDecodeError as exc:
        raise UndecodableLine(f"byte 0x{raw[exc.start]:02X} at position {exc.start + 1} is not "
                              "defined in Windows-1258") from None


def _decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UndecodableLine(f"bytes {raw[exc.start:exc.end]!r} at position {exc.start + 1} "
                              "are not valid UTF-8") from None


LINE_DECODERS: dict[str, Callable[[bytes], str]] = {
    UTF8: _decode_utf8, UTF8_BOM: _decode_utf8, TCVN3: _decode_tcvn3, VNI: _decode_vni,
    CP1258: _decode_cp1258, VISCII: _decode_viscii,
}
"""bytes of one line -> text. Legacy decodings are NFC; UTF-8 text is kept as delivered
(NFD text is a property of the data, normalised by curation with the raw value kept)."""

TEXT_REPAIRS: dict[str, Callable[[str], str]] = {
    TCVN3: tcvn3_to_unicode, VNI: vni_to_unicode, CP1258: cp1258_to_unicode,
}
"""Unicode text that carries a legacy encoding read as Windows-1252 -> the real text."""

# --- scoring ----------------------------------------------------------------------------

_ONSETS = "ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|b|c|d|g|h|k|l|m|n|p|r|s|t|v|x"
_NUCLEI = ("oai|oao|oay|oeo|uay|uoi|uou|uya|uye|uyu|ieu|yeu|ai|ao|au|ay|eo|eu|ia|ie|iu|oa|"
           "oe|oi|oo|ua|ue|ui|uo|uu|uy|ye|a|e|i|o|u|y")
_CODAS = "ch|ng|nh|c|m|n|p|t"
_SYLLABLE = re.compile(f"({_ONSETS})?({_NUCLEI})({_CODAS})?")
_STOPS = ("p", "t", "c", "ch")
_MODIFIED_BASES = {_CIRCUMFLEX: "aeo", _BREVE: "a", _HORN: "ou"}


class _NonLetters(dict[int, str]):
    """str.translate table: every character that is neither a letter nor a combining mark
    (white space, digits, punctuation such as curly quotes, dashes and the ellipsis,
    symbols, superscripts) becomes a space; filled in as characters are met."""

    def __missing__(self, code: int) -> str:
        value = chr(code) if unicodedata.category(chr(code))[0] in "LM" else " "
        self[code] = value
        return value


_WORD_BREAKS = _NonLetters()


def words(text: str) -> list[str]:
    """The words of a text after NFC: runs of letters and combining marks. Scoring the
    NFC form means a decomposed (NFD) file scores as its composed twin."""
    return unicodedata.normalize("NFC", text).translate(_WORD_BREAKS).split()


def is_syllable(word: str) -> bool:
    """One Vietnamese syllable: letters only, at most one tone mark, vowel marks only on the
    vowels that take them, onset + nucleus + coda of the language, a syllable closed by a
    stop (p, t, c, ch) with the rising or heavy tone, and written in lower
    case, upper case or capitalised (a capital inside a word is a misread legacy byte)."""
    composed = unicodedata.normalize("NFC", word)
    if not (composed.islower() or composed.isupper() or composed.istitle()):
        return False
    decomposed = unicodedata.normalize("NFD", composed.lower())
    tones = ""
    plain = []
    for ch in decomposed:
        if ch in TONE_MARKS:
            tones += ch
        elif ch in _MODIFIED_BASES:
            if not plain or plain[-1] not in _MODIFIED_BASES[ch]:
                return False
        elif ch == "đ":
            plain.append("d")
        elif "a" <= ch <= "z":
            plain.append(ch)
        else:
            return False
    if len(tones) > 1:
        return False
    parts = _SYLLABLE.fullmatch("".join(plain))
    if parts is None:
        return False
    # a syllable closed by a stop (p, t, c, ch) takes the rising or the heavy tone only
    return parts.group(3) not in _STOPS or tones in (_ACUTE, _DOT)


@dataclass
class Score:
    """Non-ASCII words seen, and how many of them are Vietnamese syllables."""

    words: int = 0
    syllables: int = 0

    def add(self, text: str) -> None:
        for token in words(text):
            if not token.isascii():
                self.words += 1
                self.syllables += is_syllable(token)

    @property
    def share(self) -> float:
        return self.syllables / self.words if self.words else 0.0


def score_text(texts: Iterable[str]) -> Score:
    score = Score()
    for text in texts:
        score.add(text)
    return score


@dataclass
class Detection:
    """What a file's text is: `encoding` for bytes, `repair` (a legacy encoding read as
    Windows-1252, or None) for text, with the scores that decided it."""

    encoding: str
    repair: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    words: int = 0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"encoding": self.encoding}
        if self.repair:
            out["repaired_from"] = self.repair
        if self.scores:
            out["syllable_share"] = {k: round(v, 3) for k, v in self.scores.items()}
        return out


MIN_SHARE = 0.85
"""Share of syllables a decoding must reach. A right decoding of registry text scores ~1.0;
a wrong one (VISCII read as TCVN3, TCVN3 as VISCII, ...) up to ~0.75 on a page of text."""
MIN_LEAD = 0.1
"""How far the winner must lead the runner-up: short texts read as syllables in two
encodings, and are not guessed."""


class UnknownEncoding(ValueError):
    """No encoding fits; the message gives the scores."""


def _legacy_scores(lines: list[bytes], candidates: Sequence[str]) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for name in candidates:
        decode = LINE_DECODERS[name]
        score = Score()
        for raw in lines:
            try:
                score.add(decode(raw))
            except UndecodableLine:
                score.words += 1  # a line this encoding cannot even decode counts against it
        scores[name] = score
    return scores


def detect_legacy(non_ascii_lines: list[bytes], min_share: float = MIN_SHARE,
                  min_lead: float = MIN_LEAD, candidates: Sequence[str] = LEGACY) -> Detection:
    """The legacy encoding whose decoding of these lines reads most like Vietnamese, when it
    is recognised with confidence: at least `min_share` of its non-ASCII words are
    syllables, and its share leads every other candidate's by at least `min_lead`.
    Otherwise `UnknownEncoding` names every candidate with its score: an encoding the
    connector does not know (or too little text to tell) fails, it is never guessed."""
    scores = _legacy_scores(non_ascii_lines, candidates)
    ranked = sorted(candidates, key=lambda n: scores[n].share, reverse=True)
    best, runner_up = ranked[0], ranked[1]
    shares = {n: s.share for n, s in scores.items()}
    lead = shares[best] - shares[runner_up]
    if shares[best] < min_share or lead < min_lead:
        detail = ", ".join(f"{n} {shares[n]:.0%} of {scores[n].words} words" for n in ranked)
        problem = (f"the best, {best}, is below the {min_share:.0%} needed"
                   if shares[best] < min_share else
                   f"{best} leads {runner_up} by {lead:.0%}, less than the {min_lead:.0%} needed "
                   "to tell them apart")
        raise UnknownEncoding(
            "no Vietnamese encoding recognised with confidence (supported: "
            f"{', '.join(candidates)}, and UTF-8/UTF-16): share of Vietnamese syllables among "
            f"non-ASCII words when read as {detail}; {problem}"
        )
    return Detection(encoding=best, scores=shares, words=scores[best].words)


def detect_text(texts: list[str], min_share: float = MIN_SHARE, margin: float = 0.3) -> Detection:
    """Whether Unicode text is a legacy encoding shown through Windows-1252 and should be
    repaired. Repairs only when a repair reads clearly better than the text as it is."""
    as_is = score_text(texts)
    shares = {"as-is": as_is.share}
    best, best_share = None, as_is.share
    for name, repair in TEXT_REPAIRS.items():
        share = score_text(repair(t) for t in texts).share
        shares[name] = share
        if share >= min_share and share >= as_is.share + margin and share > best_share:
            best, best_share = name, share
    return Detection(encoding=UTF8, repair=best, scores=shares if as_is.words else {},
                     words=as_is.words)
