"""The floor plan holds by itself: import-linter's contracts (pyproject.toml), no import circle, and
function-level imports only where they defer a heavy library the importing module does not load already."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
# Libraries whose import costs seconds or pulls a GPU runtime: the command line's rejection path and --help
# must answer without them, so a module may import a module that loads them inside the function that needs it.
HEAVY = {"torch", "torchvision", "cv2", "sklearn", "imblearn", "matplotlib", "wandb", "scipy", "pandas",
         "submitit", "PIL", "hydra_plugins", "joblib", "timm", "optuna"}
# Function-level imports of light modules kept on purpose, each with its reason.
KEPT_FUNCTION_IMPORTS = {
    ("balancelab.cli.run_command", "balancelab.configs"):
        "imported for its side effect (registers the option schemas with Hydra's ConfigStore) right before "
        "Hydra runs, never on the --help or rejection path",
    ("balancelab.cli.sweep_command", "balancelab.configs"):
        "the same registration, before balance-sweep hands over to Hydra",
}


def _modules() -> dict:
    found = {}
    for path in (SOURCE / "balancelab").rglob("*.py"):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _top_level_imports(tree: ast.Module) -> list:
    out = []

    def walk(body):
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.append(node)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)
                walk(node.orelse)
                walk(node.finalbody)
            elif isinstance(node, ast.If):
                walk(node.body)
                walk(node.orelse)

    walk(tree.body)
    return out


def _imported(node, modules: dict) -> list:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert node.level == 0, f"relative import {ast.unparse(node)}: balancelab uses absolute imports"
    names = [node.module]
    names += [f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in modules]
    return names


def _parents(name: str) -> list:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _heavy_reach(modules: dict, trees: dict) -> dict:
    """{module: the heavy libraries importing it loads}, through module-level imports (packages included)."""
    deps = {m: [x for n in _top_level_imports(t) for x in _imported(n, modules)] for m, t in trees.items()}
    reach = {m: set() for m in modules}
    changed = True
    while changed:
        changed = False
        for module, imported in deps.items():
            new = set(reach[module])
            for name in imported:
                if name.split(".")[0] in HEAVY:
                    new.add(name.split(".")[0])
                for parent in _parents(name):
                    new |= reach.get(parent, set())
            for parent in _parents(module)[:-1]:
                new |= reach.get(parent, set())
            if new != reach[module]:
                reach[module], changed = new, True
    return reach


def test_import_linter_contracts_are_kept():
    import logging

    from importlinter.cli import lint_imports

    # import-linter configures logging with disable_existing_loggers, which silenced the "balancelab" logger for
    # every later test of the same worker (their caplog then saw nothing): put the loggers back as they were.
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)] + [logging.root]
    before = [(logger, logger.disabled, logger.level) for logger in loggers]
    try:
        code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        for logger, disabled, level in before:
            logger.disabled, logger.level = disabled, level
    assert code == 0, "an import breaks the floor plan: run `lint-imports` for the chain"


def test_no_upward_import_is_silenced():
    """At most two imports may run back up a layer, each named in pyproject.toml with its reason (today: none)."""
    text = (ROOT / "pyproject.toml").read_text()
    contracts = text[text.index("[tool.importlinter]"):]
    ignored = [line for line in contracts.splitlines() if "->" in line and not line.lstrip().startswith("#")]
    assert len(ignored) <= 2, f"more than two imports run back up a layer: {ignored}"
    for line in ignored:
        assert "#" in line, f"an import that runs back up needs its reason as a comment on its line: {line}"


def _graph():
    grimp = pytest.importorskip("grimp")
    return grimp.build_graph("balancelab")


def test_no_import_circle():
    """No module imports itself back through others (function-level imports included)."""
    graph = _graph()
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith("balancelab")}
             for m in graph.modules if m.startswith("balancelab")}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(module):  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in edges.get(module, ()):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in edges:
        if module not in index:
            visit(module)
    assert circles == [], f"import circles: {circles}"


def test_function_level_imports_only_defer_a_heavy_library():
    """An import inside a function is for a module that loads a heavy library (torch, cv2, scikit-learn,
    matplotlib, wandb, ...) its importer does not load already; anything else belongs at the top of the module,
    where a new circle fails the contracts at once."""
    modules = _modules()
    trees = {name: ast.parse(path.read_text()) for name, path in modules.items()}
    reach = _heavy_reach(modules, trees)
    needless = []
    for module, tree in trees.items():
        top = {id(node) for node in _top_level_imports(tree)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in top:
                continue
            imported = [name for name in _imported(node, modules) if name and name.startswith("balancelab")]
            if not imported:
                continue
            loads = set().union(*(reach.get(p, set()) for name in imported for p in _parents(name)))
            if loads - reach[module] or (module, imported[0]) in KEPT_FUNCTION_IMPORTS:
                continue
            needless.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    assert needless == [], ("function-level imports that defer no heavy library (move them to the top of the "
                            "module, or add them to KEPT_FUNCTION_IMPORTS with the reason):\n" + "\n".join(needless))


def test_kept_function_imports_are_still_there():
    """The exceptions list does not outlive its imports."""
    modules = _modules()
    for module, imported in KEPT_FUNCTION_IMPORTS:
        text = modules[module].read_text()
        assert f"import {imported}" in text or f"from {imported} import" in text, (module, imported)


def test_only_the_command_line_package_reads_the_process_arguments():
    """The cli package parses sys.argv and passes what it parsed down: a module below it that read the process's
    arguments would answer differently when called from a test, a notebook or another command."""
    readers = []
    for name, path in _modules().items():
        if name == "balancelab.cli" or name.startswith("balancelab.cli."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "argv" and getattr(node.value, "id", None) == "sys":
                readers.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "argv" for a in node.names):
                readers.append(f"{name}:{node.lineno}")
    assert not readers, f"read sys.argv below balancelab.cli: {readers}"


def test_the_configs_package_stands_on_the_options_only():
    """``balancelab.configs`` is mapped from the top-level ``configs/`` folder (so a reader finds the YAML there),
    outside ``src/balancelab``, where import-linter's graph does not see it: its floor is checked here. It may
    import the option schemas and resolvers it registers for Hydra, nothing above them."""
    tree = ast.parse((ROOT / "configs" / "__init__.py").read_text())
    imported = [name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])]
    ours = [name for name in imported if name.split(".")[0] == "balancelab"]
    assert ours, "configs/__init__.py registers the schemas: it imports balancelab.options"
    for name in ours:
        assert name.startswith("balancelab.options."), f"configs/__init__.py imports {name}, above the options"
    assert not [name for name in imported if name.split(".")[0] in HEAVY]  # Hydra imports it on every run
