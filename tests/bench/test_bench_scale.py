"""The scale benchmark (`bench/scale.py --quick`) runs end to end and prints every figure it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"([\d.,]+)"


def figure(pattern: str, text: str) -> list[float]:
    match = re.search(pattern, text)
    assert match, f"not in the report: {pattern}\n{text}"
    return [float(group.replace(",", "")) for group in match.groups()]


@pytest.mark.timeout(900)
def test_quick_scale_report_has_the_figures():
    results = ROOT / "bench" / "results" / "scale.md"
    before = results.read_text() if results.exists() else None
    # few centrality pivots: the report's form is checked here, the figures come from `make bench-scale`
    done = subprocess.run([sys.executable, "bench/scale.py", "--quick", "--betweenness-samples", "32"], cwd=ROOT,
                          capture_output=True, text=True, timeout=880)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]

    history, low = figure(rf"forwards: {NUMBER} in the 3 days of history .* low-volume node {NUMBER} ", out)
    assert history > 0 and 0 < low < history  # the baseline node forwards less
    first_s, first_requests, first_mb = figure(rf"first cycle \([^)]*\): {NUMBER} s, {NUMBER} node requests, {NUMBER} MB read", out)
    assert first_s > 0 and first_requests > 0 and first_mb > 0
    cycles, warm = figure(rf"steady cycles \({NUMBER}, one an hour\): time median {NUMBER} s", out)
    assert cycles == 24 and 0 < warm
    figure(rf"warm / first {NUMBER}", out)
    requests, = figure(rf"node requests per cycle: median {NUMBER}", out)
    assert requests > 0
    figure(rf"bytes read per cycle: median {NUMBER} MB", out)
    full, base, independence = figure(rf"node requests median {NUMBER} vs {NUMBER} at x0.1 the volume: ratio {NUMBER}", out)
    assert independence == pytest.approx(full / base, abs=0.01)
    scheduled = figure(rf"scheduled shadow cycles \(3, [^)]*\): node requests {NUMBER}, {NUMBER}, {NUMBER}", out)
    assert min(scheduled) > 0
    idle, _, peak, _, growth = figure(
        rf"LNbits idle \([^)]*\) {NUMBER} MB; on the node after the first cycle {NUMBER} MB, peak {NUMBER} MB, now {NUMBER} MB: "
        rf"growth {NUMBER} MB", out)
    assert idle > 50 and growth == pytest.approx(peak - idle, abs=1)
    worker_peak, = figure(rf"worker \(pid \d+, restarts 0\): peak {NUMBER} MB", out)
    assert worker_peak > 0
    db_first, db_end = figure(rf"database [^:]*: {NUMBER} MB after the first cycle, {NUMBER} MB after 1 simulated days", out)
    assert 0 < db_first < db_end
    assert re.search(r"acceptance: requests independent of volume (OK|MISSED) .*; warm cycle < 2 s (OK|MISSED) .*; "
                     r"LNbits RSS growth < 100 MB (OK|MISSED) .*; database < 200 MB (OK|MISSED)", out), out
    # a quick run never writes the results
    assert "not written: only a full run writes it" in out
    assert (results.read_text() if results.exists() else None) == before
