"""What the app and the command take from the library is public: named in ``__all__``.

The rule for the app: it imports from ``oioi_onboard``'s packages (``oioi``, ``ocpi``, ``sheets``,
``store``, ``sync``, ``workflows``) and top-level modules (``errors``, ``settings``), never from a module
inside a package, and only names in that package's or module's ``__all__``; none starts with an
underscore. A package's ``__all__`` may name a module the app calls through (``queries.get_cpo``);
nothing the app takes from such a module starts with an underscore either.

The command (``cli/``) belongs to the library and imports from the modules themselves, so that the
layout test sees each of its imports; whatever it takes from another package is still public there:
named in the package's ``__all__``, or taken from a module named there.
"""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ["oioi", "ocpi", "sheets", "store", "sync", "workflows", "cli", "testing", "errors", "settings", "launcher"]


def _public(unit: str) -> list[str]:
    return importlib.import_module(f"oioi_onboard.{unit}").__all__


def app_violations(source: str, where: str) -> list[str]:
    """Each import of ``source`` (a file of the app) that breaks the rule, as ``where:line: why``."""
    found, modules = [], set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{where}:{node.lineno}: import {alias.name}: import names from the package"
                      for alias in node.names if alias.name.split(".")[0] == "oioi_onboard"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "oioi_onboard":
            parts = node.module.split(".")
            if len(parts) != 2:
                found.append(f"{where}:{node.lineno}: from {node.module}: import from oioi_onboard.<package>")
                continue
            unit = importlib.import_module(node.module)
            public = getattr(unit, "__all__", [])
            for alias in node.names:
                if alias.name.startswith("_") or alias.name not in public:
                    found.append(f"{where}:{node.lineno}: {alias.name} is not in {node.module}.__all__")
                elif inspect.ismodule(getattr(unit, alias.name)):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_")):
            found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr} is private")
    return found


def cli_violations(path: Path) -> list[str]:
    """Each name a module of ``cli/`` takes from another package that is not public there."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:  # relative to oioi_onboard.cli.<module>: level 2 is oioi_onboard
            source = ["oioi_onboard", "cli"][: 3 - node.level] + (node.module.split(".") if node.module else [])
        else:
            source = (node.module or "").split(".")
        if source[0] != "oioi_onboard" or len(source) < 2 or source[1] == "cli":
            continue
        public = _public(source[1])
        for alias in node.names:
            if not (alias.name in public or (len(source) > 2 and source[2] in public)):
                found.append(f"{path.name}:{node.lineno}: {alias.name} from {'.'.join(source)} is not public")
    return found


def test_the_app_imports_only_public_names():
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        found += app_violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_the_command_takes_only_public_names_from_other_packages():
    found = []
    for path in sorted((ROOT / "lib" / "oioi_onboard" / "cli").glob("*.py")):
        found += cli_violations(path)
    assert found == []


@pytest.mark.parametrize("unit", UNITS)
def test_every_public_name_is_there(unit):
    package = importlib.import_module(f"oioi_onboard.{unit}")
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []


def test_the_rules_catch_each_way_round_them(tmp_path):
    source = (
        "import oioi_onboard.store.queries\n"
        "from oioi_onboard.store.queries import get_cpo\n"
        "from oioi_onboard.store import _surface, get_cpo\n"
        "from oioi_onboard.store import Actor, queries as q\n"
        "q._per_cpo(None)\n"
        "q.get_cpo(None)\n"
    )
    assert app_violations(source, "page.py") == [
        "page.py:1: import oioi_onboard.store.queries: import names from the package",
        "page.py:2: from oioi_onboard.store.queries: import from oioi_onboard.<package>",
        "page.py:3: _surface is not in oioi_onboard.store.__all__",
        "page.py:3: get_cpo is not in oioi_onboard.store.__all__",
        "page.py:5: q._per_cpo is private",
    ]
    command = tmp_path / "group.py"
    command.write_text("from ..store.queries import get_cpo\nfrom ..store.secrets import decrypt_api_key\n")
    assert cli_violations(command) == ["group.py:2: decrypt_api_key from oioi_onboard.store.secrets is not public"]
