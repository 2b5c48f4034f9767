"""Vocabularies of the simulated population: names, ethnic groups, relations, addresses.

Family-name shares follow DOMAIN.md (Nguyễn 38%, Trần 11%, Lê 9.5%, ...); the remaining
share is spread over other real family names, with a southern tilt (Huỳnh over Hoàng, Võ over
Vũ) since the default province is Cà Mau. Middle and given names depend on sex. Ethnic-group
shares are plausible for Cà Mau and Bạc Liêu (Kinh, Khmer, Hoa, ...), not official figures.
Every string is NFC.
"""

from __future__ import annotations

import unicodedata

import numpy as np

FAMILY_NAMES: dict[str, float] = {
    "Nguyễn": 38.0,
    "Trần": 11.0,
    "Lê": 9.5,
    "Phạm": 7.0,
    "Huỳnh": 3.5,
    "Hoàng": 1.5,
    "Phan": 4.5,
    "Võ": 2.8,
    "Vũ": 1.2,
    "Đặng": 2.0,
    "Bùi": 2.0,
    "Đỗ": 1.4,
    "Hồ": 1.3,
    "Ngô": 1.3,
    "Dương": 1.0,
    "Lý": 0.5,
}
_OTHER_FAMILY_NAMES = (
    "Trương Lâm Đinh Lương Mai Tô Châu Thái Quách Tạ Cao Lưu La Kiều Đoàn Hà Thạch Danh "
    "Sơn Triệu Tăng Diệp Từ Phùng Khưu Lữ Mạc Đào Vương Kim Giang Chung Âu Trịnh Lại "
    "Nghiêm Tôn Quan Văn Thân Đồng Hứa Tiêu Chu Bành Lục"
).split()
FAMILY_NAMES.update(
    {name: (100.0 - sum(FAMILY_NAMES.values())) / len(_OTHER_FAMILY_NAMES) for name in _OTHER_FAMILY_NAMES}
)

MIDDLE_NAMES_MALE: dict[str, float] = {
    "Văn": 40,
    "Hữu": 6,
    "Minh": 8,
    "Quốc": 5,
    "Thanh": 6,
    "Công": 4,
    "Đức": 4,
    "Hoàng": 3,
    "Ngọc": 3,
    "Thành": 3,
    "Trung": 2,
    "Duy": 2,
    "Tấn": 4,
    "Chí": 2,
    "Gia": 2,
    "Phước": 2,
    "Nhật": 1,
    "Anh": 1,
    "Văn Minh": 0.5,
    "Hoàng Gia": 0.5,
}
MIDDLE_NAMES_FEMALE: dict[str, float] = {
    "Thị": 45,
    "Ngọc": 8,
    "Thanh": 5,
    "Thu": 4,
    "Kim": 5,
    "Mỹ": 4,
    "Bích": 3,
    "Hồng": 3,
    "Phương": 2,
    "Thùy": 3,
    "Tuyết": 2,
    "Diễm": 2,
    "Cẩm": 2,
    "Hoài": 1,
    "Thị Ngọc": 2,
    "Thị Kim": 2,
    "Thị Thu": 1,
    "Thị Mỹ": 1,
}
GIVEN_NAMES_MALE = (
    "Anh Bảo Bình Cường Dũng Duy Đạt Đức Hải Hiếu Hòa Hoàng Hùng Huy Hưng Khang Khánh Khoa "
    "Kiệt Lâm Lợi Long Luân Minh Nam Nghĩa Nhân Phát Phong Phúc Phước Quang Quân Sang Sơn Tài "
    "Tâm Tân Thắng Thành Thịnh Thông Tiến Toàn Trí Trung Trường Tuấn Tùng Vinh Vũ Bằng Châu "
    "Chiến Danh Định Giàu Hậu Lộc Mến Nguyên Tín Út Thái Hiền Khải Lực Nhựt Thiện Triều"
).split()
GIVEN_NAMES_FEMALE = (
    "An Anh Bích Chi Diễm Dung Duyên Giang Hà Hạnh Hằng Hân Hiền Hoa Hồng Huyền Hương Kiều "
    "Lan Liên Linh Loan Ly Mai My Nga Ngân Ngọc Nhi Nhung Oanh Phương Phượng Quyên Thảo Thanh "
    "Thơ Thu Thủy Thúy Thư Trang Trinh Trâm Tuyết Uyên Vân Vy Xuân Yến Diệu Cúc Đào Lệ Tiên "
    "Út Nhàn Nguyệt Quỳnh Hậu Xuyến Ánh Em Ngoan Ẩn"
).split()

ETHNICITIES: dict[str, float] = {
    "Kinh": 86.0,
    "Khmer": 10.0,
    "Hoa": 3.0,
    "Chăm": 0.2,
    "Mường": 0.2,
    "Tày": 0.2,
    "Thái": 0.15,
    "Nùng": 0.15,
    "Ê Đê": 0.1,
}

HEAD = "Chủ hộ"
WIFE, HUSBAND = "Vợ", "Chồng"
CHILD, GRANDCHILD, FATHER, MOTHER = "Con", "Cháu", "Cha", "Mẹ"
DAUGHTER_IN_LAW, SON_IN_LAW, SIBLING = "Con dâu", "Con rể", "Em"
RELATIONS = (HEAD, WIFE, HUSBAND, CHILD, GRANDCHILD, FATHER, MOTHER, DAUGHTER_IN_LAW, SON_IN_LAW, SIBLING)

STREET_NAMES = (
    "Lý Thường Kiệt",
    "Trần Hưng Đạo",
    "Nguyễn Trãi",
    "Hùng Vương",
    "Lê Lợi",
    "Phan Ngọc Hiển",
    "Ngô Quyền",
    "Nguyễn Tất Thành",
    "Trần Phú",
    "Cao Văn Lầu",
    "Võ Thị Sáu",
    "Hai Bà Trưng",
    "Quang Trung",
    "Lê Duẩn",
    "Nguyễn Du",
)
HAMLET_NAMES = (
    "Tân Hòa",
    "Tân Lợi",
    "Tân Phong",
    "Thạnh Hưng",
    "Bình Định",
    "Cái Keo",
    "Rạch Gốc",
    "Kinh Ngay",
    "Xóm Mới",
    "Đầu Sấu",
    "Nhà Thờ",
    "Giồng Nhãn",
)


def nfc_keys(weights: dict[str, float]) -> tuple[list[str], np.ndarray]:
    """The names of a weight table (NFC) and their probabilities (summing to 1)."""
    names = [unicodedata.normalize("NFC", name) for name in weights]
    p = np.asarray(list(weights.values()), dtype=np.float64)
    return names, p / p.sum()


def uniform(names: tuple[str, ...] | list[str]) -> tuple[list[str], np.ndarray]:
    """Names with equal probabilities (NFC)."""
    return nfc_keys(dict.fromkeys(names, 1.0))


def address_vocabulary() -> tuple[list[str], list[str]]:
    """Street addresses of a rural commune (ấp) and of an urban ward (khóm, street number)."""
    rural = [f"Ấp {n}" for n in range(1, 16)] + [f"Ấp {h}" for h in HAMLET_NAMES]
    urban = [f"Khóm {n}" for n in range(1, 13)] + [
        f"Số {n} đường {street}" for street in STREET_NAMES for n in range(1, 241)
    ]
    return rural, urban
