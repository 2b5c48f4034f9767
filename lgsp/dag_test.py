"""Run one DAG with dag.test(); exit 0 only if the run succeeded.

Started by lgsp.airflow_env.dag_test() with Airflow's environment already set. Only the
DAG's own generated file is parsed (a malformed other spec does not matter). The last lines
on stdout prefixed `lgsp-result: ` are the outcome, for `lgsp airflow test` to show without
Airflow's logs: `dag_run <id> state=<state>`, then for each failed task
`task <id> failed: <Error>: <message>` (the exception the task raised, on one line), or
`import error: ...` when the DAG does not load.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

RESULT = "lgsp-result: "
"""Prefix of the outcome lines (Airflow's own log lines never start with it)."""


def report(text: str) -> None:
    for line in text.splitlines():
        print(RESULT + line, flush=True)


def _record_failures(dag: Any, failures: dict[str, str]) -> None:
    """Wrap each task's callable so the exception it raises is kept (the last one per task)."""
    for task in dag.tasks:
        fn = getattr(task, "python_callable", None)
        if fn is None:
            continue

        @functools.wraps(fn)
        def wrapped(*args: Any, _fn: Any = fn, _task: str = task.task_id, **kwargs: Any) -> Any:
            try:
                result = _fn(*args, **kwargs)
            except Exception as exc:
                failures[_task] = one_line(f"{type(exc).__name__}: {exc}")
                raise
            failures.pop(_task, None)  # a retry that succeeded
            return result

        task.python_callable = wrapped


def one_line(text: str, limit: int = 2000) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(dag_id: str) -> int:
    from airflow.dag_processing.dagbag import DagBag

    from catalog.spec import SpecError, load_spec
    from lgsp.dag_files import dag_file

    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    own = dag_file(folder, dag_id.removeprefix("lgsp_"))
    if own.exists():
        spec_path = Path(os.environ.get("LGSP_SPECS_DIR", ".")) / f"{dag_id.removeprefix('lgsp_')}.yaml"
        try:
            load_spec(spec_path)
        except SpecError as err:
            report(f"import error: {err}")
            return 2
    bag = DagBag(dag_folder=str(own if own.exists() else folder))
    dag = bag.dags.get(dag_id)
    if dag is None:
        for path, err in bag.import_errors.items():
            report(f"import error in {path}: {one_line(str(err).strip().splitlines()[-1])}")
        report(f"no DAG {dag_id!r}; known: {sorted(bag.dag_ids)}")
        return 2
    failures: dict[str, str] = {}
    _record_failures(dag, failures)
    dagrun = dag.test()
    state = str(getattr(dagrun, "state", ""))
    report(f"dag_run {dag_id} state={state}")
    for task_id, error in failures.items():
        report(f"task {task_id} failed: {error}")
    return 0 if state.endswith("success") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
