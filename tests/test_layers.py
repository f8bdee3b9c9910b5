"""The package's layers hold (cli > remote/admin/dev > core > project/sqlite > errors), no module
import cycle, a small top level and no module over 500 lines.

Read from the source with `ast`, so lazy imports inside functions count too: a core module
that imports `worktime_cli.remote` inside a function still depends on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "worktime_cli"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in (a module, or the package holding it)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str, *, typing_only: bool) -> set[str]:
    """Project modules `module` imports (with `typing_only`, also those under TYPE_CHECKING)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skip: set[int] = set()
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node):
                skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            target = _resolve(name)
            if target and target != module:
                found.add(target)
    return found


# The packages by layer, lowest first: a module imports only from its own layer or below
# (sideways within a layer; the cycle test below keeps sideways imports acyclic). The seam's
# protocols and result types (targets/) sit with the core they describe, because both the
# local implementations (d1/, secrets/, kv/) and the remote ones import them.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("worktime_cli", "errors", "clock", "fsutil"),
    ("project", "sqlite"),
    ("d1", "migrations", "kv", "secrets", "targets"),
    ("remote", "admin", "dev"),
    ("cli", "__main__"),
)


def layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else parts[0]
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def test_the_top_level_holds_only_the_packages_and_a_few_small_modules():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "__main__", "clock", "errors", "fsutil"]
    assert all(layer(module) >= 0 for module in MODULES)


def test_no_module_is_over_500_lines():
    long = {
        module: n
        for module, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}


def test_every_import_points_down_or_sideways():
    wrong = sorted(
        f"{module} imports {target}"
        for module in MODULES
        for target in imports(module, typing_only=True)
        if layer(target) > layer(module)
    )
    assert wrong == []


def test_typer_and_rich_only_under_cli():
    wrong = []
    for module, path in MODULES.items():
        if module.startswith("worktime_cli.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                roots = (
                    [a.name.split(".")[0] for a in node.names]
                    if isinstance(node, ast.Import)
                    else [(node.module or "").split(".")[0]]
                )
                wrong += [f"{module} imports {r}" for r in roots if r in ("typer", "rich", "click")]
    assert wrong == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle():
    edges = {module: imports(module, typing_only=False) for module in MODULES}
    # A package's __init__ that re-exports its submodules is not a cycle with them.
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    assert _cycles(edges) == []


def test_the_checker_sees_a_cycle_and_an_upward_import():
    # The checks above can fail: a made-up graph with a cycle is caught.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("worktime_cli.cli.d1") > layer("worktime_cli.remote.d1") > layer("worktime_cli.kv")
    assert (
        layer("worktime_cli.kv")
        > layer("worktime_cli.project.config")
        > layer("worktime_cli.errors")
    )
