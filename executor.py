"""Applying and undoing fee changes: the safety net.

Every change follows the same steps, whatever asked for it (a decision, a manual
policy edit, a rollback):

1. read the channel's live policy from the node;
2. write the change log row (`pending`, complete old and new policy) — before
   the node is called;
3. send the complete new policy (only the fee fields differ);
4. read the policy back: `applied` when it matches, `failed` otherwise.

A batch whose change fails restores what that batch already applied (newest
first), each restore being a new change row linked to what it undoes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from loguru import logger

from . import crud
from .engine.snapshot import Policy
from .node import NodeCallError, NodeGateway, PolicyWriter, policy_differences, same_policy
from .resilience import CircuitBreaker, CircuitOpen, ResilientCaller, RetryPolicy
from .models import policy_dict, policy_from_dict

APPLIED = "applied"
FAILED = "failed"
CONFLICT = "conflict"
PENDING = "pending"

breaker = CircuitBreaker()
retry_policy = RetryPolicy()


class ChangeConflict(Exception):
    """The live policy is not what the change left behind (someone changed it since)."""

    def __init__(self, message: str, differences: dict[str, tuple[Any, Any]]):
        super().__init__(message)
        self.differences = differences


class NotFound(Exception):
    pass


class CannotApply(Exception):
    """The request is well-formed but cannot be carried out (nothing was changed)."""


@dataclass
class Outcome:
    chan_id: str
    status: str  # applied, failed, restored, skipped, unchanged
    message: str = ""
    change_id: Optional[str] = None
    decision_id: Optional[str] = None
    rollback_change_id: Optional[str] = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class BatchResult:
    batch_id: str
    status: str  # applied, partially_applied, rolled_back, failed, nothing_to_do
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


class Executor:
    """One node, one batch at a time; node calls go through retries and the breaker."""

    def __init__(self, gateway: NodeGateway, our_id: str):
        self.writer = PolicyWriter(gateway, our_id)
        self.caller = ResilientCaller(breaker, retry_policy)

    async def read(self, chan_id: str) -> Policy:
        return await self.caller.call(f"read policy {chan_id}", lambda: self.writer.read(chan_id))

    async def change(
        self,
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
        """Steps 2–4 for one channel; returns the settled change row."""
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
        try:
            await self.caller.call(f"set policy {chan_id}", lambda: self.writer.write(channel_point, new))
        except (NodeCallError, CircuitOpen) as exc:
            # The write may still have landed (a timeout after the node acted):
            # the read-back below decides, not the error.
            logger.warning(f"feepilot: {tag}: node call failed: {exc}")
            write_error: Optional[str] = str(exc)
        else:
            write_error = None
        try:
            live = await self.caller.call(f"read back {chan_id}", lambda: self.writer.read(chan_id))
        except (NodeCallError, CircuitOpen) as exc:
            # Unknown outcome: stays pending; reconcile settles it once the node answers.
            logger.warning(f"feepilot: {tag}: read-back failed, left pending for reconciliation: {exc}")
            return await crud.get_change(row["id"])  # type: ignore[return-value]
        if same_policy(live, new):
            await crud.settle_change(row["id"], APPLIED, None)
            logger.info(f"feepilot: {tag}: applied {old.ppm} -> {new.ppm} ppm, verified")
        else:
            diff = policy_differences(live, new)
            message = write_error or f"read-back differs from the requested policy: {diff}"
            await crud.settle_change(row["id"], FAILED, message)
            logger.warning(f"feepilot: {tag}: failed: {message}")
        return await crud.get_change(row["id"])  # type: ignore[return-value]

    async def apply_decisions(
        self,
        decisions: list[dict],
        *,
        requested_by: str,
        source: str,
        auto_rollback: bool,
    ) -> BatchResult:
        batch = BatchResult(batch_id=crud.new_id(), status="nothing_to_do")
        applied: list[dict] = []
        for decision in decisions:
            outcome = await self._apply_one(decision, batch.batch_id, requested_by, source)
            batch.outcomes.append(outcome)
            if outcome.status == APPLIED:
                applied.append(await crud.get_change(outcome.change_id))  # type: ignore[arg-type]
            elif outcome.status == FAILED:
                if auto_rollback and applied:
                    await self._restore_batch(batch, applied, requested_by)
                    self._skip_rest(batch, decisions, "not attempted: the batch was rolled back")
                    batch.status = "rolled_back"
                    return batch
                if not breaker.allow():
                    self._skip_rest(batch, decisions, "not attempted: circuit breaker open")
                    break
        statuses = {o.status for o in batch.outcomes}
        if APPLIED in statuses and statuses & {FAILED, "skipped"}:
            batch.status = "partially_applied"
        elif APPLIED in statuses:
            batch.status = "applied"
        elif FAILED in statuses:
            batch.status = "failed"
        return batch

    def _skip_rest(self, batch: BatchResult, decisions: list[dict], why: str) -> None:
        done = {o.decision_id for o in batch.outcomes}
        for decision in decisions:
            if decision["id"] not in done:
                batch.outcomes.append(Outcome(decision["chan_id"], "skipped", why, decision_id=decision["id"]))

    async def _apply_one(self, decision: dict, batch_id: str, requested_by: str, source: str) -> Outcome:
        chan_id = decision["chan_id"]
        if not decision.get("accepted") or not decision.get("new_policy"):
            return Outcome(chan_id, "skipped", "not an accepted fee proposal", decision_id=decision["id"])
        existing = [c for c in (await crud.list_changes(chan_id=chan_id, limit=200))[0] if c.get("decision_id") == decision["id"]]
        settled = [c for c in existing if c["status"] == APPLIED]
        if settled:
            # Idempotent: the same decision twice does nothing the second time.
            return Outcome(chan_id, "unchanged", "already applied", change_id=settled[0]["id"], decision_id=decision["id"])
        target = policy_from_dict(decision["new_policy"])
        planned_old = policy_from_dict(decision["old_policy"])
        try:
            live = await self.read(chan_id)
        except (NodeCallError, CircuitOpen) as exc:
            return Outcome(chan_id, FAILED, f"could not read the live policy: {exc}", decision_id=decision["id"])
        if (live.base_msat, live.ppm) != (planned_old.base_msat, planned_old.ppm):
            return Outcome(
                chan_id,
                "skipped",
                f"fees changed since the run ({planned_old.ppm} -> {live.ppm} ppm): run again",
                decision_id=decision["id"],
            )
        # Only the fee fields change; everything else stays as the node has it now.
        new = live.with_fees(target.base_msat, target.ppm)
        channel_point = decision.get("channel_point") or await self._channel_point(chan_id)
        change = await self.change(
            chan_id=chan_id,
            channel_point=channel_point,
            old=live,
            new=new,
            requested_by=requested_by,
            source=source,
            reason=decision.get("reason", ""),
            run_id=decision.get("run_id"),
            decision_id=decision["id"],
            batch_id=batch_id,
        )
        status = change["status"]
        return Outcome(
            chan_id,
            APPLIED if status == APPLIED else FAILED,
            change.get("message") or ("left pending: the node did not answer the read-back" if status == PENDING else ""),
            change_id=change["id"],
            decision_id=decision["id"],
        )

    async def _channel_point(self, chan_id: str) -> str:
        channels = await self.caller.call("list channels", self.writer.gateway.channels)
        for channel in channels.channels:
            if channel.chan_id == chan_id:
                return channel.channel_point
        raise NodeCallError(f"channel {chan_id} is not open on the node", transient=False)

    async def _restore_batch(self, batch: BatchResult, applied: list[dict], requested_by: str) -> None:
        for change in reversed(applied):
            try:
                restore = await self.rollback(change, requested_by=requested_by, force=False, reason="automatic rollback of a failed batch", batch_id=batch.batch_id)
                restored = restore["status"] == APPLIED
                message = "restored after a failure in the batch" if restored else f"restore failed: {restore.get('message')}"
                rollback_id = restore["id"]
            except (ChangeConflict, NodeCallError, CircuitOpen) as exc:
                restored, message, rollback_id = False, f"restore failed: {exc}", None
            for outcome in batch.outcomes:
                if outcome.change_id == change["id"]:
                    outcome.status = "restored" if restored else "applied"
                    outcome.message = message
                    outcome.rollback_change_id = rollback_id

    async def rollback(
        self,
        change: dict,
        *,
        requested_by: str,
        force: bool,
        reason: Optional[str] = None,
        batch_id: Optional[str] = None,
    ) -> dict:
        """Restore the policy a change replaced; a new change row linked to it."""
        if change["status"] != APPLIED:
            raise CannotApply(f"change {change['id']} is {change['status']}: only an applied change can be rolled back")
        done = [r for r in await crud.rollbacks_of(change["id"]) if r["status"] == APPLIED]
        if done:
            raise CannotApply(f"change {change['id']} was already rolled back by change {done[0]['id']}")
        expected = policy_from_dict(change["new_policy"])
        old = policy_from_dict(change["old_policy"])
        live = await self.read(change["chan_id"])
        if not same_policy(live, expected) and not force:
            differences = policy_differences(live, expected)
            described = ", ".join(f"{name} is {now_} (the change set {then})" for name, (then, now_) in differences.items())
            raise ChangeConflict(
                f"channel {change['chan_id']} was changed since: {described}. Use force to restore anyway.",
                differences,
            )
        return await self.change(
            chan_id=change["chan_id"],
            channel_point=change["channel_point"],
            old=live,
            new=old,
            requested_by=requested_by,
            source="rollback",
            reason=reason or f"rollback of change {change['id']}",
            run_id=change.get("run_id"),
            batch_id=batch_id,
            rollback_of=change["id"],
        )

    async def reconcile(self) -> list[dict]:
        """Settle `pending` changes left by a crash: live == new -> applied,
        live == old -> failed (never applied), else conflict."""
        settled = []
        for change in await crud.pending_changes():
            try:
                live = await self.read(change["chan_id"])
            except (NodeCallError, CircuitOpen) as exc:
                logger.warning(f"feepilot: reconcile {change['id']}: node unavailable: {exc}")
                continue
            new = policy_from_dict(change["new_policy"])
            old = policy_from_dict(change["old_policy"])
            if same_policy(live, new):
                status, message = APPLIED, "reconciled: the node has the new policy"
            elif same_policy(live, old):
                status, message = FAILED, "reconciled: the node still has the old policy (not applied)"
            else:
                status = CONFLICT
                message = f"reconciled: the node has neither policy: {policy_differences(live, new)}"
            await crud.settle_change(change["id"], status, message)
            logger.info(f"feepilot: change {change['id']} {message}")
            settled.append({**change, "status": status, "message": message})
        return settled
