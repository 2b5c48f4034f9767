"""What quality rules and transports exist and which parameters they take, read without
importing them.

A rule declares its signature in its decorator (`@rule("in_set", params={"values": "list"},
required=("values",))` in expectations/rules*.py), a transport in its own
(`@register("rest", params=..., required=...)` in connectors/*.py). The rule and connector
modules import DuckDB, pyarrow and requests; spec validation runs at every DAG parse and CLI
start, so this module reads the same declarations from the source files' syntax tree (the
decorator arguments are literals) instead: a few milliseconds, no heavy import. The runtime
registries keep the same declarations (tests/catalog/test_declarations.py checks they agree).

Parameter kinds: "text", "int", "number", "bool", "list" (non-empty list of scalars),
"mapping", "date" (ISO date or "today"), "sql" (a SQL condition), "column" (a declared column
of the spec), "dataset" (the id of another spec), "other_column" (a column of that dataset),
"column_keys" / "column_values" (a mapping whose keys / values are declared columns), "any";
or a list/tuple literal of the allowed values.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = ("expectations/rules.py", "expectations/rules_*.py")
CONNECTOR_DIR = "connectors"
_CONNECTOR_INFRASTRUCTURE = {"base", "registry", "state", "__init__"}
Kind = str | tuple[Any, ...]

COMMON_CHECK_PARAMS: dict[str, Kind] = {"when": "sql"}
"""Parameters every check takes besides its rule's own: `when`, the rows it applies to."""


@dataclass(frozen=True)
class RuleDecl:
    """A rule's declared signature.

    targets: "column" (exactly one column, `column:`; `column` is its default when the check
    names none), "columns" (one or more, `column:` or `columns:`), "pair" (exactly two,
    `columns:`). params: name -> kind; required: the params a check must give; defaults: the
    column a column-kind param names when the check gives none."""

    name: str
    targets: str = "column"
    column: str | None = None
    params: dict[str, Kind] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectorDecl:
    """A transport's declared parameters; params None = not declared (accept any)."""

    name: str
    params: dict[str, Kind] | None = None
    required: tuple[str, ...] = ()


def rule_decl(name: str, **kwargs: Any) -> RuleDecl:
    return RuleDecl(name=name, **_normalise(kwargs))


def connector_decl(name: str, **kwargs: Any) -> ConnectorDecl:
    return ConnectorDecl(name=name, **_normalise(kwargs))


def _normalise(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if "params" in out and out["params"] is not None:
        out["params"] = {k: tuple(v) if isinstance(v, list) else v for k, v in out["params"].items()}
    if "required" in out:
        out["required"] = tuple(out["required"])
    return out


def _decorated(path: Path, decorator: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, keyword literals) of each `@decorator("name", ...)` in a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and _called(deco.func) == decorator and deco.args):
                continue
            try:
                name = ast.literal_eval(deco.args[0])
                kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in deco.keywords if kw.arg}
            except ValueError as exc:
                raise ValueError(f"{path}:{deco.lineno}: @{decorator} arguments must be "
                                 f"literals: {exc}") from None
            found.append((str(name), kwargs))
    return found


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


@lru_cache(maxsize=4)
def rules(root: Path = ROOT) -> dict[str, RuleDecl]:
    """Every rule declared in expectations/rules*.py, by name."""
    out: dict[str, RuleDecl] = {}
    files = sorted({p for pattern in RULE_FILES for p in root.glob(pattern)})
    for path in files:
        for name, kwargs in _decorated(path, "rule"):
            out[name] = rule_decl(name, **kwargs)
    return out


@lru_cache(maxsize=4)
def builtin_connectors(root: Path = ROOT) -> dict[str, ConnectorDecl]:
    """The transports of the connectors/ package, by name."""
    out: dict[str, ConnectorDecl] = {}
    for path in sorted((root / CONNECTOR_DIR).glob("*.py")):
        if path.stem in _CONNECTOR_INFRASTRUCTURE or path.stem.startswith("_"):
            continue
        for name, kwargs in _decorated(path, "register"):
            out[name] = connector_decl(name, **kwargs)
    return out


@lru_cache(maxsize=4)
def plugin_connectors() -> dict[str, ConnectorDecl]:
    """Transports of installed packages (`lgsp.connectors` entry points; parameters not
    declared). Scanning the installed distributions costs ~50 ms: asked only for a name
    that is not built in."""
    from importlib.metadata import entry_points

    return {ep.name: ConnectorDecl(name=ep.name) for ep in entry_points(group="lgsp.connectors")}


def connector(name: str, root: Path = ROOT) -> ConnectorDecl | None:
    return builtin_connectors(root).get(name) or plugin_connectors().get(name)


def connectors(root: Path = ROOT) -> dict[str, ConnectorDecl]:
    """Every transport: built in, then installed packages' (a built-in name wins)."""
    return {**plugin_connectors(), **builtin_connectors(root)}
