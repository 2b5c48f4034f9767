"""The database connectors (sql, pg_logical) read `dsn`, `table` and `key` through one
parser: a missing parameter names the spec file, a server the transport cannot read is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.spec import load_spec
from connectors.base import ConnectorError
from connectors.pg_logical import PgLogicalConnector
from connectors.sql import SqlConnector

SPEC = Path(__file__).parents[2] / "catalog" / "datasets" / "land_parcels.yaml"


@pytest.mark.parametrize("connector", [SqlConnector, PgLogicalConnector])
def test_missing_table_names_the_spec_file(connector: type) -> None:
    spec = load_spec(SPEC)
    with pytest.raises(ConnectorError, match=r"land_parcels\.yaml: source.params needs 'dsn' and 'table'"):
        connector(spec, {"dsn": "postgresql://postgres@127.0.0.1/x"})


def test_sql_accepts_mariadb_and_postgresql_and_keeps_the_spec_key() -> None:
    spec = load_spec(SPEC)
    maria = SqlConnector(spec, {"dsn": "mysql+pymysql://root@127.0.0.1/land", "table": "parcels"})
    pg = SqlConnector(spec, {"dsn": "postgresql://postgres@127.0.0.1/land", "table": "parcels",
                             "key": ["a", "b"]})
    assert (maria.backend, maria.table, maria.key) == ("mariadb", "parcels", spec.primary_key)
    assert (pg.backend, pg.key) == ("postgresql", ["a", "b"])


@pytest.mark.parametrize(("connector", "dsn"), [(SqlConnector, "sqlite:///x.db"),
                                                (PgLogicalConnector, "mysql+pymysql://root@h/x")])
def test_a_server_the_transport_cannot_read_is_named(connector: type, dsn: str) -> None:
    spec = load_spec(SPEC)
    with pytest.raises(ConnectorError, match=r"source.params.dsn: .* reads .*not '(sqlite|mysql)'"):
        connector(spec, {"dsn": dsn, "table": "t"})
