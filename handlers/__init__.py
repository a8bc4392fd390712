"""HTTP only: thin Tornado handlers, one module per resource, each ending in `default_handlers`.

Modules are discovered: a new resource is a new module here, with nothing to register elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


def all_handlers() -> list[tuple[Any, ...]]:
    routes: list[tuple[Any, ...]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        routes.extend(getattr(module, "default_handlers", []))
    return routes
