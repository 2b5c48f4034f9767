"""Simulated national population registry (Cơ sở dữ liệu quốc gia về dân cư) of a province.

- generator: seeded, vectorised population with labelled defects (`generate_population`).
- store: the in-memory state, paging and updates over time (`PopulationStore`).
- server: the HTTP API (`create_app`); `python -m registries.population` serves it.
- simulation: start it for a local run of the platform (`simulate`).
"""
