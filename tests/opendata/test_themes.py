"""Themes come from the spec: `theme:` (an EU data-theme URI or its code) is checked when the
spec loads - a dataset spec or an indicator spec - with an error naming the file and the key;
the catalogue files the dataset under it, CKAN shows it as the package's group and group_list,
DCAT as dcat:theme with the EU vocabulary's URI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from rdflib import URIRef
from rdflib.namespace import DCAT
from sqlalchemy import select

from catalog import catalogue
from catalog.spec import DATASETS_DIR, SpecError, get_spec, load_spec
from control import db
from control.models import CatalogDataset
from lgsp.config import Settings
from opendata import ckan, dcat
from opendata.indicators import SPECS_DIR, load_indicator
from opendata.vocabularies import EU_THEME, THEME_TITLES, theme_code, theme_problem


def _copy_with(tmp_path: Path, source: Path, **changes: object) -> Path:
    data = yaml.safe_load(source.read_text("utf-8"))
    data.update(changes)
    target = tmp_path / source.name
    target.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return target


def test_a_dataset_spec_with_an_unknown_theme_is_refused_naming_file_and_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for path in DATASETS_DIR.glob("*.yaml"):  # the specs of the other datasets it names
        (tmp_path / path.name).write_text(path.read_text("utf-8"), "utf-8")
    bad = _copy_with(tmp_path, DATASETS_DIR / "land_parcels.yaml",
                     theme=EU_THEME.replace("data-theme", "datatheme") + "REGI")
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    assert str(bad) in str(err.value) and "theme: " in str(err.value)
    assert "is not an EU data theme" in str(err.value)
    good = _copy_with(tmp_path, DATASETS_DIR / "land_parcels.yaml", theme="ENVI")
    assert theme_code(load_spec(good).theme) == "ENVI"


def test_an_indicator_spec_with_an_unknown_theme_is_refused_naming_file_and_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = _copy_with(tmp_path, SPECS_DIR / "population_by_commune_sex_age.yaml", theme="Dân số")
    with pytest.raises(SpecError, match=r"population_by_commune_sex_age\.yaml: theme: 'Dân số'"):
        load_indicator(bad)


def test_every_shipped_spec_declares_its_theme() -> None:
    for path in DATASETS_DIR.glob("*.yaml"):
        assert get_spec(path.stem).theme, path
    for path in SPECS_DIR.glob("*.yaml"):
        assert load_indicator(path).theme, path


@given(st.text(max_size=40))
def test_theme_check_accepts_exactly_the_vocabulary(value: str) -> None:
    code = value[len(EU_THEME):] if value.startswith(EU_THEME) else value
    assert (theme_problem(value) is None) == (code in THEME_TITLES)
    assert theme_problem(EU_THEME + value) is None or value not in THEME_TITLES


def test_the_spec_theme_reaches_ckan_groups_and_dcat(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    settings = Settings.from_env()
    spec = get_spec("land_parcels").model_copy(update={"theme": EU_THEME + "ENVI"})
    catalogue.sync_dataset(spec, settings)
    with db.session(settings) as s:
        entry = s.scalars(select(CatalogDataset).where(CatalogDataset.id == "land_parcels")).one()
        s.expunge(entry)
    assert entry.theme == "ENVI"
    package = ckan.package_dict(settings, "http://x", entry)
    assert [g["name"] for g in package["groups"]] == ["envi"]
    assert package["groups"][0]["theme_uri"] == EU_THEME + "ENVI"
    assert package["groups"][0]["title"] == THEME_TITLES["ENVI"][0]
    graph = dcat.catalog_graph(settings, "http://x")
    assert URIRef(EU_THEME + "ENVI") in set(graph.objects(None, DCAT.theme))
    assert URIRef(EU_THEME + "GOVE") not in set(graph.objects(None, DCAT.theme))
