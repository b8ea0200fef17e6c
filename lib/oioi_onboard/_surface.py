"""A package's public surface, loaded from its modules on first use (PEP 562).

A package lists what the app and the command may use: modules used as namespaces
(``queries.list_cpos``) and names that live in its modules. Importing those modules
in ``__init__.py`` would load pandas, SQLModel or Starlette for every command that
touches the package at all, so each is imported only when one of its names is asked for.
"""

import importlib
import sys
from collections.abc import Callable


def public_surface(
    package: str, *, modules: list[str], names: dict[str, list[str]]
) -> tuple[list[str], Callable[[str], object]]:
    """``__all__`` and the module ``__getattr__`` for ``package``.

    ``modules`` are public as a whole; ``names`` maps a module to the names it gives the package.
    A name is looked up in its module once, then kept on the package.
    """
    homes = {name: module for module, exported in names.items() for name in exported}
    public = [*modules, *homes]

    def __getattr__(name: str) -> object:
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return public, __getattr__
