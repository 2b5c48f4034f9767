"""The simulated population generator's speed: how long `generate_population` takes for a
test-sized population (2,000 people, what the registry tests build several times) and for
larger ones, each in a fresh process (its first call pays the admin-unit list reads, which
are cached for the calls after it).

This was a wall-clock assertion in tests/registries/test_generator.py (< 0.5 s for 2,000
people); timing belongs in a measurement, not in a test that fails on a busy machine.

Run: uv run python -m bench generator [--size 2000]
"""

from __future__ import annotations

import sys

from bench.measure import Stage, emit, run_contender, timed

AS_OF = "2026-11-01"
TARGET_SECONDS_PER_2000 = 0.5
"""The old test's bound: a 2,000-person population in under half a second (warm)."""


def contender(size: int) -> None:
    from registries.population.generator import generate_population

    stages: list[Stage] = [timed(f"generate {size:,} (cold: first call)",
                                 lambda: generate_population(size, 99, as_of=AS_OF).num_rows)]
    for seed in (100, 101, 102):
        stages.append(timed(f"generate {size:,} (warm, seed {seed})",
                            lambda s=seed: generate_population(size, s, as_of=AS_OF).num_rows))
    emit(stages)


def run(size: int) -> list[dict]:
    rows: list[dict] = []
    for n in sorted({2000, size}):
        result = run_contender("bench.generator", [str(n)])
        for stage in result["stages"]:
            rows.append({"approach": "generator", **stage})
    return rows


if __name__ == "__main__":
    contender(int(sys.argv[1]))
