"""The tests run in a clone whose folder name is not a Python identifier (root conftest.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def fake_clone(where: Path, with_conftest: bool) -> Path:
    """A folder shaped like this repository: an extension package at the root, tests below."""
    root = where / "fee-autopilot"
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "__init__.py").write_text("from .part import VALUE\n")  # relative, like the extension's
    (root / "part.py").write_text("VALUE = 1\n")
    (root / "tests" / "unit" / "test_one.py").write_text("def test_one():\n    assert True\n")
    shutil.copy(REPO_ROOT / "pytest.ini", root / "pytest.ini")
    if with_conftest:
        shutil.copy(REPO_ROOT / "conftest.py", root / "conftest.py")
    return root


def run_pytest(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/unit"], cwd=root,
                          capture_output=True, text=True, timeout=120)


def test_tests_run_in_a_folder_named_like_a_clone(tmp_path):
    done = run_pytest(fake_clone(tmp_path, with_conftest=True))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_without_the_root_conftest_they_do_not(tmp_path):
    # The failure the root conftest.py prevents, so the test above cannot pass vacuously
    # (if a pytest release stops importing the root package, conftest.py can go).
    done = run_pytest(fake_clone(tmp_path, with_conftest=False))
    assert done.returncode != 0
    assert "relative import" in done.stdout + done.stderr
