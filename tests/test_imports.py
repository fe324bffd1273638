"""The house's imports run one way: no module of dmdlab imports, directly or through
others, a module that imports it (function-level imports included: a lazy import is
still a dependency; imports under ``if TYPE_CHECKING`` are annotations only)."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "dmdlab"


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node) -> bool:
    return isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps, tree = set(), ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block)
                       for n in ast.walk(block)}  # fmt: skip
        for node in ast.walk(tree):
            if id(node) in typing_only:  # annotations only: no dependency at run time
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from dmdlab import metrics` imports the submodule (and runs the package)
                subs = [f"{node.module}.{a.name}" for a in node.names]
                targets = [s for s in subs if s in modules] or [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def _cycle(graph) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_dmdlab_has_no_import_cycle():
    graph = _graph()
    # the package's own __init__ (the curated API) sits on top: nothing inside imports
    # from it (`from dmdlab import metrics` names a submodule, which is fine)
    assert not [m for m, deps in graph.items() if "dmdlab" in deps], "a module imports dmdlab"
    graph.pop("dmdlab")
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_function_is_over_60_lines_but_the_declaration_tables():
    tables = {("columns", "_declarations")}  # one table of every result column
    long = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 60 and (path.stem, node.name) not in tables:
                    long.append(f"{path.relative_to(PKG)}:{node.name} ({n} lines)")
    assert not long, long
