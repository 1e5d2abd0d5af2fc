"""Architecture checks on the source, by parsing it (nothing here is imported).

* Drivers import only unistore's public names: ``unistore``, ``unistore.errors``,
  ``unistore.protocols``, ``unistore.sdk``, ``unistore.testing`` - never a
  private ``unistore._x`` module (nor ``from unistore import _x``).
* The modules of a package import each other without cycles (top-level imports
  only: those under ``if TYPE_CHECKING:`` and inside functions run later).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "src"
DRIVER_SRCS = sorted(path for path in (ROOT / "drivers").glob("*/src") if path.is_dir())


@dataclass(frozen=True)
class _Import:
    """One import statement's target, where it is, and whether it runs at import time."""

    module: str  # the module named ("a.b" in "from a.b import c")
    names: tuple[str, ...]  # the names taken from it ("c"), empty for "import a.b"
    path: Path
    line: int
    top_level: bool

    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, src: Path) -> Iterator[_Import]:
    """Yield every import of a module, marking those that run when it is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path, src)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(nodes: list[ast.stmt], top: bool) -> Iterator[_Import]:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield _Import(alias.name, (), path, node.lineno, top)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join([*base, module] if module else base)
                names = tuple(alias.name for alias in node.names)
                yield _Import(module, names, path, node.lineno, top)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                yield from visit(node.body, False)
                yield from visit(node.orelse, top)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(node.body, False)
            else:
                # Class bodies, try/with/if/for blocks run at import time.
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        stmts = [c for c in children if isinstance(c, ast.stmt)]
                        for child in children:
                            if isinstance(child, ast.ExceptHandler | ast.match_case):
                                stmts.extend(child.body)
                        yield from visit(stmts, top)

    yield from visit(tree.body, True)


def _modules(src: Path) -> dict[str, Path]:
    return {_module_name(path, src): path for path in sorted(src.rglob("*.py"))}


# -- drivers import only public unistore names --------------------------------------


def _private_use(imp: _Import) -> str | None:
    if imp.module != "unistore" and not imp.module.startswith("unistore."):
        return None
    if any(part.startswith("_") for part in imp.module.split(".")[1:]):
        return imp.module
    if imp.module == "unistore":
        private = [name for name in imp.names if name.startswith("_")]
        if private:
            return f"unistore.{private[0]}"
    return None


@pytest.mark.parametrize("src", DRIVER_SRCS, ids=lambda p: p.parent.name)
def test_drivers_import_only_public_unistore_names(src: Path) -> None:
    offences = [
        f"{imp.where()}: {private}"
        for path in _modules(src).values()
        for imp in _imports(path, src)
        if (private := _private_use(imp)) is not None
    ]
    assert not offences, "drivers import private unistore modules:\n" + "\n".join(offences)


def test_the_private_import_check_has_teeth(tmp_path: Path) -> None:
    pkg = tmp_path / "unistore_bad"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from unistore import StoreURL, _registry\n"
        "from unistore.sdk import StoreBase\n"
        "def f() -> None:\n"
        "    from unistore._url import StoreURL\n"
        "    import unistore.sdk._checks\n"
    )
    found = [
        private
        for imp in _imports(pkg / "__init__.py", tmp_path)
        if (private := _private_use(imp)) is not None
    ]
    assert found == ["unistore._registry", "unistore._url", "unistore.sdk._checks"]


# -- no import cycles ---------------------------------------------------------------


def _graph(src: Path) -> dict[str, dict[str, str]]:
    """Module -> {module it imports at import time: where}, inside ``src``'s packages."""
    modules = _modules(src)
    graph: dict[str, dict[str, str]] = {name: {} for name in modules}
    for name, path in modules.items():
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            ancestors.add(name)
        for imp in _imports(path, src):
            if not imp.top_level or imp.module not in modules:
                continue
            targets: list[str] = []
            submodules = [f"{imp.module}.{n}" for n in imp.names if f"{imp.module}.{n}" in modules]
            if len(submodules) < len(imp.names) or imp.module not in ancestors:
                # Reads names from that module's namespace, or runs it first.
                targets.append(imp.module)
            targets.extend(submodules)
            # Importing a.b.c runs the a.b package first (a package we are not in).
            parts = imp.module.split(".")
            targets.extend(
                parent
                for parent in (".".join(parts[:i]) for i in range(1, len(parts)))
                if parent in modules and parent not in ancestors
            )
            for target in targets:
                if target != name:
                    graph[name].setdefault(target, imp.where())
    return graph


def _cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                strongconnect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return sorted(found)


def _describe(graph: dict[str, dict[str, str]], component: list[str]) -> str:
    members = set(component)
    edges = [
        f"    {source} -> {target}  ({where})"
        for source in component
        for target, where in sorted(graph[source].items())
        if target in members
    ]
    return "cycle among " + ", ".join(component) + ":\n" + "\n".join(edges)


@pytest.mark.parametrize(
    "src", [CORE, *DRIVER_SRCS], ids=lambda p: "core" if p == CORE else p.parent.name
)
def test_no_import_cycles(src: Path) -> None:
    graph = _graph(src)
    cycles = _cycles(graph)
    assert not cycles, "\n".join(_describe(graph, component) for component in cycles)


def test_the_cycle_check_has_teeth(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.a import A\n")
    (pkg / "a.py").write_text("from pkg.b import B\nA = 1\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.c import C\n"
        "def f() -> None:\n"
        "    from pkg.a import A\n"
        "from pkg import A as B\n"
    )
    (pkg / "c.py").write_text("from pkg.b import B as C\n")
    assert _cycles(_graph(tmp_path)) == [["pkg", "pkg.a", "pkg.b"]]
