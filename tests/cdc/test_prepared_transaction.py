"""Issue 11 case 1 with two-phase commit: a prepared transaction has left pg_stat_activity
but can still commit rows stamped at its start; the timestamp connector's safe bound must not
pass it (on the tests' own server, which allows prepared transactions)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from lgsp import pipeline
from registries.land.database import LandDatabase
from tests.land.conftest import spec_for
from tests.land.test_no_change_lost import _clean, _curated, assert_mirrors


@pytest.fixture
def pg2(logical_server, land_data):
    db = LandDatabase(f"lgsp_2pc_{uuid.uuid4().hex[:10]}", "postgresql", server=logical_server)
    db.load(land_data)
    yield db
    db.drop()


def test_a_prepared_transaction_committing_late_is_not_lost(pg2, land_data, settings):
    db = pg2
    spec = spec_for("land_parcels", db, batch_rows=250)
    pipeline.run_dataset(spec, settings, use_gx=False)
    (updated,) = _clean(db, land_data, 1)
    gid = f"lgsp-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db.dsn, autocommit=True) as con:
        con.execute("BEGIN")
        con.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                    "updated_at = now() WHERE parcel_id = %s", (updated,))
        con.execute(f"PREPARE TRANSACTION '{gid}'")
    pipeline.run_dataset(spec, settings, use_gx=False)  # while it is prepared
    with psycopg.connect(db.dsn, autocommit=True) as con:
        con.execute(f"COMMIT PREPARED '{gid}'")
    pipeline.run_dataset(spec, settings, use_gx=False)
    assert _curated(settings)[updated][0] == "ODT"
    assert_mirrors(db, settings, land_data)
