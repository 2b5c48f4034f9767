"""Text in the encodings the old business registration system still writes.

- TCVN3 and Windows-1258 are written by glibc iconv (`iconv -t TCVN5712-1`,
  `iconv -t WINDOWS-1258`), the reference implementation, so the platform's decoders are
  tested against an independent encoder.
- VNI has no codec anywhere. `VNI_LETTERS` below is a simulation-only mapping of every
  lower-case Vietnamese letter to its VNI Windows bytes (shown as Windows-1252 characters);
  upper-case letters use the upper-case of both. It is written out letter by letter, apart
  from the connector's table-driven decoder, so the two check each other.
- "Font" text: legacy bytes shown through Windows-1252 as Unicode characters, as a Unicode
  program shows text typed in a TCVN3 (".VnTime") font.
"""

from __future__ import annotations

import subprocess
import unicodedata

VNI_LETTERS: dict[str, str] = dict(pair.split("=") for pair in """
    à=aø á=aù ả=aû ã=aõ ạ=aï
    ă=aê ằ=aè ắ=aé ẳ=aú ẵ=aü ặ=aë
    â=aâ ầ=aà ấ=aá ẩ=aå ẫ=aã ậ=aä
    è=eø é=eù ẻ=eû ẽ=eõ ẹ=eï
    ê=eâ ề=eà ế=eá ể=eå ễ=eã ệ=eä
    ì=ì í=í ỉ=æ ĩ=ó ị=ò
    ò=oø ó=où ỏ=oû õ=oõ ọ=oï
    ô=oâ ồ=oà ố=oá ổ=oå ỗ=oã ộ=oä
    ơ=ô ờ=ôø ớ=ôù ở=ôû ỡ=ôõ ợ=ôï
    ù=uø ú=uù ủ=uû ũ=uõ ụ=uï
    ư=ö ừ=öø ứ=öù ử=öû ữ=öõ ự=öï
    ỳ=yø ý=yù ỷ=yû ỹ=yõ ỵ=î
    đ=ñ
""".split())


def to_vni(text: str) -> str:
    """Text as VNI Windows characters ("Xin chào" -> "Xin chaøo"); simulation only."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        lower = ch.lower()
        if lower in VNI_LETTERS:
            vni = VNI_LETTERS[lower]
            out.append(vni.upper() if ch != lower else vni)
        else:
            out.append(ch)
    return "".join(out)


def vni_bytes(text: str) -> bytes:
    return to_vni(text).encode("cp1252")


def iconv(text: str, target: str) -> bytes:
    """Text encoded by glibc iconv (TCVN5712-1, WINDOWS-1258, ...)."""
    try:
        done = subprocess.run(["iconv", "-f", "UTF-8", "-t", target],
                              input=unicodedata.normalize("NFC", text).encode("utf-8"),
                              capture_output=True, check=True, timeout=120)
    except FileNotFoundError as exc:
        raise RuntimeError("glibc iconv is needed to write TCVN3 and Windows-1258 files "
                           "(apt install libc-bin)") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"iconv -t {target} failed: {exc.stderr.decode(errors='replace')}"
                           ) from exc
    return done.stdout


def tcvn3_bytes(text: str) -> bytes:
    return iconv(text, "TCVN5712-1")


def cp1258_bytes(text: str) -> bytes:
    return iconv(text, "WINDOWS-1258")


def shown_as_cp1252(data: bytes) -> str:
    """Bytes as a Windows-1252 program shows them (Latin-1 where cp1252 has no character)."""
    out = []
    for byte in data:
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


def tcvn3_font_text(texts: list[str]) -> list[str]:
    """Each text as typed in a TCVN3 font and read by a Unicode program ("NguyÔn")."""
    if not texts:
        return []
    lines = tcvn3_bytes("\n".join(texts)).split(b"\n")
    return [shown_as_cp1252(line) for line in lines]
