"""Numbers in an operator's words: durations, amounts, shares, and the heuristics' evidence.

Pure formatting, no decisions and no imports from the rest of the engine (guardrails and the
headline use it, so it must not import them). `evidence_text` turns a heuristic's evidence
dict into `[{"label": ..., "value": ...}]` rows; every key a heuristic emits has a label here
(`EVIDENCE_LABELS`; a unit test fails on a key without one).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

MINUTE = 60
HOUR = 3600
DAY = 86_400


def fmt_duration(seconds: float) -> str:
    """'40 s', '12 min', '23 h 48 min', '3.5 days', '30 days' — never '0.0 h' (rounded down)."""
    s = max(0.0, float(seconds))
    if s < MINUTE:
        return f"{s:.0f} s"
    if s < HOUR:
        return f"{s // MINUTE:.0f} min"
    if s < 48 * HOUR:
        h, m = divmod(int(s // MINUTE), 60)
        return f"{h} h" + (f" {m} min" if m else "")
    return fmt_days(s / DAY)


def fmt_days(days: float) -> str:
    """Days as '1 day', '3.5 days', '30 days'; below a day in hours or minutes."""
    if days < 1:
        return fmt_duration(days * DAY) if days > 0 else "0 days"
    value = f"{days:.1f}".rstrip("0").rstrip(".") if days < 10 else f"{days:.0f}"
    return f"{value} day" if value == "1" else f"{value} days"


def fmt_hours(hours: float) -> str:
    """A setting in hours: '24 h', '30 min', '1.5 h'."""
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{round(hours, 1):g} h"


def fmt_sat_exact(sat: float) -> str:
    """'1,234,567 sat'; fractions only below 100 sat ('0.5 sat')."""
    if abs(sat) >= 100 or sat == int(sat):
        return f"{sat:,.0f} sat"
    return f"{sat:,.3f}".rstrip("0").rstrip(".") + " sat"


def fmt_share(x: float, digits: int = 0) -> str:
    return f"{x * 100:.{digits}f} %"


def fmt_count(n: float) -> str:
    return f"{n:,.0f}"


def fmt_ppm(ppm: float) -> str:
    return f"{ppm:,.0f} ppm"


# --- evidence -----------------------------------------------------------------

Formatter = Callable[[Any], str]


def _share(x: Any) -> str:
    return fmt_share(float(x))


def _percentile(x: Any) -> str:
    return f"above {float(x) * 100:.0f} % of nodes"


def _yield(x: Any) -> str:
    return fmt_share(float(x), 2) + " a year"


def _turnover(x: Any) -> str:
    return fmt_share(float(x)) + " of capacity a week"


def _sat(x: Any) -> str:
    return fmt_sat_exact(float(x))


def _msat(x: Any) -> str:
    return fmt_sat_exact(float(x) / 1000)


def _ppm(x: Any) -> str:
    return fmt_ppm(float(x))


def _days(x: Any) -> str:
    return fmt_days(float(x))


def _seconds(x: Any) -> str:
    return fmt_duration(float(x))


def _count(x: Any) -> str:
    return fmt_count(float(x))


def _times(x: Any) -> str:
    return f"{float(x):.2f}×"


def _per_day(x: Any) -> str:
    return f"{float(x):.2f} a day"


def _raw(x: Any) -> str:
    return f"{float(x):.6g}"


def _yes_no(x: Any) -> str:
    return "yes" if x else "no"


def _exact(x: Any) -> str:
    return "exact" if x else "estimated"


def _text(x: Any) -> str:
    return str(x)


# (label, formatter, what None means) per key; a key that means something else in one
# heuristic (capacity_sat is the peer's in peer_quality) gets a per-heuristic entry below.
EVIDENCE_LABELS: Dict[str, Tuple[str, Formatter, str]] = {
    # centrality
    "betweenness": ("Peer's betweenness (raw)", _raw, "unknown"),
    "betweenness_pct": ("Peer's betweenness rank", _percentile, "unknown"),
    "closeness": ("Peer's closeness (raw)", _raw, "unknown"),
    "closeness_pct": ("Peer's closeness rank", _percentile, "unknown"),
    "samples": ("Betweenness sampled from", lambda x: f"{fmt_count(x)} nodes", "unknown"),
    "exact": ("Betweenness", _exact, "unknown"),
    "degree": ("Peer's channel partners", _count, "unknown"),
    # liquidity
    "local_share": ("Outbound share", _share, "unknown"),
    "local_sat": ("Outbound balance", _sat, "unknown"),
    "remote_sat": ("Inbound balance", _sat, "unknown"),
    "target_low": ("Target band from", _share, "unknown"),
    "target_high": ("Target band to", _share, "unknown"),
    # activity
    "weekly_turnover": ("Forwarded volume", _turnover, "unknown"),
    "annual_yield": ("Fee yield on capacity", _yield, "unknown"),
    "yield_window_days": ("Fee yield measured over", _days, "unknown"),
    "forwards_out": ("Forwards out", _count, "unknown"),
    "forwards_in": ("Forwards in", _count, "unknown"),
    "fees_earned_msat": ("Fees earned", _msat, "unknown"),
    "fees_assisted_msat": ("Fees earned elsewhere on its inflow", _msat, "unknown"),
    # competitiveness
    "our_effective_ppm": ("Our fee (effective)", _ppm, "unknown"),
    "competitor_median_ppm": ("Competitors' median fee", _ppm, "unknown"),
    "ratio": ("Our fee vs the median", _times, "unknown"),
    "competitor_channels": ("Competing channels into the peer", _count, "unknown"),
    "competitor_capacity_sat": ("Competitors' capacity", _sat, "unknown"),
    "reference_amount_sat": ("Fees compared at", _sat, "unknown"),
    # uptime
    "uptime_ratio": ("Peer online", lambda x: fmt_share(float(x)) + " of the time", "unknown"),
    "lifetime_s": ("Monitored for", _seconds, "unknown"),
    "peer_online": ("Peer online now", _yes_no, "unknown"),
    "state": ("Channel state", _text, "unknown"),
    "flap_count": ("Reconnects", _count, "unknown"),
    "flaps_per_day": ("Reconnects per day", _per_day, "unknown"),
    # stability
    "age_days": ("Channel age", _days, "unknown"),
    "changes_recorded": ("Fee changes recorded", _count, "unknown"),
    "days_since_change": ("Since the last fee change", _days, "never changed"),
    "reversals": ("Direction reversals", _count, "unknown"),
    "reversal_window_days": ("Reversals counted over", _days, "unknown"),
    # peer quality
    "capacity_sat": ("Capacity", _sat, "unknown"),
    "channels": ("Peer's channels", _count, "unknown"),
    "own_fee_median_ppm": ("Peer's median fee", _ppm, "unknown"),
    "disabled_share": ("Peer's disabled channels", _share, "unknown"),
    "fee_sanity": ("Peer's fees and availability", _share, "unknown"),
    # network position
    "degree_pct": ("Peer's size rank", _percentile, "unknown"),
    "second_hop": ("Nodes two hops out through the peer", _count, "unknown"),
    "unique_reach": ("Nodes reached only through this peer", _count, "unknown"),
}

PER_HEURISTIC: Dict[Tuple[str, str], Tuple[str, Formatter, str]] = {
    ("peer_quality", "capacity_sat"): ("Peer's capacity", _sat, "unknown"),
}


def _entry(heuristic: str, key: str) -> Optional[Tuple[str, Formatter, str]]:
    return PER_HEURISTIC.get((heuristic, key)) or EVIDENCE_LABELS.get(key)


def unlabelled(heuristic: str, evidence: Mapping[str, Any]) -> List[str]:
    """The evidence keys that have no label (should be none)."""
    return [k for k in evidence if _entry(heuristic, k) is None]


def evidence_text(heuristic: str, evidence: Mapping[str, Any]) -> List[Dict[str, str]]:
    """`[{"label": "Channel age", "value": "30 days"}, ...]` in the evidence's order.

    A key without a label still shows (its name in words) rather than disappear."""
    rows: List[Dict[str, str]] = []
    for key, value in evidence.items():
        entry = _entry(heuristic, key)
        if entry is None:
            rows.append({"label": key.replace("_", " ").capitalize(), "value": "unknown" if value is None else str(value)})
            continue
        label, fmt, none_means = entry
        if value is None or (isinstance(value, float) and math.isnan(value)):
            rows.append({"label": label, "value": none_means})
            continue
        rows.append({"label": label, "value": fmt(value)})
    return rows
