"""Quality over time, per dataset and per owner agency, from the publish history and the
gate results each run leaves behind (var/quality/<dataset>/...).

Answers the question the provinces ask ("some agencies do not know the state of their own
data"): for each agency, its datasets, their latest quality score and its trend, and the
checks that fail most, including referential checks against other registries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from catalog.spec import DatasetSpec
from lgsp.config import Settings


@dataclass
class DatasetQuality:
    dataset: str
    owner: str
    runs: int
    latest_score: float | None
    """None when never run or when the latest run had no rows ("no rows", not 100 %)."""
    previous_score: float | None
    """The score of the latest earlier run that had rows."""
    latest_run: str | None
    failing_checks: list[tuple[str, str, int]] = field(default_factory=list)
    """(check, severity, failed rows) of the latest run, worst first."""
    repaired_identifiers: dict[str, int] = field(default_factory=dict)
    """Identifier values of the latest run cleared of noise (spaces, full-width digits)
    before the checks, per column: repaired, not quarantined."""


def _history(settings: Settings, dataset: str) -> list[dict]:
    path = settings.quality_dir / dataset / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def dataset_quality(settings: Settings, spec: DatasetSpec, lang: str = "vi") -> DatasetQuality:
    history = _history(settings, spec.id)
    owner = spec.owner.agency.vi if lang == "vi" else spec.owner.agency.en
    if not history:
        return DatasetQuality(spec.id, owner, 0, None, None, None)
    latest = history[-1]
    gate_path = Path(settings.quality_dir / spec.id / latest["run_id"] / "gate.json")
    failing: list[tuple[str, str, int]] = []
    repaired: dict[str, int] = {}
    if gate_path.exists():
        gate = json.loads(gate_path.read_text("utf-8"))
        failing = sorted(((c["name"], c["severity"], c["failed_rows"]) for c in gate["checks"]
                          if c["failed_rows"]), key=lambda t: -t[2])
        repaired = {k: v for k, v in gate.get("normalised_identifiers", {}).items() if v}
    return DatasetQuality(
        dataset=spec.id, owner=owner, runs=len(history),
        latest_score=latest["quality_score"],  # None: the run had no rows to score
        previous_score=next((h["quality_score"] for h in reversed(history[:-1])
                             if h.get("quality_score") is not None), None),
        latest_run=latest["run_id"], failing_checks=failing, repaired_identifiers=repaired,
    )


def by_agency(settings: Settings, specs: list[DatasetSpec], lang: str = "vi"
              ) -> dict[str, list[DatasetQuality]]:
    out: dict[str, list[DatasetQuality]] = {}
    for spec in specs:
        q = dataset_quality(settings, spec, lang)
        out.setdefault(q.owner, []).append(q)
    return out
