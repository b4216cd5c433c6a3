"""Use cases for reading and deciding: settings, status, channels, runs (snapshot →
scores → decisions), history and earnings. Everything that changes fees or the
settings lives in change_service.py, the schedule in tasks.py.

Heavy work (parsing the graph, graph metrics, evaluation) runs in worker threads
so LNbits' event loop keeps serving payments while the autopilot thinks.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional

from loguru import logger

from . import crud
from .app_settings import InvalidSettings, deep_merge, defaults, validate_document
from .clock import now
from . import credential_service, forwards_store
from .engine.evaluate import Evaluation, evaluate
from .engine.graph_metrics import GraphMetrics, compute_graph_metrics, metrics_key
from .engine.ingest_lnd import daily_earnings
from .engine.settings import EngineSettings, without_retired
from .engine.snapshot import ChangeRecord, NetworkGraph, NodeSnapshot
from .heavy import build_off_loop, drop_off_loop, keep_long_lived
from .models import ChannelOut, ChannelsOut, CredentialStatusOut, StatusOut, policy_dict
from .node import (
    DATA_SOURCES,
    NodeCallError,
    NodeGateway,
    NodeUnavailable,
    backend_name,
)
from .notify import recent
from .resilience import CircuitOpen, ResilientCaller, breaker, retry_policy

RUN_WAIT_S = 120.0


class NotFound(LookupError):
    """An id that names nothing we know: a 404."""


class RunInProgress(Exception):
    """A run is already computing; runs never overlap."""


def extension_version() -> str:
    config = Path(__file__).parent / "config.json"
    return json.loads(config.read_text()).get("version", "0.0")


# --- settings ---------------------------------------------------------------------


class StoredSettingsInvalid(Exception):
    """The stored settings document does not validate (e.g. a newer version's bounds).

    Never replaced by the defaults: the operator sees it and fixes it with a valid
    document; until then nothing that depends on the settings runs.
    """

    def __init__(self, problem: InvalidSettings):
        self.errors = problem.errors
        super().__init__(f"The stored settings are invalid: {problem}. Fix them in the settings (PUT /settings).")


async def stored_settings() -> tuple[dict[str, Any], Optional[StoredSettingsInvalid]]:
    """The stored document completed with the defaults of settings added since, and
    whether it is valid. Invalid documents are returned as stored, never replaced."""
    stored = await crud.get_settings_document()
    if stored is None:
        return defaults(), None
    if isinstance(stored.get("engine"), Mapping):
        stored = {**stored, "engine": without_retired(stored["engine"])}
    merged = deep_merge(defaults(), stored)
    try:
        document, _ = validate_document(merged)
    except InvalidSettings as exc:
        return merged, StoredSettingsInvalid(exc)
    return document, None


async def load_settings() -> dict[str, Any]:
    """The valid settings document; raises StoredSettingsInvalid."""
    document, problem = await stored_settings()
    if problem is not None:
        raise problem
    return document


async def load_engine_settings() -> tuple[dict[str, Any], EngineSettings]:
    document = await load_settings()
    return validate_document(document)


async def current_gateway() -> NodeGateway:
    """The node as LNbits has it now, with the operator's timeout, retry and breaker settings
    (and Fee Autopilot's own credential, when it has one: node.credential_slot)."""
    await credential_service.ensure_loaded()
    document = await load_settings()
    breaker.failure_threshold = document["breaker_failure_threshold"]
    breaker.cool_off_s = float(document["breaker_cool_off_seconds"])
    retry_policy.attempts = document["retry_attempts"]
    return NodeGateway.current(float(document["node_timeout_seconds"]))


async def probe_breaker() -> None:
    """After the cool-off, one cheap call decides whether the breaker closes."""
    if breaker.state == "closed" or not breaker.allow():
        return
    try:
        gateway = await current_gateway()
        await ResilientCaller(breaker, retry_policy).call("probe", gateway.info)
    except (NodeUnavailable, NodeCallError, CircuitOpen) as exc:
        logger.info(f"feepilot: breaker probe failed: {exc}")


# --- status and channels ------------------------------------------------------------


async def node_status(schedule: Any = None) -> StatusOut:
    document, settings_problem = await stored_settings()
    last = await crud.last_run(("dry_run", "manual", "shadow", "autopilot"))
    status = StatusOut(
        version=extension_version(),
        backend=backend_name(),
        node_api_available=False,
        sources={source: False for source in DATA_SOURCES},
        mode=document["mode"],
        interval_minutes=document["interval_minutes"],
        schedule_running=bool(schedule and schedule.running),
        next_run_at=schedule.next_run_at if schedule else None,
        circuit_breaker=breaker.snapshot(),
        pending_changes=(await crud.list_changes(status="pending", limit=1))[1],
        conflicts=(await crud.list_changes(status="conflict", limit=1))[1],
        notifications=list(recent)[:10],
        settings_error=str(settings_problem) if settings_problem else None,
        schedule_error=schedule.last_error if schedule else None,
        schedule_error_at=schedule.last_error_at if schedule else None,
        external_changes_7d=await crud.count_changes(source="external", since=now() - 7 * 86400),
        last_run=(
            {k: last[k] for k in ("id", "created_at", "finished_at", "kind", "status", "reason", "counts")}
            if last
            else None
        ),
    )
    await credential_service.ensure_loaded()
    status.credential = CredentialStatusOut(**credential_service.status())
    try:
        # Status must answer even while the stored settings are invalid: the node's
        # default timeout then, nothing else depends on them here.
        gateway = await current_gateway() if settings_problem is None else NodeGateway.current()
    except NodeUnavailable as exc:
        status.node_api_reason = str(exc)
        return status
    try:
        result = await gateway.channels()
    except NodeCallError as exc:
        logger.warning(f"feepilot: status: {exc}")
        status.node_api_reason = f"The node did not answer: {exc}"
        return status
    finally:  # after the call: a refusal it met shows at once
        status.credential = CredentialStatusOut(**credential_service.status())
    status.node_api_available = True
    status.node_id = result.info.node_id
    status.alias = result.info.alias
    status.block_height = result.info.block_height
    status.channel_counts = dict(Counter(channel.state for channel in result.channels))
    status.sources.update(result.sources)
    status.sources["forwards"] = gateway.can_read_forwards
    status.sources["graph"] = gateway.can_read_graph
    status.source_errors = dict(result.source_errors)
    if not gateway.can_read_forwards:
        status.source_errors["forwards"] = f"{gateway.backend}: forwarding history is not supported"
    return status


async def list_channels() -> ChannelsOut:
    """Every channel with its policy; raises NodeUnavailable / NodeCallError."""
    gateway = await current_gateway()
    result = await gateway.channels()
    return ChannelsOut(
        node_id=result.info.node_id,
        backend=gateway.backend,
        channels=[ChannelOut.of(channel) for channel in result.channels],
    )


# --- graph and metrics caches ---------------------------------------------------------


@dataclass
class GraphCache:
    """The public graph changes slowly: read it at most once per refresh interval."""

    graph: Optional[NetworkGraph] = None
    fetched_at: int = 0
    metrics: Optional[GraphMetrics] = None
    metrics_key: Optional[tuple] = None

    async def get_graph(self, gateway: NodeGateway, refresh_s: int) -> tuple[Optional[NetworkGraph], Optional[str]]:
        if not gateway.can_read_graph:
            return None, f"{gateway.backend}: reading the network graph is not supported"
        if self.graph is not None and now() - self.fetched_at < refresh_s:
            return self.graph, None
        try:
            fresh = await gateway.graph()
        except NodeCallError as exc:
            logger.warning(f"feepilot: graph unavailable: {exc}")
            if self.graph is None:
                return None, str(exc)
            return self.graph, None
        # The replaced graph is freed in a worker thread, a slice at a time.
        stale = [self.graph.edges] if self.graph is not None else []
        self.graph = fresh
        self.fetched_at = now()
        keep_long_lived()
        if stale:
            await drop_off_loop(stale)
        return self.graph, None

    async def get_metrics(
        self, graph: Optional[NetworkGraph], node_id: str, settings: EngineSettings
    ) -> Optional[GraphMetrics]:
        if graph is None:
            return None
        key = metrics_key(graph, node_id, settings.graph)
        if self.metrics is None or self.metrics_key != key:
            # The expensive part (seconds on a mainnet-sized graph): off the event loop.
            self.metrics = await build_off_loop(compute_graph_metrics, graph, node_id, settings.graph)
            keep_long_lived()
            logger.info(f"feepilot: graph metrics computed in {self.metrics.compute_seconds:.1f} s ({graph.fingerprint})")
            self.metrics_key = key
        return self.metrics


graph_cache = GraphCache()
# Runs never overlap. Scoring writes nothing to the node, so it has its own guard;
# everything that changes fees or settings holds the change service's lock instead.
compute_lock = asyncio.Lock()


# --- runs -----------------------------------------------------------------------------


def change_records(changes: list[dict]) -> list[ChangeRecord]:
    """The change log as the engine's history (cooldowns, reversals)."""
    return [
        ChangeRecord(
            chan_id=change["chan_id"],
            at=int(change["created_at"]),
            old_ppm=int(change["old_policy"]["ppm"]),
            new_ppm=int(change["new_policy"]["ppm"]),
            old_base_msat=int(change["old_policy"]["base_msat"]),
            new_base_msat=int(change["new_policy"]["base_msat"]),
            by_autopilot=change["source"] == "autopilot",
        )
        for change in changes
    ]


def snapshot_summary(snapshot: NodeSnapshot) -> dict:
    """What history and charts need of a snapshot, small enough to keep for months."""
    return {
        "node_id": snapshot.node_id,
        "block_height": snapshot.block_height,
        "sources": dict(snapshot.sources),
        "channels": [
            {
                "chan_id": c.chan_id,
                "state": c.state,
                "capacity_sat": c.capacity_sat,
                "local_sat": c.local_sat,
                "remote_sat": c.remote_sat,
                "ppm": c.local_policy.ppm if c.local_policy else None,
                "base_msat": c.local_policy.base_msat if c.local_policy else None,
                "fees_1d_msat": c.flow[1].fees_earned_msat if 1 in c.flow else None,
            }
            for c in snapshot.channels
        ],
    }


def decision_rows(evaluation: Evaluation, snapshot: NodeSnapshot) -> list[dict]:
    points = {c.chan_id: c.channel_point for c in snapshot.channels}
    rows = []
    for order, assessment in enumerate(evaluation.channels):
        if assessment.state not in ("active", "inactive"):
            continue
        proposal = assessment.proposal
        data = assessment.to_dict()
        rows.append(
            {
                "order": order,
                "chan_id": assessment.chan_id,
                "channel_point": points.get(assessment.chan_id, ""),
                "short_id": assessment.short_id,
                "peer_alias": assessment.peer_alias,
                "action": assessment.action,
                "fee_action": assessment.fee_action,
                "accepted": assessment.accepted,
                "blocked_by": assessment.blocked_by,
                "reason": assessment.reason,
                "old_policy": policy_dict(proposal.old_policy) if proposal else None,
                "new_policy": policy_dict(proposal.new_policy) if proposal else None,
                "notes": [
                    {"rule": n.rule, "effect": n.effect, "message": n.message} for n in (proposal.notes if proposal else ())
                ],
                "advice": data["advice"],
                "headline": assessment.headline,
                "limited_by": data["limited_by"],
                "advice_withheld": assessment.advice_withheld,
                "score_role": assessment.score_role,
            }
        )
    return rows


def score_rows(evaluation: Evaluation, snapshot: NodeSnapshot) -> list[dict]:
    # The policy and balance the scores saw: the page marks a row out of date when the node's differ.
    seen = {c.chan_id: c for c in snapshot.channels}
    rows = []
    for assessment in evaluation.channels:
        if assessment.state not in ("active", "inactive"):
            continue
        data = assessment.to_dict()
        channel = seen.get(assessment.chan_id)
        rows.append(
            {
                "chan_id": assessment.chan_id,
                "short_id": assessment.short_id,
                "peer_id": assessment.peer_id,
                "peer_alias": assessment.peer_alias,
                "state": assessment.state,
                "capacity_sat": assessment.capacity_sat,
                "total": assessment.score,
                "confidence": assessment.confidence,
                "parts": data["parts"],
                "action": assessment.action,
                "fee_action": assessment.fee_action,
                "accepted": assessment.accepted,
                "blocked_by": assessment.blocked_by,
                "reason": assessment.reason,
                "advice": data["advice"],
                "old_policy": data["proposal"]["old_policy"] if data["proposal"] else None,
                "new_policy": data["proposal"]["new_policy"] if data["proposal"] else None,
                "notes": data["proposal"]["notes"] if data["proposal"] else [],
                "headline": assessment.headline,
                "limited_by": data["limited_by"],
                "advice_withheld": assessment.advice_withheld,
                "score_role": assessment.score_role,
                "scored_policy": policy_dict(channel.local_policy) if channel and channel.local_policy else None,
                "local_sat": channel.local_sat if channel else None,
            }
        )
    return rows


async def compute_run(kind: str, requested_by: Optional[str], wait_s: float = RUN_WAIT_S) -> dict:
    """Snapshot -> scores -> decisions, stored as a run. Applies nothing.

    Runs never overlap: raises RunInProgress when another run keeps computing.
    """
    try:
        # A scheduled cycle may be computing: wait for it rather than refuse at once.
        await asyncio.wait_for(compute_lock.acquire(), timeout=wait_s)
    except asyncio.TimeoutError as exc:
        raise RunInProgress(
            f"another run has been computing for more than {wait_s:.0f} s; try again when it has finished"
        ) from exc
    try:
        return await _compute_run_locked(kind, requested_by)
    finally:
        compute_lock.release()


async def _compute_run_locked(kind: str, requested_by: Optional[str]) -> dict:
    document, engine_settings = await load_engine_settings()  # invalid settings: no run at all
    run = await crud.create_run(kind, requested_by)
    try:
        gateway = await current_gateway()
    except NodeUnavailable as exc:
        await crud.update_run(run["id"], status="skipped", reason=str(exc))
        logger.info(f"feepilot: run {run['id']} skipped: {exc}")
        return await crud.get_run(run["id"])  # type: ignore[return-value]
    try:
        at = now()
        graph, graph_error = await graph_cache.get_graph(gateway, document["graph_refresh_minutes"] * 60)
        caller = ResilientCaller(breaker, retry_policy)
        snapshot = await caller.call("snapshot", lambda: gateway.snapshot(graph=graph, now=at))
        if graph_error:
            snapshot = _with_source_error(snapshot, "graph", graph_error)
        metrics = await graph_cache.get_metrics(graph, snapshot.node_id, engine_settings)
        since = at - document["history_days"] * 86400
        history = change_records(await crud.applied_changes_since(since))
        evaluation = await asyncio.to_thread(evaluate, snapshot, engine_settings, history, metrics, at)
    except (NodeCallError, CircuitOpen) as exc:
        await crud.update_run(run["id"], status="failed", reason=f"The node did not answer: {exc}")
        logger.warning(f"feepilot: run {run['id']} failed: {exc}")
        return await crud.get_run(run["id"])  # type: ignore[return-value]

    scores = score_rows(evaluation, snapshot)
    # `channels` counts every channel the node listed (pending and closed too); `scored` the open ones.
    counts = {**evaluation.counts(), "scored": len(scores)}
    summary = {
        "warnings": list(evaluation.warnings),
        "graph_fingerprint": evaluation.graph_fingerprint,
        "sources": dict(snapshot.sources),
        "source_errors": dict(snapshot.source_errors),
        "mode": document["mode"],
        "forwards_sync": forwards_store.last_sync.as_dict() if forwards_store.last_sync else None,
    }
    # snapshot, scores, decisions, the channels' series and the run itself: one transaction
    await crud.store_run(
        run["id"], at, snapshot=snapshot_summary(snapshot), scores=scores,
        decisions=decision_rows(evaluation, snapshot), node_id=snapshot.node_id, counts=counts, summary=summary,
    )
    logger.info(f"feepilot: run {run['id']} ({kind}) scored {counts['scored']} channels, {counts.get('accepted', 0)} changes accepted")
    return await crud.get_run(run["id"])  # type: ignore[return-value]


def _with_source_error(snapshot: NodeSnapshot, source: str, error: str) -> NodeSnapshot:
    return replace(
        snapshot,
        sources={**snapshot.sources, source: False},
        source_errors={**snapshot.source_errors, source: error},
    )


# --- history, earnings and the public summary ----------------------------------------------


async def earnings(days: int) -> dict:
    """Fees earned per day over the last `days`, node-wide and per channel."""
    gateway = await current_gateway()
    at = now()
    events = await gateway.forwards(at, days)
    totals, per_channel = await asyncio.to_thread(daily_earnings, events, at, days)
    return {"days": totals, "per_channel": per_channel}


async def channel_history(chan_id: str, days: int) -> dict:
    """Fee and balance of one channel at every stored run, with its changes."""
    since = now() - days * 86400
    points, scores = await crud.channel_series(chan_id, since)  # the compact series: no snapshot decoded
    changes, _ = await crud.list_changes(chan_id=chan_id, since=since, limit=500, oldest_first=True)
    if not (points or changes or scores) and not await _channel_known(chan_id):
        raise NotFound(f"No channel with id {chan_id}")
    return {"chan_id": chan_id, "points": points, "changes": changes, "scores": scores}


async def _channel_known(chan_id: str) -> bool:
    """On the node now, or anywhere in our records (a closed channel keeps its history)."""
    if (await crud.list_changes(chan_id=chan_id, limit=1))[1]:
        return True
    try:
        channels = (await (await current_gateway()).channels()).channels
    except (NodeUnavailable, NodeCallError):
        return True  # cannot tell: an empty history, not a 404
    return any(chan_id in (c.chan_id, c.short_id) for c in channels)


async def public_summary() -> Optional[dict]:
    """Aggregates only — never balances, peers or single-channel figures."""
    document = await load_settings()
    if not document["public_summary"]:
        return None
    run, scores = await crud.latest_scores()
    bands = {"0.0-0.2": 0, "0.2-0.4": 0, "0.4-0.6": 0, "0.6-0.8": 0, "0.8-1.0": 0, "unknown": 0}
    for score in scores:
        total = score.get("total")
        if total is None:
            bands["unknown"] += 1
        else:
            index = min(4, int(total * 5))
            bands[list(bands)[index]] += 1
    alias = None
    channel_count = len(scores)
    try:
        gateway = await current_gateway()
        info = await gateway.info()
        alias = info.alias
    except (NodeUnavailable, NodeCallError):
        pass
    last = await crud.last_run(("dry_run", "manual", "shadow", "autopilot"))
    return {
        "alias": alias,
        "channel_count": channel_count,
        "score_distribution": bands,
        "mode": document["mode"],
        "last_run": {"created_at": last["created_at"], "kind": last["kind"], "status": last["status"]} if last else None,
    }
