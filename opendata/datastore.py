"""CKAN DataStore `datastore_search` over an open export's Parquet file (so it can only ever
see the columns the classification let out). Names are checked against the file's columns
and quoted; every value is a bound parameter; limits are bounded by the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opendata.ckan_search import ParamError
from warehouse import duck
from warehouse.duck import quote_ident as qi
from warehouse.duck import quote_literal as lit

CKAN_TYPES = {"VARCHAR": "text", "BIGINT": "int", "INTEGER": "int", "DOUBLE": "numeric",
              "FLOAT": "numeric", "BOOLEAN": "bool", "DATE": "date", "TIMESTAMP": "timestamp"}


def _column_types(con: Any, source: str) -> dict[str, str]:
    return {r[0]: str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}


def search(parquet: Path, q: str | dict[str, Any] = "", filters: dict[str, Any] | None = None,
           fields: list[str] | None = None, sort: str = "", limit: int = 100, offset: int = 0,
           include_total: bool = True) -> dict[str, Any]:
    source = f"read_parquet({lit(str(parquet))})"
    with duck.connection(memory_limit="256MB", threads=1) as con:
        types = _column_types(con, source)
        known = set(types)
        chosen = fields or list(types)
        for name in chosen:
            if name != "_id" and name not in known:
                raise ParamError("fields", f'field "{name}" not in table')
        where: list[str] = []
        args: list[Any] = []
        if not isinstance(filters, dict):
            raise ParamError("filters", "Not a JSON object")
        for name, value in filters.items():
            if name not in known:
                raise ParamError("filters", f'field "{name}" not in table')
            values = value if isinstance(value, list) else [value]
            where.append(f"CAST({qi(name)} AS VARCHAR) IN ({', '.join('?' for _ in values)})")
            args += [str(v) for v in values]
        text_cols = [n for n, t in types.items() if t == "VARCHAR"]
        if isinstance(q, dict):
            for name, value in q.items():
                if name not in known:
                    raise ParamError("q", f'field "{name}" not in table')
                where.append(f"CAST({qi(name)} AS VARCHAR) ILIKE ?")
                args.append(f"%{value}%")
        elif q:
            for word in str(q).split():
                where.append("(" + " OR ".join(f"{qi(c)} ILIKE ?" for c in text_cols) + ")")
                args += [f"%{word}%"] * len(text_cols)
        order = []
        for part in [p.strip() for p in sort.split(",") if p.strip()]:
            bits = part.split()
            name = bits[0].strip('"')
            direction = bits[1].upper() if len(bits) > 1 else "ASC"
            if (name not in known and name != "_id") or direction not in ("ASC", "DESC") \
                    or len(bits) > 2:
                raise ParamError("sort", f'field "{part}" not in table')
            order.append(f"{qi(name)} {direction}")
        numbered = f"(SELECT row_number() OVER () AS _id, * FROM {source})"
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order_sql = f" ORDER BY {', '.join(order)}, _id" if order else " ORDER BY _id"
        select = ", ".join(qi(n) for n in (["_id"] + [c for c in chosen if c != "_id"]))
        cur = con.execute(f"SELECT {select} FROM {numbered}{clause}{order_sql} LIMIT ? OFFSET ?",
                          [*args, limit, offset])
        names = [d[0] for d in cur.description]
        records = [{k: _json_value(v) for k, v in zip(names, row, strict=True)}
                   for row in cur.fetchall()]
        out: dict[str, Any] = {
            "fields": [{"id": "_id", "type": "int"}] + [
                {"id": n, "type": CKAN_TYPES.get(types[n], "text")} for n in names if n != "_id"],
            "records": records, "limit": limit, "offset": offset,
        }
        if include_total:
            total = con.execute(f"SELECT count(*) FROM {numbered}{clause}", args).fetchone()
            out["total"] = int(total[0]) if total else 0
            out["total_was_estimated"] = False
        return out


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
