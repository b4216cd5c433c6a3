"""The extension's modules imported as LNbits imports them: inside a package (named by the
caller), but without the package's `__init__`, which registers LNbits' routes and database, as
worker.py's heavy-work process does. For tests and benchmarks."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load(package: str, name: str, share_engine: bool = False) -> ModuleType:
    """`package.name`. `share_engine`: the package's `engine` is the top-level `engine` (imported
    from the repository's root), so engine objects a caller built pass for the package's own."""
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
        sys.modules[package] = importlib.util.module_from_spec(spec)
        if share_engine:
            import engine

            sys.modules[f"{package}.engine"] = engine
            for module in pkgutil.walk_packages(engine.__path__, "engine."):
                sys.modules[f"{package}.{module.name}"] = importlib.import_module(module.name)
    return importlib.import_module(f"{package}.{name}")
