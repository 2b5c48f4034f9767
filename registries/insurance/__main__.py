"""Run the simulated insurance web service on 127.0.0.1:

    python -m registries.insurance --port 8803 --size 20000 --seed 42

It generates the members of the simulated population (same size and seed as the population
registry), then serves POST /ws/members (SOAP 1.1) until stopped.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from registries.insurance.generator import DEFAULT_AS_OF, generate_insurance
from registries.insurance.service import InsuranceService
from registries.insurance.store import MemberStore

DEFAULT_USERNAME = "lgsp"
DEFAULT_PASSWORD = "dev-password"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m registries.insurance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8803)
    parser.add_argument("--size", type=int, default=20_000, help="people in the population")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help="the registry's date (ISO)")
    parser.add_argument("--defect-rate", type=float, default=0.03)
    parser.add_argument("--unknown-id-rate", type=float, default=0.01)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    data = generate_insurance(args.size, args.seed, defect_rate=args.defect_rate,
                              unknown_id_rate=args.unknown_id_rate, as_of=args.as_of)
    store = MemberStore(data, as_of=data.as_of, seed=args.seed)
    app = InsuranceService(store, args.username, args.password)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level,
                access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
