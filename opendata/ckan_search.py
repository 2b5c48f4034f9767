"""package_search as plain functions over the catalogue's package dicts: CKAN's `q` (each
word as a whole word in the name, titles, descriptions (vi, en), tags or column names;
Vietnamese with or without diacritics), `fq` (Solr-style `field:value` clauses, ANDed),
sort, paging and facets.

Bad parameters raise `SearchQueryError` or `ParamError`; the HTTP layer turns them into
CKAN's error shapes.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from typing import Any

FACETABLE = {"organization", "groups", "tags", "res_format", "license_id", "name"}
SORTABLE = {"score", "name", "title_string", "metadata_modified", "metadata_created",
            "num_resources", "quality_score"}


class SearchQueryError(ValueError):
    """CKAN's "Search Query Error" (HTTP 409): a query Solr would not parse."""


class ParamError(ValueError):
    """CKAN's "Validation Error" (HTTP 409) on one parameter: {param: [message]}."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


def fold(text: str) -> str:
    """Lower case without Vietnamese diacritics ("Dân số" -> "dan so")."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c)).lower()


def _values(package: dict[str, Any], field: str) -> list[str]:
    if field == "organization":
        return [package["organization"]["name"]] if package.get("organization") else []
    if field == "groups":
        return [g["name"] for g in package.get("groups", [])]
    if field == "tags":
        return [t["name"] for t in package.get("tags", [])]
    if field == "res_format":
        return sorted({r["format"] for r in package.get("resources", [])})
    if field in ("license_id", "name", "id", "title", "state", "type"):
        value = package.get(field)
        return [str(value)] if value is not None else []
    raise SearchQueryError(f"Invalid search query: undefined field {field!r} in fq")


_TOKEN = re.compile(r"[a-z0-9_]+")


def tokens(text: str) -> list[str]:
    """Words as a search index sees them: folded, split on anything but letters, digits
    and underscores (so column names stay whole)."""
    return _TOKEN.findall(fold(text))


def _haystack(package: dict[str, Any]) -> list[str]:
    parts = [package["name"], package["title"], package.get("notes") or "",
             " ".join(t["name"] for t in package.get("tags", [])),
             " ".join(e["value"] for e in package.get("extras", [])
                      if e["key"] in ("columns", "title_en", "notes_en"))]
    return tokens(" ".join(parts))


def _parse_fq(fq: str) -> list[tuple[str, str, bool]]:
    """`a:b +c:"d e" -f:g AND h:i` -> [(field, value, negated)]."""
    try:
        tokens = shlex.split(fq)
    except ValueError as err:
        raise SearchQueryError(f"Invalid search query: {err}") from None
    clauses = []
    for token in tokens:
        if token.upper() in ("AND", "&&"):
            continue
        if token.upper() in ("OR", "||", "NOT"):
            raise SearchQueryError("Invalid search query: only AND-ed field:value clauses are supported")
        negated = token.startswith("-")
        token = token.lstrip("+-")
        if ":" not in token:
            raise SearchQueryError(f"Invalid search query: {token!r} is not field:value")
        field, value = token.split(":", 1)
        clauses.append((field, value.strip('"'), negated))
    return clauses


def _sort_key(sort: str) -> list[tuple[str, bool]]:
    keys = []
    for part in [p.strip() for p in sort.split(",") if p.strip()]:
        bits = part.split()
        if len(bits) != 2 or bits[1].lower() not in ("asc", "desc") or bits[0] not in SORTABLE:
            raise SearchQueryError(f"Invalid search query: cannot sort by {part!r}")
        keys.append((bits[0], bits[1].lower() == "desc"))
    return keys


def _sort_value(package: dict[str, Any], field: str, score: float) -> Any:
    if field == "score":
        return score
    if field == "title_string":
        return fold(package["title"])
    if field == "num_resources":
        return len(package.get("resources", []))
    if field == "quality_score":
        return package.get("quality_score") or 0.0
    return package.get(field) or ""


def search(packages: list[dict[str, Any]], q: str = "", fq: str = "", sort: str | None = None,
           rows: int = 10, start: int = 0, facet_fields: list[str] | None = None,
           facet_limit: int = 50) -> dict[str, Any]:
    words = [] if q.strip() == "*:*" else tokens(q)
    clauses = _parse_fq(fq) if fq else []
    for field in facet_fields or []:
        if field not in FACETABLE:
            raise SearchQueryError(f"Invalid search query: cannot facet on {field!r}")
    keys = _sort_key(sort or "score desc, metadata_modified desc")
    matched: list[tuple[dict[str, Any], float]] = []
    for package in packages:
        hay = _haystack(package)
        if not all(w in hay for w in words):  # every word, as a whole word (like Solr)
            continue
        if any((value in _values(package, field)) == negated for field, value, negated in clauses):
            continue
        title = tokens(package["title"])
        score = float(sum(hay.count(w) for w in words) + sum(3 for w in words if w in title))
        matched.append((package, score))
    for field, desc in reversed(keys):  # stable multi-key sort
        matched.sort(key=lambda pair, f=field: _sort_value(pair[0], f, pair[1]), reverse=desc)
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    for field in facet_fields or []:
        counts: dict[str, int] = {}
        titles: dict[str, str] = {}
        for package, _ in matched:
            for value in _values(package, field):
                counts[value] = counts.get(value, 0) + 1
                titles[value] = _display(package, field, value)
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if facet_limit >= 0:
            ordered = ordered[:facet_limit]
        facets[field] = dict(ordered)
        search_facets[field] = {"title": field, "items": [
            {"name": k, "display_name": titles[k], "count": v} for k, v in ordered]}
    return {"count": len(matched), "sort": sort or "score desc, metadata_modified desc",
            "results": [p for p, _ in matched[start:start + rows]], "facets": facets,
            "search_facets": search_facets}


def _display(package: dict[str, Any], field: str, value: str) -> str:
    if field == "organization" and package.get("organization"):
        return str(package["organization"]["title"])
    if field == "groups":
        for g in package.get("groups", []):
            if g["name"] == value:
                return str(g["title"])
    return value
