"""Instance-wide settings: the autopilot's mode and schedule plus the engine's knobs.

Stored as one validated JSON document (crud), edited by the super user, readable by
admins. Validation names the field that is wrong by its path (`mode`, `interval_minutes`,
`engine.guardrails.max_ppm`, …, so the page shows the message beside the field) and says
what is wrong in words that read after the field's label ("must be at most 10080"),
naming any other setting by its label (engine/settings_labels.py).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Mapping, Optional

from .engine.settings import EngineSettings, SettingsError, node_id_errors
from .engine.settings_labels import label, sentence

MODES = ("off", "shadow", "autopilot")
MIN_INTERVAL_MINUTES = 5
WEIGHT_SUM_TOLERANCE = 0.001
WEEK_MINUTES = 7 * 24 * 60
# Inclusive [low, high] of each app-level number; the engine's are engine.settings.RANGES.
# Listed in engine/README.md (a test keeps it true).
RANGES: dict[str, tuple[int, int]] = {
    "interval_minutes": (MIN_INTERVAL_MINUTES, WEEK_MINUTES),
    "graph_refresh_minutes": (5, WEEK_MINUTES),
    "retention_days": (1, 3650),
    "runs_retention_days": (1, 3650),
    "decisions_retention_days": (1, 3650),
    # at least the engine's longest flow window (30 days), which is read from the forwards we keep
    "forwards_retention_days": (30, 3650),
    "notification_min_interval_minutes": (0, WEEK_MINUTES),
    "history_days": (1, 3650),
    # per node call: a node that has not answered in 5 minutes is not going to
    "node_timeout_seconds": (1, 300),
    "retry_attempts": (1, 10),
    "breaker_failure_threshold": (1, 100),
    "breaker_cool_off_seconds": (1, 86_400),
}
# The stored document (and its copy in settings_history on every change) stays small:
# 64 KiB holds about 3,000 LND chan_ids in lists, or about 580 channel overrides.
MAX_DOCUMENT_BYTES = 64 * 1024
# GET /settings serves the labels beside the settings; a document sent back whole (or
# stored so) carries them, and they are not settings: read-only, ignored when written.
READ_ONLY_KEYS = ("labels",)

APP_DEFAULTS: dict[str, Any] = {
    "mode": "shadow",
    "interval_minutes": 60,
    "graph_refresh_minutes": 360,
    # Retention (retention.py prunes once an hour, in every mode). Scores and the channels'
    # series: 90 days of history. Runs: a year (the runs the change log names are kept with it,
    # never pruned). Every decision of a run: 5 days, then only the ones the change log names
    # (a run of a 2,000-channel node stores ~140 KB of them, compressed: ~16 MB in 5 days). Forwards: 400 days, the longest
    # window read (GET /earnings's 365 days, and the impact of a change applied 365 days ago).
    "retention_days": 90,
    "runs_retention_days": 365,
    "decisions_retention_days": 5,
    "forwards_retention_days": 400,
    "batch_rollback": True,
    "public_summary": False,
    "notifications": True,
    "notification_min_interval_minutes": 60,
    "history_days": 30,
    # Node calls: per-request timeout, attempts for transient errors, and the
    # circuit breaker (opens after N consecutive failed calls, cools off).
    "node_timeout_seconds": 20,
    "retry_attempts": 3,
    "breaker_failure_threshold": 5,
    "breaker_cool_off_seconds": 60,
}


class InvalidSettings(ValueError):
    """`errors`: (path, message) of each field; str() says each in words, by its label."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(sentence(label(path), message) for path, message in errors))


def described(errors: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The API's form of each error: the field's path (where the page shows it), its label
    and the message, which reads after the label."""
    return [{"field": path, "label": label(path), "message": message} for path, message in errors]


def defaults() -> dict[str, Any]:
    return {**copy.deepcopy(APP_DEFAULTS), "engine": EngineSettings().to_dict()}


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key != "channel_overrides":
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_document(doc: Mapping[str, Any]) -> tuple[dict[str, Any], EngineSettings]:
    """A complete, normalised settings document and its engine settings, or InvalidSettings."""
    size = len(json.dumps(doc, separators=(",", ":"), default=str).encode())
    if size > MAX_DOCUMENT_BYTES:
        # alone: the rest would only echo parts of an oversized document
        message = f"must be at most {MAX_DOCUMENT_BYTES:,} bytes (64 KiB); this one is {size:,} bytes"
        raise InvalidSettings([("settings", message)])
    errors: list[tuple[str, str]] = []
    known = set(APP_DEFAULTS) | {"engine"} | set(READ_ONLY_KEYS)
    for key in doc:
        if key not in known:
            errors.append((str(key), "is not a setting"))
        elif key in READ_ONLY_KEYS and not isinstance(doc[key], Mapping):
            errors.append((str(key), "are read-only: send them back as GET /settings gave them, or leave them out"))
    mode = doc.get("mode")
    if mode not in MODES:
        errors.append(("mode", f"must be one of: {', '.join(MODES)}"))
    for name, (low, high) in RANGES.items():
        value = doc.get(name)
        if not _is_int(value):
            errors.append((name, "must be a whole number"))
        elif value < low:
            errors.append((name, f"must be at least {low}"))
        elif value > high:
            errors.append((name, f"must be at most {high}"))
    for name in ("batch_rollback", "public_summary", "notifications"):
        if not isinstance(doc.get(name), bool):
            errors.append((name, "must be true or false"))

    engine_doc = doc.get("engine")
    engine: Optional[EngineSettings] = None
    if not isinstance(engine_doc, Mapping):
        errors.append(("engine", "must be an object (a group of settings)"))
    else:
        try:
            engine = EngineSettings.from_dict(engine_doc)
        except SettingsError as exc:
            errors += [(f"engine.{path}", message) for path, message in exc.errors]
        if engine is not None:
            errors += [(f"engine.{path}", message) for path, message in engine.validate() + node_id_errors(engine)]
            weights = engine.weights.as_dict()
            total = sum(weights.values())
            if all(math.isfinite(w) and w >= 0 for w in weights.values()) and abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
                errors.append(("engine.weights", f"must add up to 1, or 100 % (they add up to {total:.3f})"))
    if errors:
        raise InvalidSettings(errors)
    assert engine is not None
    normalised = {name: doc[name] for name in APP_DEFAULTS}
    normalised["engine"] = engine.to_dict()
    return normalised, engine
