"""Controlled vocabularies the catalogue maps the specs onto: EU data themes, EU frequencies,
licences, file types (the EU Publications Office's authority tables, as DCAT-AP asks), and
how old a dataset may get before it is overdue.

A dataset's theme comes from its spec's `theme:` key (an EU data-theme URI, or its code),
checked when the spec loads (`theme_problem`, used by catalog.validation and the indicator
specs); a spec without one is filed under government and public sector (GOVE).
"""

from __future__ import annotations

import re
import unicodedata

EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
EU_FREQ = "http://publications.europa.eu/resource/authority/frequency/"
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
EU_LICENCE = "http://publications.europa.eu/resource/authority/licence/"
IANA_MEDIA = "https://www.iana.org/assignments/media-types/"

DEFAULT_THEME = "GOVE"
THEME_TITLES = {  # the EU data-theme authority table, every concept: code -> (vi, en)
    "AGRI": ("Nông nghiệp, thủy sản, lâm nghiệp và thực phẩm",
             "Agriculture, fisheries, forestry and food"),
    "ECON": ("Kinh tế và tài chính", "Economy and finance"),
    "EDUC": ("Giáo dục, văn hóa và thể thao", "Education, culture and sport"),
    "ENER": ("Năng lượng", "Energy"),
    "ENVI": ("Môi trường", "Environment"),
    "GOVE": ("Chính phủ và khu vực công", "Government and public sector"),
    "HEAL": ("Y tế", "Health"),
    "INTR": ("Các vấn đề quốc tế", "International issues"),
    "JUST": ("Tư pháp, hệ thống pháp luật và an toàn công cộng",
             "Justice, legal system and public safety"),
    "OP_DATPRO": ("Dữ liệu tạm thời", "Provisional data"),
    "REGI": ("Vùng và đô thị", "Regions and cities"),
    "SOCI": ("Dân số và xã hội", "Population and society"),
    "TECH": ("Khoa học và công nghệ", "Science and technology"),
    "TRAN": ("Giao thông", "Transport"),
}
FREQUENCIES = {  # spec update_frequency -> (EU frequency code, days before overdue)
    "daily": ("DAILY", 2),
    "weekly": ("WEEKLY", 8),
    "monthly": ("MONTHLY", 32),
    "quarterly": ("QUARTERLY", 95),
    "annual": ("ANNUAL", 370),
    "yearly": ("ANNUAL", 370),
}
OPEN_DATA_MAX_AGE_DAYS = 90
"""Decree 47/2020/ND-CP: open data older than three months is flagged."""
LICENCES = {  # spec licence -> (EU licence code, SPDX id, title, url)
    "CC-BY-4.0": ("CC_BY_4_0", "CC-BY-4.0", "Creative Commons Attribution 4.0",
                  "https://creativecommons.org/licenses/by/4.0/"),
    "CC0-1.0": ("CC0", "CC0-1.0", "Creative Commons Zero 1.0",
                "https://creativecommons.org/publicdomain/zero/1.0/"),
}
FILE_TYPES = {"csv": "CSV", "csv-bom": "CSV", "parquet": "PARQUET", "ndjson": "JSON",
              "json": "JSON", "xlsx": "XLSX"}


def theme_code(value: str | None) -> str:
    """The EU data-theme code of a spec's `theme:` (a URI or a code; None: the default).
    Raises ValueError for anything else (`theme_problem` says why)."""
    if value is None:
        return DEFAULT_THEME
    code = value[len(EU_THEME):] if value.startswith(EU_THEME) else value
    if code not in THEME_TITLES:
        raise ValueError(theme_problem(value))
    return code


def theme_problem(value: object) -> str | None:
    """None if `value` names an EU data theme, else what is wrong (for spec validation)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"must be an EU data-theme URI ({EU_THEME}<CODE>), got {type(value).__name__}"
    code = value[len(EU_THEME):] if value.startswith(EU_THEME) else value
    if code in THEME_TITLES:
        return None
    return (f"{value!r} is not an EU data theme; use {EU_THEME}<CODE> (or the code) with CODE "
            f"one of {', '.join(THEME_TITLES)}")


def frequency(update_frequency: str) -> tuple[str | None, int | None]:
    code, days = FREQUENCIES.get(update_frequency.strip().lower(), (None, None))
    return code, days


def slug(text: str) -> str:
    """ASCII slug (Vietnamese diacritics and đ folded), for organisation names in URLs."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
