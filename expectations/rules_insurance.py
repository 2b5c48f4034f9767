"""Quality rules for social and health insurance records (BHXH / BHYT).

- `bhxh_number`: the social-insurance number has 10 digits (its inner structure is
  unverified, so only the length and digits are checked).
- `health_insurance_card`: the health-insurance card number has the shape
  ^[A-Z]{2}[1-5][0-9]{2}[0-9]{10}$ = beneficiary group (2 letters) + benefit level (1-5) +
  province code (2 digits) + the holder's 10-digit BHXH number.
- `card_level_for_group`: the benefit level is one the beneficiary group may have.
- `card_matches_bhxh`: the card's last 10 digits equal the member's BHXH number.
- `card_validity`: the card's validity period does not end before it starts.

The group -> allowed levels table below is UNVERIFIED: it follows Decision 1351/QĐ-BHXH
(2015) as commonly summarised, and groups and levels have changed since. A spec can replace
it per check (`groups: {TE: [1], DN: [4], ...}`), so a correction is a spec edit.
The card checks other than the format skip cards that are not well formed (one defect, one
reason); all checks skip NULLs (not_null reports missing values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from catalog.spec import Check
from expectations.rules import RowCheck, RuleContext, rule, shown
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

CARD_PATTERN = "[A-Z]{2}[1-5][0-9]{2}[0-9]{10}"
"""Health-insurance card number (15 characters), anchored by regexp_full_match."""
BHXH_PATTERN = "[0-9]{10}"

BENEFIT_LEVELS_BY_GROUP: dict[str, tuple[int, ...]] = {
    # Level 1 (100%, no ceiling): people with revolutionary merit, children under 6.
    "CC": (1,), "TE": (1,),
    # Level 2 (100%, ceiling on high-tech services): veterans, poor households, ethnic
    # minorities in hard areas, social-protection beneficiaries...
    "CK": (2,), "CB": (2,), "KC": (2,), "HN": (2,), "DT": (2,), "DK": (2,), "XD": (2,),
    "BT": (2,), "TS": (2,),
    # Level 3 (95%): pensioners, monthly allowance recipients, near-poor households.
    "HT": (3,), "TC": (3,), "CN": (3,),
    # Level 4 (80%): employees, public servants, pupils, students, household members...
    "DN": (4,), "HX": (4,), "CH": (4,), "NN": (4,), "TK": (4,), "HC": (4,), "XK": (4,),
    "TB": (4,), "NO": (4,), "CT": (4,), "XB": (4,), "TN": (4,), "CS": (4,), "XN": (4,),
    "MS": (4,), "HD": (4,), "TQ": (4,), "TA": (4,), "TY": (4,), "HG": (4,), "LS": (4,),
    "PV": (4,), "HS": (4,), "SV": (4,), "GB": (4,), "GD": (4,),
    # Level 5 (100%, armed forces).
    "QN": (5,), "CA": (5,), "CY": (5,),
}
"""Beneficiary group -> benefit levels allowed on its cards. UNVERIFIED (see module doc)."""

_GROUP = re.compile(r"^[A-Z]{2}$")



def _name(check: Check, col: str, suffix: str = "") -> str:
    return ":".join([check.rule, col] + ([suffix] if suffix else []))


def group_levels(check: Check) -> dict[str, tuple[int, ...]]:
    """The group table a check uses: its `groups` parameter, else the default table."""
    raw = check.params.get("groups")
    if raw is None:
        return dict(BENEFIT_LEVELS_BY_GROUP)
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{check.rule} on {check.column}: 'groups' must map a group code to "
                         "its allowed levels, e.g. {TE: [1], DN: [4]}")
    table: dict[str, tuple[int, ...]] = {}
    for group, levels in raw.items():
        levels = levels if isinstance(levels, list | tuple) else [levels]
        if not _GROUP.match(str(group)):
            raise ValueError(f"{check.rule} on {check.column}: group {group!r} is not two "
                             "capital letters")
        if not levels or any(str(v) not in "12345" or len(str(v)) != 1 for v in levels):
            raise ValueError(f"{check.rule} on {check.column}: group {group}: levels "
                             f"{levels!r} must be digits 1-5")
        table[str(group)] = tuple(sorted({int(v) for v in levels}))
    return table


def well_formed_card(col: str) -> str:
    return f"regexp_full_match({q(col)}, {lit(CARD_PATTERN)})"


@rule("bhxh_number", column="bhxh_number")
def bhxh_number(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "bhxh_number"
    c = q(col)
    return [
        RowCheck(
            name=_name(check, col),
            rule="bhxh_number",
            columns=(col,),
            bad_when=f"({c} IS NOT NULL AND NOT regexp_full_match({c}, {lit(BHXH_PATTERN)}))",
            reason=(
                f"'{col}: ' || {shown(col)} || ' is not 10 digits' || "
                f"CASE WHEN regexp_full_match({c}, '[0-9]{{9}}') "
                f"THEN ' (9 digits: a leading zero lost, e.g. by a spreadsheet?)' ELSE '' END"
            ),
            severity=check.severity,
            description=check.description or f"{col} is a 10-digit social-insurance number",
        )
    ]


@rule("health_insurance_card", column="card_number")
def health_insurance_card(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "card_number"
    return [
        RowCheck(
            name=_name(check, col, "format"),
            rule="health_insurance_card",
            columns=(col,),
            bad_when=f"({q(col)} IS NOT NULL AND NOT {well_formed_card(col)})",
            reason=(
                f"'{col}: ' || {shown(col)} || ' is not a health-insurance card number "
                "(2 capital letters group + level 1-5 + 2-digit province + 10-digit BHXH "
                "number, e.g. DN4967912345678)'"
            ),
            severity=check.severity,
            description=check.description or f"{col} has the 15-character card number shape",
        )
    ]


@rule("card_level_for_group", column="card_number", params={"groups": "mapping"})
def card_level_for_group(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "card_number"
    c = q(col)
    table = group_levels(check)
    group, level = f"substr({c}, 1, 2)", f"substr({c}, 3, 1)"
    pairs = ", ".join(lit(f"{g}{v}") for g, levels in sorted(table.items()) for v in levels)
    groups = ", ".join(lit(g) for g in sorted(table))
    allowed = " ".join(
        f"WHEN {lit(g)} THEN {lit(', '.join(str(v) for v in levels))}"
        for g, levels in sorted(table.items())
    )
    return [
        RowCheck(
            name=_name(check, col, "level"),
            rule="card_level_for_group",
            columns=(col,),
            bad_when=(f"({c} IS NOT NULL AND {well_formed_card(col)} "
                      f"AND ({group} || {level}) NOT IN ({pairs}))"),
            reason=(
                f"CASE WHEN {group} NOT IN ({groups}) "
                f"THEN '{col}: ' || {shown(col)} || ': beneficiary group ''' || {group} || "
                "''' is not in the group table' "
                f"ELSE '{col}: ' || {shown(col)} || ': benefit level ' || {level} || "
                f"' is not allowed for group ' || {group} || ' (allowed: ' || "
                f"CASE {group} {allowed} END || ')' END"
            ),
            severity=check.severity,
            description=check.description or f"{col}: the benefit level fits the beneficiary group",
        )
    ]


@rule("card_matches_bhxh", column="card_number", params={"bhxh_column": "column"},
      defaults={"bhxh_column": "bhxh_number"})
def card_matches_bhxh(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "card_number"
    bhxh = str(check.params.get("bhxh_column", "bhxh_number"))
    c, b = q(col), q(bhxh)
    return [
        RowCheck(
            name=_name(check, col, "bhxh"),
            rule="card_matches_bhxh",
            columns=(col, bhxh),
            bad_when=(f"({c} IS NOT NULL AND {b} IS NOT NULL AND {well_formed_card(col)} "
                      f"AND substr({c}, 6, 10) <> {b})"),
            reason=(
                f"'{col}: the BHXH part ''' || substr({c}, 6, 10) || ''' of ' || {shown(col)} "
                f"|| ' differs from {bhxh} ' || {shown(bhxh)}"
            ),
            severity=check.severity,
            description=check.description or f"{col} ends with the member's {bhxh}",
        )
    ]


@rule("card_validity", targets="pair")
def card_validity(check: Check, ctx: RuleContext) -> list[RowCheck]:
    """`columns: [valid_from, valid_to]`: the period must not end before it starts."""
    cols = check.target_columns
    if len(cols) != 2:
        raise ValueError(f"card_validity: 'columns' must be [valid_from, valid_to], got {cols}")
    start, end = cols
    s, e = f"TRY_CAST({q(start)} AS DATE)", f"TRY_CAST({q(end)} AS DATE)"
    return [
        RowCheck(
            name=_name(check, f"{start}+{end}", "range"),
            rule="card_validity",
            columns=(start, end),
            bad_when=f"({s} IS NOT NULL AND {e} IS NOT NULL AND {e} < {s})",
            reason=(f"'{end}: ' || {shown(end)} || ' is before {start} ' || {shown(start)} "
                    "|| ' (the card would expire before it starts)'"),
            severity=check.severity,
            description=check.description or f"{start} <= {end}",
        )
    ]
