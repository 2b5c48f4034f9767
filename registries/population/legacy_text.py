"""Vietnamese names as legacy 8-bit systems show them today: TCVN3 and VNI mojibake.

Old provincial systems stored names in TCVN3 (TCVN 5712:1993) or VNI Windows fonts; exported
as bytes and read as Windows-1252 they become "NguyÔn" (TCVN3) or "Nguyeãn" (VNI).

- TCVN3 uses glibc's iconv (`iconv -f UTF-8 -t TCVN5712-1`), the reference implementation,
  called once per batch. The bytes are then read as Windows-1252 (the 5 bytes cp1252 leaves
  undefined are read as Latin-1).
- VNI has no codec anywhere (not Python, not iconv). `to_vni_mojibake` rebuilds the VNI
  Windows byte sequences from the Unicode decomposition with a small table of the mark bytes.
  It is for simulation only: good enough to produce realistic defects, not a converter to
  trust with real data.
"""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Sequence


def _cp1252_table() -> str:
    chars = []
    for byte in range(256):
        try:
            chars.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            chars.append(chr(byte))
    return "".join(chars)


_CP1252 = _cp1252_table()


def read_as_cp1252(data: bytes) -> str:
    """Bytes shown the way a Windows-1252 program shows them (Latin-1 for undefined bytes)."""
    return "".join(_CP1252[b] for b in data)


def to_tcvn3_mojibake(texts: Sequence[str]) -> list[str]:
    """Each text encoded as TCVN3 by glibc iconv (one call for the batch) and read as cp1252."""
    if not texts:
        return []
    if any("\n" in t for t in texts):
        raise ValueError("texts must not contain newlines (they separate the batch)")
    payload = "\n".join(unicodedata.normalize("NFC", t) for t in texts).encode("utf-8")
    try:
        done = subprocess.run(
            ["iconv", "-f", "UTF-8", "-t", "TCVN5712-1"],
            input=payload,
            capture_output=True,
            check=True,
            timeout=60,
        )
    except FileNotFoundError as exc:
        raise RuntimeError("glibc iconv is needed to simulate TCVN3 text (apt install libc-bin)") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"iconv -t TCVN5712-1 failed: {exc.stderr.decode(errors='replace')}") from exc
    lines = done.stdout.split(b"\n")
    if len(lines) != len(texts):
        raise RuntimeError(f"iconv returned {len(lines)} lines for {len(texts)} texts")
    return [read_as_cp1252(line) for line in lines]


# VNI Windows: a base letter followed by mark bytes, read as cp1252. Tone bytes alone, and
# combined with a circumflex or a breve; lower-case marks follow lower-case letters.
_TONES = "\u0300\u0301\u0309\u0303\u0323"  # grave, acute, hook above, tilde, dot below
_VNI_TONE = dict(zip(_TONES, "øùûõï", strict=True))
_VNI_CIRCUMFLEX = {"": "â", **dict(zip(_TONES, "àáåãä", strict=True))}
_VNI_BREVE = {"": "ê", **dict(zip(_TONES, "èéúüë", strict=True))}
_VNI_I = dict(zip(_TONES, "ìíæóò", strict=True))  # i with a tone is a single byte
_VNI_HORN = {"o": "ô", "u": "ö"}  # ơ, ư are single bytes; a tone follows them
_VNI_D = {"đ": "ñ", "Đ": "Ñ"}


def _vni_letter(letter: str) -> str:
    if letter in _VNI_D:
        return _VNI_D[letter]
    parts = unicodedata.normalize("NFD", letter)
    base, marks = parts[0], parts[1:]
    if not marks:
        return letter
    upper = base.isupper()
    tone = next((m for m in marks if m in _TONES), "")
    out: str
    if "\u0302" in marks:
        out = base + _VNI_CIRCUMFLEX[tone]
    elif "\u0306" in marks:
        out = base + _VNI_BREVE[tone]
    elif "\u031b" in marks:
        horn = _VNI_HORN[base.lower()]
        out = (horn.upper() if upper else horn) + (_VNI_TONE[tone] if tone else "")
    elif base.lower() == "i":
        return _VNI_I[tone].upper() if upper else _VNI_I[tone]
    elif base.lower() == "y" and tone == "\u0323":
        return "Î" if upper else "î"
    else:
        out = base + _VNI_TONE[tone]
    return out[0] + (out[1:].upper() if upper else out[1:])


def to_vni_mojibake(text: str) -> str:
    """A text as VNI Windows bytes read as cp1252 ("Xin chào" -> "Xin chaøo"); simulation only."""
    return "".join(_vni_letter(ch) for ch in unicodedata.normalize("NFC", text))
