"""The library's shape: no module too long to read, no import cycle (imports inside functions count too)."""

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib"
MAX_LINES = 800


def module_files(root: Path = LIB, package: str = "oioi_onboard") -> dict[str, Path]:
    """Every module of a package by dotted name; a package itself is its ``__init__.py``."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that ``name`` imports anywhere in its file, relative imports resolved.

    ``from .x import y`` depends on x, and on x.y as well when that is a module.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


def import_graph(root: Path = LIB, package: str = "oioi_onboard") -> dict[str, set[str]]:
    modules = module_files(root, package)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as module names, the first repeated at the end; None when there is none."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]
        branches = [iter(sorted(graph[start]))]
        while branches:
            child = next(branches[-1], None)
            if child is None:
                done.add(path.pop())
                branches.pop()
            elif child in path:
                return path[path.index(child):] + [child]
            elif child not in done:
                path.append(child)
                branches.append(iter(sorted(graph[child])))
    return None


def test_no_library_module_is_over_800_lines():
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in module_files().items()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_no_import_cycle_among_library_modules():
    assert find_cycle(import_graph()) is None


def test_imports_inside_functions_and_relative_ones_make_edges(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .leaf import VALUE\n")
    (package / "sub" / "leaf.py").write_text("def late():\n    from .. import top\n    return top\n")
    (package / "top.py").write_text("from .sub import leaf\n")

    graph = import_graph(tmp_path, "pkg")

    assert graph == {"pkg": set(), "pkg.sub": {"pkg.sub.leaf"}, "pkg.sub.leaf": {"pkg", "pkg.top"},
                     "pkg.top": {"pkg.sub", "pkg.sub.leaf"}}
    assert find_cycle(graph) == ["pkg.sub", "pkg.sub.leaf", "pkg.top", "pkg.sub"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_uploader_says_the_importers_own_size_limit():
    import tomllib

    from oioi_onboard.sheets.reader import MAX_BYTES

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1_000_000 == MAX_BYTES
