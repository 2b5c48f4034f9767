"""Open indicators from real curated tables: the population registry (simulated, over HTTP,
through the real pipeline) and the business registry. The published files are attacked by
the independent adversary of test_suppression (no suppressed cell recovered); published
counts and totals equal counts computed here from the curated rows (ages in Python); no
personal value leaves; an indicator grouping by a personal or sensitive column is refused
naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from catalog.spec import get_spec
from lgsp import pipeline
from lgsp.config import Settings
from opendata.classification import ClassificationError
from opendata.exports import current_distributions
from opendata.indicators import SPECS_DIR, build_indicator, check_indicator, load_indicator
from tests.opendata.conftest import Published
from tests.opendata.test_suppression import adversary
from tests.pipeline.conftest import TOKEN, registry  # noqa: F401 - fixture
from warehouse.query import snapshot_files

AGE_BOUNDS = [0, 6, 15, 25, 40, 60]


def _age_group(dob: date, ref: date) -> str:
    age = ref.year - dob.year - ((ref.month, ref.day) < (dob.month, dob.day))
    lower = max(b for b in AGE_BOUNDS if b <= age)
    i = AGE_BOUNDS.index(lower)
    return f"{lower}+" if i == len(AGE_BOUNDS) - 1 else f"{lower}-{AGE_BOUNDS[i + 1] - 1}"


def _published(settings: Settings, dataset: str) -> list[dict]:  # type: ignore[type-arg]
    (parquet,) = [d for d in current_distributions(settings, dataset) if d.format == "parquet"]
    return pq.read_table(settings.home / parquet.path).to_pylist()


def _attack(records: list[dict], dims: list[str], measure: str, truth: dict) -> dict:  # type: ignore[type-arg]
    """Run the adversary on what was published; return the recovered cells."""
    row_dim, col_dims = dims[0], dims[1:]
    cells = [r for r in records if r[row_dim] != "total" and r[col_dims[0]] != "total"]
    rows = sorted({r[row_dim] for r in cells})
    cols = sorted({tuple(r[d] for d in col_dims) for r in cells})
    published = {(r[row_dim], tuple(r[d] for d in col_dims)): r[measure] for r in cells
                 if not r["suppressed"]}
    suppressed = {(r[row_dim], tuple(r[d] for d in col_dims)) for r in cells if r["suppressed"]}
    row_totals = {r[row_dim]: r[measure] for r in records if r[row_dim] != "total"
                  and r[col_dims[0]] == "total" and not r["suppressed"]}
    col_totals = {tuple(r[d] for d in col_dims): r[measure] for r in records
                  if r[row_dim] == "total" and r[col_dims[0]] != "total" and not r["suppressed"]}
    grand = [r[measure] for r in records if r[row_dim] == "total" and r[col_dims[0]] == "total"
             and not r["suppressed"]]
    ranges = adversary(published, row_totals, col_totals, grand[0] if grand else None, rows,
                       cols, suppressed)
    for cell, (lo, hi) in ranges.items():
        assert lo - 1e-6 <= truth.get(cell, 0) <= hi + 1e-6
    return {cell: r for cell, r in ranges.items() if r[1] - r[0] < 1 - 1e-6}


@pytest.fixture(scope="module")
def population_home(registry, tmp_path_factory) -> Settings:  # type: ignore[no-untyped-def]  # noqa: F811
    home = tmp_path_factory.mktemp("indicators") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("LGSP_HOME", str(home))
    mp.setenv("LGSP_POPULATION_URL", registry.base_url)
    mp.setenv("LGSP_POPULATION_TOKEN", TOKEN)
    settings = Settings.from_env()
    summary = pipeline.run_dataset(get_spec("population"), settings, use_gx=False)
    assert not summary.blocked
    yield settings
    mp.undo()


def test_population_indicator_protects_and_adds_up(population_home: Settings) -> None:
    settings = population_home
    ind = load_indicator(SPECS_DIR / "population_by_commune_sex_age.yaml")
    manifest = build_indicator(ind, settings)
    ref = date.fromisoformat(manifest.snapshot_at[:10])
    files = snapshot_files(settings, "curated", "population")
    con = duckdb.connect()
    people = con.execute(
        "SELECT residence_commune_code, sex, date_of_birth, personal_id FROM read_parquet(?) "
        "WHERE status = 'Còn sống'", [files]).fetchall()
    truth = Counter((c, (s, _age_group(d, ref))) for c, s, d, _ in people)
    records = _published(settings, ind.id)
    dims = ["commune_code", "sex", "age_group"]
    cells = [r for r in records if "total" not in (r["commune_code"], r["sex"])]
    assert any(r["suppressed"] for r in cells)  # the simulated communes have small cells
    for r in cells:
        if not r["suppressed"]:
            assert r["people"] == truth.get((r["commune_code"], (r["sex"], r["age_group"])), 0)
        else:
            assert r["people"] is None
    for r in cells:  # every small count is hidden
        n = truth.get((r["commune_code"], (r["sex"], r["age_group"])), 0)
        if 0 < n < ind.threshold:
            assert r["suppressed"]
    by_commune = Counter(c for c, *_ in people)
    for r in records:
        if r["commune_code"] != "total" and r["sex"] == "total" and not r["suppressed"]:
            assert r["people"] == by_commune[r["commune_code"]]
    (grand,) = [r for r in records if r["commune_code"] == r["sex"] == "total"]
    assert grand["people"] == len(people)
    assert _attack(records, dims, "people", truth) == {}
    text = " ".join(str(v) for r in records for v in r.values())
    assert not [p for *_, p in people if p in text]


def test_enterprise_indicator_over_the_business_registry(business_home: Published) -> None:
    settings = business_home.settings
    ind = load_indicator(SPECS_DIR / "enterprises_by_commune_status.yaml")
    manifest = build_indicator(ind, settings)
    folder = (settings.home / manifest.files[0].path).parent
    check = subprocess.run([str(Path(sys.executable).parent / "frictionless"), "validate", "--json",
                            "datapackage.json"], cwd=folder, capture_output=True, text=True,
                           timeout=300)
    assert json.loads(check.stdout)["valid"], check.stdout[:3000]  # empty (suppressed) counts too
    files = snapshot_files(settings, "curated", "business_registry")
    rows = duckdb.connect().execute("SELECT commune_code, status_code FROM read_parquet(?)",
                                    [files]).fetchall()
    truth = Counter((c, (s if s in [f"0{i}" for i in range(8)] else "other",)) for c, s in rows)
    records = _published(settings, ind.id)
    assert _attack(records, ["commune_code", "status_code"], "enterprises", truth) == {}
    (grand,) = [r for r in records if r["commune_code"] == r["status_code"] == "total"]
    assert grand["enterprises"] == len(rows)
    for r in records:
        if "total" not in (r["commune_code"], r["status_code"]) and not r["suppressed"]:
            assert r["enterprises"] == truth.get((r["commune_code"], (r["status_code"],)), 0)
    # the sector indicator is linked (same enterprises, same communes): built with it, right
    # where published, and both tables together give the adversary no suppressed cell
    sector = load_indicator(SPECS_DIR / "enterprises_by_commune_sector.yaml")
    by_sector = _published(settings, sector.id)
    codes = duckdb.connect().execute("SELECT commune_code, sector_code FROM read_parquet(?)",
                                     [files]).fetchall()
    ranges = {k: v.split("-") for k, v in sector.columns[0].code_ranges.items()}  # type: ignore[union-attr]
    section = {s: next((k for k, (lo, hi) in ranges.items() if lo <= s[:2] <= hi), "other")
               for _, s in codes}
    sector_truth = Counter((c, (section[s],)) for c, s in codes)
    assert len({section[s] for _, s in codes}) > 3  # the registry spans several sections
    for r in by_sector:
        if "total" not in (r["commune_code"], r["sector_section"]) and not r["suppressed"]:
            assert r["enterprises"] == sector_truth.get((r["commune_code"], (r["sector_section"],)), 0)
    from tests.opendata.test_suppression import linked_adversary

    both = [_parse(records, ["commune_code", "status_code"], "enterprises"),
            _parse(by_sector, ["commune_code", "sector_section"], "enterprises")]
    joint = linked_adversary(both, [(0, 1, lambda cell: cell[0], lambda cell: cell[0])])
    assert {x: r for x, r in joint.items() if r[1] - r[0] < 1 - 1e-6} == {}


def test_grouping_by_personal_or_sensitive_columns_is_refused() -> None:
    population = get_spec("population")
    ind = load_indicator(SPECS_DIR / "population_by_commune_sex_age.yaml")
    by_id = ind.model_copy(update={"rows": ind.rows.model_copy(update={"column": "personal_id"})})
    with pytest.raises(ClassificationError, match="'personal_id'"):
        check_indicator(by_id, population)
    ethnic = ind.model_copy(update={"columns": [ind.columns[0].model_copy(
        update={"column": "ethnicity", "name": "ethnicity"})]})
    with pytest.raises(ClassificationError, match="'ethnicity' is sensitive-personal"):
        check_indicator(ethnic, population)
    raw_sex = ind.model_copy(update={"columns": [ind.columns[0].model_copy(
        update={"categories": None})]})
    with pytest.raises(ClassificationError, match="'sex' is personal"):
        check_indicator(raw_sex, population)
    check_indicator(ind, population)  # the shipped spec is allowed


def test_coverage_indicator_counts_valid_cards_per_commune_and_age(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Over a Parquet file shaped like person_linked (written here): the yes/no coverage
    dimension of a sensitive column is allowed, the counts are right, nothing recoverable."""
    import random

    from opendata.indicators import compute_table, table_records

    ind = load_indicator(SPECS_DIR / "insurance_coverage_by_commune_age.yaml")
    source = get_spec("person_linked")
    check_indicator(ind, source)
    ref = date(2026, 11, 1)
    rng = random.Random(3)
    people = [(f"3{rng.randint(0, 11):04d}", date(rng.randint(1940, 2025), rng.randint(1, 12), 1),
               rng.choice([None, date(2026, 12, 31), date(2025, 1, 1), ref]),
               rng.choice(["Còn sống"] * 9 + ["Đã mất"])) for _ in range(3000)]
    path = tmp_path / "person_linked.parquet"
    con = duckdb.connect()
    con.execute("CREATE TABLE p (residence_commune_code VARCHAR, date_of_birth DATE, "
                "health_card_valid_to DATE, status VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?, ?, ?)", people)
    con.execute(f"COPY p TO '{path}' (FORMAT parquet)")
    t = compute_table(ind, source, [str(path)], ref)
    truth = Counter((c, (_age_group(d, ref), "valid" if v and v >= ref else "none"))
                    for c, d, v, s in people if s == "Còn sống")
    records = table_records(ind, t).to_pylist()
    dims = ["commune_code", "age_group", "health_card"]
    for r in records:
        if "total" not in (r["commune_code"], r["age_group"]) and not r["suppressed"]:
            assert r["people"] == truth.get((r["commune_code"], (r["age_group"], r["health_card"])), 0)
    assert _attack(records, dims, "people", truth) == {}
    sensitive_row = ind.model_copy(update={"rows": ind.rows.model_copy(
        update={"column": "health_card_valid_to"})})
    with pytest.raises(ClassificationError, match="'health_card_valid_to' is sensitive-personal"):
        check_indicator(sensitive_row, source)


def _parse(records: list[dict], dims: list[str], measure: str) -> dict:  # type: ignore[type-arg]
    """What an attacker reads from one published indicator (the adversary's input)."""
    row_dim, col_dims = dims[0], dims[1:]

    def col(r: dict) -> tuple:  # type: ignore[type-arg]
        return tuple(r[d] for d in col_dims)

    cells = [r for r in records if r[row_dim] != "total" and r[col_dims[0]] != "total"]
    grand = [r[measure] for r in records if r[row_dim] == "total" and r[col_dims[0]] == "total"
             and not r["suppressed"]]
    return {"rows": sorted({r[row_dim] for r in cells}), "cols": sorted({col(r) for r in cells}),
            "published": {(r[row_dim], col(r)): r[measure] for r in cells if not r["suppressed"]},
            "suppressed": {(r[row_dim], col(r)) for r in cells if r["suppressed"]},
            "row_totals": {r[row_dim]: r[measure] for r in records if r[row_dim] != "total"
                           and r[col_dims[0]] == "total" and not r["suppressed"]},
            "col_totals": {col(r): r[measure] for r in records if r[row_dim] == "total"
                           and r[col_dims[0]] != "total" and not r["suppressed"]},
            "grand": grand[0] if grand else None}


def _linked_people_tables(tmp_path: Path, people: list[tuple], ref: date):  # type: ignore[no-untyped-def,type-arg]
    """(population indicator, coverage indicator, their unsuppressed tables) over `people`
    (commune, sex, birth date, card valid to, status) written as one Parquet file."""
    from opendata.indicators import compute_table, load_indicators

    every = load_indicators()
    population = next(i for i in every if i.id == "population_by_commune_sex_age")
    coverage = next(i for i in every if i.id == "insurance_coverage_by_commune_age")
    con = duckdb.connect()
    con.execute("CREATE TABLE p (residence_commune_code VARCHAR, sex VARCHAR, date_of_birth DATE, "
                "health_card_valid_to DATE, status VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?, ?, ?, ?)", people)
    con.execute(f"COPY p TO '{tmp_path / 'people.parquet'}' (FORMAT parquet)")
    files = [str(tmp_path / "people.parquet")]
    return population, coverage, [compute_table(population, get_spec("population"), files, ref),
                                  compute_table(coverage, get_spec("person_linked"), files, ref)]


def _attack_linked(population, coverage, tables):  # type: ignore[no-untyped-def]
    """The published tables as parsed back, and the adversary's range for every suppressed
    cell, holding both tables and their agreement on commune x age."""
    from opendata.indicators import table_records
    from tests.opendata.test_suppression import linked_adversary

    published = [_parse(table_records(population, tables[0]).to_pylist(),
                        ["commune_code", "sex", "age_group"], "people"),
                 _parse(table_records(coverage, tables[1]).to_pylist(),
                        ["commune_code", "age_group", "health_card"], "people")]
    link = (0, 1, lambda cell: (cell[0], cell[1][1]), lambda cell: (cell[0], cell[1][0]))
    return published, linked_adversary(published, [link])


def test_population_and_coverage_are_suppressed_together(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The population (commune x sex x age) and coverage (commune x age x card) indicators count
    the same living people: they are linked, suppressed together, and the adversary holding
    both published tables (cells, margins, and their agreement on commune x age) recovers no
    suppressed cell of either."""
    import random

    from opendata.indicators import linked_group, load_indicators, suppress_group

    ref = date(2026, 11, 1)
    rng = random.Random(5)
    people = [(f"3{rng.randint(0, 5):04d}", rng.choice(["Nam", "Nữ"]),
               date(rng.randint(1940, 2025), rng.randint(1, 12), 1),
               rng.choice([None, date(2026, 12, 31), date(2025, 1, 1)]),
               rng.choice(["Còn sống"] * 9 + ["Đã mất"])) for _ in range(600)]
    population, coverage, tables = _linked_people_tables(tmp_path, people, ref)
    every = load_indicators()
    assert [i.id for i in linked_group(population, every)] == [population.id, coverage.id]
    suppress_group([population, coverage], tables)
    published, ranges = _attack_linked(population, coverage, tables)
    assert published[0]["suppressed"] and published[1]["suppressed"]
    recovered = {x: r for x, r in ranges.items() if r[1] - r[0] < 1 - 1e-6}
    assert recovered == {}
    alive = [p for p in people if p[4] == "Còn sống"]
    truth = Counter((c, (s, _age_group(d, ref))) for c, s, d, _, _ in alive)
    for (r, c), v in published[0]["published"].items():
        assert v == truth.get((r, c), 0)


def test_a_linked_group_above_the_old_cap_is_audited_and_protected_jointly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """50 communes of 10 to 150 people: once each table is protected on its own, 480 cells and
    margins are hidden across population and coverage (the joint audit used to be skipped
    above 400) and their agreement on commune x age still pins some down. `suppress_group`
    audits and protects them jointly: the adversary holding both published tables recovers
    no suppressed cell."""
    import random

    from opendata.indicators import links_between, suppress_group
    from opendata.suppression import exposed_linked

    ref = date(2026, 11, 1)
    rng = random.Random(7)
    people = [(f"3{c:04d}", rng.choice(["Nam", "Nữ"]),
               date(rng.randint(1940, 2025), rng.randint(1, 12), 1),
               rng.choice([None, date(2026, 12, 31), date(2025, 1, 1)]),
               rng.choice(["Còn sống"] * 9 + ["Đã mất"]))
              for c in range(50) for _ in range(rng.randint(10, 150))]
    population, coverage, tables = _linked_people_tables(tmp_path, people, ref)
    hidden = sum(len(t.suppressed) + len(t.row_margins_hidden) + len(t.col_margins_hidden)
                 for t in tables)
    assert hidden > 400
    assert exposed_linked(tables, links_between([population, coverage]))  # each alone leaks
    suppress_group([population, coverage], tables)
    _, ranges = _attack_linked(population, coverage, tables)
    assert len(ranges) > 400
    assert {x: r for x, r in ranges.items() if r[1] - r[0] < 1 - 1e-6} == {}


def test_a_refresh_builds_each_linked_group_once(business_home: Published,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The two enterprise indicators are linked: one refresh of the business registry
    suppresses and exports them together once, and reports each once."""
    from opendata import indicators
    from opendata.refresh import refresh_indicators

    exported: list[str] = []
    real = indicators.export_files

    def counting(spec, *args, **kwargs):  # type: ignore[no-untyped-def]
        exported.append(spec.id)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(indicators, "export_files", counting)
    outcomes = refresh_indicators(business_home.spec, business_home.settings)
    mine = sorted(i.id for i in indicators.load_indicators() if i.source == "business_registry")
    assert len(mine) >= 2
    assert sorted(o.dataset for o in outcomes) == mine and {o.status for o in outcomes} == {"exported"}
    assert sorted(exported) == mine  # once each
