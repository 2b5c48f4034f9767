"""Controlled vocabularies the catalogue maps the specs onto: EU data themes, EU frequencies,
licences, file types (the EU Publications Office's authority tables, as DCAT-AP asks), and
how old a dataset may get before it is overdue.

The specs carry no theme yet; `THEMES` gives one per dataset id (default: government and
public sector). When the spec grows a `theme:` key this table becomes its default.
"""

from __future__ import annotations

import re
import unicodedata

EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
EU_FREQ = "http://publications.europa.eu/resource/authority/frequency/"
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
EU_LICENCE = "http://publications.europa.eu/resource/authority/licence/"
IANA_MEDIA = "https://www.iana.org/assignments/media-types/"

THEMES = {
    "business_registry": "ECON",
    "land_parcels": "REGI",
    "land_certificates": "REGI",
    "population": "SOCI",
    "insurance_members": "HEAL",
    "person_linked": "SOCI",
    "gaps": "SOCI",
    "population_by_commune_sex_age": "SOCI",
    "enterprises_by_commune_status": "ECON",
    "children_without_card_by_commune": "HEAL",
    "enterprises_without_insured_staff_by_commune": "ECON",
    "insurance_coverage_by_commune_age": "HEAL",
}
THEME_TITLES = {
    "ECON": ("Kinh tế và tài chính", "Economy and finance"),
    "REGI": ("Vùng và đô thị", "Regions and cities"),
    "SOCI": ("Dân số và xã hội", "Population and society"),
    "HEAL": ("Y tế", "Health"),
    "GOVE": ("Chính phủ và khu vực công", "Government and public sector"),
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


def theme(dataset_id: str) -> str:
    return THEMES.get(dataset_id, "GOVE")


def frequency(update_frequency: str) -> tuple[str | None, int | None]:
    code, days = FREQUENCIES.get(update_frequency.strip().lower(), (None, None))
    return code, days


def slug(text: str) -> str:
    """ASCII slug (Vietnamese diacritics and đ folded), for organisation names in URLs."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
