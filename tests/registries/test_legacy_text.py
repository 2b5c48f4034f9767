"""Legacy-encoding mojibake: TCVN3 through glibc iconv, VNI through the simulation table."""

from __future__ import annotations

import subprocess

import pytest

from registries.population.legacy_text import to_tcvn3_mojibake, to_vni_mojibake


def test_tcvn3_matches_the_domain_example_and_iconv() -> None:
    assert to_tcvn3_mojibake(["hộp mứt tết", "Nguyễn"]) == ["hép møt tÕt", "NguyÔn"]
    texts = ["Trần Thị Ánh", "Đỗ Hữu Lợi", "Huỳnh Ngọc Ẩn"]
    shown = to_tcvn3_mojibake(texts)
    for text, mojibake in zip(texts, shown, strict=True):
        raw = bytes(ord(c) if ord(c) < 256 else c.encode("cp1252")[0] for c in mojibake)
        back = subprocess.run(
            ["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"], input=raw, capture_output=True, check=True
        ).stdout.decode()
        assert back == text
    assert to_tcvn3_mojibake([]) == []
    with pytest.raises(ValueError, match="newline"):
        to_tcvn3_mojibake(["a\nb"])


@pytest.mark.parametrize(
    ("text", "vni"),
    [
        ("Xin chào", "Xin chaøo"),
        ("Nguyễn Văn Ánh", "Nguyeãn Vaên AÙnh"),
        ("Đỗ Hữu Lợi", "Ñoã Höõu Lôïi"),
        ("Lý Thị Quỳnh", "Lyù Thò Quyønh"),
        ("Trương Mỹ Ẩn", "Tröông Myõ AÅn"),
    ],
)
def test_vni(text: str, vni: str) -> None:
    assert to_vni_mojibake(text) == vni
