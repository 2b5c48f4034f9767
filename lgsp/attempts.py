"""The last attempt of each dataset's pipeline: what happened, when, and why.

The publish history (quality/<dataset>/history.jsonl) only records publishes; an operator
also needs the run that did not publish. Each stage records its outcome here, in
quality/<dataset>/last_attempt.json (written whole, by rename): `published`, `no changes`
(an incremental run with an empty change window), `blocked` (the gate said no) or `failed`
(an error, with the stage). A report step that fails after a publish (Data Docs) is noted
apart in `report_error`, never as the attempt's outcome: it is kept in its own file
(last_report_error.json, with its run) and joined to the attempt of that run when read, so
it does not matter whether the report (an Airflow task beside publish) or the publish
records first. `lgsp status` reads it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from lgsp.config import Settings

log = logging.getLogger(__name__)
ATTEMPT_FILE = "last_attempt.json"
REPORT_ERROR_FILE = "last_report_error.json"
PUBLISHED, NO_CHANGES, BLOCKED, FAILED = "published", "no changes", "blocked", "failed"
MAX_MESSAGE = 500


@dataclass
class Attempt:
    dataset: str
    run_id: str | None
    outcome: str
    stage: str
    at: str
    """When the outcome was recorded, ISO 8601 UTC."""
    message: str = ""
    report_error: str | None = None


def _path(settings: Settings, dataset: str) -> Path:
    return settings.quality_dir / dataset / ATTEMPT_FILE


def _save(settings: Settings, attempt: Attempt) -> None:
    _write(_path(settings, attempt.dataset), asdict(attempt), attempt.dataset)


def _write(path: Path, data: dict[str, object], dataset: str) -> None:
    """Write a record whole (by rename); a failure to write it is logged, never raised over
    the outcome being recorded (often another error)."""
    tmp = path.with_suffix(f".{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not record the last attempt of %s in %s: %s", dataset, path, exc)


def record(settings: Settings, dataset: str, run_id: str | None, outcome: str, stage: str,
           message: str = "") -> Attempt:
    """Record the outcome of a stage as the dataset's last attempt."""
    text = " ".join(message.split())
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE - 3] + "..."
    attempt = Attempt(dataset=dataset, run_id=run_id, outcome=outcome, stage=stage,
                      at=datetime.now(UTC).isoformat(timespec="seconds"), message=text)
    _save(settings, attempt)
    return attempt


def record_report_error(settings: Settings, dataset: str, run_id: str, error: str) -> None:
    """Note a failed report step (Data Docs) of that run; its outcome stays. Joined to the
    run's attempt by `last`, whichever of the two was recorded first."""
    _write(settings.quality_dir / dataset / REPORT_ERROR_FILE,
           {"run_id": run_id, "error": " ".join(error.split())[:MAX_MESSAGE]}, dataset)


def last(settings: Settings, dataset: str) -> Attempt | None:
    path = _path(settings, dataset)
    if not path.exists():
        return None
    attempt = Attempt(**json.loads(path.read_text("utf-8")))
    report = settings.quality_dir / dataset / REPORT_ERROR_FILE
    if report.exists():
        noted = json.loads(report.read_text("utf-8"))
        if noted.get("run_id") == attempt.run_id:
            attempt.report_error = noted.get("error")
    return attempt
