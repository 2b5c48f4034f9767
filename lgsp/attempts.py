"""The last attempt of each dataset's pipeline: what happened, when, and why.

The publish history (quality/<dataset>/history.jsonl) only records publishes; an operator
also needs the run that did not publish. Each stage records its outcome here, in
quality/<dataset>/last_attempt.json (written whole, by rename): `published`, `no changes`
(an incremental run with an empty change window), `blocked` (the gate said no) or `failed`
(an error, with the stage). A report step that fails after a publish (Data Docs) is noted
apart in `report_error`, never as the attempt's outcome. `lgsp status` reads it.
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
    """Write the record; a failure to write it is logged, never raised over the outcome
    being recorded (often another error)."""
    path = _path(settings, attempt.dataset)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(asdict(attempt), ensure_ascii=False), "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not record the last attempt of %s in %s: %s", attempt.dataset,
                    path, exc)


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
    """Note a failed report step (Data Docs) on the attempt of that run; its outcome stays."""
    attempt = last(settings, dataset)
    if attempt is None or attempt.run_id != run_id:
        return
    attempt.report_error = " ".join(error.split())[:MAX_MESSAGE]
    _save(settings, attempt)


def last(settings: Settings, dataset: str) -> Attempt | None:
    path = _path(settings, dataset)
    if not path.exists():
        return None
    return Attempt(**json.loads(path.read_text("utf-8")))
