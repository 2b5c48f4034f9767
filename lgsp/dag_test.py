"""Run one DAG from the dags folder with dag.test(); exit 0 only if the run succeeded.

Started by lgsp.airflow_env.dag_test() with Airflow's environment already set.
"""

from __future__ import annotations

import sys


def main(dag_id: str) -> int:
    from airflow.dag_processing.dagbag import DagBag

    from lgsp.airflow_env import DAGS_FOLDER

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        for path, err in bag.import_errors.items():
            print(f"import error in {path}: {err}", file=sys.stderr)
        return 2
    dag = bag.dags.get(dag_id)
    if dag is None:
        print(f"no DAG {dag_id!r}; known: {sorted(bag.dag_ids)}", file=sys.stderr)
        return 2
    dagrun = dag.test()
    state = str(getattr(dagrun, "state", ""))
    print(f"dag_run {dag_id} state={state}")
    return 0 if state.endswith("success") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
