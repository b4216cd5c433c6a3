"""Issue 15: a guest in LNbits' process changes none of the host's interpreter-wide settings.

Freezing the heap, disabling the garbage collector or changing the GIL's switch interval
would change how all of LNbits runs; heavy work goes to Fee Autopilot's own process instead
(worker.py). The runtime files are every .py file LNbits loads: the repository root and its
packages, without the tests, benchmarks, dev tools and simnode (dev and test only).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_RUNTIME = {"tests", "bench", "devtools", "simnode", ".venv", "dist", "run", "test-output", "node_modules"}
FORBIDDEN = re.compile(r"\bgc\s*\.\s*(freeze|disable)\b|\bsetswitchinterval\b")


def runtime_files() -> list[Path]:
    files = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_RUNTIME or any(part.startswith(".") for part in parts):
            continue
        files.append(path)
    return files


def test_the_runtime_files_include_the_extension_and_its_engine():
    names = {str(p.relative_to(ROOT)) for p in runtime_files()}
    assert {"__init__.py", "services.py", "node.py", "worker.py", "tasks.py", "engine/graph_metrics.py"} <= names
    assert not any(name.startswith(("tests/", "bench/", "devtools/", "simnode/")) for name in names)


def test_no_runtime_file_freezes_the_heap_disables_the_collector_or_sets_the_switch_interval():
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in runtime_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert offending == []


def test_the_pattern_finds_each_setting():
    for line in ("gc.freeze()", "gc.disable()", "import gc; gc . disable()", "sys.setswitchinterval(0.001)"):
        assert FORBIDDEN.search(line), line
    for line in ("gc.collect()", "gc.isenabled()", "sys.getswitchinterval()"):
        assert not FORBIDDEN.search(line), line
