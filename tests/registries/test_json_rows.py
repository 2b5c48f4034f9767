"""Page bodies built with Arrow string kernels are the JSON orjson would write."""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa

from registries.population.generator import PUBLIC_COLUMNS
from registries.population.json_rows import json_objects, plain_rows

NASTY = [
    'say "hi"',
    None,
    "back\\slash",
    "TCVN3 \x15 control",
    "NguyÔn",
    "line\nbreak",
    "",
    "Nguyễn",
    "tab\there",
    "\x7f\x81 C1",
]


def decoded(table: pa.Table, plain: np.ndarray | None = None) -> list[dict]:
    return orjson.loads(b"[" + json_objects(table, plain) + b"]")


def test_escaping_and_nulls() -> None:
    table = pa.table({"a": NASTY, "b": list(reversed(NASTY)), "c": pa.nulls(len(NASTY))})
    assert decoded(table) == table.to_pylist()
    assert decoded(table.slice(3, 4)) == table.slice(3, 4).to_pylist()
    assert json_objects(table.slice(0, 0)) == b""


def test_plain_rows_finds_every_character_to_escape() -> None:
    table = pa.table({"a": NASTY, "b": ["x"] * len(NASTY)})
    expected = [orjson.dumps(v).decode() == f'"{v}"' if v is not None else True for v in NASTY]
    assert plain_rows(table).tolist() == expected
    assert plain_rows(table.slice(2, 5)).tolist() == expected[2:7]


def test_whole_population(population_20k: pa.Table) -> None:
    public = population_20k.select(list(PUBLIC_COLUMNS))
    plain = plain_rows(public)
    assert decoded(public, plain) == public.to_pylist()
    assert decoded(public.slice(100, 333), plain[100:433]) == public.slice(100, 333).to_pylist()
