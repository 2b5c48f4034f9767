"""SQLite says "unable to open database file" and names no file: the Iceberg catalog's and
Airflow's metadata database errors name the database file and the likely cause."""

from __future__ import annotations

import pytest

from lgsp.config import Settings
from warehouse.iceberg import CatalogUnavailable, load_catalog


def test_a_catalog_database_in_a_missing_folder_is_named(tmp_path):
    path = tmp_path / "gone" / "catalog.db"
    settings = Settings(home=tmp_path / "home", specs_dir=tmp_path, catalog_uri=f"sqlite:///{path}")
    with pytest.raises(CatalogUnavailable) as err:
        load_catalog(settings)
    message = str(err.value)
    assert f"cannot open the Iceberg catalog database {path}: unable to open database file" in message
    assert f"its folder {path.parent} does not exist" in message


def test_a_catalog_path_that_is_a_folder_is_named(tmp_path):
    path = tmp_path / "catalog.db"
    path.mkdir()
    settings = Settings(home=tmp_path / "home", specs_dir=tmp_path, catalog_uri=f"sqlite:///{path}")
    with pytest.raises(CatalogUnavailable, match=f"cannot open the Iceberg catalog database {path}"):
        load_catalog(settings)


def test_airflow_metadata_database_that_cannot_be_opened_is_named(tmp_path):
    from lgsp.airflow_env import AirflowHomeError, migrate

    settings = Settings(home=tmp_path / "home", specs_dir=tmp_path)
    db = settings.airflow_home / "airflow.db"
    db.mkdir(parents=True)
    with pytest.raises(AirflowHomeError, match=f"Airflow's metadata database {db} is not a file"):
        migrate(settings)
