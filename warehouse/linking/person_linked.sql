-- The once-only view: what the state already knows about each resident, keyed by personal
-- ID across the population, land, business and insurance registries.
WITH land AS (
    SELECT holder_id AS personal_id,
           count(*) AS land_certificates,
           string_agg(DISTINCT parcel_id, ',' ORDER BY parcel_id) AS parcel_ids
    FROM {land_certificates}
    WHERE holder_type = 'person'
    GROUP BY holder_id
),
business AS (
    SELECT owner_personal_id AS personal_id,
           count(*) AS enterprises_owned,
           string_agg(enterprise_code, ',' ORDER BY enterprise_code) AS enterprise_codes
    FROM {business_registry}
    WHERE owner_personal_id IS NOT NULL
    GROUP BY owner_personal_id
),
insurance AS (
    SELECT personal_id,
           arg_max(bhxh_number, updated_at) AS bhxh_number,
           arg_max(employer_code, updated_at) AS employer_code
    FROM {insurance_members}
    WHERE personal_id IS NOT NULL
    GROUP BY personal_id
),
-- The card that stays valid longest (open-ended first), so "no card valid on date D" is
-- health_card_number IS NULL OR health_card_valid_to < D for every D (the gaps definition).
card AS (
    SELECT personal_id,
           card_number AS health_card_number,
           card_valid_to AS health_card_valid_to
    FROM {insurance_members}
    WHERE personal_id IS NOT NULL AND card_number IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY personal_id
                               ORDER BY card_valid_to DESC NULLS FIRST, updated_at DESC,
                                        card_number) = 1
)
SELECT p.personal_id,
       p.full_name,
       p.sex,
       p.date_of_birth,
       p.status,
       p.household_id,
       p.residence_commune_code,
       p.residence_code_era,
       i.bhxh_number,
       c.health_card_number,
       c.health_card_valid_to,
       i.employer_code,
       coalesce(l.land_certificates, 0) AS land_certificates,
       l.parcel_ids,
       coalesce(b.enterprises_owned, 0) AS enterprises_owned,
       b.enterprise_codes,
       concat_ws(',', 'population',
                 CASE WHEN l.personal_id IS NOT NULL THEN 'land' END,
                 CASE WHEN b.personal_id IS NOT NULL THEN 'business' END,
                 CASE WHEN i.personal_id IS NOT NULL THEN 'insurance' END) AS known_to,
       p.updated_at
FROM {population} AS p
LEFT JOIN land AS l USING (personal_id)
LEFT JOIN business AS b USING (personal_id)
LEFT JOIN insurance AS i USING (personal_id)
LEFT JOIN card AS c USING (personal_id)
