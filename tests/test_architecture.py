"""The package's structure, checked: imports point down the layers, no module imports
itself back through others, and no function grows past a screen.

docs/architecture.md describes the layers; this is its executable half.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "iter"

# Bottom to top. A module may import modules of its own layer or of layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("iter.errors", "iter.config", "iter.version", "iter.tasks", "iter.runtime")),
    ("data", ("iter.data",)),
    ("inference", ("iter.inference",)),
    ("modeling", ("iter.modeling",)),
    ("evaluation", ("iter.evaluation",)),
    ("training", ("iter.training", "iter.cards", "iter.plots")),
    ("commands", ("iter.cli", "iter.sweeps", "iter.api")),
]
LONGEST_FUNCTION = 80


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """Index of the layer a module belongs to (the longest matching prefix)."""
    best, found = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and the docs")
    return found


def imported_modules(module: str, path: Path) -> set[str]:
    """Every module of the package that ``module`` imports, anywhere in the file (at the
    top, inside functions, under TYPE_CHECKING): a lazy import is still a dependency."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from iter.data import document`` imports the module iter.data.document.
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES)
    found.discard(module)
    return found


GRAPH = {module: imported_modules(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    for module in MODULES:
        if module != "iter":  # the public facade re-exports from every layer
            layer_of(module)


def upward_imports(graph: dict[str, set[str]], module: str) -> list[str]:
    return sorted(
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for target in graph[module]
        if layer_of(target) > layer_of(module)
    )


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "iter"))
def test_imports_point_down_the_layers(module):
    assert "iter" not in GRAPH[module], f"{module} imports the package facade (iter/__init__)"
    upward = upward_imports(GRAPH, module)
    assert not upward, f"{module} ({LAYERS[layer_of(module)][0]}) imports upward: {upward}"


def test_no_import_cycles():
    assert not import_cycles(GRAPH)


def test_the_checks_find_upward_and_circular_imports():
    # The rules must be able to fail: the structure this repository had before issue 12.
    before = {
        "iter.modeling.model": {"iter.inference.text"},
        "iter.inference.text": {"iter.inference.documents"},
        "iter.inference.documents": {"iter.modeling.model"},
        "iter.evaluation.runner": {"iter.training.precision"},
        "iter.training.precision": set(),
    }
    assert upward_imports(before, "iter.evaluation.runner") == [
        "iter.training.precision (training)"
    ]
    assert import_cycles(before) == [
        ["iter.inference.documents", "iter.inference.text", "iter.modeling.model"]
    ]
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("iter.nowhere")


def test_no_function_longer_than_a_screen():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST_FUNCTION:
                    long.append(f"{module}.{node.name} ({lines} lines)")
    assert not long, f"functions over {LONGEST_FUNCTION} lines: {long}"


def test_importing_the_package_and_the_command_stays_light():
    # `iter --help` must answer at once: the facade loads torch only on first use of a model.
    import subprocess
    import sys

    code = (
        "import sys, iter, iter.cli.main; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    import iter

    assert iter.ITERForRelationExtraction.__name__ == "ITERForRelationExtraction"
    assert "ITERConfig" in dir(iter)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        iter.nothing  # noqa: B018
