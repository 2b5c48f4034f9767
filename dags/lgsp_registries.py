"""One Airflow DAG per dataset spec in catalog/datasets (see lgsp/dag_factory.py)."""

from lgsp.dag_factory import build_dags

globals().update(build_dags())
