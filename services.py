"""Use cases: what the API and the schedule do, built from node, crud and engine.

Heavy work (parsing the graph, graph metrics, evaluation) runs in worker threads
so LNbits' event loop keeps serving payments while the autopilot thinks.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

from loguru import logger

from . import crud
from .app_settings import InvalidSettings, deep_merge, defaults, validate_document
from .clock import now
from .engine.evaluate import Evaluation, evaluate
from .engine.graph_metrics import GraphMetrics, compute_graph_metrics, metrics_key
from .engine.settings import EngineSettings
from .engine.snapshot import ChangeRecord, NetworkGraph, NodeSnapshot, Policy
from .models import ChannelOut, ChannelsOut, StatusOut
from .node import NodeCallError, NodeGateway, NodeUnavailable, backend_name

DATA_SOURCES = ("channels", "policies", "forwards", "graph")


class RunInProgress(Exception):
    """A run is already computing; runs never overlap."""


def extension_version() -> str:
    config = Path(__file__).parent / "config.json"
    return json.loads(config.read_text()).get("version", "0.0")


def networkx_installed() -> bool:
    return importlib.util.find_spec("networkx") is not None


# --- settings ---------------------------------------------------------------------


async def load_settings() -> dict[str, Any]:
    stored = await crud.get_settings_document()
    if stored is None:
        return defaults()
    # Settings added by a newer version take their defaults.
    merged = deep_merge(defaults(), stored)
    try:
        document, _ = validate_document(merged)
    except InvalidSettings as exc:
        logger.warning(f"feepilot: stored settings are invalid ({exc}); using defaults")
        return defaults()
    return document


async def load_engine_settings() -> tuple[dict[str, Any], EngineSettings]:
    document = await load_settings()
    return validate_document(document)


async def update_settings(patch: dict[str, Any], changed_by: str) -> dict[str, Any]:
    """Merge, validate, store; InvalidSettings leaves everything as it was."""
    current = await load_settings()
    document, _ = validate_document(deep_merge(current, patch))
    if document != current:
        await crud.save_settings_document(document, changed_by)
    return document


# --- status and channels ------------------------------------------------------------


async def node_status() -> StatusOut:
    status = StatusOut(
        version=extension_version(),
        backend=backend_name(),
        node_api_available=False,
        sources={source: False for source in DATA_SOURCES},
        networkx_installed=networkx_installed(),
    )
    try:
        gateway = NodeGateway.current()
    except NodeUnavailable as exc:
        status.node_api_reason = str(exc)
        return status
    try:
        result = await gateway.channels()
    except NodeCallError as exc:
        logger.warning(f"feepilot: status: {exc}")
        status.node_api_reason = f"The node did not answer: {exc}"
        return status
    status.node_api_available = True
    status.node_id = result.info.node_id
    status.alias = result.info.alias
    status.block_height = result.info.block_height
    status.channel_counts = dict(Counter(channel.state for channel in result.channels))
    status.sources.update(result.sources)
    status.sources["forwards"] = gateway.can_read_forwards
    status.sources["graph"] = gateway.can_read_graph and status.networkx_installed
    status.source_errors = dict(result.source_errors)
    if not gateway.can_read_forwards:
        status.source_errors["forwards"] = f"{gateway.backend}: forwarding history is not supported"
    if not status.networkx_installed:
        status.source_errors["graph"] = "networkx is not installed in LNbits' environment: pip install networkx"
    return status


async def list_channels() -> ChannelsOut:
    """Every channel with its policy; raises NodeUnavailable / NodeCallError."""
    gateway = NodeGateway.current()
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
            self.graph = await gateway.graph()
            self.fetched_at = now()
        except NodeCallError as exc:
            logger.warning(f"feepilot: graph unavailable: {exc}")
            if self.graph is None:
                return None, str(exc)
        return self.graph, None

    async def get_metrics(
        self, graph: Optional[NetworkGraph], node_id: str, settings: EngineSettings
    ) -> Optional[GraphMetrics]:
        if graph is None or not networkx_installed():
            return None
        key = metrics_key(graph, node_id, settings.graph)
        if self.metrics is None or self.metrics_key != key:
            # The expensive part (seconds on a mainnet-sized graph): off the event loop.
            self.metrics = await asyncio.to_thread(compute_graph_metrics, graph, node_id, settings.graph)
            self.metrics_key = key
        return self.metrics


graph_cache = GraphCache()
run_lock = asyncio.Lock()


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


def policy_dict(policy: Optional[Policy]) -> Optional[dict]:
    if policy is None:
        return None
    return {
        "base_msat": policy.base_msat,
        "ppm": policy.ppm,
        "cltv_delta": policy.cltv_delta,
        "min_htlc_msat": policy.min_htlc_msat,
        "max_htlc_msat": policy.max_htlc_msat,
        "disabled": policy.disabled,
        "inbound_base_msat": policy.inbound_base_msat,
        "inbound_ppm": policy.inbound_ppm,
    }


def policy_from_dict(data: dict) -> Policy:
    return Policy(
        base_msat=int(data["base_msat"]),
        ppm=int(data["ppm"]),
        cltv_delta=int(data["cltv_delta"]),
        min_htlc_msat=int(data["min_htlc_msat"]),
        max_htlc_msat=int(data["max_htlc_msat"]),
        disabled=bool(data.get("disabled", False)),
        inbound_base_msat=int(data.get("inbound_base_msat", 0)),
        inbound_ppm=int(data.get("inbound_ppm", 0)),
    )


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


def decision_rows(evaluation: Evaluation) -> list[dict]:
    rows = []
    for order, assessment in enumerate(evaluation.channels):
        if assessment.state not in ("active", "inactive"):
            continue
        proposal = assessment.proposal
        rows.append(
            {
                "order": order,
                "chan_id": assessment.chan_id,
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
                "advice": assessment.to_dict()["advice"],
            }
        )
    return rows


def score_rows(evaluation: Evaluation) -> list[dict]:
    rows = []
    for assessment in evaluation.channels:
        if assessment.state not in ("active", "inactive"):
            continue
        data = assessment.to_dict()
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
            }
        )
    return rows


async def compute_run(kind: str, requested_by: Optional[str]) -> dict:
    """Snapshot -> scores -> decisions, stored as a run. Applies nothing.

    Raises RunInProgress when another run is computing.
    """
    if run_lock.locked():
        raise RunInProgress("a run is already in progress; try again when it has finished")
    async with run_lock:
        return await _compute_run_locked(kind, requested_by)


async def _compute_run_locked(kind: str, requested_by: Optional[str]) -> dict:
    run = await crud.create_run(kind, requested_by)
    document, engine_settings = await load_engine_settings()
    try:
        gateway = NodeGateway.current()
    except NodeUnavailable as exc:
        await crud.update_run(run["id"], status="skipped", reason=str(exc))
        logger.info(f"feepilot: run {run['id']} skipped: {exc}")
        return await crud.get_run(run["id"])  # type: ignore[return-value]
    try:
        at = now()
        graph, graph_error = await graph_cache.get_graph(gateway, document["graph_refresh_minutes"] * 60)
        snapshot = await gateway.snapshot(graph=graph, now=at)
        if graph_error:
            snapshot = _with_source_error(snapshot, "graph", graph_error)
        metrics = await graph_cache.get_metrics(graph, snapshot.node_id, engine_settings)
        since = at - document["history_days"] * 86400
        history = change_records(await crud.applied_changes_since(since))
        evaluation = await asyncio.to_thread(evaluate, snapshot, engine_settings, history, metrics, at)
    except NodeCallError as exc:
        await crud.update_run(run["id"], status="failed", reason=f"The node did not answer: {exc}")
        logger.warning(f"feepilot: run {run['id']} failed: {exc}")
        return await crud.get_run(run["id"])  # type: ignore[return-value]

    await crud.insert_snapshot(run["id"], at, snapshot_summary(snapshot))
    await crud.insert_scores(run["id"], at, score_rows(evaluation))
    await crud.insert_decisions(run["id"], at, decision_rows(evaluation))
    counts = evaluation.counts()
    summary = {
        "warnings": list(evaluation.warnings),
        "graph_fingerprint": evaluation.graph_fingerprint,
        "sources": dict(snapshot.sources),
        "source_errors": dict(snapshot.source_errors),
        "mode": document["mode"],
    }
    await crud.update_run(
        run["id"], status="completed", node_id=snapshot.node_id, counts=counts, summary=summary
    )
    logger.info(f"feepilot: run {run['id']} ({kind}) scored {counts.get('channels', 0)} channels, {counts.get('accepted', 0)} changes accepted")
    return await crud.get_run(run["id"])  # type: ignore[return-value]


def _with_source_error(snapshot: NodeSnapshot, source: str, error: str) -> NodeSnapshot:
    return replace(
        snapshot,
        sources={**snapshot.sources, source: False},
        source_errors={**snapshot.source_errors, source: error},
    )
