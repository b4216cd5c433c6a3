"""Issue 12: one path for each effect. Only the change service writes a channel policy or
the settings document; a second caller of either is a bug waiting."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = [p for p in ROOT.glob("*.py") if p.name != "conftest.py"] + sorted((ROOT / "engine").rglob("*.py"))
# Who may call what: the writer's node call lives in node.py, its one caller in change_service.py.
ALLOWED = {
    r"\bwriter\.write\(": {"change_service.py"},
    r"\blnd_write_policy\(": {"node.py"},
    r"\bcln_write_policy\(": {"node.py", "cln_node.py"},  # its definition and its one caller
    r"[\"']setchannel[\"']": {"cln_node.py"},  # the RPC's name in code, as the chanpolicy path
    r"\bsave_settings_document\(": {"change_service.py", "crud.py"},
    r"[\"']/v1/chanpolicy": {"node.py"},  # a request path in code, not a mention in a docstring
    r"\bset_channel_fee\b": set(),
}


def callers(pattern: str) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in RUNTIME if re.search(pattern, p.read_text())}


def test_only_the_change_service_writes_policies_and_settings():
    for pattern, allowed in ALLOWED.items():
        assert callers(pattern) <= allowed, (pattern, callers(pattern) - allowed)


def test_the_check_sees_the_runtime_files():
    # A pattern that finds nothing because the file list is empty would pass vacuously.
    assert "change_service.py" in {str(p.relative_to(ROOT)) for p in RUNTIME}
    assert callers(r"\bwriter\.write\(") == {"change_service.py"}
    assert callers(r"[\"']setchannel[\"']") == {"cln_node.py"}
    assert callers(r"\bsave_settings_document\(") == {"change_service.py", "crud.py"}
