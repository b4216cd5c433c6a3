"""What a run stores, encoded where the evaluation ran (issue 15): pure, no LNbits import.

On a big node a run's scores are ~12 MB of JSON and its decisions ~3 MB: validating and
encoding them is seconds of pure Python. They are encoded here, in the heavy-work process
(worker.py) beside the evaluation, so LNbits' process receives one string and one blob and
only writes them: its interpreter lock stays with the payments.

- the latest scores: the JSON array GET /scores serves (zlib-compressed: 12 MB are ~1 MB), and
  its ETag part;
- the decisions: one bz2-compressed JSON list (crud reads it back, run_decisions);
- each scored channel's total and confidence, for the channels' series (series.py).
"""

from __future__ import annotations

import bz2
import hashlib
import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Optional, Sequence


def encode_text(text: str) -> str:
    """JSON text made safe from LNbits' tag stripping (crud.encode's rule; still valid JSON)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def model_dict(model: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """What FastAPI answers for `model.parse_obj(data)` when `data` already holds plain JSON values
    of the model's types (the engine's rows): its fields in order, defaults filled in, floats as
    floats, nested models alike. A tenth of the cost of validating and encoding 2,000 scores; a
    test compares the two on the engine's rows."""
    out: dict[str, Any] = {}
    for name, field, nested, as_list, as_float in _field_plan(model):
        value = data[name] if name in data else field.get_default()
        if value is None:
            out[name] = None
        elif nested is not None:
            out[name] = [model_dict(nested, v) for v in value] if as_list else model_dict(nested, value)
        elif as_float:
            out[name] = float(value)
        else:
            out[name] = value
    return out


@lru_cache(maxsize=None)
def _field_plan(model: Any) -> tuple[tuple[str, Any, Any, bool, bool], ...]:
    """Per field of `model`: (name, field, nested model or None, a list of them, a float): read once
    per model, not for each of 2,000 rows."""
    from pydantic import BaseModel
    from pydantic.fields import SHAPE_LIST, SHAPE_SINGLETON

    plan = []
    for name, field in model.__fields__.items():
        kind = field.type_
        nested = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
        plan.append((name, field, nested, field.shape == SHAPE_LIST, kind is float and field.shape == SHAPE_SINGLETON))
    return tuple(plan)


def serialise_scores(scores: Sequence[dict]) -> tuple[str, str]:
    """(the channels' JSON as GET /scores serves it, its ETag part). Once per run, not per request."""
    from .models import ChannelScore

    channels = [model_dict(ChannelScore, score) for score in sorted(scores, key=lambda s: s["chan_id"])]
    text = encode_text(json.dumps(channels, separators=(",", ":"), allow_nan=False))
    return text, hashlib.sha256(text.encode()).hexdigest()[:32]


def run_detail_json(run: Mapping[str, Any], decisions: Sequence[Mapping[str, Any]],
                    impact: Optional[Mapping[str, Any]] = None, **extra: Any) -> bytes:
    """The JSON FastAPI answers for `RunDetail(**run, decisions=decisions, impact=..., **extra)`,
    without building thousands of pydantic objects in LNbits' process: each would outlive the
    collector's young generations while the answer is built, and enough of them set off a full
    collection of LNbits' whole heap (100-300 ms of stopped payments). `impact` comes encoded
    (`jsonable_encoder`: its field aliases). Integration tests hold the text to FastAPI's."""
    from .models import RunDetail

    out = model_dict(RunDetail, {**run, **extra, "decisions": decisions, "impact": None})
    out["impact"] = impact
    return json.dumps(out, separators=(",", ":"), allow_nan=False).encode()


def decisions_json(decisions: Sequence[dict]) -> bytes:
    return json.dumps(list(decisions), separators=(",", ":"), allow_nan=False).encode()


def encode_decisions(decisions: Sequence[dict]) -> bytes:
    """A run's decisions as one blob: bz2-compressed JSON. Their texts repeat from channel to
    channel: ~70 B a decision instead of ~1.6 KB on a 2,000-channel node (zlib: ~115 B). Each keeps
    its `order`, its id in the run."""
    return bz2.compress(decisions_json(decisions), 9)


def decode_decisions(blob: bytes) -> list[dict[str, Any]]:
    return json.loads(bz2.decompress(blob))


@dataclass(frozen=True)
class EncodedRun:
    """A run's scores and decisions, encoded (see the module)."""

    scores_packed: bytes  # the scores' JSON ("[]" when nothing was scored), zlib-compressed, as crud stores it
    etag: str  # "" when nothing was scored
    decisions: bytes
    scored: tuple[tuple[str, Optional[float], float], ...]  # (chan_id, total, confidence)
    decision_count: int
    blocked: int  # decisions a guardrail blocked


def encode_run(scores: Sequence[dict], decisions: Sequence[dict]) -> EncodedRun:
    # bz2 takes ~0.3 s for a big node's decisions and lets go of the interpreter lock meanwhile:
    # it runs in a thread while the scores are serialised (pure Python) on the other core
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="feepilot-bz2") as pool:
        packed_decisions = pool.submit(bz2.compress, decisions_json(decisions), 9)
        scores_json, etag = serialise_scores(scores) if scores else ("[]", "")
        scores_packed = zlib.compress(scores_json.encode(), 6)
        decisions_blob = packed_decisions.result()
    return EncodedRun(
        scores_packed=scores_packed,
        etag=etag,
        decisions=decisions_blob,
        scored=tuple((s["chan_id"], s.get("total"), s.get("confidence", 0.0)) for s in scores),
        decision_count=len(decisions),
        blocked=sum(1 for d in decisions if d.get("blocked_by")),
    )
