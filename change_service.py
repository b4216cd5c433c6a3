"""The change service: the only code that changes a channel's fee policy or the settings.

Every path that changes something — applying a run or a decision, a manual fee
change, rolling back a change or a run, reconciling after a crash, recording a
change somebody else made (drift), writing the settings or a pin — runs here,
under one lock, so a rollback's list, a reconcile's view and a settings merge are
always computed from a state nothing else is changing.

Every fee write follows the same steps:

1. re-check the proposal against the *live* policy, the *current* settings and the
   *current* change history (`engine.guardrails.violations`); a proposal that no
   longer passes is `blocked`, with the rule named, and nothing is written;
2. write the change log row (`pending`, complete old and new policy) before the
   node is called;
3. send the complete new policy once (only the fee fields differ) — never
   retried blindly: a write that timed out may still land;
4. read the policy back: `applied` when it matches; `failed` when the node
   answered and the policy is not ours; when the write's outcome is unknown (a
   timeout, a dropped connection, an answer we could not read) and the node still
   shows the old policy, the change stays `pending` and nothing else is written
   to that channel until reconcile has settled it.

A batch always ends in a known state: when one of its changes fails, or anything
unexpected happens in it, what the batch applied is restored (newest first), each
restore being a new change row linked to what it undoes.

Rollbacks pass a subset of the guardrails: the channel must still be open, have no
change of unknown outcome, and be as we left it (unless forced). Pins, bounds,
steps, lists, cooldown, daily and reversal limits do not block a rollback: it
restores a policy the channel had before we changed it, at the operator's request
or to undo a failed batch.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Optional

from loguru import logger

from . import crud
from .app_settings import deep_merge, validate_document
from .clock import now
from .engine.guardrails import MAX_PER_RUN, FeeProposal, inbound_of, rule_label, violations, with_inbound
from .engine.inbound import inbound_set_by_us
from .engine.settings import EngineSettings
from .engine.snapshot import ACTIVE, INACTIVE, Channel, ChangeRecord, Policy
from .models import policy_dict, policy_from_dict
from .node import (
    NodeCallError,
    NodeGateway,
    NodeUnavailable,
    PolicyWriter,
    policy_differences,
    same_policy,
    writes_paused,
)
from .notify import listed, notify, outcomes_text, plural, short_run
from .resilience import CircuitOpen, ResilientCaller, RetryPolicy, breaker, retry_policy
from .services import NotFound, change_records, current_gateway, load_engine_settings, stored_settings

APPLIED = "applied"
FAILED = "failed"
CONFLICT = "conflict"
PENDING = "pending"
BLOCKED = "blocked"
SKIPPED = "skipped"
RESTORED = "restored"
UNCHANGED = "unchanged"
UNKNOWN = "unknown"  # the write's outcome is not known yet: the change stays pending

APPLICABLE_RUN_STATUSES = (
    "completed", "applied", "partially_applied", "failed_apply", "rolled_back", "partially_rolled_back", "interrupted",
)
# A person's request waits at most this long for the lock, then gets a 409 that
# says what it waited for (a scheduled batch waits as long as it takes).
MANUAL_WAIT_S = 30.0
OPEN_STATES = (ACTIVE, INACTIVE)
# Apply-time rules of the change service itself, beside the engine's guardrails.
CHANNEL_OPEN = "channel_open"
UNKNOWN_OUTCOME = "unknown_outcome"


class Refused(Exception):
    """A well-formed request that the rules refuse; nothing was changed."""

    def __init__(self, message: str, status: int = 409, details: Optional[dict] = None):
        super().__init__(message)
        self.status = status
        self.details = details or {}


# --- the one lock ----------------------------------------------------------------------

_lock = asyncio.Lock()
_holder: Optional[str] = None


@asynccontextmanager
async def exclusive(what: str, wait_s: Optional[float] = MANUAL_WAIT_S) -> AsyncIterator[None]:
    """Hold the change lock; `wait_s=None` waits as long as it takes."""
    global _holder
    try:
        await asyncio.wait_for(_lock.acquire(), timeout=wait_s)
    except asyncio.TimeoutError as exc:
        raise Refused(
            f"Waited {wait_s:.0f} s for another change to finish ({_holder or 'unknown'}); nothing was changed. Try again.",
            status=409,
        ) from exc
    _holder = what
    try:
        yield
    finally:
        _holder = None
        _lock.release()


# --- typed views of what the database holds -----------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """A stored decision's fee proposal, as the change service applies it."""

    decision_id: str
    run_id: str
    chan_id: str
    channel_point: str
    planned_old: Policy
    target: Policy
    reason: str

    @classmethod
    def of(cls, decision: dict) -> Optional["Proposal"]:
        if not decision.get("accepted") or not decision.get("new_policy") or not decision.get("old_policy"):
            return None
        return cls(
            decision_id=decision["id"],
            run_id=decision["run_id"],
            chan_id=decision["chan_id"],
            channel_point=decision.get("channel_point") or "",  # rows before m010 have it; later: the live channel's
            planned_old=policy_from_dict(decision["old_policy"]),
            target=policy_from_dict(decision["new_policy"]),
            reason=decision.get("reason", ""),
        )


@dataclass(frozen=True)
class LoggedChange:
    """A row of the change log."""

    id: str
    chan_id: str
    channel_point: str
    old: Policy
    new: Policy
    status: str
    source: str
    run_id: Optional[str]
    rollback_of: Optional[str]

    @classmethod
    def of(cls, row: dict) -> "LoggedChange":
        return cls(
            id=row["id"],
            chan_id=row["chan_id"],
            channel_point=row["channel_point"],
            old=policy_from_dict(row["old_policy"]),
            new=policy_from_dict(row["new_policy"]),
            status=row["status"],
            source=row["source"],
            run_id=row.get("run_id"),
            rollback_of=row.get("rollback_of"),
        )


@dataclass
class Outcome:
    chan_id: str
    status: str  # applied, failed, unknown, restored, blocked, skipped, unchanged
    message: str = ""
    change_id: Optional[str] = None
    decision_id: Optional[str] = None
    rollback_change_id: Optional[str] = None
    rule: Optional[str] = None  # the guardrail that blocked it

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BatchResult:
    batch_id: str
    status: str = "nothing_to_do"  # applied, partially_applied, rolled_back, failed, interrupted, nothing_to_do
    outcomes: list[Outcome] = field(default_factory=list)
    error: Optional[str] = None

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


# --- talking to the node ----------------------------------------------------------------------


class NodeSession:
    """The node for one locked operation: reads retry, a write is sent once."""

    def __init__(self, gateway: NodeGateway, our_id: str, timeout_s: float = 20.0):
        self.gateway = gateway
        # A write our client gave up on may still sit in the node this long: until
        # then, "the node still has the old policy" proves nothing. (An assumption:
        # LND applies a request it has read even when the client has gone.)
        self.unknown_grace_s = 2 * timeout_s
        self.writer = PolicyWriter(gateway, our_id)
        self.reads = ResilientCaller(breaker, retry_policy)
        self.writes = ResilientCaller(breaker, RetryPolicy(attempts=1))
        self._channels: Optional[dict[str, Channel]] = None

    @classmethod
    async def open(cls, *, writes: bool = True) -> "NodeSession":
        """`writes`: refused at once (nothing done) on a backend Fee Autopilot cannot set fees on;
        reconcile and drift only read."""
        gateway = await current_gateway()
        info = await ResilientCaller(breaker, retry_policy).call("node info", gateway.info)
        session = cls(gateway, info.node_id, gateway.timeout_s)
        if writes and not session.writer.can_write:
            raise Refused(session.writer.why_not, status=501)
        return session

    async def read(self, chan_id: str) -> Policy:
        return await self.reads.call(f"read policy {chan_id}", lambda: self.writer.read(chan_id))

    async def write(self, chan_id: str, channel_point: str, policy: Policy) -> None:
        """An error the node answered (HTTP 5xx, lightningd's catch-all) proves it did not act, so it is retried
        with backoff; a timeout or a dropped connection proves nothing: sent once, and
        the read-back decides."""
        paused = writes_paused()
        if paused:  # Fee Autopilot's credential was refused: nothing is sent (failed at once, like the breaker)
            raise CircuitOpen(f"fee writes are paused: {paused}; rotate or revoke the credential (Node credential)")
        for attempt in range(retry_policy.attempts):
            try:
                return await self.writes.call(f"set policy {channel_point}", lambda: self.writer.write(chan_id, channel_point, policy))
            except NodeCallError as exc:
                if not exc.answered or not exc.transient or attempt + 1 >= retry_policy.attempts:
                    raise
                delay = retry_policy.delay(attempt, self.writes.rng)
                logger.info(f"feepilot: set policy {channel_point}: the node answered {exc}; retry in {delay:.2f} s")
                await asyncio.sleep(delay)

    async def channels(self, fresh: bool = False) -> dict[str, Channel]:
        """Every channel by chan_id and short id (one node call per operation)."""
        if self._channels is None or fresh:
            result = await self.reads.call("list channels", self.gateway.channels)
            self._channels = {}
            for channel in result.channels:
                self._channels[channel.chan_id] = channel
                if channel.short_id:
                    self._channels.setdefault(channel.short_id, channel)
        return self._channels


def _outcome_unknown(exc: BaseException) -> bool:
    """Did the node perhaps act although the call failed? Only an error the node answered
    (HTTP, JSON-RPC) or a refusal it gave us proves it did not."""
    if isinstance(exc, NodeCallError):
        return not exc.answered and exc.transient
    return True


def _describe(exc: BaseException) -> str:
    return str(exc) or exc.__class__.__name__


# --- one change ---------------------------------------------------------------------------------


async def _write_change(
    session: NodeSession,
    *,
    chan_id: str,
    channel_point: str,
    old: Policy,
    new: Policy,
    requested_by: str,
    source: str,
    reason: str,
    run_id: Optional[str] = None,
    decision_id: Optional[str] = None,
    batch_id: Optional[str] = None,
    rollback_of: Optional[str] = None,
) -> dict:
    """Steps 2–4 for one channel; returns the change row (applied, failed, conflict or still pending)."""
    row = await crud.insert_change(
        chan_id=chan_id,
        channel_point=channel_point,
        old_policy=policy_dict(old),  # type: ignore[arg-type]
        new_policy=policy_dict(new),  # type: ignore[arg-type]
        requested_by=requested_by,
        source=source,
        reason=reason,
        run_id=run_id,
        decision_id=decision_id,
        batch_id=batch_id,
        rollback_of=rollback_of,
    )
    tag = f"change {row['id']} ({chan_id}, run {run_id or '-'})"
    write_error: Optional[BaseException] = None
    try:
        await session.write(chan_id, channel_point, new)
    except CircuitOpen as exc:
        # Nothing was sent: failed, proven, without asking the node that is being left alone.
        await crud.settle_change(row["id"], FAILED, f"not sent: {_describe(exc)}")
        return await crud.get_change(row["id"])  # type: ignore[return-value]
    except Exception as exc:  # decided below by reading back, whatever the error was
        logger.warning(f"feepilot: {tag}: write failed: {_describe(exc)}")
        write_error = exc
    try:
        live = await session.read(chan_id)
    except Exception as exc:
        logger.warning(f"feepilot: {tag}: read-back failed, left pending for reconciliation: {_describe(exc)}")
        return await crud.get_change(row["id"])  # type: ignore[return-value]
    if same_policy(live, new):
        await crud.settle_change(row["id"], APPLIED, "verified by read-back")
        logger.info(f"feepilot: {tag}: applied {old.ppm} -> {new.ppm} ppm, verified")
    elif write_error is not None and _outcome_unknown(write_error) and same_policy(live, old):
        # The write may still land: proven neither way, so it stays pending.
        logger.warning(f"feepilot: {tag}: outcome unknown ({_describe(write_error)}); left pending")
    elif write_error is not None:
        await crud.settle_change(row["id"], FAILED, _describe(write_error))
    else:
        message = f"read-back differs from the requested policy: {policy_differences(live, new)}"
        await crud.settle_change(row["id"], FAILED, message)
        logger.warning(f"feepilot: {tag}: failed: {message}")
    return await crud.get_change(row["id"])  # type: ignore[return-value]


def _change_status(row: dict) -> str:
    return UNKNOWN if row["status"] == PENDING else row["status"]


# --- reconcile and drift -----------------------------------------------------------------------


async def _reconcile(session: NodeSession) -> list[dict]:
    """Settle pending changes by what the node has: new -> applied, old -> failed
    (never applied), neither -> conflict; a closed channel -> failed."""
    settled = []
    for row in await crud.pending_changes():
        change = LoggedChange.of(row)
        try:
            live = await session.read(change.chan_id)
        except NodeCallError as exc:
            open_channel = (await session.channels()).get(change.chan_id)
            if not exc.transient and (open_channel is None or open_channel.state not in OPEN_STATES):
                status, message = FAILED, "reconciled: the channel is no longer open"
            else:
                logger.warning(f"feepilot: reconcile {change.id}: node unavailable: {exc}")
                continue
        else:
            if same_policy(live, change.new):
                status, message = APPLIED, "reconciled: the node has the new policy"
            elif same_policy(live, change.old):
                if now() - row["created_at"] < session.unknown_grace_s:
                    continue  # the write may still land: unknown a little longer
                status, message = FAILED, "reconciled: the node still has the old policy (not applied)"
            else:
                status, message = CONFLICT, f"reconciled: the node has neither policy: {policy_differences(live, change.new)}"
        if await crud.settle_change(change.id, status, message):
            logger.info(f"feepilot: change {change.id} {message}")
            settled.append({**row, "status": status, "message": message})
    return settled


def _left_as(change: LoggedChange) -> Optional[Policy]:
    """The policy our log says a channel was left with after this change."""
    if change.status == APPLIED:
        return change.new
    if change.status == FAILED:
        return change.old
    return None  # a conflict is already shown as one


async def _detect_drift(session: NodeSession) -> list[dict]:
    """Record, as an external change, every channel whose policy differs from what our log left."""
    found = []
    latest = await crud.latest_settled_changes()
    if not latest:
        return found
    channels = await session.channels(fresh=True)
    for chan_id, row in latest.items():
        change = LoggedChange.of(row)
        expected = _left_as(change)
        channel = channels.get(chan_id)
        if expected is None or channel is None or channel.local_policy is None:
            continue
        live = channel.local_policy
        if same_policy(live, expected):
            continue
        differences = policy_differences(live, expected)
        described = ", ".join(f"{name} {then} → {now_}" for name, (then, now_) in differences.items())
        reason = f"Changed outside Fee Autopilot: {described}"
        if change.status == FAILED and same_policy(live, change.new):
            reason = f"Change {change.id}, reported failed, landed late on the node: {described}"
        external = await crud.insert_external_change(
            chan_id=chan_id,
            channel_point=change.channel_point,
            old_policy=policy_dict(expected),  # type: ignore[arg-type]
            new_policy=policy_dict(live.with_fees(live.base_msat, live.ppm)),  # type: ignore[arg-type]
            reason=reason,
        )
        logger.warning(f"feepilot: channel {chan_id}: {reason}")
        found.append(external)
    if found:
        names = listed([c["chan_id"] for c in found])
        were = "was" if len(found) == 1 else "were"
        await notify("external", f"Fee Autopilot: {plural(len(found), 'channel')} {were} changed outside Fee Autopilot "
                                 f"({names}); recorded in the history.")
    return found


async def reconcile_and_check_drift(wait_s: Optional[float] = None) -> Optional[dict[str, list]]:
    """The schedule's reconcile (waits its turn); None when the node cannot be asked yet."""
    try:
        return await reconcile_now(wait_s)
    except (NodeUnavailable, NodeCallError, CircuitOpen, Refused) as exc:
        logger.info(f"feepilot: reconcile postponed: {exc}")
        return None


async def reconcile_now(wait_s: Optional[float] = MANUAL_WAIT_S) -> dict[str, list]:
    """Settle pending changes, record drift and close batches a crash cut off, under the lock."""
    async with exclusive("reconciling with the node", wait_s):
        # reads only: drift is recorded on a backend we cannot write to too; a pending change there
        # cannot be read back and stays pending (the read says why)
        session = await NodeSession.open(writes=False)
        settled = [await crud.get_change(c["id"]) for c in await _reconcile(session)]
        external = await _detect_drift(session)
        return {"settled": settled, "external": external, "interrupted_runs": await _close_interrupted_batches()}


# --- applying proposals --------------------------------------------------------------------------


@dataclass
class _Context:
    """What every apply-time check of one batch reads, fetched once under the lock."""

    settings: EngineSettings
    history: list[ChangeRecord]  # every applied change in the history window
    pending_chans: set[str]
    inbound_owned: dict[str, tuple[int, int]]  # the inbound fees Fee Autopilot's own changes wrote


async def _context() -> _Context:
    document, settings = await load_engine_settings()
    since = now() - document["history_days"] * 86400
    history = change_records(await crud.applied_changes_since(since))
    pending = {row["chan_id"] for row in await crud.pending_changes()}
    return _Context(settings, history, pending, await crud.inbound_ours())


async def _run_writes(run_id: str) -> int:
    """Changes already written for a run's proposals (rollbacks aside)."""
    rows, _ = await crud.list_changes(run_id=run_id, limit=10_000)
    return sum(1 for r in rows if r["status"] in (APPLIED, PENDING) and not r.get("rollback_of") and r["source"] != "rollback")


def _blocked(chan_id: str, rule: str, message: str, decision_id: Optional[str] = None) -> Outcome:
    return Outcome(chan_id, BLOCKED, message, decision_id=decision_id, rule=rule)


def _rules_in_words(rules: list[str], channel: Channel, settings: EngineSettings) -> str:
    """"Cooldown (24 h after a change), Maximum fee (5000 ppm)": the rules as the page names them."""
    return ", ".join(rule_label(rule, channel, settings) for rule in rules)


async def _apply_proposal(
    session: NodeSession, ctx: _Context, proposal: Proposal, batch: BatchResult, requested_by: str, source: str,
    writes_so_far: int,
) -> Outcome:
    chan_id, decision_id = proposal.chan_id, proposal.decision_id
    done = [c for c in (await crud.list_changes(chan_id=chan_id, limit=500))[0] if c.get("decision_id") == decision_id]
    applied = [c for c in done if c["status"] == APPLIED]
    if applied:
        undone = (await crud.applied_rollbacks_of([applied[0]["id"]])).get(applied[0]["id"])
        message = f"Already applied, and rolled back by change {undone}: a decision is applied once" if undone else "Already applied"
        return Outcome(chan_id, UNCHANGED, message, change_id=applied[0]["id"], decision_id=decision_id)
    channel = (await session.channels()).get(chan_id)
    if channel is None or channel.state not in OPEN_STATES:
        state = channel.state if channel else "closed"
        return _blocked(chan_id, CHANNEL_OPEN, f"The channel is {state}: only open channels are changed", decision_id)
    if chan_id in ctx.pending_chans:
        return _blocked(chan_id, UNKNOWN_OUTCOME, "An earlier change of this channel has an unknown outcome; "
                        "reconcile must settle it first", decision_id)
    live = await session.read(chan_id)
    planned, target = proposal.planned_old, proposal.target
    # an inbound fee is written only when the proposal changes it (managed), and only over the one it saw
    inbound_moves = inbound_of(target) != inbound_of(planned)
    if (live.base_msat, live.ppm) != (planned.base_msat, planned.ppm):
        return Outcome(chan_id, SKIPPED, f"Fees changed since the run ({planned.ppm} → {live.ppm} ppm): run again",
                       decision_id=decision_id)
    if inbound_moves and inbound_of(live) != inbound_of(planned):
        return Outcome(chan_id, SKIPPED, f"The inbound fee changed since the run ({planned.inbound_ppm} → "
                       f"{live.inbound_ppm} ppm): run again", decision_id=decision_id)
    new = live.with_fees(target.base_msat, target.ppm)
    if inbound_moves:
        new = with_inbound(new, *inbound_of(target))
    problems = _violations(ctx, channel, live, new)
    limit = ctx.settings.guardrails.max_changes_per_run
    if writes_so_far + 1 > limit:
        problems.append(MAX_PER_RUN)
    if problems:
        words = _rules_in_words(problems, channel, ctx.settings)
        return _blocked(chan_id, problems[0], f"Held back by a guardrail when applied: {words}", decision_id)
    row = await _write_change(
        session,
        chan_id=chan_id,
        channel_point=proposal.channel_point or channel.channel_point,
        old=live,
        new=new,
        requested_by=requested_by,
        source=source,
        reason=proposal.reason,
        run_id=proposal.run_id,
        decision_id=decision_id,
        batch_id=batch.batch_id,
    )
    status = _change_status(row)
    if status == APPLIED:
        ctx.history.extend(change_records([row]))
    if status == UNKNOWN:
        ctx.pending_chans.add(chan_id)
        message = "The node did not confirm the write: left pending until reconcile settles it"
    else:
        message = row.get("message") or ""
    return Outcome(chan_id, status, message, change_id=row["id"], decision_id=decision_id)


def _violations(ctx: _Context, channel: Channel, live: Policy, new: Policy) -> list[str]:
    proposal = FeeProposal(old_policy=live, new_policy=new, requested_ppm=new.ppm, accepted=True)
    history = [h for h in ctx.history if h.chan_id in (channel.chan_id, channel.short_id)]
    at_live = replace(channel, local_policy=live)
    ours = inbound_set_by_us([at_live], ctx.inbound_owned)
    return violations(proposal, at_live, history, ctx.settings, now(), inbound_ours=ours)


async def _apply_batch(
    session: NodeSession, batch: BatchResult, proposals: list[Proposal], requested_by: str, source: str, auto_rollback: bool
) -> BatchResult:
    applied_rows: list[dict] = []
    ctx = await _context()
    run_writes: dict[str, int] = {}
    try:
        for index, proposal in enumerate(proposals):
            if proposal.run_id not in run_writes:
                run_writes[proposal.run_id] = await _run_writes(proposal.run_id)
            try:
                outcome = await _apply_proposal(session, ctx, proposal, batch, requested_by, source, run_writes[proposal.run_id])
            except (NodeCallError, CircuitOpen) as exc:
                outcome = Outcome(proposal.chan_id, FAILED, f"Could not read the live policy: {exc}", decision_id=proposal.decision_id)
            batch.outcomes.append(outcome)
            if outcome.status in (APPLIED, UNKNOWN):
                run_writes[proposal.run_id] += 1
            if outcome.status == APPLIED:
                applied_rows.append(await crud.get_change(outcome.change_id))  # type: ignore[arg-type]
            elif outcome.status in (FAILED, UNKNOWN, CONFLICT):
                if auto_rollback and applied_rows:
                    await _restore(session, batch, applied_rows, requested_by)
                    _skip(batch, proposals[index + 1:], "Not attempted: the batch was rolled back")
                    batch.status = "rolled_back"
                    return batch
                if not breaker.allow():
                    _skip(batch, proposals[index + 1:], "Not attempted: circuit breaker open")
                    break
    except Exception as exc:
        # Whatever broke, the batch ends in a known state: what it applied is restored.
        batch.error = _describe(exc)
        logger.exception(f"feepilot: batch {batch.batch_id} interrupted: {batch.error}")
        done = {o.decision_id for o in batch.outcomes}
        _skip(batch, [p for p in proposals if p.decision_id not in done], f"Not attempted: the batch was interrupted ({batch.error})")
        if applied_rows:
            await _restore(session, batch, applied_rows, requested_by)
        batch.status = "interrupted"
        return batch
    statuses = {o.status for o in batch.outcomes}
    if APPLIED in statuses and statuses & {FAILED, UNKNOWN, CONFLICT, SKIPPED, BLOCKED}:
        batch.status = "partially_applied"
    elif APPLIED in statuses:
        batch.status = "applied"
    elif statuses & {FAILED, UNKNOWN, CONFLICT}:
        batch.status = "failed"
    return batch


def _skip(batch: BatchResult, proposals: list[Proposal], why: str) -> None:
    for proposal in proposals:
        batch.outcomes.append(Outcome(proposal.chan_id, SKIPPED, why, decision_id=proposal.decision_id))


async def _restore(session: NodeSession, batch: BatchResult, applied_rows: list[dict], requested_by: str) -> None:
    for row in reversed(applied_rows):
        try:
            restore = await _rollback(session, LoggedChange.of(row), requested_by=requested_by, force=False,
                                      reason="automatic rollback of a failed batch", batch_id=batch.batch_id)
            restored = restore["status"] == APPLIED
            message = "Restored after a failure in the batch" if restored else f"Restore failed: {restore.get('message') or 'unknown outcome'}"
            rollback_id = restore["id"]
        except Exception as exc:  # one failed restore must not stop the others
            restored, message, rollback_id = False, f"Restore failed: {_describe(exc)}", None
        for outcome in batch.outcomes:
            if outcome.change_id == row["id"]:
                outcome.status = RESTORED if restored else APPLIED
                outcome.message = message
                outcome.rollback_change_id = rollback_id


# A run's status while one of its batches writes; a run found in it after a restart
# was interrupted by the crash and says so (with the counts of its change log).
APPLYING = "applying"
ROLLING_BACK = "rolling_back"
INTERRUPTED = "interrupted"
IN_FLIGHT_RUN_STATUSES = (APPLYING, ROLLING_BACK)


async def _begin_batch(run_id: str, status: str, batch_id: str) -> str:
    """Mark the run as writing; returns the status it had."""
    run = await crud.get_run(run_id)
    prior = run["status"] if run else "completed"
    summary = dict((run or {}).get("summary") or {})
    summary["in_flight"] = {"batch_id": batch_id, "prior_status": prior, "since": now()}
    await crud.update_run(run_id, status=status, summary=summary, finished=False)
    return prior


async def _record_batch(run_id: str, batch: BatchResult, requested_by: str, kind: str = "apply",
                        final_status: Optional[str] = None) -> None:
    """The run's record of this batch; under the lock, so concurrent batches all land."""
    run = await crud.get_run(run_id)
    if run is None:
        return
    summary = dict(run.get("summary") or {})
    prior = (summary.pop("in_flight", None) or {}).get("prior_status", run["status"])
    summary.setdefault("batches", []).append(
        {"batch_id": batch.batch_id, "kind": kind, "status": batch.status, "counts": batch.counts(), "by": requested_by,
         "by_name": await crud.person_name(requested_by), "at": now(), "error": batch.error}
    )
    skipped = dict(summary.get("skipped") or {})
    blocked = dict(summary.get("blocked_at_apply") or {})
    for outcome in batch.outcomes:
        if not outcome.decision_id:
            continue
        if outcome.status == SKIPPED:
            skipped[outcome.decision_id] = outcome.message
        elif outcome.status == BLOCKED:
            blocked[outcome.decision_id] = {"rule": outcome.rule, "message": outcome.message}
    summary["skipped"] = skipped
    summary["blocked_at_apply"] = blocked
    counts = dict(run.get("counts") or {})
    for key, value in batch.counts().items():
        counts[f"batch_{key}"] = counts.get(f"batch_{key}", 0) + value
    status = final_status or {"applied": "applied", "partially_applied": "partially_applied", "rolled_back": "rolled_back",
                              "failed": "failed_apply", "interrupted": INTERRUPTED}.get(batch.status, prior)
    await crud.update_run(run_id, status=status, counts=counts, summary=summary,
                          reason=f"batch interrupted: {batch.error}" if batch.error else None, finished=False)


async def _close_interrupted_batches() -> list[str]:
    """A run still marked as writing when we hold the lock was cut off by a crash: once
    reconcile has settled every change of that batch, it says `interrupted`, with what
    its change log holds for the batch."""
    closed = []
    for run in await crud.runs_with_status(IN_FLIGHT_RUN_STATUSES):
        in_flight = (run.get("summary") or {}).get("in_flight") or {}
        batch = BatchResult(batch_id=in_flight.get("batch_id") or "", status=INTERRUPTED,
                            error="LNbits stopped during the batch")
        if batch.batch_id:
            rows, _ = await crud.list_changes(batch_id=batch.batch_id, limit=10_000, oldest_first=True)
            if any(r["status"] == PENDING for r in rows):
                continue  # not proven yet: closed at a later reconcile
            batch.outcomes = [Outcome(r["chan_id"], r["status"], change_id=r["id"], decision_id=r.get("decision_id"))
                              for r in rows]
        kind = "rollback" if run["status"] == ROLLING_BACK else "apply"
        await _record_batch(run["id"], batch, "restart", kind=kind, final_status=INTERRUPTED)
        closed.append(run["id"])
        logger.info(f"feepilot: run {run['id']}: its batch was interrupted by a restart ({batch.counts()})")
    return closed


async def apply_run(
    run_id: str, requested_by: str, *, decision_ids: Optional[list[str]] = None, source: str = "manual",
    wait_s: Optional[float] = MANUAL_WAIT_S,
) -> dict:
    """Apply a run's accepted proposals (all, or the selected ones) as one batch."""
    run = await crud.get_run(run_id)
    if not run:
        raise NotFound(f"No run with id {run_id}")
    decisions = await crud.list_decisions(run_id)
    if decision_ids is not None:
        known = {d["id"] for d in decisions}
        unknown = [i for i in decision_ids if i not in known]
        if unknown:
            raise Refused(f"Decisions not in run {run_id}: {', '.join(unknown)}", status=400)
        wanted = set(decision_ids)
        selected = [d for d in decisions if d["id"] in wanted]
        refused = [d["id"] for d in selected if Proposal.of(d) is None]
        if refused:
            raise Refused(f"Decisions not accepted by the guardrails cannot be applied: {', '.join(refused)}", status=400)
    else:
        selected = [d for d in decisions if Proposal.of(d) is not None]
    proposals = [p for p in (Proposal.of(d) for d in selected) if p is not None]
    return await _apply_and_record(run, proposals, requested_by, source, wait_s)


async def apply_decision(decision_id: str, requested_by: str) -> dict:
    decision = await crud.get_decision(decision_id)
    if not decision:
        raise NotFound(f"No decision with id {decision_id}")
    proposal = Proposal.of(decision)
    if proposal is None:
        raise Refused(f"Decision {decision_id} was not accepted by the guardrails ({decision.get('blocked_by') or decision['action']})", status=400)
    run = await crud.get_run(decision["run_id"])
    return await _apply_and_record(run, [proposal], requested_by, "manual", MANUAL_WAIT_S)  # type: ignore[arg-type]


async def _apply_and_record(run: dict, proposals: list[Proposal], requested_by: str, source: str, wait_s: Optional[float]) -> dict:
    async with exclusive(f"applying run {run['id']} for {await crud.person_name(requested_by)}", wait_s):
        run = await crud.get_run(run["id"])  # type: ignore[assignment]
        if run["status"] not in APPLICABLE_RUN_STATUSES:
            raise Refused(f"Run {run['id']} is {run['status']}: only a completed run can be applied")
        session = await NodeSession.open()
        await _reconcile(session)
        document, _ = await load_engine_settings()
        batch = BatchResult(batch_id=crud.new_id())
        await _begin_batch(run["id"], APPLYING, batch.batch_id)
        try:
            await _apply_batch(session, batch, proposals, requested_by, source, auto_rollback=document["batch_rollback"])
        finally:
            await _record_batch(run["id"], batch, requested_by)
    await _notify_batch(run, batch)
    return {"batch_id": batch.batch_id, "status": batch.status, "outcomes": [o.to_dict() for o in batch.outcomes],
            "error": batch.error}


# --- rollbacks -------------------------------------------------------------------------------------


def _conflict_details(differences: dict[str, tuple[Any, Any]]) -> dict:
    return {k: {"expected": v[0], "live": v[1]} for k, v in differences.items()}


async def _rollback(
    session: NodeSession, change: LoggedChange, *, requested_by: str, force: bool,
    reason: Optional[str] = None, batch_id: Optional[str] = None,
) -> dict:
    """Restore the policy a change replaced: a new change row linked to it."""
    if change.status != APPLIED:
        raise Refused(f"Change {change.id} is {change.status}: only an applied change can be rolled back")
    done = [r for r in await crud.rollbacks_of(change.id) if r["status"] in (APPLIED, PENDING)]
    if done:
        raise Refused(f"Change {change.id} was already rolled back by change {done[0]['id']}")
    channel = (await session.channels()).get(change.chan_id)
    if channel is None or channel.state not in OPEN_STATES:
        raise Refused(f"Channel {change.chan_id} is {channel.state if channel else 'closed'}: there is nothing to restore", status=409)
    if any(r["chan_id"] == change.chan_id for r in await crud.pending_changes()):
        raise Refused(f"Channel {change.chan_id} has a change of unknown outcome; it is settled at the next reconcile", status=409)
    live = await session.read(change.chan_id)
    if not same_policy(live, change.new) and not force:
        differences = policy_differences(live, change.new)
        described = ", ".join(f"{name} is {now_} (the change set {then})" for name, (then, now_) in differences.items())
        raise Refused(
            f"Channel {change.chan_id} was changed since: {described}. Use force to restore anyway.",
            status=409,
            details={"differences": _conflict_details(differences)},
        )
    return await _write_change(
        session,
        chan_id=change.chan_id,
        channel_point=change.channel_point,
        old=live,
        new=change.old,
        requested_by=requested_by,
        source="rollback",
        reason=reason or f"rollback of change {change.id}",
        run_id=change.run_id,
        batch_id=batch_id,
        rollback_of=change.id,
    )


async def rollback_change(change_id: str, requested_by: str, force: bool) -> dict:
    async with exclusive(f"rolling back change {change_id}"):
        row = await crud.get_change(change_id)
        if not row:
            raise NotFound(f"No change with id {change_id}")
        session = await NodeSession.open()
        await _reconcile(session)
        row = await crud.get_change(change_id)
        return await _rollback(session, LoggedChange.of(row), requested_by=requested_by, force=force)  # type: ignore[arg-type]


async def rollback_run(run_id: str, requested_by: str, force: bool) -> dict:
    """Undo every applied change of a run, newest first. The list and the conflict
    check are made under the lock, so no batch of the run can slip in between."""
    run = await crud.get_run(run_id)
    if not run:
        raise NotFound(f"No run with id {run_id}")
    async with exclusive(f"rolling back run {run_id}"):
        session = await NodeSession.open()
        await _reconcile(session)
        changes, _ = await crud.list_changes(run_id=run_id, limit=10_000, oldest_first=True)
        undone = {c["rollback_of"] for c in changes if c.get("rollback_of") and c["status"] in (APPLIED, PENDING)}
        todo = [LoggedChange.of(c) for c in changes
                if c["status"] == APPLIED and not c.get("rollback_of") and c["id"] not in undone]
        if not todo:
            raise Refused(f"Run {run_id} has no applied change left to roll back")
        if not force:
            conflicts = {}
            for change in todo:
                live = await session.read(change.chan_id)
                if not same_policy(live, change.new):
                    conflicts[change.chan_id] = _conflict_details(policy_differences(live, change.new))
            if conflicts:
                raise Refused(
                    f"{len(conflicts)} channel(s) were changed since this run: {', '.join(conflicts)}. Use force to restore anyway.",
                    status=409,
                    details={"conflicts": conflicts},
                )
        batch = BatchResult(batch_id=crud.new_id())
        await _begin_batch(run_id, ROLLING_BACK, batch.batch_id)
        results = []
        try:
            for change in reversed(todo):
                try:
                    row = await _rollback(session, change, requested_by=requested_by, force=force, batch_id=batch.batch_id)
                    results.append(row)
                    batch.outcomes.append(Outcome(change.chan_id, _change_status(row), row.get("message") or "", change_id=row["id"]))
                except Refused as exc:
                    results.append({"id": None, "chan_id": change.chan_id, "status": CONFLICT, "message": str(exc)})
                    batch.outcomes.append(Outcome(change.chan_id, CONFLICT, str(exc)))
        except Exception as exc:
            batch.error = _describe(exc)
            raise
        finally:
            all_ok = not batch.error and all(r.get("status") == APPLIED for r in results)
            batch.status = "rolled_back" if all_ok else (INTERRUPTED if batch.error else "partially_rolled_back")
            await _record_batch(run_id, batch, requested_by, kind="rollback", final_status=batch.status)
    return {"run_id": run_id, "status": batch.status, "changes": results}


# --- manual changes, pins and settings --------------------------------------------------------------


async def manual_policy(chan_id: str, base_msat: int, ppm: int, requested_by: str, requested_by_name: Optional[str] = None) -> dict:
    """A person's fee change: every guardrail, the same change log."""
    async with exclusive(f"a manual fee change of {chan_id}"):
        session = await NodeSession.open()
        await _reconcile(session)
        ctx = await _context()
        channel = (await session.channels()).get(chan_id)
        if channel is None:
            raise NotFound(f"No channel with id {chan_id}")
        if channel.state not in OPEN_STATES:
            raise Refused(f"Channel {chan_id} is {channel.state}: only open channels can be changed", status=409)
        if channel.chan_id in ctx.pending_chans:
            raise Refused(f"Channel {chan_id} has a change of unknown outcome; it is settled at the next reconcile", status=409)
        live = await session.read(channel.chan_id)
        new = live.with_fees(base_msat, ppm)
        if same_policy(new, live):
            raise Refused(f"Channel {chan_id} already has {base_msat} msat + {ppm} ppm", status=409)
        problems = _violations(ctx, channel, live, new)
        if problems:
            words = _rules_in_words(problems, channel, ctx.settings)
            raise Refused(f"Refused by the guardrails: {words}", status=409, details={"rules": problems})
        return await _write_change(
            session,
            chan_id=channel.chan_id,
            channel_point=channel.channel_point,
            old=live,
            new=new,
            requested_by=requested_by,
            source="manual",
            reason=f"Manual change by {requested_by_name or await crud.person_name(requested_by)}: "
                   f"{live.base_msat} msat + {live.ppm} ppm → {base_msat} msat + {ppm} ppm",
        )


async def update_settings(patch: dict[str, Any], changed_by: str, wait_s: Optional[float] = MANUAL_WAIT_S) -> dict[str, Any]:
    """Merge, validate, store — under the lock, so concurrent writes never lose each other.

    The patch is merged onto the stored document even when that one is invalid (a
    newer version's bounds): only a valid result is stored, never the defaults.
    """
    async with exclusive("saving the settings", wait_s):
        stored, _ = await stored_settings()
        document, _ = validate_document(deep_merge(stored, patch))
        if document != stored:
            await crud.save_settings_document(document, changed_by)
        return document


async def set_pin(chan_id: str, pinned: bool, requested_by: str) -> dict:
    gateway = await current_gateway()
    channels = (await gateway.channels()).channels
    if not any(chan_id in (c.chan_id, c.short_id) for c in channels):
        raise NotFound(f"No channel with id {chan_id}")
    async with exclusive(f"pinning {chan_id}"):
        stored, problem = await stored_settings()
        if problem is not None:
            raise problem
        pins = list(stored["engine"]["guardrails"]["pinned_channels"])
        if pinned and chan_id not in pins:
            pins.append(chan_id)
        if not pinned:
            pins = [p for p in pins if p != chan_id]
        document, _ = validate_document(deep_merge(stored, {"engine": {"guardrails": {"pinned_channels": pins}}}))
        if document != stored:
            await crud.save_settings_document(document, requested_by)
    return {"chan_id": chan_id, "pinned": pinned}


# --- run records and notifications ---------------------------------------------------------------------


async def decisions_with_outcomes(run_id: str) -> list[dict]:
    """A run's decisions with what became of each (from the change log and the run's batches)."""
    decisions = await crud.list_decisions(run_id)
    run = await crud.get_run(run_id)
    changes, _ = await crud.list_changes(run_id=run_id, limit=10_000, oldest_first=True)
    by_decision: dict[str, dict] = {}
    rolled_back = {c["rollback_of"]: c for c in changes if c.get("rollback_of") and c["status"] == APPLIED}
    for change in changes:
        if change.get("decision_id"):
            by_decision[change["decision_id"]] = change
    summary = (run or {}).get("summary", {})
    skipped = summary.get("skipped", {})
    blocked = summary.get("blocked_at_apply", {})
    for decision in decisions:
        change = by_decision.get(decision["id"])
        if change:
            decision["change_id"] = change["id"]
            decision["status"] = RESTORED if change["id"] in rolled_back else _change_status(change)
            decision["message"] = change.get("message")
        elif decision["id"] in blocked:
            decision["status"] = BLOCKED
            decision["blocked_by"] = blocked[decision["id"]]["rule"]
            decision["message"] = blocked[decision["id"]]["message"]
        elif decision["id"] in skipped:
            decision["status"] = SKIPPED
            decision["message"] = skipped[decision["id"]]
        elif not decision.get("accepted"):
            decision["status"] = BLOCKED if decision.get("blocked_by") else "no_action"
        elif run and run["kind"] == "shadow":
            decision["status"] = "would_apply"
        else:
            decision["status"] = "proposed"
    return decisions


async def _notify_breaker(state: str, error: Optional[str]) -> None:
    if state == "open":
        await notify("breaker", f"Fee Autopilot stopped applying changes: the node keeps failing ({error}).")
    else:
        await notify("breaker", "Fee Autopilot: the node answers again; changes resume.")


breaker.listeners.append(_notify_breaker)


async def _notify_batch(run: dict, batch: BatchResult) -> None:
    counts = batch.counts()
    run_name = short_run(run["id"])
    if batch.status in ("rolled_back", "interrupted"):
        what = f"was interrupted ({batch.error})" if batch.error else "had a change that failed"
        restored = counts.get(RESTORED, 0)
        await notify("rollback", f"Fee Autopilot: a batch of run {run_name} {what}, so it was rolled back: "
                                 f"{plural(restored, 'change')} restored ({outcomes_text(counts)}).")
    elif counts.get(APPLIED):
        await notify("applied", f"Fee Autopilot applied {plural(counts[APPLIED], 'fee change')} (run {run_name}): "
                                f"{outcomes_text(counts)}.")
