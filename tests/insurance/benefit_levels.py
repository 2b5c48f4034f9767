"""Benefit level allowed on a health-insurance card, by beneficiary group, written out for
the tests from the public card-code table (Decision 1351/QĐ-BHXH, the levels of Law on
Health Insurance art. 22; DOMAIN.md: TE = child under 6, level 1), not imported from
expectations/rules_insurance.py: a group moved to another level, dropped or added there
fails the tests that use this.

Level 1 (100 %, no ceiling): CC people with revolutionary merit, TE children under 6.
Level 2 (100 %, ceiling on high-tech services): CK, CB, KC, HN, DT, DK, XD, BT, TS.
Level 3 (95 %): HT pensioners, TC monthly allowances, CN near-poor households.
Level 4 (80 %): employees and everyone else contributing: DN, HX, CH, NN, TK, HC, XK, TB,
NO, CT, XB, TN, CS, XN, MS, HD, TQ, TA, TY, HG, LS, PV, HS, SV, GB, GD.
Level 5 (100 %, armed forces): QN, CA, CY.
"""

from __future__ import annotations

LEVEL_OF_GROUP: dict[str, int] = {
    **dict.fromkeys(["CC", "TE"], 1),
    **dict.fromkeys(["CK", "CB", "KC", "HN", "DT", "DK", "XD", "BT", "TS"], 2),
    **dict.fromkeys(["HT", "TC", "CN"], 3),
    **dict.fromkeys(["DN", "HX", "CH", "NN", "TK", "HC", "XK", "TB", "NO", "CT", "XB", "TN",
                     "CS", "XN", "MS", "HD", "TQ", "TA", "TY", "HG", "LS", "PV", "HS", "SV",
                     "GB", "GD"], 4),
    **dict.fromkeys(["QN", "CA", "CY"], 5),
}
