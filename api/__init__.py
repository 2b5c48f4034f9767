"""The agency API: registered clients and their credentials (`clients`), grants to the column
and the row and the one function that resolves them (`grants`), the hash-chained audit log
(`audit`, group-committed by `audit_writer`). Rules live in plain functions over the control
database; routes and CLI commands only call them.

Reads answer from a store chosen per request (`data.source`): the SQLite serving copy of the
current snapshot (`serving`, the default: DuckDB cannot do 1,500 point lookups/s on two
cores), an indexed PostgreSQL copy when LGSP_API_STORE_URI is set (`pg_copy`), or DuckDB
over the snapshot's Parquet for `as_of`, bulk and while a copy builds; `dialects` spells the
grant's masks and row scope for each engine. Tokens, clients and decisions are cached per
worker and invalidated by the control-plane version (`auth_cache`, `control_version`).
"""
