"""JSON text of Arrow rows built with Arrow string kernels, for pages of 10,000 records.

Each string column becomes a column of JSON literals ("value" or null); the keys and the
literals are joined element-wise into one `{...},` per row, and the row texts lie end to end
in one Arrow buffer, which is the page body. No Python object is made per value.

Values holding a character JSON must escape (quote, backslash, control characters: TCVN3
mojibake has some) are rare. `plain_rows` finds the rows free of them once (the store keeps
the flags); the other rows are encoded with orjson. Without the flags, `json_objects` finds
them itself, which costs one regex pass per column.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc


def _string_columns(table: pa.Table) -> list[tuple[str, pa.Array]]:
    out = []
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        if not pa.types.is_string(column.type):
            raise TypeError(f"json_objects encodes string columns only; {name} is {column.type}")
        out.append((name, column))
    return out


def plain_rows(table: pa.Table) -> np.ndarray:
    """True for the rows whose values hold no character JSON must escape.

    Scans the UTF-8 bytes of each column with numpy: bytes below 0x80 never occur inside a
    multi-byte character, so a quote, backslash or control byte is that character.
    """
    plain = np.ones(table.num_rows, dtype=bool)
    for _, column in _string_columns(table):
        _, offsets_buf, data_buf = column.buffers()
        if data_buf is None or not len(column):
            continue
        offsets = np.frombuffer(offsets_buf, dtype=np.int32)[column.offset :][: len(column) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
        hits = np.flatnonzero((data < 0x20) | (data == 0x22) | (data == 0x5C)) + offsets[0]
        if len(hits):
            plain[np.searchsorted(offsets, hits, side="right") - 1] = False
    return plain


def json_objects(table: pa.Table, plain: np.ndarray | None = None) -> bytes:
    """The rows of a table of string columns as JSON objects separated by commas.

    plain: `plain_rows(table)` if known (rows marked False are encoded by orjson).
    """
    n = table.num_rows
    if n == 0:
        return b""
    if plain is None:
        plain = plain_rows(table)
    parts: list[pa.Array | str] = []
    for i, (name, column) in enumerate(_string_columns(table)):
        literal = pc.fill_null(pc.binary_join_element_wise('"', column, '"', ""), "null")
        parts += [("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":", literal]
    rows = pc.binary_join_element_wise(*parts, "},", "")
    if not plain.all():
        escaped = np.flatnonzero(~plain)
        records = table.take(pa.array(escaped)).to_pylist()
        replacement = pa.array([orjson.dumps(r).decode() + "," for r in records], pa.string())
        rows = pc.replace_with_mask(rows, pa.array(~plain), replacement)
    return _concatenated(rows)[:-1]


def _concatenated(strings: pa.Array) -> bytes:
    """The characters of a string array end to end, straight from its data buffer."""
    _, offsets_buf, data_buf = strings.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[strings.offset :]
    start, end = int(offsets[0]), int(offsets[len(strings)])
    return data_buf.slice(start, end - start).to_pybytes()
