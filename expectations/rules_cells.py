"""Rules on what a cell may carry whatever the registry: `no_formula` (text a spreadsheet
would run as a formula, flagged per warehouse.cell_safety; curated keeps it as delivered,
exports escape it)."""

from __future__ import annotations

from catalog.spec import Check
from expectations.rules import RowCheck, RuleContext, rule, shown
from warehouse.cell_safety import formula_sql
from warehouse.duck import quote_ident as q


@rule("no_formula", targets="columns")
def no_formula(check: Check, ctx: RuleContext) -> list[RowCheck]:
    """Values starting with = + - @ tab or CR. Meant as `severity: warn`: reported per
    owning agency by `lgsp quality`, the row goes on unchanged."""
    return [
        RowCheck(
            name=f"no_formula:{col}", rule="no_formula", columns=(col,),
            bad_when=f"({formula_sql(q(col))})",
            reason=(f"'{col}: ' || {shown(col)} || ' starts like a spreadsheet formula "
                    "(kept as delivered; open-data exports escape it)'"),
            severity=check.severity,
            description=check.description or f"{col} does not start like a spreadsheet formula",
        )
        for col in check.target_columns
    ]
