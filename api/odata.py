"""OData v4 query options -> parameterised SQL (DuckDB, SQLite or PostgreSQL: see
api/dialects.py), checked against one Access.

`$filter` is parsed by the odata-query package's grammar (a real lexer/parser, sly) into
its AST; our visitor turns the AST into SQL with `?` placeholders for every literal and
quoted identifiers only from the grant's clear (visible, unmasked) columns, so user text
never becomes SQL text and a hidden or masked column cannot be filtered, ordered by or
counted. `$select` may name any visible column (masked ones come out masked). Bounds:
`$top` <= MAX_TOP, `$skip` <= MAX_SKIP (keyset `$skiptoken` beyond), filter length and
node count, IN-list size. Every refusal is an ODataError naming the option and the problem.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from api import dialects
from api.dialects import Dialect
from api.grants import Access
from warehouse.duck import quote_ident

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
    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


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
    def __init__(self, columns: tuple[str, ...], dialect: Dialect) -> None:
        self.columns = set(columns)
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
            return self._column(node)
        if isinstance(node, ast.Boolean):
            return "TRUE" if node.val.lower() == "true" else "FALSE"
        raise ODataError("$filter", f"{type(node).__name__} is not supported here")

    def _column(self, node: ast._Node) -> str:
        if not isinstance(node, ast.Identifier) or node.namespace:
            raise ODataError("$filter", "expected a column name")
        if node.name not in self.columns:
            raise ODataError("$filter", f"unknown column {node.name!r} (or not granted for filtering)")
        return quote_ident(node.name)

    def _literal(self, node: ast._Node) -> str:
        if isinstance(node, ast.String | ast.Date | ast.DateTime | ast.Time | ast.GUID):
            self.params.append(node.val)
        elif isinstance(node, ast.Integer):
            self.params.append(int(node.val))
        elif isinstance(node, ast.Float):
            self.params.append(float(node.val))
        elif isinstance(node, ast.Boolean):
            self.params.append(node.val.lower() == "true")
        else:
            raise ODataError("$filter", f"expected a literal value, got {type(node).__name__}")
        return "?"

    def _operand(self, node: ast._Node) -> str:
        return self._column(node) if isinstance(node, ast.Identifier) else self._literal(node)

    def _compare(self, node: ast.Compare) -> str:
        if isinstance(node.comparator, ast.In):
            if not isinstance(node.right, ast.List):
                raise ODataError("$filter", "'in' needs a list of values")
            if len(node.right.val) > MAX_IN_LIST:
                raise ODataError("$filter", f"'in' list longer than {MAX_IN_LIST}")
            if not node.right.val:
                return "FALSE"
            left = self._column(node.left)
            return f"({left} IN ({', '.join(self._literal(v) for v in node.right.val)}))"
        op = _COMPARE.get(type(node.comparator))
        if op is None:
            raise ODataError("$filter", f"operator {type(node.comparator).__name__} is not supported")
        if isinstance(node.right, ast.Null) or isinstance(node.left, ast.Null):
            other = node.left if isinstance(node.right, ast.Null) else node.right
            if op not in ("=", "<>"):
                raise ODataError("$filter", "null compares only with eq or ne")
            return f"({self._column(other)} IS {'NOT ' if op == '<>' else ''}NULL)"
        if not (isinstance(node.left, ast.Identifier) or isinstance(node.right, ast.Identifier)):
            raise ODataError("$filter", "a comparison needs a column on one side")
        return f"({self._operand(node.left)} {op} {self._operand(node.right)})"

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
        for _ in range(times):
            self._literal(value)
        return sql


def parse_filter(text: str, clear_columns: tuple[str, ...], dialect: str = dialects.DUCKDB
                 ) -> tuple[str, list[Any], str]:
    """(SQL predicate, parameters, normalised form) of a $filter."""
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
    visitor = _SqlVisitor(clear_columns, dialects.get(dialect))
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


def plan(access: Access, options: dict[str, str], key: list[str], dialect: str = dialects.DUCKDB
         ) -> Plan:
    """Check the query options against the access; `key` is the dataset's primary key;
    the SQL fragments are spelled for `dialect` (api/dialects.py) with `?` placeholders."""
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
        p.where, p.params, text = parse_filter(options["$filter"], access.clear_columns, dialect)
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
        p.after = _decode_skiptoken(options["$skiptoken"], len(key))
        norm.append(f"$skiptoken={json.dumps(p.after, default=str)}")
    norm += [f"$top={p.top}", f"$skip={p.skip}", f"$count={str(p.count).lower()}"]
    p.normalised = "&".join(norm)
    return p
