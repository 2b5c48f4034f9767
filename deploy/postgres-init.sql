-- Databases of an LGSP deployment besides Airflow's own (created by POSTGRES_DB).
CREATE DATABASE iceberg_catalog OWNER lgsp;
