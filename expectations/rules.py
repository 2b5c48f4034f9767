"""The rule library: each spec check compiles to DuckDB SQL that finds the bad rows.

A rule returns one or more `RowCheck`s: a predicate (`bad_when`) over the raw columns and a
SQL expression giving a readable reason for one row (it names the field and the value). A
predicate that compares a row with the others (`unique`) reads the checked rows again in an
uncorrelated subquery, written with the `ROWS` placeholder. The same SQL is what Great
Expectations runs (as UnexpectedRowsExpectation) and what the quarantine split evaluates
in one pass, so the gate's counts and the quarantine always agree.

Rules register with @rule(name); a new rule is a new function, nothing else changes.
Any check may carry `when:` (a SQL condition on the row, e.g. holder_type = 'person'): the
check then applies only to rows where it holds.
Values in the raw zone are strings as delivered; predicates are NULL-safe and skip NULLs
except `not_null` (missing values are reported once, by that rule). A predicate puts first
the term that is rarely true (the mismatch itself): DuckDB stops there for good rows, before
the guards (well-formed, not blank) that hold for almost every row.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from catalog.declarations import RuleDecl, rule_decl
from catalog.spec import Check, DatasetSpec
from expectations.reference import personal_id_prefixes
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit
from warehouse.raw_zone import ROW_COLUMN


@dataclass(frozen=True)
class RuleContext:
    spec: DatasetSpec
    communes_parquet: Path
    curated_files: Callable[[str], list[str]] | None = None
    """Files of another dataset's current curated snapshot (for referential checks)."""


class ReferenceMissing(RuntimeError):
    """A referential check names a dataset that has no spec: the run cannot check it."""


ROWS = "\x00rows\x00"
"""Stands, in a predicate, for the rows being checked; `RowCheck.over(relation)` fills it in."""


@dataclass(frozen=True)
class RowCheck:
    name: str
    rule: str
    columns: tuple[str, ...]
    bad_when: str
    reason: str
    severity: str = "quarantine"
    description: str = ""
    group: str = ""
    """The declared spec check this row check comes from (one GX expectation per group)."""

    def over(self, rows: str) -> str:
        """The predicate for rows of `rows` (a table name or a parenthesised SELECT)."""
        return self.bad_when.replace(ROWS, rows)

    def unexpected_rows_query(self, source: str) -> str:
        """Rows of `source` this check rejects (GX substitutes {batch} for source)."""
        return f"SELECT * FROM {source} WHERE {self.over(source)}"


def group_query(checks: list[RowCheck], source: str) -> str:
    """Rows of `source` failing any of the checks (one GX expectation for a spec check)."""
    return f"SELECT * FROM {source} WHERE " + " OR ".join(f"({c.over(source)})" for c in checks)


def groups(checks: list[RowCheck]) -> dict[str, list[RowCheck]]:
    out: dict[str, list[RowCheck]] = {}
    for check in checks:
        out.setdefault(check.group or check.name, []).append(check)
    return out


RuleFunction = Callable[[Check, RuleContext], list[RowCheck]]
RULES: dict[str, RuleFunction] = {}


DECLARATIONS: dict[str, RuleDecl] = {}


def rule(name: str, **declaration: Any) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule with its declared signature (catalog.declarations.RuleDecl: `targets`,
    `column`, `params`, `required`, `defaults`; literals only, so spec validation reads them
    from the source without importing this module)."""

    def decorator(fn: RuleFunction) -> RuleFunction:
        RULES[name] = fn
        DECLARATIONS[name] = rule_decl(name, **declaration)
        return fn

    return decorator


def shown(col: str) -> str:
    """The value as it appears in a reason: quoted, NULL shown as NULL (rule modules use it)."""
    return f"coalesce('''' || {q(col)} || '''', 'NULL')"


def _check_name(check: Check, suffix: str, col: str | None = None) -> str:
    parts = [check.rule] + ([col] if col else []) + ([suffix] if suffix else [])
    return ":".join(parts)


@rule("not_null", targets="columns")
def not_null(check: Check, ctx: RuleContext) -> list[RowCheck]:
    return [
        RowCheck(
            name=_check_name(check, "", col),
            rule="not_null",
            columns=(col,),
            bad_when=f"({q(col)} IS NULL OR trim({q(col)}) = '')",
            reason=lit(f"{col}: missing value"),
            severity=check.severity,
            description=check.description or f"{col} is present",
        )
        for col in check.target_columns
    ]


@rule("unique", targets="columns")
def unique(check: Check, ctx: RuleContext) -> list[RowCheck]:
    cols = check.target_columns
    keys = ", ".join(q(c) for c in cols)
    order = ctx.spec.order_by
    order_sql = (f"TRY_CAST({q(order)} AS TIMESTAMPTZ) DESC NULLS LAST, " if order else "")
    key_shown = " || '/' || ".join(shown(c) for c in cols)
    not_null_keys = " AND ".join(f"{q(c)} IS NOT NULL" for c in cols)
    # The copies to drop: every copy of a repeated key but the most recent. Only the rows of
    # repeated keys (found by one hash aggregate) are ranked, not the whole run: a window
    # over every row cost twice as much. Uncorrelated, so it runs once per query.
    row = q(ROW_COLUMN)
    dropped = (
        f"SELECT {row} FROM (SELECT {row}, row_number() OVER (PARTITION BY {keys} "
        f"ORDER BY {order_sql}{row} DESC) AS copy_rank FROM {ROWS} "
        f"SEMI JOIN (SELECT {keys} FROM {ROWS} GROUP BY {keys} HAVING count(*) > 1) "
        f"AS repeated USING ({keys})) WHERE copy_rank > 1"
    )
    return [
        RowCheck(
            name=_check_name(check, "", "+".join(cols)),
            rule="unique",
            columns=tuple(cols),
            bad_when=f"({not_null_keys} AND {row} IN ({dropped}))",
            reason=f"'{'+'.join(cols)}: duplicate ' || {key_shown} || ' (the most recent copy was kept)'",
            severity=check.severity,
            description=check.description or f"{', '.join(cols)} identifies one record",
        )
    ]


@rule("in_set", params={"values": "list"}, required=("values",))
def in_set(check: Check, ctx: RuleContext) -> list[RowCheck]:
    values = [str(v) for v in check.params.get("values", [])]
    if not values:
        raise ValueError(f"in_set on {check.column}: 'values' is required")
    col = check.column or ""
    allowed = ", ".join(lit(v) for v in values)
    return [
        RowCheck(
            name=_check_name(check, "", col),
            rule="in_set",
            columns=(col,),
            bad_when=f"({q(col)} IS NOT NULL AND {q(col)} NOT IN ({allowed}))",
            reason=f"'{col}: ' || {shown(col)} || ' is not one of {', '.join(values)}'",
            severity=check.severity,
            description=check.description or f"{col} is one of {', '.join(values)}",
        )
    ]


_SQL_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "date": "DATE",
              "timestamp": "TIMESTAMPTZ", "string": "VARCHAR"}


def sql_type(column_type: str) -> str:
    return _SQL_TYPES[column_type]


DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
TIMESTAMP_PATTERN = (DATE_PATTERN + r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
                     r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)")
"""The complete timestamp forms a spec's `timestamp` column accepts: ISO 8601 / RFC 3339 date
and time to the second (a fraction up to microseconds), `T` or a space between them, and the
offset, `Z` or +HH:MM (+HHMM, +HH as PostgreSQL writes them). A value without its offset, or
cut short ("2026-04-27T07:5", which DuckDB's cast reads as 07:05), is not a timestamp."""
NAIVE_TIMESTAMP_PATTERN = (DATE_PATTERN + r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                           r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?")
"""The same with the offset optional: for a source whose spec names the zone of its
timestamps stored without one (`source.params.timezone` or `naive_timezone`); such a value
is wall-clock time of that zone (warehouse/curate.py `instant_sql`)."""
_INT_PATTERN = r"[+-]?[0-9]+"
_PATTERNS = {"date": DATE_PATTERN, "timestamp": TIMESTAMP_PATTERN, "int": _INT_PATTERN}
"""What a value of the type looks like as written: DuckDB's casts are lenient (they read
'1.5' as the integer 2, '2026-4-7' as a date, a truncated time as another time)."""
_FORMS = {"date": " (YYYY-MM-DD)",
          "timestamp": " (complete ISO 8601 with offset: YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM or Z)"}


def declares_zone(spec: DatasetSpec) -> bool:
    """The spec names the zone of timestamps its source stores without an offset."""
    params = spec.source.params
    return any(params.get(k) not in (None, "") for k in ("timezone", "naive_timezone"))


def value_pattern(column_type: str, naive_ok: bool = False) -> str | None:
    """The regular expression a complete value of the type matches as written (None: the
    type's own cast decides)."""
    if column_type == "timestamp" and naive_ok:
        return NAIVE_TIMESTAMP_PATTERN
    return _PATTERNS.get(column_type)


def typed_value(column: str, column_type: str, strict: bool = False, naive_ok: bool = False,
                convert: str | None = None) -> str:
    """SQL: the raw text of `column` as its type, for the `castable` check and the curated
    cast alike, so they agree. Surrounding blanks are ignored; a blank value is NULL; text
    that is not a complete value of the type as written is NULL, or with `strict` an error
    (the curated cast, after the gate quarantined such rows: never silently NULL).
    `naive_ok`: a timestamp may omit its offset (see NAIVE_TIMESTAMP_PATTERN); `convert`: the
    SQL that turns a well-formed value into the type (default a cast)."""
    c = q(column)
    if column_type == "string":
        return c
    text = f"NULLIF(trim({c}), '')"
    cast = convert or f"{'CAST' if strict else 'TRY_CAST'}({text} AS {sql_type(column_type)})"
    pattern = value_pattern(column_type, naive_ok)
    if pattern is None:
        return cast
    otherwise = (f"error({lit(f'{column}: not a valid {column_type}: ')} || {text})" if strict
                 else "NULL")
    return (f"CASE WHEN regexp_full_match({text}, '{pattern}') THEN {cast} "
            f"WHEN {text} IS NOT NULL THEN {otherwise} END")


_BLANK = r"[\t\n\x0b\x0c\r\x1c-\x1f\x85\x{2028}\x{2029}\p{Zs}]"
"""White space as Python's str.strip (and so stdnum's `compact`) sees it."""


@functools.cache
def _other_digits() -> tuple[str, str]:
    """(from, to) for SQL translate(): every Unicode decimal digit outside ASCII and the
    full-width block (mathematical, Arabic-Indic, Devanagari, Thai, ...) to its ASCII
    digit. Computed once."""
    source, target = [], []
    for code in range(0x80, 0x20000):
        digit = unicodedata.decimal(chr(code), None)
        if digit is not None and not 0xFF01 <= code <= 0xFF5E:
            source.append(chr(code))
            target.append(str(digit))
    return "".join(source), "".join(target)


def identifier_sql(column: str) -> str:
    """SQL: the identifier in `column` cleared of harmless noise, as python-stdnum's
    `compact` reads it: Unicode spaces as spaces and surrounding blanks trimmed, NFC,
    full-width forms (U+FF01-U+FF5E: digits, letters, hyphen) and every Unicode digit as
    ASCII. Separators inside are kept: a tax code written "01.00.233.488" is still
    rejected, with a reason.

    Cost (no Python per row): ASCII without a blank at either end, nearly every value, is
    one length comparison; blanks are regex replacements; only text still not ASCII after
    them is NFC-normalised and has its full-width forms shifted to ASCII character by
    character; only digits of other scripts pay for the long translate() (~600 characters,
    which DuckDB walks per value)."""
    c = q(column)
    digits_from, digits_to = _other_digits()
    blanks = (f"regexp_replace(regexp_replace({c}, '\\p{{Zs}}', ' ', 'g'), "
              f"'^{_BLANK}+|{_BLANK}+$', '', 'g')")
    full_width = ("array_to_string(list_transform(string_split(nfc_normalize(x), ''), lambda ch: "
                  "CASE WHEN unicode(ch) BETWEEN 65281 AND 65374 THEN chr(unicode(ch) - 65248) "
                  "ELSE ch END), '')")
    other_digits = (f"list_transform([{full_width}], lambda y: CASE WHEN strlen(y) = length(y) "
                    f"THEN y ELSE translate(y, {lit(digits_from)}, {lit(digits_to)}) END)[1]")
    return (f"CASE WHEN strlen({c}) <> length({c}) OR {c}[1] <= ' ' OR {c}[-1] <= ' ' "
            f"THEN list_transform([{blanks}], lambda x: CASE WHEN strlen(x) = length(x) THEN x "
            f"ELSE {other_digits} END)[1] ELSE {c} END")


@rule("castable", targets="columns")
def castable(check: Check, ctx: RuleContext) -> list[RowCheck]:
    out = []
    for col in check.target_columns:
        ctype = ctx.spec.column(col).type
        out.append(
            RowCheck(
                name=_check_name(check, "", col),
                rule="castable",
                columns=(col,),
                bad_when=f"({typed_value(col, ctype, naive_ok=declares_zone(ctx.spec))} IS NULL "
                         f"AND {q(col)} IS NOT NULL "
                         f"AND trim({q(col)}) <> '')",
                reason=f"'{col}: ' || {shown(col)} || ' is not a valid {ctype}{_FORMS.get(ctype, '')}'",
                severity=check.severity,
                description=check.description or f"{col} is a valid {ctype}",
            )
        )
    return out


def _date_bound(value: object) -> str:
    text = str(value)
    return "current_date" if text == "today" else f"DATE {lit(text)}"


@rule("date_between", params={"min": "date", "max": "date"})
def date_between(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or ""
    lo, hi = check.params.get("min"), check.params.get("max")
    valid = castable(Check(rule="castable", column=col, severity=check.severity), ctx)[0]
    cast = typed_value(col, "date")
    conditions = []
    if lo is not None:
        conditions.append(f"{cast} < {_date_bound(lo)}")
    if hi is not None:
        conditions.append(f"{cast} > {_date_bound(hi)}")
    out = [RowCheck(**{**valid.__dict__, "name": _check_name(check, "valid", col),
                       "rule": "date_between"})]
    if conditions:
        lo_text = "today" if lo == "today" else lo
        hi_text = "today" if hi == "today" else hi
        out.append(
            RowCheck(
                name=_check_name(check, "range", col),
                rule="date_between",
                columns=(col,),
                bad_when=f"(({' OR '.join(conditions)}) AND {cast} IS NOT NULL)",
                reason=f"'{col}: ' || {shown(col)} || ' is outside {lo_text} .. {hi_text}'",
                severity=check.severity,
                description=check.description or f"{col} between {lo_text} and {hi_text}",
            )
        )
    return out


@rule("personal_id", column="personal_id", params={
    "date_of_birth": "column", "sex": "column", "male_values": "list", "female_values": "list"})
def personal_id(check: Check, ctx: RuleContext) -> list[RowCheck]:
    """CCCD: 12 digits = province/country prefix (3) + century-sex digit + year (2) + 6."""
    col = check.column or "personal_id"
    dob = check.params.get("date_of_birth")
    sex = check.params.get("sex")
    male = check.params.get("male_values", ["Nam"])
    female = check.params.get("female_values", ["Nữ"])
    c = q(col)
    well_formed = f"regexp_full_match({c}, '[0-9]{{12}}')"
    # One anchored alternation (RE2, a DFA): ~5x faster than `substr(...) NOT IN (258 codes)`.
    prefixes = "^(" + "|".join(personal_id_prefixes()) + ")"
    out = [
        RowCheck(
            name=_check_name(check, "format", col),
            rule="personal_id",
            columns=(col,),
            bad_when=f"({c} IS NOT NULL AND NOT {well_formed})",
            reason=(
                f"CASE WHEN regexp_full_match({c}, '[0-9]{{9}}') "
                f"THEN '{col}: ' || {shown(col)} || ' is a legacy 9-digit CMND, not a 12-digit "
                f"personal ID' ELSE '{col}: ' || {shown(col)} || ' is not 12 digits' END"
            ),
            severity=check.severity,
            description="personal ID has 12 digits",
        ),
        RowCheck(
            name=_check_name(check, "province", col),
            rule="personal_id",
            columns=(col,),
            bad_when=f"(NOT regexp_matches({c}, {lit(prefixes)}) AND {c} IS NOT NULL AND {well_formed})",
            reason=(
                f"'{col}: ' || {shown(col)} || ' starts with ' || substr({c}, 1, 3) || "
                "', not a province code (001-096) or country code (101-295)'"
            ),
            severity=check.severity,
            description="personal ID starts with a valid province or country code",
        ),
    ]
    if dob:
        d = f"TRY_CAST({q(dob)} AS DATE)"
        century = f"(1900 + (TRY_CAST(substr({c}, 4, 1) AS INTEGER) // 2) * 100)"
        year_ok = (
            f"(year({d}) // 100 * 100 = {century} "
            f"AND year({d}) % 100 = TRY_CAST(substr({c}, 5, 2) AS INTEGER))"
        )
        out.append(
            RowCheck(
                name=_check_name(check, "birth_year", col),
                rule="personal_id",
                columns=(col, dob),
                bad_when=f"(NOT {year_ok} AND {d} IS NOT NULL AND {c} IS NOT NULL AND {well_formed})",
                reason=(
                    f"'{col}: digits 4-6 of ' || {shown(col)} || ' do not match {dob} ' || "
                    f"{shown(dob)}"
                ),
                severity=check.severity,
                description="personal ID century and year digits match the date of birth",
            )
        )
    if sex:
        s = q(sex)
        male_sql = ", ".join(lit(v) for v in male)
        female_sql = ", ".join(lit(v) for v in female)
        odd = f"(TRY_CAST(substr({c}, 4, 1) AS INTEGER) % 2 = 1)"
        mismatch = f"(({s} IN ({male_sql}) AND {odd}) OR ({s} IN ({female_sql}) AND NOT {odd}))"
        out.append(
            RowCheck(
                name=_check_name(check, "sex", col),
                rule="personal_id",
                columns=(col, sex),
                bad_when=f"({mismatch} AND {c} IS NOT NULL AND {well_formed})",
                reason=(
                    f"'{col}: the sex digit of ' || {shown(col)} || ' does not match {sex} ' || "
                    f"{shown(sex)}"
                ),
                severity=check.severity,
                description="personal ID sex digit matches sex",
            )
        )
    return out


@rule("admin_unit_code", params={"era_column": "column", "era": ("2025", "2004")})
def admin_unit_code(check: Check, ctx: RuleContext) -> list[RowCheck]:
    """A commune code must exist in the official list of the era the record says."""
    col = check.column or ""
    era_col = check.params.get("era_column")
    ref = f"read_parquet({lit(str(ctx.communes_parquet))})"
    c = q(col)
    if era_col:
        e = q(era_col)
        # Uncorrelated (a hash set built once): the correlated `NOT EXISTS` was planned as a
        # join ten times slower when the check stands alone (GX runs it so).
        in_era = (f"({e} || ':' || {c}) IN (SELECT ref_era || ':' || ref_code FROM {ref} "
                  "WHERE ref_code IS NOT NULL)")
        in_other = f"EXISTS (SELECT 1 FROM {ref} WHERE ref_era <> {e} AND ref_code = {c})"
        return [
            RowCheck(
                name=_check_name(check, "era", era_col),
                rule="admin_unit_code",
                columns=(era_col,),
                bad_when=f"({e} IS NOT NULL AND {e} NOT IN ('2025', '2004'))",
                reason=f"'{era_col}: ' || {shown(era_col)} || ' is not a code list (2025 or 2004)'",
                severity=check.severity,
                description=f"{era_col} names a code list",
            ),
            RowCheck(
                name=_check_name(check, "code", col),
                rule="admin_unit_code",
                columns=(col, era_col),
                bad_when=f"({c} IS NOT NULL AND {e} IN ('2025', '2004') AND NOT {in_era})",
                reason=(
                    f"CASE WHEN {in_other} THEN '{col}: ' || {shown(col)} || ' is not in the ' "
                    f"|| {e} || ' list but exists in the other era''s list (wrong era)' "
                    f"ELSE '{col}: ' || {shown(col)} || ' is not an official commune code' END"
                ),
                severity=check.severity,
                description=f"{col} is an official commune code of its era",
            ),
        ]
    era = str(check.params.get("era", "2025"))
    return [
        RowCheck(
            name=_check_name(check, "code", col),
            rule="admin_unit_code",
            columns=(col,),
            bad_when=(f"({c} IS NOT NULL AND {c} NOT IN (SELECT ref_code FROM {ref} "
                      f"WHERE ref_era = '{era}' AND ref_code IS NOT NULL))"),
            reason=f"'{col}: ' || {shown(col)} || ' is not an official {era} commune code'",
            severity=check.severity,
            description=f"{col} is an official {era} commune code",
        )
    ]


def _vietnamese_letters() -> str:
    base = "abcdefghijklmnopqrstuvwxyzđăâêôơư"
    letters = set(base + base.upper())
    for vowel in "aăâeêioôơuưy":
        for tone in ("\u0300", "\u0301", "\u0303", "\u0309", "\u0323"):
            composed = unicodedata.normalize("NFC", vowel + tone)
            letters.add(composed)
            letters.add(composed.upper())
    return "".join(sorted(letters))


VIETNAMESE_LETTERS = _vietnamese_letters()


_ONSETS = "ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|b|c|d|đ|g|h|k|l|m|n|p|r|s|t|v|x"
_NUCLEI = ("oai|oao|oay|oeo|uay|uoi|uou|uya|uye|uyu|ieu|yeu|"
           "ai|ao|au|ay|eo|eu|ia|ie|iu|oa|oe|oi|oo|ua|ue|ui|uo|uu|uy|ye|"
           "a|e|i|o|u|y")
_CODAS = "ch|ng|nh|c|m|n|p|t"
COMBINING_MARKS = "\\x{0300}-\\x{036F}"
"""Combining diacritics: present in NFD text, absent from NFC Vietnamese."""
VIETNAMESE_MARKS = "".join(f"\\x{{{code:04X}}}" for code in (
    0x0300, 0x0301, 0x0303, 0x0309, 0x0323,  # the five tones: huyền sắc ngã hỏi nặng
    0x0302, 0x0306, 0x031B))  # vowel marks: circumflex (â ê ô), breve (ă), horn (ơ ư)
"""The combining marks Vietnamese writes on a vowel in NFD text: at most a vowel mark and
a tone on one vowel; any other mark of U+0300-U+036F (a diaeresis, a ring) is not Vietnamese."""


def _vowel_class(base: str) -> str:
    """A regex class for a base vowel with every tone/vowel mark, precomposed or not, in
    both cases."""
    variants = {base, base.upper()}
    for letter in VIETNAMESE_LETTERS:
        stripped = "".join(ch for ch in unicodedata.normalize("NFD", letter.lower())
                           if not unicodedata.combining(ch))
        if stripped == base:
            variants.update((letter.lower(), letter.upper()))
    return "[" + "".join(sorted(variants)) + f"][{VIETNAMESE_MARKS}]{{0,2}}"


def _either_case(letters: str) -> str:
    """'ngh' -> '[nN][gG][hH]'."""
    return "".join(f"[{ch}{ch.upper()}]" if ch != ch.upper() else ch for ch in letters)


def _syllable() -> str:
    def alternatives(options: str) -> str:
        return "|".join(_either_case(option) for option in options.split("|"))

    nuclei = "|".join("".join(_vowel_class(ch) for ch in n) for n in _NUCLEI.split("|"))
    return f"({alternatives(_ONSETS)})?({nuclei})({alternatives(_CODAS)})?"


SYLLABLE = _syllable()
"""A Vietnamese syllable (onset, vowel nucleus, coda) in NFC or NFD, in any letter case."""

RE2_FOLDED_INTO_ASCII = (0x017F, 0x212A)
"""LONG S and KELVIN SIGN: RE2 turns a class like [sS] or [kK] into a case-folded literal,
which also matches these two (their case folds are s and k). Not Vietnamese letters."""


@rule("vietnamese_name")
def vietnamese_name(check: Check, ctx: RuleContext) -> list[RowCheck]:
    """After NFC normalisation a name holds only Vietnamese letters and single spaces, and
    every word is a Vietnamese syllable. Legacy-encoded text read as Windows-1252 fails:
    TCVN3 "NguyÔn" (no syllable has the nucleus "uyo"), VNI "Nguyeãn" (nor "uyea")."""
    col = check.column or ""
    c = q(col)
    # One regex: syllables in either case are made of Vietnamese letters only (one pass
    # over the text, half the cost of a letters pattern and a case-insensitive one).
    words = f"{SYLLABLE}( {SYLLABLE})*"
    return [
        RowCheck(
            name=_check_name(check, "", col),
            rule="vietnamese_name",
            columns=(col,),
            bad_when=f"({c} IS NOT NULL AND (NOT regexp_full_match(trim({c}), {lit(words)}) "
            f"OR {' OR '.join(f'contains({c}, chr({n}))' for n in RE2_FOLDED_INTO_ASCII)}))",
            reason=(
                f"'{col}: ' || {shown(col)} || ' has characters outside the Vietnamese alphabet "
                "(legacy TCVN3/VNI encoding or stray symbols?)'"
            ),
            severity=check.severity,
            description=f"{col} is Vietnamese text",
        )
    ]


def load_rule_modules() -> None:
    """Import the domain rule modules (expectations/rules_*.py); each registers its rules."""
    import importlib
    import pkgutil

    import expectations

    for info in pkgutil.iter_modules(expectations.__path__):
        if info.name.startswith("rules_"):
            importlib.import_module(f"expectations.{info.name}")


@rule("exists_in", params={"dataset": "dataset", "other_column": "other_column"},
      required=("dataset",))
def exists_in(check: Check, ctx: RuleContext) -> list[RowCheck]:
    """Referential check across registries: the value must exist in another dataset's
    curated table (e.g. a land holder in the population). Optional `when`: a SQL condition
    on this row that says when the check applies (e.g. holder_type = 'person').

    Never dropped: a dataset that has no spec (any more) fails the run, naming the check;
    one not published yet is an empty reference, so every value is reported as not found,
    with the reason saying so (`lgsp run` publishes referenced datasets first). Compiled
    without a warehouse (`curated_files` None: tools, tests) it also checks against an empty
    reference."""
    col = check.column or ""
    other = str(check.params["dataset"])
    other_col = str(check.params.get("other_column", col))
    files = ctx.curated_files(other) if ctx.curated_files else []
    note = ""
    if files:
        source = "read_parquet([" + ", ".join(lit(f) for f in files) + "])"
    else:
        if ctx.spec.path is not None and not (ctx.spec.path.parent / f"{other}.yaml").is_file():
            raise ReferenceMissing(
                f"{ctx.spec.path}: quality check exists_in on {col}: there is no dataset spec "
                f"{other!r} in {ctx.spec.path.parent}; the check cannot run and is never skipped"
            )
        source = f"(SELECT NULL::VARCHAR AS {q(other_col)} WHERE false)"
        if ctx.curated_files is not None:
            note = f" ({other} has no published snapshot yet)"
    when = check.params.get("when")
    applies = f" AND ({when})" if when else ""
    return [
        RowCheck(
            name=_check_name(check, other, col),
            rule="exists_in",
            columns=(col,),
            # Uncorrelated on purpose: a correlated subquery would bind an unqualified
            # column of the same name to the referenced table, and never fail.
            bad_when=(f"({q(col)} IS NOT NULL{applies} AND {q(col)} NOT IN "
                      f"(SELECT {q(other_col)} FROM {source} WHERE {q(other_col)} IS NOT NULL))"),
            reason=f"'{col}: ' || {shown(col)} || ' is not in {other}.{other_col}{note}'",
            severity=check.severity,
            description=check.description or f"{col} exists in {other}.{other_col}",
        )
    ]


def compile_checks(spec: DatasetSpec, communes_parquet: Path,
                   curated_files: Callable[[str], list[str]] | None = None) -> list[RowCheck]:
    """All row checks of a spec: its declared checks plus the implied ones (required columns
    present, typed columns castable), without repeating a declared check."""
    load_rule_modules()
    ctx = RuleContext(spec=spec, communes_parquet=communes_parquet, curated_files=curated_files)
    declared = list(spec.quality.checks)
    covered_null = {c for ch in declared if ch.rule == "not_null" for c in ch.target_columns}
    covered_cast = {
        c for ch in declared if ch.rule in ("castable", "date_between") for c in ch.target_columns
    }
    implied: list[Check] = []
    missing_required = [c.name for c in spec.columns if c.required and c.name not in covered_null]
    if missing_required:
        implied.append(Check(rule="not_null", columns=missing_required))
    typed = [c.name for c in spec.columns if c.type != "string" and c.name not in covered_cast]
    if typed:
        implied.append(Check(rule="castable", columns=typed))
    out: list[RowCheck] = []
    for check in declared + implied:
        if check.rule not in RULES:
            raise ValueError(
                f"{spec.path or spec.id}: quality check rule {check.rule!r} is unknown; "
                f"known rules: {', '.join(sorted(RULES))}"
            )
        group = f"{check.rule}:{'+'.join(check.target_columns)}"
        if check.rule == "exists_in":
            group += f":{check.params.get('dataset')}"
        when = check.params.get("when") if check.rule != "exists_in" else None
        for rc in RULES[check.rule](check, ctx):
            if when:  # the check applies only to rows where `when` holds
                rc = replace(rc, bad_when=f"(coalesce(({when}), false) AND {rc.bad_when})")
            out.append(replace(rc, group=group))
    names = [c.name for c in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"{spec.path or spec.id}: checks repeat: {sorted(dupes)}")
    return out
