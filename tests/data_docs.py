"""Test helper: the GX Data Docs pages rendered under an LGSP home."""

from __future__ import annotations

from pathlib import Path


def validation_pages(home: Path) -> tuple[Path, list[Path]]:
    """The one Data Docs index under `home`, and every validation page beside it."""
    (index,) = (home / "quality" / "gx").rglob("local_site/index.html")
    return index, sorted((index.parent / "validations").rglob("*.html"))
