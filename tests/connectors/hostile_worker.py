"""The hostile-source suite's worker: extracts run here, in a spawned process under a memory
cap (RLIMIT_AS), so a case that would crash (a segfault), hang or eat memory kills this
worker, never the test runner; the outcome comes back as plain data."""

from __future__ import annotations

import os
import resource
from typing import Any


def limit_memory(cap_bytes: int) -> None:
    """Process initializer: cap the address space, and import the pipeline once."""
    resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
    import lgsp.pipeline  # noqa: F401


def extract(spec_data: dict[str, Any], home: str) -> dict[str, Any]:
    """`pipeline.extract` of the spec; the error's type and message, or the run's rows and
    manifest."""
    os.environ["LGSP_HOME"] = home
    from catalog.spec import DatasetSpec
    from lgsp import pipeline
    from lgsp.config import Settings

    spec = DatasetSpec.model_validate(spec_data)
    try:
        run = pipeline.extract(spec, Settings.from_env())
    except Exception as exc:  # noqa: BLE001 - the outcome is the point
        return {"ok": False, "type": type(exc).__name__, "message": str(exc)}
    return {"ok": True, "rows": run.row_count, "manifest": run.manifest}
