"""The package's imports form no cycle and flow one way, from the entry points down to the
building blocks (config, data, models, flops), counting imports inside functions too."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "electra_lab"

# lowest first; a module may import only from its own layer or below (a layer is a module or a package)
LAYERS = [
    {"errors", "progress", "paths", "flops", "quiet"},
    {"config"},
    {"data", "models", "tracking"},
    {"strategies"},
    {"experiment", "train"},
    {"tasks"},
    {"studies", "bench"},
    {"api", "cli", "__init__", "__main__"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> set[str]:
    """electra_lab modules that `path` imports anywhere in its body ("from pkg import name" counts
    as importing pkg.name when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("electra_lab")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("electra_lab"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found & set(MODULES)


GRAPH = {name: imported_modules(path) - {name} for name, path in MODULES.items()}


def test_the_graph_is_not_empty():
    assert GRAPH["electra_lab.train.trainer"] >= {"electra_lab.config", "electra_lab.strategies"}


def test_no_import_cycle():
    cycles = []

    def visit(node, stack, on_stack, done):
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node]):
            # a package's __init__ re-exporting its own submodules is not a cycle between modules
            if nxt == node.rsplit(".", 1)[0] and MODULES[nxt].name == "__init__.py":
                continue
            if nxt in on_stack:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, stack, on_stack, done)
        stack.pop()
        on_stack.discard(node)
        done.add(node)

    done: set[str] = set()
    for name in sorted(GRAPH):
        if name not in done:
            visit(name, [], set(), done)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"{module} is in no layer of this test: add its top-level name to LAYERS")


def test_imports_flow_downwards():
    upward = [f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets
              if b != "electra_lab" and layer_of(b) > layer_of(a)]
    assert not upward, "modules importing from a layer above them: " + ", ".join(sorted(upward))


@pytest.mark.parametrize("module", ["electra_lab.train.budget", "electra_lab.train.config_flops",
                                    "electra_lab.strategies"])
def test_module_imports_alone_in_a_fresh_interpreter(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
