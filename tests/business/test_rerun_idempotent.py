"""The issue's second-day scenario for the business registry: `lgsp run` started twice on
one home (the simulated registry started again each time) leaves the quarantine as the
first run left it, and the registry re-sending the same files adds no row either."""

from __future__ import annotations

from catalog.spec import get_spec
from connectors.state import StateStore
from lgsp import pipeline
from registries.business.simulation import ENV_FOLDER, simulate
from registries.population.generator import PUBLIC_COLUMNS, generate_population
from tests.business.conftest import AS_OF, SEED, SIZE
from tests.business.test_business_pipeline import publish_population
from warehouse.query import curated_connection

DATASET = "business_registry"


def _quarantine(settings) -> list[tuple]:
    return curated_connection(settings).execute(
        f'SELECT * EXCLUDE ("_ingested_at") FROM {DATASET}_quarantine ORDER BY ALL').fetchall()


def _run_with_the_simulation(settings, monkeypatch) -> pipeline.RunSummary:
    with simulate(size=SIZE, seed=SEED) as env:
        monkeypatch.setenv(ENV_FOLDER, env[ENV_FOLDER])
        return pipeline.run_dataset(get_spec(DATASET), settings, use_gx=False)


def test_second_and_resent_runs_add_nothing_to_the_quarantine(settings, monkeypatch):
    publish_population(settings, generate_population(SIZE, SEED, as_of=AS_OF)
                       .select(list(PUBLIC_COLUMNS)))
    first = _run_with_the_simulation(settings, monkeypatch)
    assert not first.blocked and first.quarantined > 0
    after_first = _quarantine(settings)
    assert len(after_first) == first.quarantined

    second = _run_with_the_simulation(settings, monkeypatch)
    assert second.extracted == 0  # the registry wrote no file again
    assert _quarantine(settings) == after_first

    # The registry re-sends the whole drop (the ledger forgets it): one row per record still.
    StateStore(settings.state_dir).reset(DATASET)
    third = _run_with_the_simulation(settings, monkeypatch)
    assert third.extracted == first.extracted and third.quarantined == first.quarantined
    again = _quarantine(settings)
    run_column = 1 + len(get_spec(DATASET).columns)  # after the columns and _row
    assert [r[:run_column] for r in again] == [r[:run_column] for r in after_first]
    assert {r[run_column] for r in again} == {third.run_id}
