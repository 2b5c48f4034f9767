"""Land-use codes by code-list version, written out for the tests from the circulars (and
DOMAIN.md), not imported from expectations/rules_land.py: a code dropped from or added to
the rule's table, or moved to the wrong version, fails the tests that use these.

- "2024": Circular 08/2024/TT-BTNMT (Land Law 2024). Agricultural: LUC (chuyên trồng lúa),
  LUK (trồng lúa còn lại), HNK (cây hằng năm khác), CLN (cây lâu năm), RDD/RPH/RSX (rừng đặc
  dụng/phòng hộ/sản xuất), NTS (nuôi trồng thủy sản), CNT (chăn nuôi tập trung, new in
  2024), LMU (làm muối), NKH (nông nghiệp khác).
- "2018": Circular 27/2018/TT-BTNMT. Agricultural: LUC, LUK, LUN (lúa nương), BHK (bằng
  trồng cây hằng năm khác), NHK (nương rẫy cây hằng năm khác), CLN, RSX, RPH, RDD, NTS, LMU,
  NKH; residential also under the group code OTC (đất ở).
- Both: residential ONT (nông thôn), ODT (đô thị); non-agricultural TSC (trụ sở cơ quan),
  CQP (quốc phòng), CAN (an ninh), DVH (văn hóa), DYT (y tế), DGD (giáo dục), DTT (thể dục
  thể thao), TMD (thương mại dịch vụ), SKC (cơ sở sản xuất phi nông nghiệp), DGT (giao
  thông), DTL (thủy lợi), NTD (nghĩa trang), TON (tôn giáo), TIN (tín ngưỡng); unused BCS,
  DCS, NCS (bằng/đồi núi/núi đá chưa sử dụng).

Like the rule's table these are the codes the project uses, not every official code.
"""

from __future__ import annotations

BOTH = {"ONT", "ODT", "TSC", "CQP", "CAN", "DVH", "DYT", "DGD", "DTT", "TMD", "SKC", "DGT", "DTL",
        "NTD", "TON", "TIN", "BCS", "DCS", "NCS", "LUC", "LUK", "CLN", "RDD", "RPH", "RSX", "NTS",
        "LMU", "NKH"}
ONLY_2024 = {"HNK", "CNT"}
ONLY_2018 = {"LUN", "BHK", "NHK", "OTC"}
CODES = {"2024": BOTH | ONLY_2024, "2018": BOTH | ONLY_2018}
