"""The extension's modules imported as LNbits imports them: inside a package (named here by the
test), but without the package's `__init__`, which registers LNbits' routes and database, as
worker.py's heavy-work process does."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load(package: str, name: str) -> ModuleType:
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
        sys.modules[package] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"{package}.{name}")
