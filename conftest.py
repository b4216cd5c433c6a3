"""pytest only: collect the repository root as a plain folder, not as a Python package.

The root has an `__init__.py` because LNbits imports this folder as the `feepilot`
package. pytest would collect the root as a package too and import that `__init__.py`
under the clone folder's name, which fails when that name is not a Python identifier
(`git clone … fee-autopilot`): every test then errors with "attempted relative import
with no known parent package". No test needs the extension package itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


class RootIsAFolder:
    # A plugin, not a conftest hook: pytest asks the conftests of the root's *parent*
    # how to collect the root, and this conftest is not one of them.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collect_directory(self, path: Path, parent):
        if Path(path).resolve() == ROOT:
            return pytest.Dir.from_parent(parent, path=path)
        return None


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RootIsAFolder(), "feepilot-root-is-a-folder")
