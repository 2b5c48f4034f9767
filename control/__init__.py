"""The control database: the catalogue (datasets, runs, snapshots, export files) and, in
their own issues, the agency API's clients, grants and audit. One SQLAlchemy metadata, one
Alembic history shipped in this package (`control/migrations`), applied programmatically."""
