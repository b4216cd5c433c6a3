"""Short summaries to the operator through LNbits' admin notifications.

Rate-limited per kind, so a flapping node does not flood Telegram or e-mail.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

from loguru import logger

from . import crud
from .clock import now

# What became of a batch's proposals, in the words of a notification ("12 applied, 1 failed").
OUTCOME_WORDS = {
    "applied": "applied",
    "restored": "restored",
    "failed": "failed",
    "unknown": "not confirmed by the node yet",
    "blocked": "blocked by a guardrail",
    "skipped": "skipped",
    "unchanged": "already applied",
    "conflict": "changed since",
}
RUN_ID_SHOWN = 8

RECENT_LIMIT = 20
recent: deque[dict] = deque(maxlen=RECENT_LIMIT)
_last_sent: dict[str, int] = {}


def plural(count: int, one: str, many: Optional[str] = None) -> str:
    """"1 fee change", "12 fee changes"."""
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def listed(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""


def short_run(run_id: str) -> str:
    return run_id if len(run_id) <= RUN_ID_SHOWN else run_id[:RUN_ID_SHOWN] + "…"


def outcomes_text(counts: dict[str, int]) -> str:
    """{"applied": 12, "failed": 1} -> "12 applied and 1 failed" (in OUTCOME_WORDS' order)."""
    known = [f"{counts[key]:,} {word}" for key, word in OUTCOME_WORDS.items() if counts.get(key)]
    other = [f"{n:,} {key.replace('_', ' ')}" for key, n in sorted(counts.items()) if key not in OUTCOME_WORDS and n]
    return listed(known + other)


async def _settings() -> tuple[bool, int]:
    try:
        document = await crud.get_settings_document() or {}
    except Exception as exc:  # the database may be what the notification is about
        logger.warning(f"feepilot: notification settings unreadable ({exc}); sending rate-limited by the default")
        document = {}
    return bool(document.get("notifications", True)), int(document.get("notification_min_interval_minutes", 60)) * 60


async def notify(kind: str, message: str, at: Optional[int] = None) -> bool:
    """Send unless disabled or a message of this kind went out too recently."""
    enabled, min_interval = await _settings()
    at = at or now()
    entry = {"kind": kind, "message": message, "at": at, "sent": False}
    if enabled and at - _last_sent.get(kind, -(10**12)) >= min_interval:
        try:
            from lnbits.core.services.notifications import send_admin_notification

            await send_admin_notification(message, "feepilot")
            entry["sent"] = True
            _last_sent[kind] = at
        except Exception as exc:  # a notification never breaks the autopilot
            logger.warning(f"feepilot: notification failed: {exc}")
    recent.appendleft(entry)
    logger.info(f"feepilot: notification ({kind}, {'sent' if entry['sent'] else 'suppressed'}): {message}")
    return bool(entry["sent"])
