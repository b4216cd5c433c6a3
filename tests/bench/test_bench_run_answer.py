"""The run-answer benchmark (`bench/run_answer.py`) runs, finds both ways give one text, and prints
every figure it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"([\d.,]+)"


def test_the_report_has_both_ways_and_their_ratios():
    done = subprocess.run([sys.executable, "bench/run_answer.py", "--channels", "60"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    decisions = re.search(rf"a run's answer: {NUMBER} decisions, {NUMBER} MB of JSON \(the same text both ways\)", out)
    assert decisions and 0 < int(decisions.group(1)) <= 60, out
    rows = {}
    for name in ("pydantic \\(baseline\\)", "model's fields"):
        match = re.search(rf"{name}\s+{NUMBER} ms\s+peak\s+{NUMBER} MB\s+{NUMBER} tracked objects alive", out)
        assert match, f"{name} missing:\n{out}"
        rows[name] = [float(g.replace(",", "")) for g in match.groups()]
        assert rows[name][0] > 0 and rows[name][1] > 0
    assert re.search(rf"ratio fields / pydantic: time {NUMBER}, peak {NUMBER}, tracked objects {NUMBER}", out), out
