"""The shape issue 10 gave the code: small modules and functions, no cycles, tests kept apart."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60
OUTSIDE_TESTS = ("src", "localcluster", "demo", "benchmarks", "pack")


def modules(root: Path) -> dict[str, Path]:
    """Return the Python modules below root by dotted name (packages by their own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


SRC_MODULES = modules(SRC)


def imported(path: Path) -> Iterator[str]:
    """Yield every module name an `import` or `from ... import` of the file names."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def src_imports(name: str) -> set[str]:
    return {target for target in imported(SRC_MODULES[name]) if target in SRC_MODULES} - {name}


@pytest.mark.parametrize("name", sorted(SRC_MODULES))
def test_no_src_module_is_over_350_lines(name):
    assert len(SRC_MODULES[name].read_text().splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize("name", sorted(SRC_MODULES))
def test_no_src_function_is_over_60_lines(name):
    tree = ast.parse(SRC_MODULES[name].read_text())
    long = [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_nothing_outside_tests_imports_from_tests():
    offenders = [
        f"{path.relative_to(ROOT)}: {target}"
        for tree in OUTSIDE_TESTS
        for path in sorted((ROOT / tree).rglob("*.py"))
        for target in imported(path)
        if target == "tests" or target.startswith("tests.")
    ]
    assert offenders == []


def test_src_modules_import_each_other_without_a_cycle():
    graph = {name: src_imports(name) for name in SRC_MODULES}
    done: set[str] = set()

    def cycle_from(name: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if name in path:
            return (*path[path.index(name) :], name)
        if name in done:
            return None
        for target in sorted(graph[name]):
            found = cycle_from(target, (*path, name))
            if found:
                return found
        done.add(name)
        return None

    assert [c for name in sorted(graph) if (c := cycle_from(name, ()))] == []


def test_only_the_charm_and_its_relation_glue_import_ops():
    importing_ops = {
        name
        for name, path in SRC_MODULES.items()
        if any(t == "ops" or t.startswith("ops.") for t in imported(path))
    }
    # observability: the exporter's container and the COS relations (issue 15); what it moves
    # is built by the pure workload_layer, cos_scrape and cos_dashboards. standby: the
    # non-leader's status, kept in the unit's stored state; spot_config still builds it.
    assert importing_ops == {"charm", "manifests_requirer", "observability", "standby"}
