"""Quality rules of business registration: enterprise codes, tax status, legal forms,
industry codes, and Vietnamese free text.

- `enterprise_code`: the tax code of an enterprise (10 digits, the 10th a check digit) or
  of a dependent unit (the parent's 10 digits, "-", a 3-digit number 001-999). The check
  digit arithmetic is plain DuckDB SQL, written to agree exactly with python-stdnum's
  `stdnum.vn.mst.is_valid` on every canonical code (tests/business prove it with
  hypothesis): r = sum(d_i * w_i) mod 11 with w = (31, 29, 23, 19, 17, 13, 7, 5, 3), the
  check digit is 10 - r, r = 0 has no valid check digit, digits 3-9 all zero are not an
  enterprise number, branch number 000 is not a branch. Stricter than stdnum on form: the
  curated value must be canonical, so stdnum's tolerated separators ("01.00.233.488",
  "0314409058002") are rejected with a reason that says so.
- `tax_status`: the tax authority's status codes 00-07 (DOMAIN.md).
- `legal_form`: the legal forms of the Enterprise Law, compared after NFC.
- `vsic_code`: VSIC 2018 industry code of a given level; the 2-digit division must exist
  (VSIC 2018 follows ISIC rev. 4's divisions; the level-4 list itself is not checked).
- `vietnamese_text`: free text (names, addresses) holds Vietnamese letters, ASCII letters,
  digits and common punctuation, and every word with a Vietnamese mark is a syllable, so
  legacy TCVN3/VNI text that escaped repair ("NguyÔn", "Nguyeãn") is caught.
"""

from __future__ import annotations

from catalog.spec import Check
from expectations.rules import SYLLABLE, VIETNAMESE_LETTERS, RowCheck, RuleContext, rule, shown
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

MST_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
CANONICAL_CODE = "[0-9]{10}(-[0-9]{3})?"

TAX_STATUS = {
    "00": "active",
    "01": "ceased, tax code closed",
    "02": "moved to another tax office",
    "03": "ceased, tax code not yet closed",
    "04": "active (tax code information only)",
    "05": "temporarily suspended",
    "06": "not operating at the registered address",
    "07": "awaiting bankruptcy",
}
"""Tax status codes of the General Department of Taxation. 02 and 04 are not described in
DOMAIN.md; their meanings here are the tax authority's lookup labels (unverified)."""

LEGAL_FORMS = (
    "TNHH một thành viên",
    "TNHH hai thành viên trở lên",
    "cổ phần",
    "hợp danh",
    "doanh nghiệp tư nhân",
)

VSIC_DIVISIONS = tuple(
    f"{d:02d}" for d in [1, 2, 3, *range(5, 10), *range(10, 34), *range(35, 40), 41, 42, 43,
                         45, 46, 47, *range(49, 54), 55, 56, *range(58, 64), 64, 65, 66, 68,
                         *range(69, 76), *range(77, 83), 84, 85, 86, 87, 88, *range(90, 94),
                         94, 95, 96, 97, 98, 99]
)



def _name(check: Check, col: str, part: str) -> str:
    return f"{check.rule}:{col}:{part}"


def _digit(c: str, i: int) -> str:
    """The i-th character (1-based) as a number, without a cast that could fail."""
    return f"(ascii(substr({c}, {i}, 1)) - 48)"


def mst_remainder_sql(c: str) -> str:
    """sum(d_i * w_i) mod 11 over the first nine digits."""
    terms = " + ".join(f"{w} * {_digit(c, i)}" for i, w in enumerate(MST_WEIGHTS, start=1))
    return f"(({terms}) % 11)"


def mst_valid_sql(c: str) -> str:
    """TRUE when `c` (a SQL expression) is a canonical tax code that stdnum accepts; FALSE
    otherwise, NULL only for NULL."""
    r = mst_remainder_sql(c)
    return (
        f"(regexp_full_match({c}, '{CANONICAL_CODE}') AND substr({c}, 3, 7) <> '0000000' "
        f"AND {r} <> 0 AND {_digit(c, 10)} = 10 - {r} "
        f"AND (length({c}) = 10 OR substr({c}, 12, 3) <> '000'))"
    )


@rule("enterprise_code", column="enterprise_code",
      params={"unit_column": "column", "branch_values": "list"})
def enterprise_code(check: Check, ctx: RuleContext) -> list[RowCheck]:
    """Tax code of an enterprise or branch. Optional `unit_column` with `branch_values`: the
    code has a branch number exactly when the unit is a branch."""
    col = check.column or "enterprise_code"
    c = q(col)
    canonical = f"regexp_full_match({c}, '{CANONICAL_CODE}')"
    r = mst_remainder_sql(c)
    sev, desc = check.severity, check.description
    out = [
        RowCheck(
            name=_name(check, col, "format"), rule="enterprise_code", columns=(col,),
            bad_when=f"({c} IS NOT NULL AND NOT {canonical})",
            reason=(f"'{col}: ' || {shown(col)} || ' is not a tax code (10 digits, or 10 digits "
                    "+ ''-'' + 3 digits for a branch, no spaces or dots)'"),
            severity=sev, description=desc or f"{col} is 10 digits, or 10-3 for a branch",
        ),
        RowCheck(
            name=_name(check, col, "sequence"), rule="enterprise_code", columns=(col,),
            bad_when=f"({c} IS NOT NULL AND {canonical} AND substr({c}, 3, 7) = '0000000')",
            reason=f"'{col}: ' || {shown(col)} || ' has digits 3-9 all zero (no enterprise number)'",
            severity=sev, description=desc or f"{col} has an enterprise number",
        ),
        RowCheck(
            name=_name(check, col, "check_digit"), rule="enterprise_code", columns=(col,),
            bad_when=(f"({c} IS NOT NULL AND {canonical} AND substr({c}, 3, 7) <> '0000000' "
                      f"AND ({r} = 0 OR {_digit(c, 10)} <> 10 - {r}))"),
            reason=(
                f"CASE WHEN {r} = 0 THEN '{col}: ' || {shown(col)} || ' cannot be valid: no check "
                "digit fits its first 9 digits (weighted sum is a multiple of 11)' "
                f"ELSE '{col}: ' || {shown(col)} || ' has check digit ' || substr({c}, 10, 1) || "
                f"', expected ' || CAST(10 - {r} AS VARCHAR) END"
            ),
            severity=sev, description=desc or f"{col} check digit is right (stdnum.vn.mst)",
        ),
        RowCheck(
            name=_name(check, col, "branch"), rule="enterprise_code", columns=(col,),
            bad_when=f"({c} IS NOT NULL AND {canonical} AND length({c}) = 14 "
                     f"AND substr({c}, 12, 3) = '000')",
            reason=f"'{col}: ' || {shown(col)} || ' has branch number 000 (branches are 001-999)'",
            severity=sev, description=desc or f"{col} branch number is 001-999",
        ),
    ]
    unit = check.params.get("unit_column")
    if unit:
        u = q(str(unit))
        branches = ", ".join(lit(str(v)) for v in check.params.get("branch_values", ["chi nhánh"]))
        is_branch = f"(nfc_normalize({u}) IN ({branches}))"
        out.append(RowCheck(
            name=_name(check, col, "unit"), rule="enterprise_code", columns=(col, str(unit)),
            bad_when=(f"({c} IS NOT NULL AND {u} IS NOT NULL AND {canonical} "
                      f"AND (length({c}) = 14) <> {is_branch})"),
            reason=(f"CASE WHEN length({c}) = 14 THEN '{col}: ' || {shown(col)} || ' is a branch "
                    f"code but {unit} is ' || {shown(str(unit))} ELSE '{col}: ' || {shown(col)} || "
                    f"' has no branch number but {unit} is ' || {shown(str(unit))} END"),
            severity=sev, description=desc or f"{col} has a branch number exactly for branches",
        ))
    return out


def _domain(check: Check, col: str, values: list[str], what: str, nfc: bool) -> RowCheck:
    value = f"nfc_normalize({q(col)})" if nfc else q(col)
    allowed = ", ".join(lit(v) for v in values)
    return RowCheck(
        name=_name(check, col, "domain"), rule=check.rule, columns=(col,),
        bad_when=f"({q(col)} IS NOT NULL AND {value} NOT IN ({allowed}))",
        reason=f"'{col}: ' || {shown(col)} || ' is not {what}'",
        severity=check.severity, description=check.description or f"{col} is {what}",
    )


@rule("tax_status", column="status_code", params={"values": "list"})
def tax_status(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "status_code"
    values = [str(v) for v in check.params.get("values", list(TAX_STATUS))]
    return [_domain(check, col, values, f"a tax status code ({', '.join(values)})", nfc=False)]


@rule("legal_form", column="legal_form", params={"values": "list"})
def legal_form(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "legal_form"
    values = [str(v) for v in check.params.get("values", list(LEGAL_FORMS))]
    return [_domain(check, col, values, "a legal form of the Enterprise Law "
                                        f"({'; '.join(values)})", nfc=True)]


@rule("vsic_code", column="sector_code", params={"level": (2, 3, 4, 5)})
def vsic_code(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "sector_code"
    digits = level = int(check.params.get("level", 4))
    if level not in (2, 3, 4, 5):
        raise ValueError(f"vsic_code on {col}: level must be 2-5 (level 1 is a letter), got {level}")
    c = q(col)
    divisions = ", ".join(lit(d) for d in VSIC_DIVISIONS)
    well_formed = f"regexp_full_match({c}, '[0-9]{{{digits}}}')"
    return [
        RowCheck(
            name=_name(check, col, "format"), rule="vsic_code", columns=(col,),
            bad_when=f"({c} IS NOT NULL AND NOT {well_formed})",
            reason=f"'{col}: ' || {shown(col)} || ' is not a level-{level} VSIC code "
                   f"({digits} digits)'",
            severity=check.severity,
            description=check.description or f"{col} is a level-{level} VSIC code",
        ),
        RowCheck(
            name=_name(check, col, "division"), rule="vsic_code", columns=(col,),
            bad_when=f"({c} IS NOT NULL AND {well_formed} AND substr({c}, 1, 2) NOT IN ({divisions}))",
            reason=f"'{col}: ' || {shown(col)} || ' starts with ' || substr({c}, 1, 2) || "
                   "', not a VSIC division'",
            severity=check.severity,
            description=check.description or f"{col} is in a VSIC division",
        ),
    ]


_PUNCTUATION = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~–—‘’“”…·"
"""ASCII punctuation and the typographic marks Vietnamese text uses; not the symbols
(« ¨ ¶ ® ...) a legacy encoding leaves behind."""
TEXT_CHARS = VIETNAMESE_LETTERS + "0-9" + "".join("\\" + p if p in "\\]^-[" else p
                                                  for p in _PUNCTUATION)


@rule("vietnamese_text", targets="columns")
def vietnamese_text(check: Check, ctx: RuleContext) -> list[RowCheck]:
    out = []
    for col in check.target_columns:
        c = q(col)
        text = f"nfc_normalize({c})"
        chars = f"[{TEXT_CHARS}]"
        stray = f"regexp_replace({text}, {lit(chars)}, '', 'g')"
        words = (f"list_filter(string_split(regexp_replace(lower({text}), '[^\\p{{L}}]+', ' ', 'g'),"
                 f" ' '), lambda w: NOT regexp_full_match(w, '[a-z]*'))")
        not_syllable = (f"list_bool_or(list_transform({words}, lambda w: NOT regexp_full_match("
                        f"strip_accents(replace(w, 'đ', 'd')), {lit(SYLLABLE)})))")
        out.append(RowCheck(
            name=_name(check, col, "text"), rule="vietnamese_text", columns=(col,),
            bad_when=f"({c} IS NOT NULL AND ({stray} <> '' OR coalesce({not_syllable}, false)))",
            reason=(f"CASE WHEN {stray} <> '' THEN '{col}: ' || {shown(col)} || ' has characters "
                    f"outside Vietnamese text: ' || {stray} ELSE '{col}: ' || {shown(col)} || "
                    "' has words that are not Vietnamese syllables' END || "
                    "' (legacy TCVN3/VNI text left unrepaired?)'"),
            severity=check.severity,
            description=check.description or f"{col} is Vietnamese text",
        ))
    return out
