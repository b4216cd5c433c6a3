"""Fee changes as use cases: applying runs and decisions, rollbacks, manual
changes and pins — on top of the executor's safety net (executor.py).

Every path that changes fees holds the run lock, so a change never races a run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from loguru import logger

from . import crud
from .clock import now
from .engine.guardrails import FeeProposal, violations
from .executor import CannotApply, ChangeConflict, Executor, breaker, retry_policy
from .models import policy_from_dict
from .node import NodeCallError, NodeGateway, NodeUnavailable, policy_differences, same_policy
from .notify import notify
from .resilience import CircuitOpen, ResilientCaller
from .services import change_records, current_gateway, load_engine_settings, load_settings, run_lock, update_settings

APPLICABLE_RUN_STATUSES = ("completed", "applied", "partially_applied", "failed_apply")


class NotFound(LookupError):
    pass


class Refused(Exception):
    """A well-formed request that the rules refuse; nothing was changed."""

    def __init__(self, message: str, status: int = 409, details: Optional[dict] = None):
        super().__init__(message)
        self.status = status
        self.details = details or {}


async def _executor() -> tuple[Executor, NodeGateway]:
    gateway = await current_gateway()
    info = await ResilientCaller(breaker, retry_policy).call("node info", gateway.info)
    executor = Executor(gateway, info.node_id)
    if not executor.writer.can_write:
        raise Refused(executor.writer.why_not, status=501)
    return executor, gateway


async def decisions_with_outcomes(run_id: str) -> list[dict]:
    """A run's decisions with what became of each (from the change log)."""
    decisions = await crud.list_decisions(run_id)
    run = await crud.get_run(run_id)
    changes, _ = await crud.list_changes(run_id=run_id, limit=1000, oldest_first=True)
    by_decision: dict[str, dict] = {}
    rolled_back = {c["rollback_of"]: c for c in changes if c.get("rollback_of") and c["status"] == "applied"}
    for change in changes:
        if change.get("decision_id"):
            by_decision[change["decision_id"]] = change
    skipped = (run or {}).get("summary", {}).get("skipped", {})
    for decision in decisions:
        change = by_decision.get(decision["id"])
        if change:
            decision["change_id"] = change["id"]
            decision["status"] = "restored" if change["id"] in rolled_back else change["status"]
            decision["message"] = change.get("message")
        elif decision["id"] in skipped:
            decision["status"] = "skipped"
            decision["message"] = skipped[decision["id"]]
        elif not decision.get("accepted"):
            decision["status"] = "blocked" if decision.get("blocked_by") else "no_action"
        elif run and run["kind"] == "shadow":
            decision["status"] = "would_apply"
        else:
            decision["status"] = "proposed"
    return decisions


async def apply_run(
    run_id: str, requested_by: str, *, decision_ids: Optional[list[str]] = None, source: str = "manual"
) -> dict:
    """Apply a run's accepted proposals (all, or the selected ones) as one batch."""
    run = await crud.get_run(run_id)
    if not run:
        raise NotFound(f"No run with id {run_id}")
    if run["status"] not in APPLICABLE_RUN_STATUSES:
        raise Refused(f"run {run_id} is {run['status']}: only a completed run can be applied")
    decisions = await crud.list_decisions(run_id)
    if decision_ids is not None:
        known = {d["id"] for d in decisions}
        unknown = [i for i in decision_ids if i not in known]
        if unknown:
            raise Refused(f"decisions not in run {run_id}: {', '.join(unknown)}", status=400)
        selected = [d for d in decisions if d["id"] in set(decision_ids)]
        refused = [d["id"] for d in selected if not d.get("accepted")]
        if refused:
            raise Refused(f"decisions not accepted by the guardrails cannot be applied: {', '.join(refused)}", status=400)
    else:
        selected = [d for d in decisions if d.get("accepted")]
    return await _apply_batch(run, selected, requested_by, source)


async def _apply_batch(run: dict, decisions: list[dict], requested_by: str, source: str) -> dict:
    document = await load_settings()
    async with run_lock:
        executor, _ = await _executor()
        await executor.reconcile()
        batch = await executor.apply_decisions(
            decisions, requested_by=requested_by, source=source, auto_rollback=document["batch_rollback"]
        )
    summary = dict(run.get("summary") or {})
    summary.setdefault("batches", []).append(
        {"batch_id": batch.batch_id, "status": batch.status, "counts": batch.counts(), "by": requested_by, "at": now()}
    )
    skipped = dict(summary.get("skipped") or {})
    for outcome in batch.outcomes:
        if outcome.status == "skipped" and outcome.decision_id:
            skipped[outcome.decision_id] = outcome.message
    summary["skipped"] = skipped
    counts = dict(run.get("counts") or {})
    for key, value in batch.counts().items():
        counts[f"batch_{key}"] = counts.get(f"batch_{key}", 0) + value
    status = {"applied": "applied", "partially_applied": "partially_applied", "rolled_back": "rolled_back",
              "failed": "failed_apply"}.get(batch.status, run["status"])
    await crud.update_run(run["id"], status=status, counts=counts, summary=summary)
    await notify_batch(run, batch)
    return {"batch_id": batch.batch_id, "status": batch.status, "outcomes": [o.to_dict() for o in batch.outcomes]}


async def apply_decision(decision_id: str, requested_by: str) -> dict:
    decision = await crud.get_decision(decision_id)
    if not decision:
        raise NotFound(f"No decision with id {decision_id}")
    if not decision.get("accepted"):
        raise Refused(f"decision {decision_id} was not accepted by the guardrails ({decision.get('blocked_by') or decision['action']})", status=400)
    run = await crud.get_run(decision["run_id"])
    return await _apply_batch(run, [decision], requested_by, "manual")  # type: ignore[arg-type]


async def rollback_change(change_id: str, requested_by: str, force: bool) -> dict:
    change = await crud.get_change(change_id)
    if not change:
        raise NotFound(f"No change with id {change_id}")
    async with run_lock:
        executor, _ = await _executor()
        try:
            return await executor.rollback(change, requested_by=requested_by, force=force)
        except ChangeConflict as exc:
            raise Refused(str(exc), status=409, details={"differences": {k: {"expected": v[0], "live": v[1]} for k, v in exc.differences.items()}}) from exc
        except CannotApply as exc:
            raise Refused(str(exc), status=409) from exc


async def rollback_run(run_id: str, requested_by: str, force: bool) -> dict:
    """Undo every applied change of a run, newest first. Conflicts are checked for all
    channels before anything is touched (unless forced)."""
    run = await crud.get_run(run_id)
    if not run:
        raise NotFound(f"No run with id {run_id}")
    changes, _ = await crud.list_changes(run_id=run_id, limit=1000, oldest_first=True)
    undone = {c["rollback_of"] for c in changes if c.get("rollback_of") and c["status"] == "applied"}
    todo = [c for c in changes if c["status"] == "applied" and not c.get("rollback_of") and c["id"] not in undone]
    if not todo:
        raise Refused(f"run {run_id} has no applied change left to roll back")
    results = []
    async with run_lock:
        executor, _ = await _executor()
        if not force:
            conflicts = {}
            for change in todo:
                live = await executor.read(change["chan_id"])
                expected = policy_from_dict(change["new_policy"])
                if not same_policy(live, expected):
                    conflicts[change["chan_id"]] = {k: {"expected": v[0], "live": v[1]} for k, v in policy_differences(live, expected).items()}
            if conflicts:
                raise Refused(
                    f"{len(conflicts)} channel(s) were changed since this run: {', '.join(conflicts)}. Use force to restore anyway.",
                    status=409,
                    details={"conflicts": conflicts},
                )
        for change in reversed(todo):
            try:
                results.append(await executor.rollback(change, requested_by=requested_by, force=force))
            except ChangeConflict as exc:
                results.append({"id": None, "chan_id": change["chan_id"], "status": "conflict", "message": str(exc)})
    all_ok = all(r.get("status") == "applied" for r in results)
    if all_ok:
        await crud.update_run(run_id, status="rolled_back", finished=False)
    return {"run_id": run_id, "status": "rolled_back" if all_ok else "partially_rolled_back", "changes": results}


async def manual_policy(chan_id: str, base_msat: int, ppm: int, requested_by: str) -> dict:
    """A person's fee change: the same guardrails, the same change log."""
    document, engine_settings = await load_engine_settings()
    async with run_lock:
        executor, gateway = await _executor()
        channels = await gateway.channels()
        channel = next((c for c in channels.channels if c.chan_id == chan_id), None)
        if channel is None:
            raise NotFound(f"No channel with id {chan_id}")
        live = await executor.read(chan_id)
        new = live.with_fees(base_msat, ppm)
        if new == live:
            raise Refused(f"channel {chan_id} already has {base_msat} msat + {ppm} ppm", status=409)
        history = change_records(await crud.applied_changes_since(now() - document["history_days"] * 86400))
        history = [h for h in history if h.chan_id == chan_id]
        proposal = FeeProposal(old_policy=live, new_policy=new, requested_ppm=ppm, accepted=True)
        problems = violations(proposal, replace(channel, local_policy=live), history, engine_settings, now())
        if problems:
            raise Refused(
                f"refused by the guardrails: {', '.join(problems)}",
                status=409,
                details={"rules": problems},
            )
        return await executor.change(
            chan_id=chan_id,
            channel_point=channel.channel_point,
            old=live,
            new=new,
            requested_by=requested_by,
            source="manual",
            reason=f"manual change by {requested_by}: {live.base_msat} msat + {live.ppm} ppm → {base_msat} msat + {ppm} ppm",
        )


async def set_pin(chan_id: str, pinned: bool, requested_by: str) -> dict:
    gateway = await current_gateway()
    channels = (await gateway.channels()).channels
    if not any(chan_id in (c.chan_id, c.short_id) for c in channels):
        raise NotFound(f"No channel with id {chan_id}")
    document = await load_settings()
    pins = list(document["engine"]["guardrails"]["pinned_channels"])
    if pinned and chan_id not in pins:
        pins.append(chan_id)
    if not pinned:
        pins = [p for p in pins if p != chan_id]
    await update_settings({"engine": {"guardrails": {"pinned_channels": pins}}}, requested_by)
    return {"chan_id": chan_id, "pinned": pinned}


async def reconcile_pending() -> Optional[list[dict]]:
    """Settle pending changes; None when the node cannot be asked yet."""
    try:
        executor, _ = await _executor()
        return await executor.reconcile()
    except (NodeUnavailable, NodeCallError, CircuitOpen, Refused) as exc:
        logger.info(f"feepilot: reconcile postponed: {exc}")
        return None


async def notify_breaker(state: str, error: Optional[str]) -> None:
    if state == "open":
        await notify("breaker", f"Fee Autopilot stopped applying changes: the node keeps failing ({error}).")
    else:
        await notify("breaker", "Fee Autopilot: the node answers again; changes resume.")


breaker.listeners.append(notify_breaker)


async def notify_batch(run: dict, batch: Any) -> None:
    counts = batch.counts()
    if batch.status == "rolled_back":
        await notify("rollback", f"Fee Autopilot: a batch failed and was rolled back ({counts}). Run {run['id']}.")
    elif counts.get("applied"):
        await notify("applied", f"Fee Autopilot applied {counts['applied']} fee change(s) (run {run['id']}): {counts}.")


