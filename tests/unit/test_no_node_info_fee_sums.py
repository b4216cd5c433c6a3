"""Issue 16: nothing of ours reads LNbits' node-info fee sums.

LNbits 1.6.2's `LndRestNode.get_info` puts LND's fee report sums (`day_fee_sum`, `week_fee_sum`,
`month_fee_sum`, in sat) into `NodeFees.daily_msat` / `weekly_msat` / `monthly_msat`: 1000× too
low. Our earnings come from the forwarding history we keep (forwards_store.py), never from there.
"""

from __future__ import annotations

import re
from pathlib import Path

import lnbits.nodes.lndrest as lndrest

from .test_no_interpreter_settings import ROOT, runtime_files

FEE_SUM_FIELDS = re.compile(r"\b(daily_msat|weekly_msat|monthly_msat|NodeFees|(day|week|month)_fee_sum)\b")
PAGE_FILES = ("static", "templates")


def test_lnbits_still_reads_the_sat_sums_into_msat_fields():
    # the hazard this file guards against; if LNbits fixes it, this test says so
    source = Path(lndrest.__file__).read_text(encoding="utf-8")
    assert re.search(r"daily_msat\s*=\s*fee_report\[\"day_fee_sum\"\]", source)


def test_no_runtime_or_page_file_uses_the_node_info_fee_sums():
    files = runtime_files() + [p for d in PAGE_FILES for p in sorted((ROOT / d).rglob("*")) if p.suffix in (".js", ".html")]
    assert any(p.name == "index.html" for p in files) and any(p.name == "node.py" for p in files)
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FEE_SUM_FIELDS.search(line)
    ]
    assert not offending, "\n".join(offending)
