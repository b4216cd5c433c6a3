"""Queries over the change log (`ChangeRecord`s): cooldown, rate and reversals."""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

from .snapshot import Channel, ChangeRecord

DAY = 86_400


def records_for(history: Iterable[ChangeRecord], channel: Channel) -> List[ChangeRecord]:
    """This channel's fee changes, oldest first (matched by chan_id or short id)."""
    names = {channel.chan_id}
    if channel.short_id:
        names.add(channel.short_id)
    return sorted((r for r in history if r.chan_id in names), key=lambda r: (r.at, r.new_ppm))


def last_change_at(records: Sequence[ChangeRecord]) -> Optional[int]:
    return records[-1].at if records else None


def changes_since(records: Sequence[ChangeRecord], since: float) -> int:
    return sum(1 for r in records if r.at > since)


def direction(record: ChangeRecord) -> int:
    """+1 raise, -1 cut, 0 a change that left the ppm alone (base fee only)."""
    return (record.new_ppm > record.old_ppm) - (record.new_ppm < record.old_ppm)


def reversals_since(records: Sequence[ChangeRecord], since: float) -> int:
    """Direction flips between consecutive ppm moves made after `since`."""
    moves = [direction(r) for r in records if r.at > since and direction(r) != 0]
    return sum(1 for a, b in zip(moves, moves[1:]) if a != b)


def last_direction(records: Sequence[ChangeRecord], since: float) -> int:
    for record in reversed(records):
        if record.at <= since:
            break
        if direction(record) != 0:
            return direction(record)
    return 0
