"""Open data: what may leave the province (classification), the export files and their
datapackage.json, the CKAN-compatible Action API, DCAT-AP and open indicators."""
