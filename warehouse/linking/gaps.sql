-- Gaps the interconnected services must close (seed articles 003/004):
-- children under 6 without a valid health-insurance card, active businesses without any
-- insured employee, land certificates whose holder is unknown to the registries.
-- The child definition is the one written in catalog/datasets/gaps.yaml (and asked of
-- person_linked in its description): alive, sixth birthday after the detection date
-- (DuckDB's date + INTERVAL 6 YEAR: 29 February -> 28 February), either residence code
-- list, no card still valid on that date (valid_to on or after it, or open-ended).
-- commune_code is in the code list commune_code_era names (the source record's own).
SELECT 'child_under_6_without_health_card' || ':' || p.personal_id AS gap_id,
       'child_under_6_without_health_card' AS gap_type,
       p.personal_id AS subject_id,
       p.full_name AS subject_name,
       p.residence_commune_code AS commune_code,
       p.residence_code_era AS commune_code_era,
       'Bảo hiểm xã hội tỉnh' AS responsible_agency,
       'Trẻ em dưới 6 tuổi chưa có thẻ BHYT còn hiệu lực (sinh ngày '
           || strftime(p.date_of_birth, '%d/%m/%Y') || ')' AS detail,
       current_date AS detected_on
FROM {population} AS p
WHERE p.status = 'Còn sống'
  AND p.date_of_birth + INTERVAL 6 YEAR > current_date
  AND NOT EXISTS (
      SELECT 1 FROM {insurance_members} AS i
      WHERE i.personal_id = p.personal_id
        AND i.card_number IS NOT NULL
        AND (i.card_valid_to IS NULL OR i.card_valid_to >= current_date))
UNION ALL
SELECT 'business_without_insured_employees:' || b.enterprise_code,
       'business_without_insured_employees',
       b.enterprise_code,
       b.name,
       b.commune_code,
       b.commune_code_era,
       'Sở Tài chính (đăng ký doanh nghiệp) / Bảo hiểm xã hội tỉnh',
       'Doanh nghiệp đang hoạt động không có lao động tham gia BHXH',
       current_date
FROM {business_registry} AS b
WHERE b.status_code = '00'
  AND b.enterprise_code NOT LIKE '%-%'
  AND NOT EXISTS (
      SELECT 1 FROM {insurance_members} AS i WHERE i.employer_code = b.enterprise_code)
UNION ALL
SELECT 'parcel_holder_unknown:' || c.certificate_serial,
       'parcel_holder_unknown',
       c.parcel_id,
       NULL,
       lp.commune_code,
       lp.commune_code_era,
       'Sở Nông nghiệp và Môi trường (Văn phòng đăng ký đất đai)',
       'Chủ sử dụng ' || c.holder_id || ' (' || c.holder_type || ') không có trong '
           || CASE WHEN c.holder_type = 'person' THEN 'CSDL dân cư' ELSE 'CSDL đăng ký doanh nghiệp' END
           || ', GCN ' || c.certificate_serial,
       current_date
FROM {land_certificates} AS c
LEFT JOIN {land_parcels} AS lp ON lp.parcel_id = c.parcel_id
WHERE (c.holder_type = 'person'
       AND NOT EXISTS (SELECT 1 FROM {population} AS p WHERE p.personal_id = c.holder_id))
   OR (c.holder_type = 'enterprise'
       AND NOT EXISTS (SELECT 1 FROM {business_registry} AS b WHERE b.enterprise_code = c.holder_id))
