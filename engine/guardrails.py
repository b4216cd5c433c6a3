"""The validator every fee proposal passes: clamp or block, and name the rule.

Capping rules first: max step, then ppm/base bounds (bounds win over the step); then the
blocking rules, in order: pinned, deny lists, allow lists, only active, no change, minimum
change (dead band), cooldown, minimum spacing, relay budget (CLN's gossip token bucket), daily
update limit, reversal limit. `limit_changes_per_run` applies the
per-run cap across channels afterwards. Every accepted proposal satisfies all of
them: `violations()` re-checks that independently (at apply time, manual changes, tests).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import AbstractSet, Callable, Dict, List, Optional, Sequence, Tuple

from .decisions import DECREASE_FEES, INCREASE_FEES, FeeIntent, min_change_ppm
from .intent import InboundIntent
from .history import DAY, changes_since, last_change_at, last_direction, records_for, reversals_since
from .labels import fmt_duration, fmt_hours
from .settings import INBOUND_ON, ChannelOverride, EngineSettings
from .snapshot import ACTIVE, Channel, ChangeRecord, Policy

CLAMPED = "clamped"
BLOCKED = "blocked"

# rule names (stable: stored and shown)
PINNED = "pinned"
DENY_CHANNEL = "deny_channels"
DENY_PEER = "deny_peers"
ALLOW_LIST = "allow_list"
ONLY_ACTIVE = "only_active"
MAX_STEP = "max_step"
PPM_BOUNDS = "ppm_bounds"
BASE_BOUNDS = "base_bounds"
MIN_CHANGE = "min_change"
NO_CHANGE = "no_change"
COOLDOWN = "cooldown"
MIN_SPACING = "min_spacing"
RELAY_BUDGET = "relay_budget"
DAILY_LIMIT = "max_updates_per_day"
REVERSALS = "max_reversals"
MAX_PER_RUN = "max_changes_per_run"
ONLY_FEE_FIELDS = "only_fee_fields"  # violations() only: a proposal may change the fee fields, nothing else
# violations() only: a managed inbound fee went outside [inbound_min_*, 0] (never positive), or moved
# more than the inbound step (an unmanaged one that changed breaks ONLY_FEE_FIELDS)
INBOUND_BOUNDS = "inbound_bounds"
INBOUND_STEP = "inbound_step"


@dataclass(frozen=True)
class GuardrailNote:
    rule: str
    effect: str  # "clamped" or "blocked"
    message: str


@dataclass(frozen=True)
class FeeProposal:
    old_policy: Policy
    # after the capping rules (max step, bounds); when blocked, what they would have let through
    # had no rule blocked it — nothing is applied unless `accepted`
    new_policy: Policy
    requested_ppm: int  # what the decision asked for
    accepted: bool
    blocked_by: Optional[str] = None
    notes: Tuple[GuardrailNote, ...] = ()
    pressure: float = 0.0
    # accepted: the updates the relay budget still allows in the next 24 h after this one
    # (None: no budget set); shown in the reason
    relay_left: Optional[int] = None
    # accepted inside the normal cooldown because the channel is draining (`urgent`): the local
    # share that made it urgent, shown in the reason; None otherwise
    urgent_share: Optional[float] = None
    # inbound management on for the channel: the inbound ppm the rule asked for (None: not managed)
    # and why; `new_policy` carries the inbound fields after the inbound step and bounds
    requested_inbound_ppm: Optional[int] = None
    inbound_why: str = ""

    @property
    def direction(self) -> int:
        new, old = self.new_policy.ppm, self.old_policy.ppm
        return (new > old) - (new < old)

    @property
    def inbound_changed(self) -> bool:
        return inbound_of(self.new_policy) != inbound_of(self.old_policy)

    @property
    def outbound_changed(self) -> bool:
        return (self.new_policy.ppm, self.new_policy.base_msat) != (self.old_policy.ppm, self.old_policy.base_msat)


def inbound_of(policy: Policy) -> Tuple[int, int]:
    return policy.inbound_base_msat, policy.inbound_ppm


def with_inbound(policy: Policy, base_msat: int, ppm: int) -> Policy:
    """The same policy with only the inbound fee fields replaced."""
    return dataclasses.replace(policy, inbound_base_msat=base_msat, inbound_ppm=ppm)


def inbound_managed(channel: Channel, settings: EngineSettings, inbound_ours: AbstractSet[str] = frozenset()) -> bool:
    """May the engine set this channel's inbound fee? Its override decides when it says so (True:
    the operator opted it in, even over a hand-set value; False: never); else only with
    `inbound.manage` "on" and when the inbound fee now is LND's default (0 / 0) or one Fee Autopilot
    set itself (`inbound_ours`: chan_ids or short ids whose current inbound fee is the one our last
    change wrote). A hand-set inbound fee is never overwritten unless the operator opts it in."""
    if channel.local_policy is None:
        return False
    o = channel_override(channel, settings)
    if o is not None and o.manage_inbound is not None:
        return o.manage_inbound
    if settings.inbound.manage != INBOUND_ON:
        return False
    return inbound_of(channel.local_policy) == (0, 0) or bool(_ids(channel) & set(inbound_ours))


@dataclass(frozen=True)
class Bounds:
    min_ppm: int
    max_ppm: int
    min_base_msat: int
    max_base_msat: int
    pinned: bool


def channel_override(channel: Channel, settings: EngineSettings) -> Optional[ChannelOverride]:
    overrides = settings.guardrails.channel_overrides or {}
    return overrides.get(channel.chan_id) or (overrides.get(channel.short_id) if channel.short_id else None)


def bounds_for(channel: Channel, settings: EngineSettings) -> Bounds:
    g = settings.guardrails
    o = channel_override(channel, settings) or ChannelOverride()
    return Bounds(
        min_ppm=g.min_ppm if o.min_ppm is None else o.min_ppm,
        max_ppm=g.max_ppm if o.max_ppm is None else o.max_ppm,
        min_base_msat=g.min_base_msat if o.min_base_msat is None else o.min_base_msat,
        max_base_msat=g.max_base_msat if o.max_base_msat is None else o.max_base_msat,
        pinned=o.pinned,
    )


def max_step_ppm(old_ppm: int, settings: EngineSettings, urgent_step: bool = False) -> int:
    g = settings.guardrails
    pct = g.max_step_pct
    if urgent_step and settings.anti_oscillation.urgent_max_step_pct > 0:
        pct = max(pct, settings.anti_oscillation.urgent_max_step_pct)
    return int(min(g.max_step_ppm, max(math.floor(pct * old_ppm), g.step_floor_ppm)))


def urgent(channel: Channel, direction: int, settings: EngineSettings) -> bool:
    """A raise of a channel at or below `urgent_share` local (or a cut at or above 1 − it): the
    moment a daily pace loses most, a drain (or fill) that reaches the extreme hours before the next
    daily step (tuning seeds, engine/README.md: both directions beat raises only)."""
    limit = settings.anti_oscillation.urgent_share
    total = channel.local_sat + channel.remote_sat
    if limit <= 0 or total <= 0 or not direction:
        return False
    share = channel.local_sat / total
    return share <= limit if direction > 0 else share >= 1 - limit


def cooldown_hours(channel: Channel, direction: int, settings: EngineSettings) -> float:
    ao = settings.anti_oscillation
    if urgent(channel, direction, settings):
        return min(ao.cooldown_hours, ao.urgent_cooldown_hours)
    return ao.cooldown_hours


# --- the relay budget: Core Lightning gossipd's token bucket, replayed over the change log ---

_EPS = 1e-9  # float sums of hours: 12.0 tokens must count as 12


@dataclass(frozen=True)
class RelayBudget:
    """The bucket of one channel direction at `now`, before a new update."""

    tokens: float
    per_update: float  # 0: no budget (every update is relayed)
    per_hour: float
    most: float

    @property
    def enabled(self) -> bool:
        return self.per_update > 0

    def allows(self) -> bool:
        return not self.enabled or self.tokens >= self.per_update - _EPS

    def seconds_to_next(self) -> float:
        """How long until the bucket can relay an update (0 when it can now)."""
        if self.allows():
            return 0.0
        return (self.per_update - self.tokens) / self.per_hour * 3600

    def left_today(self, spend: bool) -> int:
        """Updates the bucket would relay in the next 24 h, sent as soon as it can (after this one
        when `spend`): it refills 24 x per_hour meanwhile and loses nothing to the cap, because it
        spends whenever it holds one update's tokens."""
        if not self.enabled:
            return 0
        held = self.tokens - (self.per_update if spend else 0.0)
        return max(0, int(math.floor((held + 24 * self.per_hour) / self.per_update + _EPS)))


def relay_budget(records: Sequence[ChangeRecord], now: float, settings: EngineSettings) -> RelayBudget:
    """Replay the bucket over one channel's change records (every applied change, ours and
    external ones): full at the first record, +per_hour tokens an hour up to the most, an update
    that finds a full update's tokens is relayed and spends them, one that does not is dropped
    by CLN and spends nothing. Records after `now` spend too (no time flows backward)."""
    ao = settings.anti_oscillation
    per, rate, most = ao.relay_tokens_per_update, ao.relay_tokens_per_hour, ao.relay_bucket_max
    tokens, at = most, None
    for record in sorted(records, key=lambda r: r.at):
        if at is not None:
            tokens = min(most, tokens + max(0, record.at - at) / 3600 * rate)
        at = record.at
        if tokens >= per - _EPS:
            tokens -= per
    if at is not None:
        tokens = min(most, tokens + max(0.0, now - at) / 3600 * rate)
    return RelayBudget(tokens, per, rate, most)


def wait_words(seconds: float) -> str:
    """'in 5 h', 'in 25 min': rounded up, so the update is possible by then."""
    if seconds <= 60:
        return "in 1 min"
    if seconds < 3600:
        return f"in {math.ceil(seconds / 60)} min"
    return f"in {math.ceil(seconds / 3600 - _EPS)} h"


def budget_words(budget: RelayBudget, spend: bool) -> str:
    """"Relay budget: 2 updates left today" / "Relay budget empty: next update in 5 h"."""
    if not spend and not budget.allows():
        return f"Relay budget empty: next update {wait_words(budget.seconds_to_next())}"
    left = budget.left_today(spend)
    return f"Relay budget: {left} update{'' if left == 1 else 's'} left today"


def _ids(channel: Channel) -> set:
    return {channel.chan_id, channel.short_id} - {""}


def _selection_rules(channel: Channel, settings: EngineSettings) -> List[GuardrailNote]:
    """Every selection rule that keeps this channel untouched, in order."""
    g = settings.guardrails
    ids = _ids(channel)
    notes: List[GuardrailNote] = []
    if ids & set(g.pinned_channels) or bounds_for(channel, settings).pinned:
        notes.append(GuardrailNote(PINNED, BLOCKED, "channel is pinned: never touched"))
    if ids & set(g.deny_channels):
        notes.append(GuardrailNote(DENY_CHANNEL, BLOCKED, "channel is on the deny list"))
    if channel.peer_id in set(g.deny_peers):
        notes.append(GuardrailNote(DENY_PEER, BLOCKED, "peer is on the deny list"))
    if (g.allow_channels or g.allow_peers) and not (
        ids & set(g.allow_channels) or channel.peer_id in set(g.allow_peers)
    ):
        notes.append(GuardrailNote(ALLOW_LIST, BLOCKED, "channel and peer are not on the allow lists"))
    if g.only_active and channel.state != ACTIVE:
        notes.append(GuardrailNote(ONLY_ACTIVE, BLOCKED, f"channel is {channel.state}: only active channels are changed"))
    return notes


def _selection_block(channel: Channel, settings: EngineSettings) -> Optional[GuardrailNote]:
    notes = _selection_rules(channel, settings)
    return notes[0] if notes else None


def _blocked(old: Policy, capped: Policy, requested: int, notes: List[GuardrailNote], pressure: float,
             **extra: object) -> FeeProposal:
    return FeeProposal(old, capped, requested, False, notes[-1].rule, tuple(notes), pressure, **extra)  # type: ignore[arg-type]


def inbound_step_ppm(settings: EngineSettings) -> int:
    return int(settings.guardrails.inbound_max_step_ppm)


def _inbound_outside(policy: Policy, settings: EngineSettings) -> bool:
    g = settings.guardrails
    return not (g.inbound_min_ppm <= policy.inbound_ppm <= 0 and g.inbound_min_base_msat <= policy.inbound_base_msat <= 0)


def _cap_inbound(old: Policy, requested_ppm: int, settings: EngineSettings) -> Tuple[int, int, List[GuardrailNote]]:
    """The inbound fields a managed channel gets: the requested ppm moved at most the inbound step
    (further only as far as needed to come back into bounds), both kept within [inbound_min_*, 0];
    a move below the smallest change is no move (unless it brings them back into bounds). The
    inbound base fee is only ever brought into its bounds, never set by the rule."""
    g = settings.guardrails
    notes: List[GuardrailNote] = []
    ppm = min(0, requested_ppm)
    step = inbound_step_ppm(settings)
    if abs(ppm - old.inbound_ppm) > step:
        ppm = old.inbound_ppm + (step if ppm > old.inbound_ppm else -step)
        notes.append(GuardrailNote(INBOUND_STEP, CLAMPED, f"inbound change capped at {step} ppm"))
    clamped = min(max(ppm, g.inbound_min_ppm), 0)
    if clamped != ppm:
        notes.append(GuardrailNote(INBOUND_BOUNDS, CLAMPED,
                                   f"inbound fee kept within {g.inbound_min_ppm}–0 ppm ({ppm} → {clamped})"))
        ppm = clamped
    base = min(max(old.inbound_base_msat, g.inbound_min_base_msat), 0)
    if base != old.inbound_base_msat:
        notes.append(GuardrailNote(INBOUND_BOUNDS, CLAMPED,
                                   f"inbound base fee kept within {g.inbound_min_base_msat}–0 msat "
                                   f"({old.inbound_base_msat} → {base})"))
    if (not _inbound_outside(old, settings) and ppm != old.inbound_ppm
            and abs(ppm - old.inbound_ppm) < min_change_ppm(abs(old.inbound_ppm), settings)):
        ppm = old.inbound_ppm  # too small to be worth a change of its own: the discount stays
        notes = [n for n in notes if n.rule != INBOUND_STEP]
    return base, ppm, notes


def check(
    intent: FeeIntent,
    channel: Channel,
    history: Sequence[ChangeRecord],
    settings: EngineSettings,
    now: int,
    inbound: Optional[InboundIntent] = None,
) -> Optional[FeeProposal]:
    """Apply the per-channel rules to a fee intent; None when there is nothing to check.

    The capping rules (max step, bounds) come first, so a blocked proposal still shows the
    policy it would have had (what the operator compares with the last accepted change);
    then the first blocking rule, in the documented order, decides.

    `inbound` (only for a channel whose inbound fee is managed, `inbound_managed`): the inbound
    discount it should have. It rides on the same update as the outbound change; when there is
    none, an inbound change alone is one update too and passes the same rules (an outbound policy
    outside its bounds is then left to an outbound proposal: no inbound-only change)."""
    old = channel.local_policy
    if old is None:
        return None
    outbound = intent.target_ppm is not None and intent.action in (INCREASE_FEES, DECREASE_FEES)
    b = bounds_for(channel, settings)
    if not outbound and (inbound is None or _outside(old, b)):
        return None
    requested = intent.target_ppm if outbound else old.ppm
    notes: List[GuardrailNote] = []
    ao = settings.anti_oscillation
    new_ppm = requested
    is_urgent = urgent(channel, (requested > old.ppm) - (requested < old.ppm), settings)
    step = max_step_ppm(old.ppm, settings, is_urgent)
    if abs(new_ppm - old.ppm) > step:
        new_ppm = old.ppm + (step if new_ppm > old.ppm else -step)
        share = settings.guardrails.max_step_pct
        notes.append(GuardrailNote(MAX_STEP, CLAMPED,
                                   f"capped by the max step ({share * 100:g} % or {settings.guardrails.max_step_ppm} ppm, "
                                   f"at least {settings.guardrails.step_floor_ppm} ppm: {step} ppm here)"))
    if new_ppm < b.min_ppm or new_ppm > b.max_ppm:
        clamped = min(max(new_ppm, b.min_ppm), b.max_ppm)
        notes.append(GuardrailNote(PPM_BOUNDS, CLAMPED,
                                   f"kept within {b.min_ppm}–{b.max_ppm} ppm ({new_ppm} → {clamped})"))
        new_ppm = clamped
    new_base = min(max(old.base_msat, b.min_base_msat), b.max_base_msat)
    if new_base != old.base_msat:
        notes.append(GuardrailNote(BASE_BOUNDS, CLAMPED,
                                   f"base fee kept within {b.min_base_msat}–{b.max_base_msat} msat "
                                   f"({old.base_msat} → {new_base})"))
    capped = old.with_fees(new_base, new_ppm)
    if inbound is not None:
        ib_base, ib_ppm, ib_notes = _cap_inbound(old, inbound.ppm, settings)
        notes += ib_notes
        capped = with_inbound(capped, ib_base, ib_ppm)
        if not outbound and inbound_of(capped) == inbound_of(old):
            return None  # the inbound discount is where it should be, and nothing else asks for a change
    fixing_bounds = _outside(old, b)
    extra: Dict[str, object] = {}
    if inbound is not None:
        extra = {"requested_inbound_ppm": inbound.ppm, "inbound_why": inbound.why}

    block = _selection_block(channel, settings)
    if block is not None:
        return _blocked(old, capped, requested, notes + [block], intent.pressure, **extra)
    if new_ppm == old.ppm and new_base == old.base_msat and inbound_of(capped) == inbound_of(old):
        notes.append(GuardrailNote(NO_CHANGE, BLOCKED, f"nothing left to change after the limits ({old.ppm} ppm)"))
        return _blocked(old, capped, requested, notes, intent.pressure, **extra)
    need = min_change_ppm(old.ppm, settings)
    if outbound and not fixing_bounds and abs(new_ppm - old.ppm) < need:
        notes.append(GuardrailNote(MIN_CHANGE, BLOCKED,
                                   f"change of {abs(new_ppm - old.ppm)} ppm is below the minimum {need} ppm "
                                   f"(max of {ao.min_change_ppm} ppm and {ao.min_change_pct * 100:g} %)"))
        return _blocked(old, capped, requested, notes, intent.pressure, **extra)

    last = last_change_at(history)
    hours = cooldown_hours(channel, (new_ppm > old.ppm) - (new_ppm < old.ppm), settings)
    cooldown_s = hours * 3600
    if last is not None and now - last < cooldown_s:
        ago = now - last
        when = f"changed {fmt_duration(ago)} ago" if ago >= 1 else "changed just now"
        notes.append(GuardrailNote(COOLDOWN, BLOCKED,
                                   f"{when}; cooldown {fmt_hours(hours)}{' (urgent)' if hours != ao.cooldown_hours else ''} "
                                   f"({fmt_duration(cooldown_s - ago)} left)"))
        return _blocked(old, capped, requested, notes, intent.pressure, **extra)
    spacing_s = ao.min_update_spacing_minutes * 60
    if last is not None and now - last < spacing_s:
        notes.append(GuardrailNote(MIN_SPACING, BLOCKED,
                                   f"changed {fmt_duration(now - last)} ago; at least {fmt_duration(spacing_s)} "
                                   f"between two updates (nodes accept the previous fees that long)"))
        return _blocked(old, capped, requested, notes, intent.pressure, **extra)
    budget = relay_budget(history, now, settings)
    if not budget.allows():
        notes.append(GuardrailNote(RELAY_BUDGET, BLOCKED,
                                   f"{budget_words(budget, False).lower()} ({budget.tokens:.1f} of the "
                                   f"{budget.per_update:g} tokens an update needs, +{budget.per_hour:g} an hour: "
                                   f"Core Lightning nodes would not relay it now)"))
        return _blocked(old, capped, requested, notes, intent.pressure, **extra)
    recent = changes_since(history, now - DAY)
    if ao.max_updates_per_day and recent >= ao.max_updates_per_day:
        notes.append(GuardrailNote(DAILY_LIMIT, BLOCKED,
                                   f"{recent} changes in the last 24 h; at most {ao.max_updates_per_day} per day"))
        return _blocked(old, capped, requested, notes, intent.pressure, **extra)
    direction = (new_ppm > old.ppm) - (new_ppm < old.ppm)
    window_start = now - ao.reversal_window_days * DAY
    previous = last_direction(history, window_start)
    flips = reversals_since(history, window_start)
    if direction and previous and direction != previous and flips >= ao.max_reversals:
        notes.append(GuardrailNote(REVERSALS, BLOCKED,
                                   f"would be reversal {flips + 1} in {ao.reversal_window_days:g} days; "
                                   f"at most {ao.max_reversals} allowed"))
        return _blocked(old, capped, requested, notes, intent.pressure, **extra)

    early = last is not None and hours != ao.cooldown_hours and now - last < ao.cooldown_hours * 3600
    return FeeProposal(old, capped, requested, True, None, tuple(notes), intent.pressure,
                       relay_left=budget.left_today(True) if budget.enabled else None,
                       urgent_share=round(channel.local_sat / (channel.local_sat + channel.remote_sat), 4)
                       if early else None, **extra)  # type: ignore[arg-type]


def _outside(policy: Policy, b: Bounds) -> bool:
    return not (b.min_ppm <= policy.ppm <= b.max_ppm and b.min_base_msat <= policy.base_msat <= b.max_base_msat)


def block_for_run_limit(proposal: FeeProposal, limit: int) -> FeeProposal:
    note = GuardrailNote(MAX_PER_RUN, BLOCKED, f"more important changes used this run's limit of {limit}")
    return FeeProposal(proposal.old_policy, proposal.new_policy, proposal.requested_ppm, False,
                       MAX_PER_RUN, proposal.notes + (note,), proposal.pressure,
                       requested_inbound_ppm=proposal.requested_inbound_ppm, inbound_why=proposal.inbound_why)


def violations(
    proposal: FeeProposal,
    channel: Channel,
    history: Sequence[ChangeRecord],
    settings: EngineSettings,
    now: int,
    inbound_ours: AbstractSet[str] = frozenset(),
) -> List[str]:
    """Independent re-check of an accepted proposal: the names of the rules it breaks, in
    `check()`'s order (empty when it obeys every rule; a proposal that was not accepted has
    nothing to re-check).

    Used at apply time, for manual changes (which only pass through here) and by the tests.
    `history` may hold other channels' records and be in any order: this channel's are
    picked and sorted.
    The same rules as `check()`, stated as conditions on the result: every selection rule
    that applies (not only the first); ppm and base within the bounds; at most the max step,
    except as far as needed to bring a ppm from outside the bounds back in; the fees changed;
    the minimum change (waived when the old policy is outside the bounds); cooldown; minimum
    spacing; relay budget (the bucket can relay it); daily limit (this change included);
    reversal limit; nothing but the fee fields changed. The inbound fee fields are fee fields only on
    a channel whose inbound fee is managed (`inbound_managed`, with the same `inbound_ours` the
    evaluation had; elsewhere a change of them is `only_fee_fields`), and change there only within [inbound_min_*, 0] (never positive), by at most the inbound step
    (further only as far as needed to come back into bounds) and at least the smallest change
    (waived when the old inbound fee is outside its bounds); an inbound change alone is one update
    like any other (cooldown, spacing, relay budget, daily limit).
    """
    if not proposal.accepted:
        return []
    problems: List[str] = []
    old, new = proposal.old_policy, proposal.new_policy
    records = records_for(history, channel)
    problems.extend(note.rule for note in _selection_rules(channel, settings))
    b = bounds_for(channel, settings)
    moved = abs(new.ppm - old.ppm)
    direction = (new.ppm > old.ppm) - (new.ppm < old.ppm)
    is_urgent = urgent(channel, direction, settings)
    back_into_bounds = max(b.min_ppm - old.ppm, old.ppm - b.max_ppm, 0)
    if moved > max(max_step_ppm(old.ppm, settings, is_urgent), back_into_bounds):
        problems.append(MAX_STEP)
    if not (b.min_ppm <= new.ppm <= b.max_ppm):
        problems.append(PPM_BOUNDS)
    if not (b.min_base_msat <= new.base_msat <= b.max_base_msat):
        problems.append(BASE_BOUNDS)
    inbound_moved = abs(new.inbound_ppm - old.inbound_ppm)
    inbound_changed = inbound_of(new) != inbound_of(old)
    if (new.ppm, new.base_msat) == (old.ppm, old.base_msat) and not inbound_changed:
        problems.append(NO_CHANGE)
    elif (new.ppm, new.base_msat) != (old.ppm, old.base_msat):
        if not _outside(old, b) and moved < min_change_ppm(old.ppm, settings):
            problems.append(MIN_CHANGE)
    managed = inbound_changed and inbound_managed(channel, settings, inbound_ours)
    if managed:
        g = settings.guardrails
        if not (g.inbound_min_ppm <= new.inbound_ppm <= 0 and g.inbound_min_base_msat <= new.inbound_base_msat <= 0):
            problems.append(INBOUND_BOUNDS)
        back_in = max(g.inbound_min_ppm - old.inbound_ppm, old.inbound_ppm, 0)
        if inbound_moved > max(inbound_step_ppm(settings), back_in):
            problems.append(INBOUND_STEP)
        if (not _inbound_outside(old, settings) and 0 < inbound_moved
                and inbound_moved < min_change_ppm(abs(old.inbound_ppm), settings) and MIN_CHANGE not in problems):
            problems.append(MIN_CHANGE)
    ao = settings.anti_oscillation
    last = last_change_at(records)
    if last is not None and now - last < cooldown_hours(channel, direction, settings) * 3600:
        problems.append(COOLDOWN)
    if last is not None and now - last < ao.min_update_spacing_minutes * 60:
        problems.append(MIN_SPACING)
    if not relay_budget(records, now, settings).allows():
        problems.append(RELAY_BUDGET)
    if ao.max_updates_per_day and changes_since(records, now - DAY) + 1 > ao.max_updates_per_day:
        problems.append(DAILY_LIMIT)
    window_start = now - ao.reversal_window_days * DAY
    previous = last_direction(records, window_start)
    if direction and previous and direction != previous and reversals_since(records, window_start) >= ao.max_reversals:
        problems.append(REVERSALS)
    # the inbound fee fields are fee fields only where inbound fees are managed: elsewhere a change of
    # them is a change of a field the engine must not touch
    kept = new.with_fees(old.base_msat, old.ppm)
    if managed:
        kept = with_inbound(kept, old.inbound_base_msat, old.inbound_ppm)
    if kept != old:
        problems.append(ONLY_FEE_FIELDS)
    return problems


# --- the rules in an operator's words: the one place (limited_by, the headline) ---

# in a headline after the would-be change: "would lower to 441 ppm (cooldown)"
RULE_SHORT = {
    PINNED: "pinned",
    DENY_CHANNEL: "channel on the deny list",
    DENY_PEER: "peer on the deny list",
    ALLOW_LIST: "not on the allow lists",
    ONLY_ACTIVE: "channel not active",
    MAX_STEP: "largest step",
    PPM_BOUNDS: "fee bounds",
    BASE_BOUNDS: "base fee bounds",
    NO_CHANGE: "nothing left to change",
    MIN_CHANGE: "change too small",
    COOLDOWN: "cooldown",
    MIN_SPACING: "just changed",
    RELAY_BUDGET: "relay budget empty",
    DAILY_LIMIT: "daily limit",
    REVERSALS: "reversal limit",
    MAX_PER_RUN: "run limit",
    ONLY_FEE_FIELDS: "only fee fields change",
    INBOUND_BOUNDS: "inbound fee bounds",
    INBOUND_STEP: "largest inbound step",
}


def _step_label(s: EngineSettings, b: Bounds, p: Optional[FeeProposal]) -> str:
    g = s.guardrails
    old = p.old_policy.ppm if p is not None else None
    if old is None or max_step_ppm(old, s) == math.floor(g.max_step_pct * old):
        return f"Largest step ({g.max_step_pct * 100:g} %)"
    return f"Largest step ({max_step_ppm(old, s)} ppm)"  # the ppm cap or the floor bound here, not the share


def _bounds_label(s: EngineSettings, b: Bounds, p: Optional[FeeProposal]) -> str:
    if p is not None and p.new_policy.ppm == b.min_ppm and p.requested_ppm < b.min_ppm:
        return f"Minimum fee ({b.min_ppm} ppm)"
    if p is not None and p.new_policy.ppm == b.max_ppm and p.requested_ppm > b.max_ppm:
        return f"Maximum fee ({b.max_ppm} ppm)"
    return f"Fee bounds ({b.min_ppm}–{b.max_ppm} ppm)"


def _budget_label(s: EngineSettings, p: Optional[FeeProposal]) -> str:
    """"Relay budget empty: next update in 5 h" when the proposal was held by it (the wait is in
    its note), else the rule with its setting."""
    note = next((n for n in (p.notes if p is not None else ()) if n.rule == RELAY_BUDGET), None)
    if note is not None:
        words = note.message.partition(" (")[0]
        return words[:1].upper() + words[1:]
    ao = s.anti_oscillation
    per_day = 24 * ao.relay_tokens_per_hour / ao.relay_tokens_per_update if ao.relay_tokens_per_update else 0
    burst = int(ao.relay_bucket_max // ao.relay_tokens_per_update) if ao.relay_tokens_per_update else 0
    return f"Relay budget ({per_day:g} updates a day, a burst of {burst})"


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


# every rule with its setting, e.g. "Cooldown (24 h after a change)"; (settings, the channel's
# bounds, the proposal when there is one) -> label
RULE_LABELS: Dict[str, Callable[[EngineSettings, Bounds, Optional[FeeProposal]], str]] = {
    PINNED: lambda s, b, p: "Pinned",
    DENY_CHANNEL: lambda s, b, p: "Channel on the deny list",
    DENY_PEER: lambda s, b, p: "Peer on the deny list",
    ALLOW_LIST: lambda s, b, p: "Not on the allow lists",
    ONLY_ACTIVE: lambda s, b, p: "Only active channels are changed",
    MAX_STEP: _step_label,
    PPM_BOUNDS: _bounds_label,
    BASE_BOUNDS: lambda s, b, p: f"Base fee bounds ({b.min_base_msat}–{b.max_base_msat} msat)",
    NO_CHANGE: lambda s, b, p: "Nothing left to change",
    MIN_CHANGE: lambda s, b, p: (f"Smallest change ({s.anti_oscillation.min_change_ppm} ppm or "
                                 f"{s.anti_oscillation.min_change_pct * 100:g} %)"),
    COOLDOWN: lambda s, b, p: f"Cooldown ({fmt_hours(s.anti_oscillation.cooldown_hours)} after a change)",
    MIN_SPACING: lambda s, b, p: (f"Least time between updates "
                                  f"({fmt_duration(s.anti_oscillation.min_update_spacing_minutes * 60)})"),
    RELAY_BUDGET: lambda s, b, p: _budget_label(s, p),
    DAILY_LIMIT: lambda s, b, p: f"Daily limit ({_plural(s.anti_oscillation.max_updates_per_day, 'change')} a day)",
    REVERSALS: lambda s, b, p: (f"Reversal limit ({s.anti_oscillation.max_reversals} in "
                                f"{_plural(s.anti_oscillation.reversal_window_days, 'day')})"),
    MAX_PER_RUN: lambda s, b, p: f"Run limit ({_plural(s.guardrails.max_changes_per_run, 'change')} a run)",
    ONLY_FEE_FIELDS: lambda s, b, p: "Only the fee fields change",
    INBOUND_BOUNDS: lambda s, b, p: f"Inbound fee bounds ({s.guardrails.inbound_min_ppm}–0 ppm)",
    INBOUND_STEP: lambda s, b, p: f"Largest inbound step ({s.guardrails.inbound_max_step_ppm} ppm)",
}


def rule_label(rule: str, channel: Channel, settings: EngineSettings, proposal: Optional[FeeProposal] = None) -> str:
    """A rule in words with its setting: "Cooldown (24 h after a change)", "Largest step (25 %)"."""
    label = RULE_LABELS.get(rule)
    if label is None:  # a rule id stored by another version
        return rule.replace("_", " ").capitalize()
    return label(settings, bounds_for(channel, settings), proposal)


@dataclass(frozen=True)
class LimitedBy:
    rule: str
    effect: str  # "capped" or "blocked"
    label: str


def limited_by(proposal: Optional[FeeProposal], channel: Channel, settings: EngineSettings) -> Optional[LimitedBy]:
    """The guardrail that shaped the proposal: the blocking rule, else the cap that set the final
    ppm (bounds win over the step), else a base-fee clamp; None when nothing limited it."""
    if proposal is None:
        return None
    if proposal.blocked_by:
        return LimitedBy(proposal.blocked_by, "blocked", rule_label(proposal.blocked_by, channel, settings, proposal))
    clamps = [n.rule for n in proposal.notes if n.effect == CLAMPED]
    ppm_caps = [r for r in clamps if r in (MAX_STEP, PPM_BOUNDS)]
    rule = ppm_caps[-1] if ppm_caps else clamps[-1] if clamps else None
    if rule is None:
        return None
    return LimitedBy(rule, "capped", rule_label(rule, channel, settings, proposal))
