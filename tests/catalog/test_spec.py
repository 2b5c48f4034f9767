"""Dataset specs load into typed models; a bad spec fails with file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.spec import SpecError, get_spec, load_spec, load_specs


def _write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _population_dict() -> dict:
    return yaml.safe_load(get_spec("population").path.read_text("utf-8"))


def test_every_shipped_spec_loads():
    specs = load_specs()
    assert "population" in {s.id for s in specs}
    for spec in specs:
        assert spec.primary_key and spec.columns
        assert spec.title.vi and spec.title.en


def test_population_spec_classifies_personal_columns():
    spec = get_spec("population")
    assert "personal_id" in spec.personal_columns
    assert spec.column("residence_commune_code").classification == "public"
    assert spec.column("full_name").normalize == "nfc"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(primary_key=["nope"]), "primary_key: 'nope' is not a declared column"),
        (lambda d: d["columns"][0].update(type="decimal"), "columns.0.type"),
        (lambda d: d["columns"][1].update(classification="secret"), "columns.1.classification"),
        (lambda d: d["columns"].append(dict(d["columns"][0])), "duplicate column names"),
        (lambda d: d["quality"]["checks"][0].update(columns=["ghost"]), "column 'ghost' is not declared"),
        (lambda d: d.pop("owner"), "owner: Field required"),
        (lambda d: d.update(unexpected_key=1), "unexpected_key: Extra inputs are not permitted"),
        (lambda d: d["quality"].update(max_quarantine_rate=2), "quality.max_quarantine_rate"),
    ],
)
def test_invalid_spec_names_file_key_and_problem(tmp_path, mutate, expected):
    data = _population_dict()
    mutate(data)
    path = _write(tmp_path, "population", data)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_id_must_match_file_name(tmp_path):
    path = _write(tmp_path, "people", _population_dict())
    with pytest.raises(SpecError, match="must match the file name 'people'"):
        load_spec(path)


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="no such dataset spec"):
        load_spec(tmp_path / "absent.yaml")


def test_unknown_rule_is_reported_with_the_known_ones_when_the_spec_loads(tmp_path):
    data = _population_dict()
    data["quality"]["checks"].append({"rule": "telepathy", "column": "sex"})
    with pytest.raises(SpecError, match=r"quality.checks.10.rule: unknown rule 'telepathy'; "
                                        r"known rules: .*not_null"):
        load_spec(_write(tmp_path, "population", data))


def test_unknown_connector_is_reported_when_the_spec_loads(tmp_path):
    data = _population_dict()
    data["source"]["connector"] = "carrier_pigeon"
    with pytest.raises(SpecError, match="source.connector: unknown transport 'carrier_pigeon'; "
                                        "available: .*rest"):
        load_spec(_write(tmp_path, "population", data))


def test_dependency_order_puts_inputs_and_references_first(tmp_path):
    from catalog.spec import in_dependency_order

    base = _population_dict()
    linked = {**base, "id": "linked", "source": {"connector": "derived", "inputs": ["zeta"],
                                                  "params": {"sql": "SELECT 1"}}}
    zeta = {**base, "id": "zeta"}
    zeta["quality"] = {**base["quality"], "checks": base["quality"]["checks"] + [
        {"rule": "exists_in", "column": "personal_id", "dataset": "population",
         "severity": "warn"}]}
    paths = [_write(tmp_path, d["id"], d) for d in (linked, zeta, base)]
    specs = [load_spec(p) for p in paths]
    assert [s.id for s in in_dependency_order(specs)] == ["population", "zeta", "linked"]
    cyclic = {**base, "source": {"connector": "derived", "inputs": ["linked"], "params": {}}}
    specs[2] = load_spec(_write(tmp_path, "population", cyclic))
    zeta["quality"]["checks"].pop()
    specs[1] = load_spec(_write(tmp_path, "zeta", {**zeta, "source": {
        "connector": "derived", "inputs": ["population"], "params": {}}}))
    with pytest.raises(SpecError, match="cycle: linked -> zeta -> population -> linked"):
        in_dependency_order(specs)
