"""Every string the portal's pages show, in Vietnamese (the default) and English.

`text(lang)` gives the table for a language; templates read it as `t.key`. A key missing in
English falls back to Vietnamese, and a test checks both tables have the same keys.
"""

from __future__ import annotations

LANGS = ("vi", "en")
DEFAULT = "vi"

VI: dict[str, str] = {
    "site": "Cổng dữ liệu mở tỉnh",
    "skip": "Bỏ qua, đến nội dung chính",
    "nav_home": "Trang chủ", "nav_search": "Tìm dữ liệu", "nav_gaps": "Khoảng trống dịch vụ",
    "switch": "English", "switch_lang": "en",
    "search_label": "Tìm bộ dữ liệu", "search_button": "Tìm",
    "search_hint": "Ví dụ: dân số, doanh nghiệp, đất đai (có hoặc không dấu)",
    "datasets": "bộ dữ liệu", "open_datasets": "bộ dữ liệu mở", "agencies": "cơ quan",
    "files": "tệp tải về", "recent": "Mới cập nhật", "all_agencies": "Các cơ quan",
    "results": "kết quả", "no_results": "Không tìm thấy bộ dữ liệu nào.",
    "facet_agency": "Cơ quan", "facet_theme": "Chủ đề", "facet_format": "Định dạng",
    "facet_licence": "Giấy phép", "facet_frequency": "Tần suất cập nhật",
    "clear_filters": "Bỏ mọi bộ lọc", "remove_filter": "Bỏ lọc",
    "sort": "Sắp xếp", "sort_relevance": "Phù hợp nhất", "sort_title": "Tên (A-Z)",
    "sort_modified": "Mới cập nhật", "sort_quality": "Chất lượng cao nhất", "apply": "Áp dụng",
    "page": "Trang", "previous": "Trang trước", "next": "Trang sau",
    "owner": "Cơ quan chủ quản", "licence": "Giấy phép", "frequency": "Tần suất cập nhật",
    "last_publish": "Cập nhật lần cuối", "never_published": "Chưa công bố",
    "overdue": "Quá hạn cập nhật", "overdue_text": "Bộ dữ liệu này cũ hơn tần suất cập nhật cam kết.",
    "stale": "Dữ liệu mở cũ hơn 3 tháng (Nghị định 47/2020/NĐ-CP).",
    "days_ago": "ngày trước", "open_data": "Dữ liệu mở", "not_open": "Không phải dữ liệu mở",
    "not_open_text": "Bộ dữ liệu này có dữ liệu cá nhân: chỉ cơ quan được cấp quyền truy cập "
                     "qua API. Trang này chỉ hiển thị mô tả và chất lượng.",
    "quality": "Chất lượng", "quality_score": "Điểm chất lượng",
    "quality_over_time": "Chất lượng theo thời gian",
    "quality_chart_desc": "Điểm chất lượng của từng lần công bố",
    "failing_checks": "Kiểm tra chưa đạt (lần công bố gần nhất)", "check": "Kiểm tra",
    "severity": "Mức độ", "failed_rows": "Số dòng", "no_failures": "Mọi kiểm tra đều đạt.",
    "schema": "Cấu trúc dữ liệu", "column": "Cột", "type": "Kiểu", "description": "Mô tả",
    "classification": "Phân loại", "in_open_data": "Trong dữ liệu mở",
    "yes": "Có", "no": "Không",
    "downloads": "Tải về", "format": "Định dạng", "size": "Dung lượng", "rows": "Số dòng",
    "snapshot": "Phiên bản", "download": "Tải", "no_downloads": "Chưa có tệp tải về.",
    "versions": "Các phiên bản", "published_at": "Thời điểm công bố", "run": "Lần chạy",
    "published_rows": "Dòng công bố", "quarantined_rows": "Dòng cách ly",
    "total_rows": "Tổng số dòng", "files_of_version": "Tệp của phiên bản",
    "not_kept": "không còn lưu",
    "lineage": "Nguồn gốc dữ liệu", "connector": "Kết nối", "source": "Nguồn", "window": "Khoảng trích xuất",
    "raw_rows": "Dòng thô",
    "api": "Dùng qua API", "api_text": "API tương thích CKAN; mỗi tệp có sha256 để kiểm tra.",
    "preview": "Xem trước các dòng đầu", "preview_none": "Chưa có dữ liệu để xem trước.",
    "agency": "Cơ quan", "scorecard": "Bảng điểm chất lượng",
    "scorecard_text": "Tình trạng dữ liệu của cơ quan: điểm chất lượng, lỗi thường gặp và "
                      "những điểm cần sửa tại nguồn. Công chúng chỉ thấy số lượng.",
    "dataset": "Bộ dữ liệu", "latest_score": "Điểm gần nhất", "trend": "Xu hướng", "runs": "Số lần công bố",
    "top_failing": "Kiểm tra chưa đạt nhiều nhất", "quarantine_by_reason": "Dòng cách ly theo lý do",
    "mismatches": "Không khớp giữa các cơ sở dữ liệu (cần sửa tại nguồn)",
    "other_registry": "Cơ sở dữ liệu đối chiếu", "none": "Không có.",
    "gaps_title": "Khoảng trống dịch vụ theo xã",
    "gaps_text": "Chỉ tiêu tổng hợp từ dữ liệu mở (không có dữ liệu cá nhân); ô nhỏ được ẩn (•) "
                 "để bảo vệ quyền riêng tư.",
    "commune": "Xã", "total": "Tổng", "suppressed": "ẩn để bảo vệ quyền riêng tư",
    "not_available": "Chỉ tiêu này chưa được công bố.",
    "not_found": "Không tìm thấy trang", "not_found_text": "Không có trang hoặc bộ dữ liệu này.",
    "footer": "Dữ liệu mở của tỉnh. API: CKAN /api/3/action, DCAT /catalog.ttl.",
    "sev_critical": "nghiêm trọng (chặn công bố)", "sev_quarantine": "cách ly dòng", "sev_warn": "cảnh báo",
    "cls_public": "công khai", "cls_internal": "nội bộ", "cls_personal": "cá nhân",
    "cls_sensitive-personal": "cá nhân nhạy cảm",
    "freq_daily": "hằng ngày", "freq_weekly": "hằng tuần", "freq_monthly": "hằng tháng",
    "freq_quarterly": "hằng quý", "freq_annual": "hằng năm", "freq_yearly": "hằng năm",
    "sign_in": "Đăng nhập cơ quan", "sign_out": "Đăng xuất",
    "sign_in_text": "Cơ quan đăng nhập bằng thông tin xác thực API của mình (client_id và "
                    "client_secret) để xem các dòng bị cách ly của bộ dữ liệu do mình quản lý.",
    "client_id": "Mã client (client_id)", "client_secret": "Khóa bí mật (client_secret)",
    "sign_in_failed": "Đăng nhập không thành công: mã client hoặc khóa bí mật không đúng, "
                      "hoặc client đã bị thu hồi.",
    "csrf_failed": "Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và thử lại.",
    "signed_in_as": "Đã đăng nhập với client",
    "view_quarantine": "Xem các dòng bị cách ly",
    "quarantine_title": "Các dòng bị cách ly",
    "quarantine_text": "Giá trị như nguồn đã gửi, kèm kiểm tra không đạt và lý do. Chỉ cơ quan "
                       "chủ quản thấy trang này; mỗi lần xem được ghi nhật ký kiểm toán.",
    "failed_rule": "Kiểm tra không đạt", "reason": "Lý do", "source_row": "Dòng nguồn",
    "forbidden": "Không có quyền truy cập",
    "forbidden_text": "Client đang đăng nhập không thuộc cơ quan chủ quản của bộ dữ liệu này.",
    "public_counts_only": "Công chúng chỉ thấy số lượng. Cơ quan chủ quản đăng nhập để xem các dòng.",
    "api_agency": "API cho cơ quan (cần quyền được cấp, nêu mục đích sử dụng)",
    "api_agency_text": "Cơ quan dùng client_id/client_secret của mình để lấy token, nêu mục đích "
                       "(PURPOSE) đã được cấp quyền; mỗi lần gọi được ghi nhật ký kiểm toán. "
                       "Chỉ thấy các cột và dòng mà quyền được cấp cho phép.",
    "lang_name": "Tiếng Việt", "table": "Bảng", "freq_on input change": "khi dữ liệu nguồn thay đổi",
}

EN: dict[str, str] = {
    "site": "Provincial open-data portal",
    "skip": "Skip to main content",
    "nav_home": "Home", "nav_search": "Find data", "nav_gaps": "Service gaps",
    "switch": "Tiếng Việt", "switch_lang": "vi",
    "search_label": "Search datasets", "search_button": "Search",
    "search_hint": "For example: population, enterprises, land (with or without diacritics)",
    "datasets": "datasets", "open_datasets": "open datasets", "agencies": "agencies",
    "files": "downloadable files", "recent": "Recently updated", "all_agencies": "Agencies",
    "results": "results", "no_results": "No dataset found.",
    "facet_agency": "Agency", "facet_theme": "Theme", "facet_format": "Format",
    "facet_licence": "Licence", "facet_frequency": "Update frequency",
    "clear_filters": "Clear all filters", "remove_filter": "Remove filter",
    "sort": "Sort by", "sort_relevance": "Relevance", "sort_title": "Title (A-Z)",
    "sort_modified": "Recently updated", "sort_quality": "Highest quality", "apply": "Apply",
    "page": "Page", "previous": "Previous page", "next": "Next page",
    "owner": "Owner agency", "licence": "Licence", "frequency": "Update frequency",
    "last_publish": "Last updated", "never_published": "Not published yet",
    "overdue": "Overdue", "overdue_text": "This dataset is older than its promised update frequency.",
    "stale": "Open data older than three months (Decree 47/2020/ND-CP).",
    "days_ago": "days ago", "open_data": "Open data", "not_open": "Not open data",
    "not_open_text": "This dataset holds personal data: only agencies with a grant reach it "
                     "through the API. This page shows its description and quality only.",
    "quality": "Quality", "quality_score": "Quality score", "quality_over_time": "Quality over time",
    "quality_chart_desc": "Quality score of each publish",
    "failing_checks": "Failing checks (latest publish)", "check": "Check",
    "severity": "Severity", "failed_rows": "Rows", "no_failures": "Every check passes.",
    "schema": "Schema", "column": "Column", "type": "Type", "description": "Description",
    "classification": "Classification", "in_open_data": "In open data",
    "yes": "Yes", "no": "No",
    "downloads": "Downloads", "format": "Format", "size": "Size", "rows": "Rows",
    "snapshot": "Snapshot", "download": "Download", "no_downloads": "No files to download yet.",
    "versions": "Versions", "published_at": "Published at", "run": "Run",
    "published_rows": "Rows published", "quarantined_rows": "Rows quarantined",
    "total_rows": "Rows in table", "files_of_version": "Files of this version",
    "not_kept": "no longer kept",
    "lineage": "Lineage", "connector": "Connector", "source": "Source", "window": "Extraction window",
    "raw_rows": "Raw rows",
    "api": "Use it through the API", "api_text": "CKAN-compatible API; every file has a sha256 to check.",
    "preview": "Preview of the first rows", "preview_none": "Nothing to preview yet.",
    "agency": "Agency", "scorecard": "Quality scorecard",
    "scorecard_text": "The state of the agency's data: quality scores, the checks that fail "
                      "most and what to fix at the source. The public sees counts only.",
    "dataset": "Dataset", "latest_score": "Latest score", "trend": "Trend", "runs": "Publishes",
    "top_failing": "Checks that fail most", "quarantine_by_reason": "Quarantined rows by reason",
    "mismatches": "Cross-registry mismatches (fix at the source)",
    "other_registry": "Registry checked against", "none": "None.",
    "gaps_title": "Service gaps by commune",
    "gaps_text": "Aggregated open indicators (no personal data); small counts are hidden (•) "
                 "to protect privacy.",
    "commune": "Commune", "total": "Total", "suppressed": "hidden to protect privacy",
    "not_available": "This indicator is not published yet.",
    "not_found": "Page not found", "not_found_text": "There is no such page or dataset.",
    "footer": "The province's open data. APIs: CKAN /api/3/action, DCAT /catalog.ttl.",
    "sev_critical": "critical (blocks the publish)", "sev_quarantine": "row quarantined",
    "sev_warn": "warning",
    "cls_public": "public", "cls_internal": "internal", "cls_personal": "personal",
    "cls_sensitive-personal": "sensitive personal",
    "freq_daily": "daily", "freq_weekly": "weekly", "freq_monthly": "monthly",
    "freq_quarterly": "quarterly", "freq_annual": "annual", "freq_yearly": "yearly",
    "sign_in": "Agency sign-in", "sign_out": "Sign out",
    "sign_in_text": "An agency signs in with its API credentials (client_id and client_secret) "
                    "to see the quarantined rows of the datasets it owns.",
    "client_id": "Client id (client_id)", "client_secret": "Client secret (client_secret)",
    "sign_in_failed": "Sign-in failed: unknown client id or secret, or the client is revoked.",
    "csrf_failed": "The form has expired or is not valid. Reload the page and try again.",
    "signed_in_as": "Signed in as client",
    "view_quarantine": "See the quarantined rows",
    "quarantine_title": "Quarantined rows",
    "quarantine_text": "The values as the source delivered them, with the checks they failed and "
                       "why. Only the owner agency sees this page; every view is audited.",
    "failed_rule": "Failed check", "reason": "Reason", "source_row": "Source row",
    "forbidden": "Access denied",
    "forbidden_text": "The signed-in client does not belong to the agency that owns this dataset.",
    "public_counts_only": "The public sees counts only. The owner agency signs in to see the rows.",
    "api_agency": "Agency API (needs a grant; state a purpose)",
    "api_agency_text": "An agency gets a token with its client_id/client_secret and states a "
                       "purpose (PURPOSE) its grant names; every call is audited. It sees only "
                       "the columns and rows its grant allows.",
    "lang_name": "English", "table": "Table", "freq_on input change": "when its inputs change",
}

TABLES = {"vi": VI, "en": EN}


def lang_of(value: str | None) -> str:
    """The language a request asked for (`?lang=`); Vietnamese unless it says English."""
    return value if value in LANGS else DEFAULT


class Text(dict[str, str]):
    """A language's table, read as attributes in templates (`t.site`); a missing key shows
    the Vietnamese string, then the key itself, never an error page."""

    def __getattr__(self, key: str) -> str:
        return self.get(key) or VI.get(key) or key

    def get_key(self, key: str) -> str:
        return self.__getattr__(key)


def text(lang: str) -> Text:
    return Text(TABLES[lang_of(lang)])
