"""Command line: generate a population and serve it over HTTP with uvicorn (one worker).

    python -m registries.population --host 127.0.0.1 --port 8801 --size 20000 --seed 42 \
        --defect-rate 0.03 --token dev-token --as-of 2026-11-01 [--province 96]

The token defaults to $LGSP_POPULATION_TOKEN, then "dev-token".
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from registries.population.generator import parse_as_of


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m registries.population", description="Simulated national population registry."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--size", type=int, default=20_000, help="number of records")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defect-rate", type=float, default=0.03)
    parser.add_argument("--token", default=os.environ.get("LGSP_POPULATION_TOKEN", "dev-token"))
    parser.add_argument(
        "--as-of", default="2026-11-01", type=parse_as_of, help="the simulated present (YYYY-MM-DD)"
    )
    parser.add_argument("--province", default="96", help="2025 province code (96 = Cà Mau)")
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    import uvicorn

    from registries.population.server import create_app
    from registries.population.store import PopulationStore

    started = time.perf_counter()
    store = PopulationStore.generate(
        args.size, seed=args.seed, defect_rate=args.defect_rate, as_of=args.as_of, province_code=args.province
    )
    print(
        f"population registry: {store.rows} records generated in "
        f"{time.perf_counter() - started:.1f}s; serving on http://{args.host}:{args.port}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        create_app(store, args.token),
        host=args.host,
        port=args.port,
        workers=1,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
