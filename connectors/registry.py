"""Registry of transports: a connector is found by the name a spec gives (source.connector).

Built-in transports are the modules of this package; each registers itself with @register;
third-party packages add theirs through the `lgsp.connectors` entry-point group, so a new
transport is a new module, never an edit here. `@register` also declares the transport's
parameters (`params`: name -> kind, `required`), as literals: spec validation reads them
from the source (catalog.declarations) without importing the transport.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from catalog.declarations import ConnectorDecl, connector_decl
from catalog.spec import DatasetSpec
from connectors.base import Connector

ConnectorFactory = Callable[[DatasetSpec, dict[str, Any]], Connector]
_FACTORIES: dict[str, ConnectorFactory] = {}
DECLARATIONS: dict[str, ConnectorDecl] = {}
_INFRASTRUCTURE = {"base", "registry", "state"}


def register(name: str, **declaration: Any) -> Callable[[ConnectorFactory], ConnectorFactory]:
    """Register a transport; `params` (name -> kind) and `required` declare its parameters
    (see catalog.declarations; literals only)."""

    def decorator(factory: ConnectorFactory) -> ConnectorFactory:
        _FACTORIES[name] = factory
        DECLARATIONS[name] = connector_decl(name, **declaration)
        return factory

    return decorator


def _load_all() -> None:
    """Import every built-in transport module of this package (each registers itself)."""
    import connectors

    for info in pkgutil.iter_modules(connectors.__path__):
        if info.name not in _INFRASTRUCTURE and not info.name.startswith("_"):
            importlib.import_module(f"connectors.{info.name}")
    for ep in entry_points(group="lgsp.connectors"):
        if ep.name not in _FACTORIES:
            _FACTORIES[ep.name] = ep.load()


def available() -> list[str]:
    _load_all()
    return sorted(_FACTORIES)


def build_connector(spec: DatasetSpec) -> Connector:
    """The connector a spec asks for, with its parameters (${ENV} expanded)."""
    from lgsp.config import expand_env

    _load_all()
    name = spec.source.connector
    if name not in _FACTORIES:
        raise KeyError(
            f"{spec.path or spec.id}: source.connector: unknown transport {name!r}; "
            f"available: {', '.join(sorted(_FACTORIES))}"
        )
    params = expand_env(dict(spec.source.params))
    assert isinstance(params, dict)
    return _FACTORIES[name](spec, params)
