"""Which datasets feed open indicators, read from the indicator spec files alone (YAML, no
heavy imports): what the DAG factory needs at parse time."""

from __future__ import annotations

from pathlib import Path

import yaml

SPECS_DIR = Path(__file__).with_name("indicator_specs")


def indicator_sources(directory: Path | None = None) -> set[str]:
    out = set()
    for path in sorted((directory or SPECS_DIR).glob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        if data.get("source"):
            out.add(str(data["source"]))
    return out
