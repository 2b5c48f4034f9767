"""Quality rules of the cadastral (land) registry: land-use codes by code-list version,
parcel identity, certificate serials and positive areas.

- `land_use_code`: the code is in the official list of the version the record names
  (`version_column`): "2024" = Circular 08/2024/TT-BTNMT, "2018" = Circular 27/2018/TT-BTNMT
  (older records keep their codes; the list is versioned, never rewritten). The lists below
  are the codes DOMAIN.md names plus the common non-agricultural ones; they are not the full
  official tables, so a spec may pass its own `codes: {"2024": [...], ...}`.
- `parcel_identity`: a parcel is commune code (5 digits) + map sheet number + parcel number,
  both positive integers written in digits; the parcel id must be exactly those three parts
  (numbers without leading zeros).
- `certificate_serial`: số phát hành of a land-use certificate, 2 capital letters + 8 digits.
- `positive_number`: a numeric column (e.g. area_m2) is greater than zero.
"""

from __future__ import annotations

from catalog.spec import Check
from expectations.rules import RowCheck, RuleContext, rule, shown
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

AGRICULTURAL_2024 = ("LUC", "LUK", "HNK", "CLN", "RDD", "RPH", "RSX", "NTS", "CNT", "LMU", "NKH")
AGRICULTURAL_2018 = ("LUC", "LUK", "LUN", "BHK", "NHK", "CLN", "RSX", "RPH", "RDD", "NTS", "LMU",
                     "NKH")
RESIDENTIAL = ("ONT", "ODT")
NON_AGRICULTURAL = ("TSC", "CQP", "CAN", "DVH", "DYT", "DGD", "DTT", "TMD", "SKC", "DGT", "DTL",
                    "NTD", "TON", "TIN")
UNUSED = ("BCS", "DCS", "NCS")

LAND_USE_CODES: dict[str, tuple[str, ...]] = {
    "2024": AGRICULTURAL_2024 + RESIDENTIAL + NON_AGRICULTURAL + UNUSED,
    "2018": AGRICULTURAL_2018 + RESIDENTIAL + ("OTC",) + NON_AGRICULTURAL + UNUSED,
}
"""Land-use codes per code-list version (see the module docstring for what is unverified)."""

SERIAL_PATTERN = "[A-Z]{2}[0-9]{8}"



@rule("land_use_code", column="land_use_code",
      params={"version_column": "column", "codes": "mapping"},
      defaults={"version_column": "land_use_code_list"})
def land_use_code(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "land_use_code"
    version = str(check.params.get("version_column", "land_use_code_list"))
    lists = {str(k): tuple(str(c) for c in v)
             for k, v in dict(check.params.get("codes", LAND_USE_CODES)).items()}
    c, v = q(col), q(version)
    known = ", ".join(lit(k) for k in lists)
    in_list = " OR ".join(
        f"({v} = {lit(k)} AND {c} IN ({', '.join(lit(x) for x in codes)}))"
        for k, codes in lists.items())
    other = " OR ".join(
        f"({c} IN ({', '.join(lit(x) for x in codes)}))" for codes in lists.values())
    return [
        RowCheck(
            name=f"land_use_code:{col}:version", rule="land_use_code", columns=(col, version),
            bad_when=f"({c} IS NOT NULL AND ({v} IS NULL OR {v} NOT IN ({known})))",
            reason=(f"'{version}: ' || {shown(version)} || ' is not a land-use code list "
                    f"(known: {', '.join(lists)}); {col} ' || {shown(col)} || ' cannot be read'"),
            severity=check.severity,
            description=check.description or f"{version} names a known code list",
        ),
        RowCheck(
            name=f"land_use_code:{col}:code", rule="land_use_code", columns=(col, version),
            bad_when=f"({c} IS NOT NULL AND {v} IN ({known}) AND NOT ({in_list}))",
            reason=(f"'{col}: ' || {shown(col)} || CASE WHEN {other} "
                    f"THEN ' is not in the ' || {v} || ' code list (it belongs to another version)' "
                    f"ELSE ' is not a land-use code' END"),
            severity=check.severity,
            description=check.description or f"{col} is in the code list its record names",
        ),
    ]


@rule("parcel_identity", column="parcel_id",
      params={"commune_column": "column", "sheet_column": "column", "number_column": "column"},
      defaults={"commune_column": "commune_code", "sheet_column": "map_sheet",
                "number_column": "parcel_number"})
def parcel_identity(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "parcel_id"
    commune = q(str(check.params.get("commune_column", "commune_code")))
    sheet_col = str(check.params.get("sheet_column", "map_sheet"))
    number_col = str(check.params.get("number_column", "parcel_number"))
    sheet, number = q(sheet_col), q(number_col)
    c = q(col)
    # Digits only: DuckDB's TRY_CAST('1.5' AS BIGINT) is 2, not NULL.
    positive = " AND ".join(f"(regexp_full_match(trim({n}), '[0-9]+') AND TRY_CAST({n} AS BIGINT) > 0)"
                            for n in (sheet, number))
    positive = f"({positive})"
    expected = (f"({commune} || '-' || CAST(TRY_CAST({sheet} AS BIGINT) AS VARCHAR) || '-' || "
                f"CAST(TRY_CAST({number} AS BIGINT) AS VARCHAR))")
    return [
        RowCheck(
            name=f"parcel_identity:{col}:numbers", rule="parcel_identity", columns=(col,),
            bad_when=f"({sheet} IS NOT NULL AND {number} IS NOT NULL AND NOT coalesce({positive}, false))",
            reason=(f"'{sheet_col} ' || {shown(sheet_col)} || ', {number_col} ' || "
                    f"{shown(number_col)} || ': both must be positive integers'"),
            severity=check.severity,
            description=check.description or "map sheet and parcel numbers are positive integers",
        ),
        RowCheck(
            name=f"parcel_identity:{col}:parts", rule="parcel_identity", columns=(col,),
            bad_when=(f"({c} IS NOT NULL AND coalesce({positive}, false) AND {commune} IS NOT NULL "
                      f"AND {c} <> {expected})"),
            reason=(f"'{col}: ' || {shown(col)} || ' does not match commune-sheet-number ' || "
                    f"{expected}"),
            severity=check.severity,
            description=check.description or f"{col} is commune-sheet-number",
        ),
    ]


@rule("certificate_serial", column="certificate_serial")
def certificate_serial(check: Check, ctx: RuleContext) -> list[RowCheck]:
    col = check.column or "certificate_serial"
    c = q(col)
    return [RowCheck(
        name=f"certificate_serial:{col}:format", rule="certificate_serial", columns=(col,),
        bad_when=f"({c} IS NOT NULL AND NOT regexp_full_match({c}, '{SERIAL_PATTERN}'))",
        reason=f"'{col}: ' || {shown(col)} || ' is not a certificate serial (2 capital letters + 8 digits)'",
        severity=check.severity,
        description=check.description or f"{col} is 2 capital letters + 8 digits",
    )]


@rule("positive_number", targets="columns")
def positive_number(check: Check, ctx: RuleContext) -> list[RowCheck]:
    out = []
    for col in check.target_columns:
        c = q(col)
        out.append(RowCheck(
            name=f"positive_number:{col}", rule="positive_number", columns=(col,),
            bad_when=f"(TRY_CAST({c} AS DOUBLE) IS NOT NULL AND TRY_CAST({c} AS DOUBLE) <= 0)",
            reason=f"'{col}: ' || {shown(col)} || ' must be greater than zero'",
            severity=check.severity,
            description=check.description or f"{col} is greater than zero",
        ))
    return out
