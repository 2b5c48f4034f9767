"""OData v4 query options -> parameterised SQL (DuckDB, SQLite or PostgreSQL: see
api/dialects.py), checked against one Access.

`$filter` is parsed by the odata-query package's grammar (a real lexer/parser, sly) into
its AST; our visitor turns the AST into SQL with `?` placeholders for every literal and
quoted identifiers only from the grant's clear (visible, unmasked) columns, so user text
never becomes SQL text and a hidden or masked column cannot be filtered, ordered by or
counted. `$select` may name any visible column (masked ones come out masked). Bounds:
`$top` <= MAX_TOP, `$skip` <= MAX_SKIP (keyset `$skiptoken` beyond), filter length and
node count, IN-list size. Every refusal is an ODataError naming the option and the problem.

Literals are typed here, once, against the dataset spec's column types (`typed_value`), so
the three stores refuse the same requests with the same message and compare the same
values: a literal that does not fit its column (`registered_date eq 'not-a-date'`, `3.5`
against an int, `true` against a string, an integer past 64 bits...) is refused naming
the column and the type it expects; one that fits becomes a Python value of that type
(int, float, bool, str, date, naive UTC datetime), which each dialect passes as its store
holds the column (api/dialects.Dialect.value: ISO 8601 text on the SQLite copy). Before,
DuckDB and PostgreSQL refused such a literal at run time and the SQLite copy, whose dates
are text, answered no rows or compared text. Accepted per column type:
- string: a quoted string; int: an integer within 64 bits; float: any finite number;
  bool: true or false;
- date: a date (`2026-11-01`, or quoted: `'2026-11-01'`);
- timestamp: a date-time (`2026-11-01T08:00:00+07:00`; `Z` or no offset: UTC; at most
  microseconds) or a date (its midnight, UTC), or either quoted.
Two columns compare when their types do (int and float together); the string functions
take string columns only, and a column alone is a condition only if it is a bool: their
text or truth differ between the engines for other types.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from api import dialects
from api.dialects import Dialect
from api.grants import Access
from warehouse.duck import quote_ident

if TYPE_CHECKING:
    from catalog.spec import DatasetSpec

MAX_TOP = 1000
DEFAULT_TOP = 100
MAX_SKIP = 100_000
MAX_FILTER_CHARS = 2000
MAX_FILTER_NODES = 64
MAX_IN_LIST = 500
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_COMPARE = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_FUNCS = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}


class ODataError(ValueError):
    def __init__(self, option: str, message: str, **members: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.members = {"option": option, **members}
        """What the problem detail names: the option, and for a literal that does not fit,
        its `column` and the `expected` type."""


INT64 = (-(2**63), 2**63 - 1)
_EXPECTED = {
    "string": "a quoted string ('text')",
    "int": "an integer (64-bit)",
    "float": "a number",
    "bool": "true or false",
    "date": "a date (2026-11-01)",
    "timestamp": "a date-time (2026-11-01T08:00:00+07:00; Z or none: UTC) or a date",
}
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?", re.IGNORECASE)


def _date(text: str) -> date | None:
    m = _DATE_TEXT.fullmatch(text)
    try:
        return date(*map(int, m.groups())) if m else None
    except ValueError:  # 2026-02-30
        return None


def _datetime(text: str) -> datetime | None:
    """A date-time literal as a naive UTC datetime; None if it is none or not exact to the
    microsecond (the curated timestamps are microseconds: a finer literal would compare
    differently in each engine's rounding)."""
    m = _DATETIME_TEXT.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    fraction = (fraction or "").rstrip("0")
    if len(fraction) > 6:
        return None
    try:
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                         int(fraction.ljust(6, "0")))
        if offset and offset.upper() != "Z":
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
            value = value.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # 2026-02-30, 25:00, 9999-12-31T23:00-01:00
        return None
    return value


def _shown(node: ast._Node) -> str:
    if isinstance(node, ast.String):
        text = "'" + node.val.replace("'", "''") + "'"
    else:
        text = str(getattr(node, "val", type(node).__name__))
    return text if len(text) <= 40 else text[:37] + "..."


def typed_value(node: ast._Node, column: str, column_type: str) -> Any:
    """The Python value of literal `node` compared with `column`, whose spec type is
    `column_type` (catalog/spec.ColumnType); ODataError naming the column and the type
    expected when the literal does not fit it."""
    value: Any = None
    if column_type == "string":
        value = node.val if isinstance(node, ast.String) else None
    elif column_type == "int":
        if isinstance(node, ast.Integer) and INT64[0] <= int(node.val) <= INT64[1]:
            value = int(node.val)
    elif column_type == "float":
        if isinstance(node, ast.Integer | ast.Float) and math.isfinite(float(node.val)):
            value = float(node.val)  # not 1e400, nor an integer past 1e308: inf
    elif column_type == "bool":
        value = node.val.lower() == "true" if isinstance(node, ast.Boolean) else None
    elif column_type == "date":
        if isinstance(node, ast.Date | ast.String):
            value = _date(node.val)
    elif column_type == "timestamp":
        if isinstance(node, ast.Date | ast.DateTime | ast.String):
            day = _date(node.val)
            value = datetime(day.year, day.month, day.day) if day else _datetime(node.val)
    else:
        raise ValueError(f"unknown column type {column_type!r}")
    if value is None:
        raise ODataError("$filter", f"{_shown(node)} does not fit column {column!r} of type "
                         f"{column_type}: expected {_EXPECTED[column_type]}",
                         column=column, expected=column_type)
    return value


def column_types(spec: DatasetSpec) -> dict[str, str]:
    """column -> its spec type, what `plan` and `parse_filter` check literals against."""
    return {c.name: c.type for c in spec.columns}


@dataclass
class Plan:
    """A checked query: SQL fragments and parameters, and its normalised text for the audit."""

    select: list[str]
    where: str = "TRUE"
    params: list[Any] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    """(column, descending); empty: the dataset's key order (see keyset)."""
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    after: list[Any] | None = None
    """Keyset position: the last key of the previous page ($skiptoken)."""
    normalised: str = ""


def _names(option: str, text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    for n in names:
        if not _IDENT.match(n):
            raise ODataError(option, f"{n!r} is not a column name")
    return names


class _SqlVisitor:
    def __init__(self, columns: Mapping[str, str], dialect: Dialect) -> None:
        self.columns = columns
        self.dialect = dialect
        self.params: list[Any] = []
        self.nodes = 0

    def sql(self, node: ast._Node) -> str:
        self.nodes += 1
        if self.nodes > MAX_FILTER_NODES:
            raise ODataError("$filter", f"too complex (more than {MAX_FILTER_NODES} terms)")
        if isinstance(node, ast.BoolOp):
            op = "AND" if isinstance(node.op, ast.And) else "OR"
            return f"({self.sql(node.left)} {op} {self.sql(node.right)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(NOT {self.sql(node.operand)})"
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Identifier):
            sql = self._column(node)
            if self.columns[node.name] != "bool":
                raise ODataError("$filter", f"column {node.name!r} of type {self.columns[node.name]} "
                                 "is not a condition: compare it with a value",
                                 column=node.name, expected="bool")
            return sql
        if isinstance(node, ast.Boolean):
            return "TRUE" if node.val.lower() == "true" else "FALSE"
        raise ODataError("$filter", f"{type(node).__name__} is not supported here")

    def _column(self, node: ast._Node) -> str:
        if not isinstance(node, ast.Identifier) or node.namespace:
            raise ODataError("$filter", "expected a column name")
        if node.name not in self.columns:
            raise ODataError("$filter", f"unknown column {node.name!r} (or not granted for filtering)")
        return quote_ident(node.name)

    def _literal(self, node: ast._Node, column: str) -> str:
        """A `?` for literal `node` compared with `column`, its typed value a parameter."""
        if not isinstance(node, ast._Literal) or isinstance(node, ast.List):
            raise ODataError("$filter", f"expected a literal value, got {type(node).__name__}")
        self.params.append(self.dialect.value(typed_value(node, column, self.columns[column])))
        return "?"

    def _compare(self, node: ast.Compare) -> str:
        if isinstance(node.comparator, ast.In):
            if not isinstance(node.right, ast.List):
                raise ODataError("$filter", "'in' needs a list of values")
            if len(node.right.val) > MAX_IN_LIST:
                raise ODataError("$filter", f"'in' list longer than {MAX_IN_LIST}")
            if not node.right.val:
                return "FALSE"
            left = self._column(node.left)
            values = ", ".join(self._literal(v, node.left.name) for v in node.right.val)
            return f"({left} IN ({values}))"
        op = _COMPARE.get(type(node.comparator))
        if op is None:
            raise ODataError("$filter", f"operator {type(node.comparator).__name__} is not supported")
        if isinstance(node.right, ast.Null) or isinstance(node.left, ast.Null):
            other = node.left if isinstance(node.right, ast.Null) else node.right
            if op not in ("=", "<>"):
                raise ODataError("$filter", "null compares only with eq or ne")
            return f"({self._column(other)} IS {'NOT ' if op == '<>' else ''}NULL)"
        left, right = node.left, node.right
        if isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier):
            sql = f"({self._column(left)} {op} {self._column(right)})"
            types = {self.columns[left.name], self.columns[right.name]}
            if len(types) > 1 and types != {"int", "float"}:
                raise ODataError("$filter", f"columns {left.name!r} and {right.name!r} have types "
                                 f"{self.columns[left.name]} and {self.columns[right.name]}: "
                                 "they do not compare", column=right.name,
                                 expected=self.columns[left.name])
            return sql
        if isinstance(left, ast.Identifier):
            return f"({self._column(left)} {op} {self._literal(right, left.name)})"
        if isinstance(right, ast.Identifier):
            column = self._column(right)
            return f"({self._literal(left, right.name)} {op} {column})"
        raise ODataError("$filter", "a comparison needs a column on one side")

    def _call(self, node: ast.Call) -> str:
        name = node.func.name if isinstance(node.func, ast.Identifier) else ""
        fn = _FUNCS.get(name)
        if fn is None or len(node.args) != 2:
            raise ODataError("$filter", f"function {name!r} is not supported "
                             "(contains, startswith, endswith)")
        column, value = node.args
        if not isinstance(value, ast.String):
            raise ODataError("$filter", f"{name} needs a string value")
        sql, times = self.dialect.string_test(fn, self._column(column))
        assert isinstance(column, ast.Identifier)
        if self.columns[column.name] != "string":
            raise ODataError("$filter", f"{name} takes a string column; {column.name!r} is "
                             f"{self.columns[column.name]}", column=column.name, expected="string")
        for _ in range(times):
            self._literal(value, column.name)
        return sql


def parse_filter(text: str, columns: Mapping[str, str], dialect: str = dialects.DUCKDB
                 ) -> tuple[str, list[Any], str]:
    """(SQL predicate, parameters, normalised form) of a $filter over `columns` (the clear
    columns -> their spec types: literals are checked against them, `typed_value`)."""
    if len(text) > MAX_FILTER_CHARS:
        raise ODataError("$filter", f"longer than {MAX_FILTER_CHARS} characters")
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
    except ODataException as exc:
        raise ODataError("$filter", f"not valid OData: {exc}") from None
    except Exception:  # noqa: BLE001 - the grammar raises plain errors on some inputs
        raise ODataError("$filter", "not valid OData") from None
    if tree is None:
        raise ODataError("$filter", "empty")
    visitor = _SqlVisitor(columns, dialects.get(dialect))
    sql = visitor.sql(tree)
    return sql, visitor.params, repr(tree)


def _int(option: str, text: str | None, default: int, maximum: int) -> int:
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise ODataError(option, f"{text!r} is not a non-negative integer")
    value = int(text)
    if value > maximum:
        raise ODataError(option, f"{value} is above the maximum {maximum}")
    return value


def encode_skiptoken(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def _decode_skiptoken(text: str, width: int) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise ODataError("$skiptoken", "not a token this service issued") from None
    if (not isinstance(key, list) or len(key) != width
            or not all(isinstance(k, str | int | float) for k in key)):
        raise ODataError("$skiptoken", "not a token this service issued")
    return key


def plan(access: Access, options: dict[str, str], spec: DatasetSpec, dialect: str = dialects.DUCKDB
         ) -> Plan:
    """Check the query options against the access and the dataset's spec (its primary key,
    its column types); the SQL fragments are spelled for `dialect` (api/dialects.py) with
    `?` placeholders."""
    unknown = sorted(k for k in options if k.startswith("$") and k not in
                     {"$select", "$filter", "$orderby", "$top", "$skip", "$count", "$skiptoken"})
    if unknown:
        raise ODataError(unknown[0], "unsupported query option")
    select = list(access.columns)
    if options.get("$select"):
        select = _names("$select", options["$select"])
        hidden = [c for c in select if c not in access.columns]
        if hidden:
            raise ODataError("$select", f"unknown column {hidden[0]!r} (or not granted)")
    p = Plan(select=select)
    norm = [f"$select={','.join(select)}"]
    if options.get("$filter"):
        types = column_types(spec)
        p.where, p.params, text = parse_filter(
            options["$filter"], {c: types[c] for c in access.clear_columns}, dialect)
        norm.append(f"$filter={text}")
    if options.get("$orderby"):
        for item in options["$orderby"].split(","):
            parts = item.split()
            if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
                raise ODataError("$orderby", f"{item.strip()!r}: expected 'column [asc|desc]'")
            if not _IDENT.match(parts[0]) or parts[0] not in access.clear_columns:
                raise ODataError("$orderby", f"unknown column {parts[0]!r} (or not granted for ordering)")
            p.order.append((parts[0], len(parts) == 2 and parts[1].lower() == "desc"))
        norm.append("$orderby=" + ",".join(f"{c} {'desc' if d else 'asc'}" for c, d in p.order))
    p.top = _int("$top", options.get("$top"), DEFAULT_TOP, MAX_TOP)
    p.skip = _int("$skip", options.get("$skip"), 0, MAX_SKIP)
    count = options.get("$count", "false").lower()
    if count not in ("true", "false"):
        raise ODataError("$count", "expected true or false")
    p.count = count == "true"
    if options.get("$skiptoken"):
        if p.order or p.skip:
            raise ODataError("$skiptoken", "cannot be combined with $orderby or $skip")
        p.after = _decode_skiptoken(options["$skiptoken"], len(spec.primary_key))
        norm.append(f"$skiptoken={json.dumps(p.after, default=str)}")
    norm += [f"$top={p.top}", f"$skip={p.skip}", f"$count={str(p.count).lower()}"]
    p.normalised = "&".join(norm)
    return p
