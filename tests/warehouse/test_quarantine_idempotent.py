"""The quarantine holds one row per (source record, reason) however often a record
arrives: a re-sent file or a re-run window replaces the row (the latest occurrence's run,
row and time kept), a changed record is a new row, NULL and '' are different values.
Expected rows are written from the inputs, not read back from the code under test."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from catalog.spec import get_spec
from expectations.gate import run_gate
from lgsp.config import Settings
from tests.conftest import write_raw_run
from tests.expectations.test_gate_population import GOOD, person
from warehouse.publish import publish
from warehouse.query import curated_connection

SPEC = get_spec("population")
BAD = {
    "id_short": {**GOOD, "personal_id": "09608500123"},
    "sex_bad": {**GOOD, "personal_id": "096085000777", "sex": "X"},
    "name_null": {**GOOD, "personal_id": "096085000778", "full_name": None},
    "name_blank": {**GOOD, "personal_id": "096085000778", "full_name": ""},
    "code_unknown": {**GOOD, "personal_id": "096085000779", "residence_commune_code": "99999"},
}
"""Rejected records; name_null and name_blank differ only in NULL versus '' (one key, so
never in one run: the second copy of a key would fail `unique` too, another reason)."""
POOL = sorted(set(BAD) - {"name_blank"})


def _publish_run(settings: Settings, bad: list[dict]) -> str:
    """A run with these rejected rows among enough good ones; returns its run id."""
    good = [person() for _ in range(5 * len(bad) + 1)]
    run = write_raw_run(settings, SPEC, good + bad)
    gate = run_gate(SPEC, run, settings, use_gx=False)
    assert not gate.blocked, gate.block_reasons
    assert gate.quarantined_rows == len(bad)
    publish(SPEC, run, gate, settings)
    return run.run_id


def _quarantine(settings: Settings) -> dict[tuple, list[str]]:
    """(personal_id, full_name, sex, commune code) -> the runs its rows name."""
    rows = curated_connection(settings).execute(
        "SELECT personal_id, full_name, sex, residence_commune_code, _run_id "
        "FROM population_quarantine").fetchall()
    out: dict[tuple, list[str]] = {}
    for *key, run_id in rows:
        out.setdefault(tuple(key), []).append(run_id)
    return out


def _key(row: dict) -> tuple:
    return (row["personal_id"], row["full_name"], row["sex"], row["residence_commune_code"])


def test_the_same_rejected_rows_again_replace_their_rows(settings):
    first = _publish_run(settings, [BAD["id_short"], BAD["sex_bad"]])
    resent = _publish_run(settings, [BAD["id_short"], BAD["sex_bad"]])  # a re-sent file
    assert _quarantine(settings) == {_key(BAD["id_short"]): [resent],
                                     _key(BAD["sex_bad"]): [resent]}
    assert first != resent
    # The record corrected but still wrong is another source record; NULL and '' differ.
    fixed_but_wrong = {**BAD["sex_bad"], "sex": "Y"}
    third = _publish_run(settings, [fixed_but_wrong, BAD["name_null"]])
    fourth = _publish_run(settings, [BAD["name_blank"]])
    assert _quarantine(settings) == {
        _key(BAD["id_short"]): [resent], _key(BAD["sex_bad"]): [resent],
        _key(fixed_but_wrong): [third], _key(BAD["name_null"]): [third],
        _key(BAD["name_blank"]): [fourth]}
    # A run without rejected rows leaves the table as it is.
    _publish_run(settings, [])
    assert sum(len(v) for v in _quarantine(settings).values()) == 5


@hsettings(max_examples=8, deadline=None)
@given(st.lists(st.lists(st.sampled_from(POOL), unique=True, max_size=4),
                min_size=1, max_size=3))
def test_any_sequence_of_runs_leaves_one_row_per_record_from_its_last_run(runs):
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), specs_dir=SPEC.path.parent)
        last_run: dict[tuple, str] = {}
        for names in runs:
            run_id = _publish_run(settings, [BAD[n] for n in names])
            for name in names:
                last_run[_key(BAD[name])] = run_id
        if last_run:
            assert _quarantine(settings) == {k: [v] for k, v in last_run.items()}
