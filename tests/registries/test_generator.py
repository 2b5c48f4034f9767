"""The population generator: ID structure, name frequencies, households, residence eras,
determinism, and defects that are exactly what `_defect` says they are."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections import Counter
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registries import admin_units
from registries.population.defects import DEFECT_KINDS, defect_counts
from registries.population.generator import PUBLIC_COLUMNS, generate_population
from tests.province_codes import ID_PREFIXES
from tests.registries.conftest import AS_OF, SEED, SIZE

VALID_PREFIXES = ID_PREFIXES
CODES_2025 = set(admin_units.commune_codes("2025"))
CODES_2004 = set(admin_units.commune_codes("2004"))
CA_MAU_2025 = {c for c, _, _ in admin_units.communes("2025", ["96"])}
CA_MAU_2004 = {c for c, _, _ in admin_units.communes("2004", ["95", "96"])}


def rows(table: pa.Table, defect: str | None = None) -> list[dict]:
    mask = pc.is_null(table["_defect"]) if defect is None else pc.equal(table["_defect"], defect)
    return table.filter(mask).to_pylist()


def id_problem(row: dict) -> str | None:
    """Why a personal ID breaks the structure rules for its row (None when it is fine)."""
    pid, sex, dob = row["personal_id"], row["sex"], row["date_of_birth"]
    if not re.fullmatch(r"[0-9]{12}", pid):
        return "format"
    if pid[:3] not in VALID_PREFIXES:
        return "province"
    year = int(dob[:4])
    century_sex = int(pid[3])
    if 1900 + (century_sex // 2) * 100 != year // 100 * 100 or int(pid[4:6]) != year % 100:
        return "year"
    if (century_sex % 2 == 1) != (sex == "Nữ"):
        return "sex"
    return None


def test_schema_and_size(population: pa.Table) -> None:
    assert population.num_rows == SIZE
    assert population.column_names == [*PUBLIC_COLUMNS, "_defect", "_seq"]
    assert all(population.schema.field(c).type == pa.string() for c in PUBLIC_COLUMNS)
    assert population["_seq"].to_pylist() == list(range(1, SIZE + 1))


def test_clean_rows_follow_the_rules(population_20k: pa.Table) -> None:
    clean = rows(population_20k)
    as_of = date.fromisoformat(AS_OF)
    for row in clean:
        assert id_problem(row) is None, row
        assert row["sex"] in ("Nam", "Nữ")
        assert unicodedata.is_normalized("NFC", row["full_name"])
        assert len(row["full_name"].split()) >= 3
        assert re.fullmatch(r"HK[0-9]{10}", row["household_id"])
        dob = date.fromisoformat(row["date_of_birth"])
        assert 0 <= (as_of - dob).days <= 96 * 366
        assert row["updated_at"] < "2026-11-01T00:00:00Z"
        assert row["updated_at"] >= "2023-11-01T00:00:00Z"
        assert row["updated_at"][:10] >= row["date_of_birth"]
        if row["status"] == "Đã mất":
            assert row["date_of_birth"] <= row["date_of_death"] <= row["updated_at"][:10]
        else:
            assert row["status"] == "Còn sống" and row["date_of_death"] is None
        if row["residence_code_era"] == "2025":
            assert row["residence_commune_code"] in CA_MAU_2025
        else:
            assert row["residence_code_era"] == "2004"
            assert row["residence_commune_code"] in CA_MAU_2004
    ids = [r["personal_id"] for r in clean]
    assert len(set(ids)) == len(ids)


def test_family_names_follow_real_frequencies(population_20k: pa.Table) -> None:
    names = [r["full_name"].split()[0] for r in rows(population_20k)]
    share = {k: v / len(names) * 100 for k, v in Counter(names).items()}
    expected = {
        "Nguyễn": 38,
        "Trần": 11,
        "Lê": 9.5,
        "Phạm": 7,
        "Phan": 4.5,
        "Đặng": 2,
        "Bùi": 2,
        "Đỗ": 1.4,
        "Hồ": 1.3,
        "Ngô": 1.3,
        "Dương": 1,
        "Lý": 0.5,
    }
    for name, pct in expected.items():
        assert abs(share.get(name, 0) - pct) < max(1.5, pct * 0.12), (name, share.get(name))
    assert abs(share["Hoàng"] + share["Huỳnh"] - 5) < 1.2
    assert abs(share["Vũ"] + share["Võ"] - 4) < 1.2
    assert len(share) > 40  # the rest spread over other real family names


def test_households_ethnicity_and_eras(population_20k: pa.Table) -> None:
    clean = rows(population_20k)
    members: dict[str, list[str]] = {}
    for r in population_20k.to_pylist():
        if r["_defect"] == "duplicate":
            continue
        members.setdefault(r["household_id"], []).append(r["relation_to_head"])
    assert all(1 <= len(m) <= 7 for m in members.values())
    assert all(m.count("Chủ hộ") == 1 for m in members.values())
    eras = Counter(r["residence_code_era"] for r in clean)
    assert 0.80 < eras["2025"] / len(clean) < 0.90
    ethnicity = Counter(r["ethnicity"] for r in clean)
    assert 0.80 < ethnicity["Kinh"] / len(clean) < 0.92
    assert {"Khmer", "Hoa"} <= set(ethnicity)
    prefixes = Counter(r["personal_id"][:3] for r in clean)
    home = (prefixes["096"] + prefixes["095"]) / len(clean)
    assert 0.92 < home < 0.97
    assert any(p[0] != "0" for p in prefixes)  # some births registered abroad
    ages = [2026 - int(r["date_of_birth"][:4]) for r in clean]
    assert min(ages) == 0 and 85 <= max(ages) <= 96
    assert sum(a < 15 for a in ages) > sum(a >= 65 for a in ages)  # a pyramid, not a column
    assert 0.005 < sum(r["status"] == "Đã mất" for r in clean) / len(clean) < 0.05


def test_same_seed_same_table_other_seed_other_table(population: pa.Table) -> None:
    assert generate_population(SIZE, SEED, as_of=AS_OF).equals(population)
    assert not generate_population(SIZE, SEED + 1, as_of=AS_OF).equals(population)


def test_defect_counts_match_the_labels(population: pa.Table) -> None:
    expected = defect_counts(SIZE, 0.03)
    assert sum(expected.values()) == 60
    labels = Counter(population["_defect"].to_pylist())
    assert labels.pop(None) == SIZE - 60
    assert labels == {k: v for k, v in expected.items() if v}
    assert set(labels) == set(DEFECT_KINDS)


def _iconv(data: bytes, source: str, target: str) -> bytes:
    return subprocess.run(
        ["iconv", "-f", source, "-t", target], input=data, capture_output=True, check=True
    ).stdout


def test_name_defects(population: pa.Table) -> None:
    for row in rows(population, "name_nfd"):
        name = row["full_name"]
        assert name != unicodedata.normalize("NFC", name)
        assert unicodedata.is_normalized("NFD", name)
    for row in rows(population, "name_tcvn3"):
        # Undo the cp1252 reading, decode as TCVN3 with iconv: the clean NFC name comes back.
        raw = bytes(ord(ch) if ord(ch) < 256 else ch.encode("cp1252")[0] for ch in row["full_name"])
        back = _iconv(raw, "TCVN5712-1", "UTF-8").decode()
        assert back != row["full_name"] and unicodedata.is_normalized("NFC", back)
        assert re.fullmatch(r"\w+( \w+){2,}", back)
    for row in rows(population, "name_vni"):
        assert re.search("[øùûõïâàáåãäêèéúüëôöñìíæóòîÂÊÔÖÑ]", row["full_name"]), row


def test_id_and_record_defects(population: pa.Table) -> None:
    for row in rows(population, "id_bad_format"):
        assert id_problem(row) == "format"
    for row in rows(population, "id_bad_province"):
        assert id_problem(row) == "province"
    for row in rows(population, "id_inconsistent"):
        assert id_problem(row) in ("year", "sex")
    ids = Counter(population["personal_id"].to_pylist())
    for row in rows(population, "duplicate"):
        assert ids[row["personal_id"]] == 2
        twin = [
            r
            for r in population.to_pylist()
            if r["personal_id"] == row["personal_id"] and r["_defect"] is None
        ]
        assert len(twin) == 1 and twin[0]["full_name"] == row["full_name"]
    for row in rows(population, "dob_impossible"):
        text = row["date_of_birth"]
        try:
            dob = date.fromisoformat(text)
        except ValueError:
            continue  # 2023-02-30 and the like
        assert dob > date.fromisoformat(AS_OF) or dob.year < 1900
    for row in rows(population, "missing_field"):
        assert sum(row[c] is None for c in ("full_name", "sex", "date_of_birth")) == 1
    for row in rows(population, "wrong_era"):
        code, era = row["residence_commune_code"], row["residence_code_era"]
        labelled, other = (CODES_2025, CODES_2004) if era == "2025" else (CODES_2004, CODES_2025)
        assert code not in labelled and code in other
    for row in rows(population, "sex_invalid"):
        assert row["sex"] not in ("Nam", "Nữ", None)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(min_value=1, max_value=3000),
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([0.0, 0.01, 0.03, 0.2, 0.5]),
)
def test_any_size_and_seed(size: int, seed: int, rate: float) -> None:
    table = generate_population(size, seed, defect_rate=rate, as_of=AS_OF)
    assert table.num_rows == size
    clean = rows(table)
    ids = [r["personal_id"] for r in clean]
    assert len(set(ids)) == len(ids)
    assert all(id_problem(r) is None for r in clean)
    counts = Counter(table["_defect"].to_pylist())
    assert all(counts.get(k, 0) == v for k, v in defect_counts(size, rate).items())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="defect_rate"):
        generate_population(100, 1, defect_rate=0.9)
    with pytest.raises(ValueError, match="size"):
        generate_population(0, 1)
    with pytest.raises(ValueError, match="2025 province"):
        generate_population(100, 1, province_code="95")  # Bạc Liêu no longer exists


def test_other_provinces() -> None:
    table = generate_population(3000, 3, as_of=AS_OF, province_code="79")
    clean = rows(table)
    hcm_2025 = {c for c, _, _ in admin_units.communes("2025", ["79"])}
    assert all(r["residence_commune_code"] in hcm_2025 for r in clean if r["residence_code_era"] == "2025")
    assert Counter(r["personal_id"][:3] for r in clean).most_common(1)[0][0] in ("074", "077", "079")
