"""The last-attempt record: a report error noted by the Data Docs task belongs to its run
whichever is recorded first, the report or the run's publish (the two run side by side in
Airflow, and the stages before publish record only failures), and never to another run."""

from __future__ import annotations

from lgsp import attempts


def test_a_report_error_noted_before_its_runs_publish_is_shown_with_it(settings):
    attempts.record(settings, "insurance_members", "run-1", attempts.PUBLISHED, "publish")
    # run-2's Data Docs task fails while the last attempt on record is still run-1's
    attempts.record_report_error(settings, "insurance_members", "run-2", "GX Data Docs not rendered")
    assert attempts.last(settings, "insurance_members").report_error is None  # not run-1's
    attempts.record(settings, "insurance_members", "run-2", attempts.PUBLISHED, "publish",
                    "17 rows published")
    last = attempts.last(settings, "insurance_members")
    assert (last.run_id, last.message) == ("run-2", "17 rows published")
    assert last.report_error == "GX Data Docs not rendered"


def test_a_report_error_noted_after_the_publish_is_shown_and_not_carried_on(settings):
    attempts.record(settings, "insurance_members", "run-1", attempts.PUBLISHED, "publish")
    attempts.record_report_error(settings, "insurance_members", "run-1", "not rendered")
    assert attempts.last(settings, "insurance_members").report_error == "not rendered"
    attempts.record(settings, "insurance_members", "run-2", attempts.NO_CHANGES, "publish")
    assert attempts.last(settings, "insurance_members").report_error is None
