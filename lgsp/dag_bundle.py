"""The Airflow DAG bundle of the platform: the DAGs folder, kept in step with the specs.

A LocalDagBundle whose initialize() and refresh() (called by the DAG processor every
`refresh_interval`) first write one DAG file per spec (lgsp.dag_files), so a spec added to
or removed from the specs folder adds or removes its DAG while Airflow runs.
Configured in lgsp.airflow_env (embedded default) and docker-compose.yml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.dag_processing.bundles.local import LocalDagBundle

from lgsp.dag_files import write_dag_files


class SpecDagBundle(LocalDagBundle):
    def __init__(self, *, specs_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from lgsp.config import Settings

        self.specs_dir = Path(specs_dir) if specs_dir else Settings.from_env().specs_dir

    def _write(self) -> None:
        write_dag_files(self.specs_dir, Path(self.path))

    def initialize(self) -> None:
        self._write()
        super().initialize()

    def refresh(self) -> None:
        self._write()
        super().refresh()


__all__ = ["SpecDagBundle"]
