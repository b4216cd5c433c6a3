"""Queries over the change log (`ChangeRecord`s): cooldown, rate and reversals."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .snapshot import Channel, ChangeRecord

DAY = 86_400


def records_for(history: Iterable[ChangeRecord], channel: Channel) -> List[ChangeRecord]:
    """This channel's fee changes, oldest first (matched by chan_id or short id)."""
    names = {channel.chan_id}
    if channel.short_id:
        names.add(channel.short_id)
    return sorted((r for r in history if r.chan_id in names), key=lambda r: (r.at, r.new_ppm))


def records_by_channel(history: Iterable[ChangeRecord]) -> Dict[str, List[Tuple[int, ChangeRecord]]]:
    """The change log grouped by the channel name each record carries, with its place in the log:
    one pass for a whole evaluation, where `records_for` per channel would read the log once for
    each of a big node's thousands of channels."""
    grouped: Dict[str, List[Tuple[int, ChangeRecord]]] = {}
    for place, record in enumerate(history):
        grouped.setdefault(record.chan_id, []).append((place, record))
    return grouped


def channel_records(grouped: Dict[str, List[Tuple[int, ChangeRecord]]], channel: Channel) -> List[ChangeRecord]:
    """`records_for` the log `grouped` came from: the same records in the same order."""
    found = list(grouped.get(channel.chan_id, ()))
    if channel.short_id and channel.short_id != channel.chan_id:
        found += grouped.get(channel.short_id, ())
    found.sort(key=lambda item: (item[1].at, item[1].new_ppm, item[0]))
    return [record for _, record in found]


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
