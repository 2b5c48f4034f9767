"""Simulated cadastral (land) registry: a seeded PostgreSQL or MariaDB database of parcels and
land-use certificates, with updates and deletes over time."""
