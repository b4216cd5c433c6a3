"""How a channel's history is stored in `channel_days` (issue 15): pure, no I/O.

One row per channel and UTC day; a run appends its point (fee, balance, capacity) to `points`
and, when it scored the channel, its score to `scores`, comma-separated. Since m010 each item is
a JSON array of its values, its time as seconds into the row's day; a point whose fee and
capacity are the point's before it in the row keeps only its balance, a score at full confidence
only its total: about 22 B a point and 12 B a score, instead of ~110 and ~55 B as objects (a
2,000-channel node stores 48,000 of each a day).
Rows written before hold objects (`{"at": …}`, `{"created_at": …}`); both read alike, and a row
may hold both kinds (a day that began before the upgrade).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

DAY_S = 86400
# The fields of a point beside its time, in their order in the array (GET /channels/{id}/history
# answers them by these names).
POINT_FIELDS = ("ppm", "base_msat", "local_sat", "remote_sat", "capacity_sat")


def day_of(at: int) -> int:
    return at - at % DAY_S


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


# What a short point leaves out: the values it shares with the point before it in its row.
KEPT_FIELDS = ("ppm", "base_msat", "capacity_sat")


def kept_values(channel: Mapping[str, Any]) -> tuple:
    return tuple(channel.get(key) for key in KEPT_FIELDS)


def encode_point(at: int, channel: Mapping[str, Any], previous: Optional[tuple] = None) -> str:
    """A point: [seconds into the day, *POINT_FIELDS]; or, when `previous` (the KEPT_FIELDS values
    of the point before it in the same row) has the same fee and capacity, the short form
    [seconds, local_sat, remote_sat] (~22 B instead of ~38)."""
    if previous is not None and previous == kept_values(channel):
        return _compact([at - day_of(at), channel.get("local_sat"), channel.get("remote_sat")])
    return _compact([at - day_of(at), *(channel.get(key) for key in POINT_FIELDS)])


def encode_score(at: int, total: Optional[float], confidence: float) -> str:
    """[seconds, total, confidence]; [seconds, total] at full confidence."""
    if confidence == 1.0:
        return _compact([at - day_of(at), total])
    return _compact([at - day_of(at), total, confidence])


def _items(text: str) -> list[Any]:
    return json.loads(f"[{text}]") if text else []


def decode_points(day: int, text: str) -> list[dict[str, Any]]:
    """A row's points as GET /channels/{id}/history answers them: {"at", *POINT_FIELDS}. A short
    point takes the fee and capacity of the point before it."""
    out: list[dict[str, Any]] = []
    for item in _items(text):
        if isinstance(item, dict):
            out.append(item)
        elif len(item) == 3:
            before = out[-1] if out else {}
            point = {"at": day + item[0], **{key: before.get(key) for key in POINT_FIELDS}}
            point["local_sat"], point["remote_sat"] = item[1], item[2]
            out.append(point)
        else:
            out.append({"at": day + item[0], **dict(zip(POINT_FIELDS, item[1:]))})
    return out


def decode_scores(day: int, text: str) -> list[dict[str, Any]]:
    """A row's scores as the route answers them: {"created_at", "total", "confidence"}."""
    out = []
    for item in _items(text):
        if isinstance(item, dict):
            out.append(item)
        else:
            out.append({"created_at": day + item[0], "total": item[1], "confidence": item[2] if len(item) > 2 else 1.0})
    return out


def points_since(day: int, text: str, since: int) -> str:
    """The row's points at or after `since`, stored compact (what pruning leaves of the day the
    cutoff falls in)."""
    kept = [p for p in decode_points(day, text) if p["at"] >= since]
    return ",".join(encode_point(p["at"], p, kept_values(kept[i - 1]) if i else None) for i, p in enumerate(kept))


def scores_since(day: int, text: str, since: int) -> str:
    return ",".join(encode_score(s["created_at"], s.get("total"), s.get("confidence", 0.0))
                    for s in decode_scores(day, text) if s["created_at"] >= since)
