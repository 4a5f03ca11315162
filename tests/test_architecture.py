"""The layer rule of docs/architecture.md: no module imports a higher layer, and the top-level
packages form no import cycle. Every import statement counts, also those inside functions.

The checks are plain functions of an import list, so the synthetic violations below show that
they fail when the rule is broken (e.g. ``tektii_core`` importing ``tektii_platform``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package -> layer, lowest first (docs/architecture.md)
LAYERS = {"tektii_core": 1, "tektii_engine": 2, "tektii_platform": 3, "tektii_plugins": 4}
FOLDERS = {"tektii_core": "tektii_core", "tektii_engine": "tektii_engine", "tektii_platform": "tektii_platform",
           "tektii_plugins": "plugins"}

Import = tuple[str, str, str]  # (importing module, imported module, "file:line")


def module_name(package: str, path: Path) -> str:
    parts = [package, *path.relative_to(ROOT / FOLDERS[package]).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(package: str, path: Path) -> list[Import]:
    importer = module_name(package, path)
    base = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [(importer, alias.name, where) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within the importer's own package
                target = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((importer, target, where))
    return found


def all_imports() -> list[Import]:
    found = []
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += imports_of(package, path)
    return found


def layer_of(module: str) -> int | None:
    return LAYERS.get(module.split(".")[0])


def upward_imports(imports: list[Import]) -> list[str]:
    """Each import of a higher layer, as "file:line: importer imports imported"."""
    bad = []
    for importer, imported, where in imports:
        low, high = layer_of(importer), layer_of(imported)
        if low is not None and high is not None and high > low:
            bad.append(f"{where}: {importer} imports {imported}")
    return bad


def package_cycles(imports: list[Import]) -> list[list[str]]:
    """The cycles in the graph of top-level packages (each as a path that returns to its start)."""
    graph: dict[str, set[str]] = {}
    for importer, imported, _ in imports:
        a, b = importer.split(".")[0], imported.split(".")[0]
        if a != b and a in LAYERS and b in LAYERS:
            graph.setdefault(a, set()).add(b)
    cycles = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                cycles.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest member
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return cycles


def test_the_import_scan_sees_the_packages():
    imports = all_imports()
    importers = {importer.split(".")[0] for importer, _, _ in imports}
    assert importers == set(LAYERS)
    # a known downward import, found inside a function body
    assert any(i == "tektii_engine.worker" and m == "tektii_core.plugins" for i, m, _ in imports)
    assert any(i == "tektii_plugins.commands.sweep" and m == "tektii_plugins.commands.scenario" for i, m, _ in imports)


def test_no_module_imports_a_higher_layer():
    assert upward_imports(all_imports()) == []


def test_the_top_level_packages_have_no_import_cycle():
    assert package_cycles(all_imports()) == []


def test_the_checks_report_a_synthetic_violation():
    upward = ("tektii_core.upload", "tektii_platform.registry", "tektii_core/upload.py:9")
    downward = ("tektii_platform.registry", "tektii_core.errors", "tektii_platform/registry.py:3")
    assert upward_imports([upward, downward]) == [
        "tektii_core/upload.py:9: tektii_core.upload imports tektii_platform.registry"]
    assert package_cycles([upward, downward]) == [["tektii_core", "tektii_platform", "tektii_core"]]
    assert package_cycles([downward]) == []


def test_relative_imports_resolve_inside_their_package():
    found = imports_of("tektii_platform", ROOT / "tektii_platform" / "api" / "versions.py")
    assert ("tektii_platform.api.versions", "tektii_platform.api.strategies") in {(i, m) for i, m, _ in found}


# -- inside the platform: handlers on top, services below them, the store at the bottom -----------
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK) ")
SQL_HOMES = ("tektii_platform/store/", "tektii_platform/db.py", "tektii_platform/migrations/")  # + Alembic revisions


def sql_strings(path: Path) -> list[str]:
    """Every string constant (f-string parts too) of `path` that starts like an SQL statement."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
            label = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            found.append(f"{label}:{node.lineno}: {node.value.strip()[:60]}")
    return found


def sql_outside_the_store() -> list[str]:
    return [hit for path in sorted((ROOT / "tektii_platform").rglob("*.py"))
            if not str(path.relative_to(ROOT)).startswith(SQL_HOMES) for hit in sql_strings(path)]


def platform_rule_violations(imports: list[Import]) -> list[str]:
    """Only the application (app.py) reaches the API handlers; the store reaches neither them nor
    the HTTP layer nor the services above it."""
    bad = []
    for importer, imported, where in imports:
        if not importer.startswith("tektii_platform") or not imported.startswith("tektii_platform"):
            continue
        handler = imported == "tektii_platform.api" or imported.startswith("tektii_platform.api.")
        if handler and not importer.startswith("tektii_platform.api") and importer != "tektii_platform.app":
            bad.append(f"{where}: {importer} imports {imported}")
        if importer.startswith("tektii_platform.store") and not imported.startswith(
                ("tektii_platform.store", "tektii_platform.db", "tektii_platform.ids")):
            bad.append(f"{where}: {importer} imports {imported}")
    return bad


def test_no_sql_outside_the_store_and_db():
    assert sql_outside_the_store() == []


def test_the_platforms_inner_layers():
    assert platform_rule_violations(all_imports()) == []


def test_the_platform_checks_report_synthetic_violations(tmp_path):
    assert platform_rule_violations([
        ("tektii_platform.execution", "tektii_platform.api.registry", "x:1"),
        ("tektii_platform.store.users", "tektii_platform.http", "x:2"),
        ("tektii_platform.app", "tektii_platform.api", "x:3"),
        ("tektii_platform.store.users", "tektii_platform.store", "x:4"),
    ]) == ["x:1: tektii_platform.execution imports tektii_platform.api.registry",
           "x:2: tektii_platform.store.users imports tektii_platform.http"]
    sample = tmp_path / "sample.py"
    sample.write_text('q = f"SELECT id FROM t WHERE x = {1}"\nmessage = "Select a file"\n')
    assert sql_strings(sample) == ["sample.py:1: SELECT id FROM t WHERE x ="]
