"""The architecture, checked from the source: layers that only import downward, no import circle, and every
collection named only by the module that owns it (the one that declares it with `indexes.declare`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "handlers", "schemas", "notify", "scripts")
# Lowest first. A module may import its own layer and the ones below, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("server.core", "notify.base")),
    ("orgs", ("server.orgs",)),
    ("people", ("server.people",)),
    ("places", ("server.places",)),
    ("cases", ("server.cases",)),
    ("notify", ("notify",)),
    ("mediators", ("server.mediators",)),
    ("prevention", ("server.prevention",)),
    ("assessment", ("server.assessment",)),
    ("publicity", ("server.publicity",)),
    ("rights", ("server.rights",)),
    ("schemas", ("schemas",)),
    ("handlers", ("handlers",)),
    ("app", ("server.app",)),
    ("entry points", ("server.__main__", "notify.worker", "scripts", "tests")),
]
GENERIC = {"server.core.indexes", "server.core.references", "scripts.doctor"}  # index and reference checks


def modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, ast.parse(path.read_text(encoding="utf-8"))


def layer_of(module: str) -> int:
    if module in PACKAGES:
        return 0  # a top-level package's __init__ imports nothing
    best = max(
        (
            (index, prefix)
            for index, (_, prefixes) in enumerate(LAYERS)
            for prefix in prefixes
            if module == prefix or module.startswith(prefix + ".")
        ),
        key=lambda found: len(found[1]),
        default=None,
    )
    assert best is not None, f"{module} is in no layer"
    return best[0]


def imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    trees = dict(modules())
    return {name: {m for m in imports(tree) if m in trees and m != name} for name, tree in trees.items()}


def test_every_import_points_down_the_layers() -> None:
    edges = graph()
    assert "server.core.auth" in edges["server.cases.policy"]  # the graph sees `from x import y`
    assert "server.cases.service" in edges["handlers.cases"]
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) → {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_circle() -> None:
    edges = graph()
    # Importing a package's submodule also runs the package's __init__, which imports nothing here.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [node, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def string_constants(tree: ast.Module) -> dict[str, str]:
    """The module's top-level `NAME = "text"` assignments."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def declared_collections(name: str, tree: ast.Module) -> dict[str, str]:
    """{collection: owner module} for each `indexes.declare(...)` in the module."""
    constants = string_constants(tree)
    owned: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "declare"
            and node.args
        ):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                owned[first.value] = name
            elif isinstance(first, ast.Name) and first.id in constants:
                owned[constants[first.id]] = name
    return owned


def subscripted_collections(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every `<something>.db[...]` / `db[...]` in the module, with what is inside the brackets."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            value = node.value
            named = (isinstance(value, ast.Name) and value.id == "db") or (
                isinstance(value, ast.Attribute) and value.attr in ("db", "_db")
            )
            if named:
                yield node.lineno, ast.unparse(node.slice)


def test_each_collection_is_named_only_by_its_owner() -> None:
    trees = dict(modules())
    owners: dict[str, str] = {}
    for name, tree in trees.items():
        owners.update(declared_collections(name, tree))
    assert {"cases", "users", "org_units", "households", "visits", "outbox", "inbox", "settings"} <= set(owners)
    strangers = []
    for name, tree in trees.items():
        constants = string_constants(tree)
        for line, inside in subscripted_collections(tree):
            collection = constants.get(inside) or inside.strip("\"'")
            if name in GENERIC:
                continue
            if owners.get(collection) != name:
                strangers.append(f"{name}:{line} names {inside}")
    assert strangers == []


def test_the_readme_lists_every_capability_with_its_roles() -> None:
    from server.core.permissions import CAPABILITIES, STAFF

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Permissions") :].split("\n### ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in section.splitlines()
        if line.startswith("| `")
    }
    described = {}
    for name, roles in CAPABILITIES.items():
        described[name] = "all staff" if set(roles) == set(STAFF) else ", ".join(roles)
    assert rows == described
