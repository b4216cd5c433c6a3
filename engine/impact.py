"""Did it help, is it earning: totals of the forwarding history over time windows (pure).

No I/O and no clock: the caller passes `now`. The rules, in one place:

- **Which channel earns a forward:** the one it went *out* through (`chan_id_out`), where the fee
  is charged — the rule of `ingest_lnd.daily_earnings`.
- **Time** is whole unix seconds: a forward's second is `timestamp_ns // 10**9` (else
  `timestamp`), as `ingest_lnd` reads it. A window `[start, end)` holds the forwards whose second
  is at least `start` and below `end`.
- **Volume** is the sum of each forward's `amt_out_msat // 1000` (as `daily_earnings`), fees are
  summed in msat; `fees_sat` is msat / 1000.
- **Summary periods** (`period_windows`, totalled by the caller, then `periods_from_totals`): a
  window of `days` ending now, *now included* (`[now − d, now + 1)`: LND's forwarding history
  answers up to `end_time = now` inclusive), and the equal window before it (`[now − 2d, now − d)`).
- **Impact of a change** (`change_impact`): `w = min(7 days, now − at)`; before is `[at − w, at)`,
  after is `[at, at + w)`, the same length, so the two compare; `complete` once the 7 days after
  have passed. A later change of the same channel inside the after-window does not cut it: its
  time is `superseded_at`, and the after-window then also shows part of that change's effect.
- **Local share** of a window: the time-average of the channel's local share over the stored
  snapshots inside the window (each sample holds until the next one, the last until the window's
  end); None when no snapshot falls inside.
- **Impact of a run** (`run_impact`): the changes' windows with one length, the smallest `w` of
  them, summed; the local share is the mean of the changes' own (None when none has one).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from .snapshot import ACTIVE, INACTIVE, Channel

DAY = 86_400
IMPACT_WINDOW_S = 7 * DAY
# key, label, days: the summary's rolling windows
PERIODS: tuple[tuple[str, str, int], ...] = (("1d", "Last 24 h", 1), ("7d", "Last 7 days", 7), ("30d", "Last 30 days", 30))


def _int(value: Any) -> int:
    return 0 if value is None or value == "" else int(value)


@dataclass(frozen=True)
class Forward:
    """One forwarding event as the windows count it."""

    at: int  # unix seconds
    chan_out: str
    fee_msat: int
    amt_out_msat: int


def forwards_from_lnd(events: Iterable[Mapping[str, Any]]) -> list[Forward]:
    """LND ForwardingEvents (`/v1/switch`) -> Forwards (the timestamp rule of ingest_lnd)."""
    return [
        Forward(
            at=_int(event.get("timestamp_ns")) // 1_000_000_000 or _int(event.get("timestamp")),
            chan_out=str(event.get("chan_id_out")),
            fee_msat=_int(event.get("fee_msat")),
            amt_out_msat=_int(event.get("amt_out_msat")),
        )
        for event in events
    ]


@dataclass(frozen=True)
class Totals:
    forwards: int = 0
    fees_msat: int = 0
    volume_sat: int = 0

    @property
    def fees_sat(self) -> float:
        return self.fees_msat / 1000

    def __add__(self, other: "Totals") -> "Totals":
        return Totals(self.forwards + other.forwards, self.fees_msat + other.fees_msat, self.volume_sat + other.volume_sat)


class _Series:
    """Forwards of one scope sorted by time, with prefix sums."""

    def __init__(self, forwards: list[Forward]):
        forwards = sorted(forwards, key=lambda f: f.at)
        self.times = [f.at for f in forwards]
        self.fees = [0]
        self.volume = [0]
        for f in forwards:
            self.fees.append(self.fees[-1] + f.fee_msat)
            self.volume.append(self.volume[-1] + f.amt_out_msat // 1000)

    def totals(self, start: int, end: int) -> Totals:
        if end <= start:
            return Totals()
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_left(self.times, end)
        return Totals(hi - lo, self.fees[hi] - self.fees[lo], self.volume[hi] - self.volume[lo])


class ForwardIndex:
    """Any window's totals, node-wide or of one outgoing channel, in O(log n)."""

    def __init__(self, forwards: Iterable[Forward]):
        forwards = list(forwards)
        by_chan: dict[str, list[Forward]] = {}
        for f in forwards:
            by_chan.setdefault(f.chan_out, []).append(f)
        self._all = _Series(forwards)
        self._chans = {chan: _Series(fs) for chan, fs in by_chan.items()}
        self._empty = _Series([])

    def totals(self, start: int, end: int, chan_out: Optional[str] = None) -> Totals:
        """Forwards with start <= second < end (out through `chan_out` when given)."""
        series = self._all if chan_out is None else self._chans.get(chan_out, self._empty)
        return series.totals(start, end)


# --- the summary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    days: int
    current: Totals
    previous: Totals

    @property
    def change_pct(self) -> Optional[float]:
        """Fees now against the window before, in percent; None when that earned nothing."""
        if self.previous.fees_msat == 0:
            return None
        return (self.current.fees_msat - self.previous.fees_msat) / self.previous.fees_msat * 100


def period_windows(now: int) -> tuple[tuple[int, int], ...]:
    """The summary's windows, [start, end) in seconds: for each period, the rolling window
    ending now (now included) and the equal window before it."""
    out: list[tuple[int, int]] = []
    for _, _, days in PERIODS:
        span = days * DAY
        out += [(now - span, now + 1), (now - 2 * span, now - span)]
    return tuple(out)


def periods_from_totals(totals: Sequence[Totals]) -> tuple[Period, ...]:
    """The periods from the totals of `period_windows`, in its order."""
    return tuple(Period(key, label, days, totals[2 * i], totals[2 * i + 1]) for i, (key, label, days) in enumerate(PERIODS))


def yield_annual_pct(fees_msat: int, capacity_sat: int, days: int) -> Optional[float]:
    """Fees over `days` as an annual share of the capacity, in percent; None without capacity."""
    if capacity_sat <= 0:
        return None
    return fees_msat / 1000 / capacity_sat * 365 / days * 100


@dataclass(frozen=True)
class ChannelCounts:
    open: int
    active: int
    drained: int
    full: int
    capacity_sat: int


def channel_counts(channels: Iterable[Channel], drained_below: float, full_above: float) -> ChannelCounts:
    """Open (active or inactive) channels, their capacity, and how many are drained (local share
    below `drained_below`) or full (above `full_above`); the share is `Channel.local_share`."""
    open_channels = [c for c in channels if c.state in (ACTIVE, INACTIVE)]
    return ChannelCounts(
        open=len(open_channels),
        active=sum(1 for c in open_channels if c.state == ACTIVE),
        drained=sum(1 for c in open_channels if c.local_share < drained_below),
        full=sum(1 for c in open_channels if c.local_share > full_above),
        capacity_sat=sum(c.capacity_sat for c in open_channels),
    )


# --- impact of applied changes ---------------------------------------------------------------------


@dataclass(frozen=True)
class ShareSample:
    """A channel's local share at one stored snapshot."""

    at: int
    share: float


@dataclass(frozen=True)
class AppliedChange:
    change_id: str
    chan_id: str
    at: int  # when it was applied (settled_at, else created_at)
    later_at: tuple[int, ...] = ()  # when later applied changes of the same channel were applied


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    totals: Totals
    local_share: Optional[float]


@dataclass(frozen=True)
class Impact:
    at: int
    window_s: int
    complete: bool
    before: Window
    after: Window
    superseded_at: Optional[int]
    changes: int = 1  # how many changes it sums (a run's)


def impact_window(at: int, now: int) -> int:
    """The length of the windows before and after a change applied at `at`."""
    return max(0, min(IMPACT_WINDOW_S, now - at))


def time_average_share(samples: Sequence[ShareSample], start: int, end: int) -> Optional[float]:
    """Time-average over [start, end) of the samples inside it: each holds until the next, the
    last until `end`. None when no sample falls inside."""
    inside = sorted((s for s in samples if start <= s.at < end), key=lambda s: s.at)
    if not inside:
        return None
    weighted = 0.0
    for i, sample in enumerate(inside):
        until = inside[i + 1].at if i + 1 < len(inside) else end
        weighted += sample.share * (until - sample.at)
    return weighted / (end - inside[0].at)


def change_impact(
    index: ForwardIndex,
    change: AppliedChange,
    now: int,
    samples: Sequence[ShareSample] = (),
    window_s: Optional[int] = None,
) -> Impact:
    """Before and after one change, over its channel's outgoing forwards (`window_s` overrides
    the length, for a run)."""
    w = impact_window(change.at, now) if window_s is None else window_s
    at = change.at

    def window(start: int, end: int) -> Window:
        return Window(start, end, index.totals(start, end, change.chan_id), time_average_share(samples, start, end))

    return Impact(
        at=at,
        window_s=w,
        complete=now - at >= IMPACT_WINDOW_S and w >= IMPACT_WINDOW_S,
        before=window(at - w, at),
        after=window(at, at + w),
        superseded_at=min((t for t in change.later_at if at <= t < at + w), default=None),
    )


def run_impact(
    index: ForwardIndex,
    changes: Sequence[AppliedChange],
    now: int,
    samples: Mapping[str, Sequence[ShareSample]],
) -> Optional[Impact]:
    """A run's applied changes summed, each over windows of the smallest length among them;
    None when there are none. The windows' start and end span the changes'."""
    if not changes:
        return None
    w = min(impact_window(c.at, now) for c in changes)
    impacts = [change_impact(index, c, now, samples.get(c.chan_id, ()), window_s=w) for c in changes]

    def summed(windows: list[Window]) -> Window:
        total = Totals()
        for item in windows:
            total = total + item.totals
        shares = [item.local_share for item in windows if item.local_share is not None]
        return Window(
            start=min(item.start for item in windows),
            end=max(item.end for item in windows),
            totals=total,
            local_share=sum(shares) / len(shares) if shares else None,
        )

    superseded = [i.superseded_at for i in impacts if i.superseded_at is not None]
    return Impact(
        at=min(c.at for c in changes),
        window_s=w,
        complete=all(i.complete for i in impacts),
        before=summed([i.before for i in impacts]),
        after=summed([i.after for i in impacts]),
        superseded_at=min(superseded) if superseded else None,
        changes=len(impacts),
    )
