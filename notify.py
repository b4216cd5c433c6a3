"""Short summaries to the operator through LNbits' admin notifications.

Rate-limited per kind, so a flapping node does not flood Telegram or e-mail.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

from loguru import logger

from . import crud
from .clock import now

RECENT_LIMIT = 20
recent: deque[dict] = deque(maxlen=RECENT_LIMIT)
_last_sent: dict[str, int] = {}


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
