"""Use cases for reading and deciding: settings, status, channels, runs (snapshot →
scores → decisions), history and earnings. Everything that changes fees or the
settings lives in change_service.py, the schedule in tasks.py.

Heavy work (decoding the graph, graph metrics, evaluation) runs in Fee Autopilot's
heavy-work process (worker.py), so LNbits' event loop keeps serving payments while
the autopilot thinks; the graph is kept there, not in LNbits' process.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional

from loguru import logger

from . import crud
from .app_settings import InvalidSettings, deep_merge, defaults, validate_document
from .clock import now
from . import credential_service, forwards_store, htlc_listener
from .engine.inbound import inbound_set_by_us
from .engine.ingest_lnd import daily_earnings
from .engine.settings import INBOUND_OFF, EngineSettings, without_inbound_management, without_retired
from .engine.snapshot import ChangeRecord, NodeSnapshot
from .models import ChannelOut, ChannelsOut, CredentialStatusOut, HtlcEventsOut, StatusOut, WorkerStatusOut
from .node import (
    DATA_SOURCES,
    NodeCallError,
    NodeGateway,
    NodeUnavailable,
    backend_name,
)
from .notify import recent
from .resilience import CircuitOpen, ResilientCaller, breaker, retry_policy
from .worker import GraphInfo, GraphUnreadable, HeavyWorkError, heavy_worker

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
        cycle_running=bool(schedule and schedule.cycle_running),
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
    status.worker = WorkerStatusOut(**asdict(heavy_worker.status()))
    status.htlc_events = HtlcEventsOut(
        **htlc_listener.state.as_dict(), failed_24h=await crud.count_failed_forwards((now() - 86400) * 1_000_000_000)
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
    status.capabilities = gateway.capabilities
    status.source_errors = dict(result.source_errors)
    if not gateway.can_read_forwards:
        status.source_errors["forwards"] = f"{gateway.backend}: forwarding history is not supported"
    if gateway.failures_from_history:  # listforwards lists the failed forwards with the settled ones
        status.sources["htlc_events"] = True
        return status
    status.sources["htlc_events"] = htlc_listener.state.live
    if not htlc_listener.state.live:
        status.source_errors["htlc_events"] = htlc_listener.state.error or "the HTLC event stream is not connected yet"
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


# --- the network graph ----------------------------------------------------------------


@dataclass
class GraphCache:
    """The public graph changes slowly: read it at most once per refresh interval. It is
    decoded and kept in the heavy-work process; this is what LNbits' process knows of it."""

    info: Optional[GraphInfo] = None
    fetched_at: int = 0
    generation: int = -1  # the worker that holds it (a restarted worker holds none)

    async def get_graph(self, gateway: NodeGateway, refresh_s: int) -> tuple[Optional[GraphInfo], Optional[str]]:
        if not gateway.can_read_graph:
            return None, f"{gateway.backend}: reading the network graph is not supported"
        held = self.info is not None and heavy_worker.holds(self.generation)
        if held and now() - self.fetched_at < refresh_s:
            return self.info, None
        try:
            self.info, self.generation, size = await self._download_and_load(gateway)
        except (NodeCallError, GraphUnreadable) as exc:
            logger.warning(f"feepilot: graph unavailable: {exc}")
            return (self.info, None) if held else (None, str(exc))
        self.fetched_at = now()
        logger.info(f"feepilot: network graph read ({self.info.edges} channels, {size / 1e6:.1f} MB from the node, "
                    f"{self.info.fingerprint}), decoded in {self.info.decode_seconds:.1f} s in the heavy-work process")
        return self.info, None

    @staticmethod
    async def _download_and_load(gateway: NodeGateway) -> tuple[GraphInfo, int, int]:
        """The graph goes from the node to a temporary file as it arrives and from there into the
        heavy-work process: LNbits' process never holds its tens of MB whole. (Its summary, the
        worker's generation, the answer's size in bytes.)"""
        if gateway.cln is not None:  # Core Lightning: two answers (listchannels, listnodes), two files
            return await GraphCache._download_and_load_cln(gateway)
        handle, name = tempfile.mkstemp(prefix="feepilot-graph-", suffix=".json")
        path = Path(name)
        try:
            try:
                with os.fdopen(handle, "wb") as file:
                    size = await gateway.describegraph(file)
            except OSError as exc:  # the disk, not the node
                raise NodeCallError(f"GET /v1/graph: could not keep the answer in {path.parent} ({exc})",
                                    transient=True) from exc
            info, generation = await heavy_worker.load_graph(path, int(time.time()))
            return info, generation, size
        finally:
            path.unlink(missing_ok=True)


    @staticmethod
    async def _download_and_load_cln(gateway: NodeGateway) -> tuple[GraphInfo, int, int]:
        """As for LND, with `listchannels` and `listnodes` each streamed to a file of its own."""
        paths = [Path(tempfile.mkstemp(prefix=f"feepilot-{what}-", suffix=".json")[1]) for what in ("channels", "nodes")]
        try:
            try:
                with open(paths[0], "wb") as channels, open(paths[1], "wb") as nodes:
                    size = await gateway.graph_files(channels, nodes)
            except OSError as exc:  # the disk, not the node
                raise NodeCallError(f"listchannels/listnodes: could not keep the answers in {paths[0].parent} ({exc})",
                                    transient=True) from exc
            info, generation = await heavy_worker.load_cln_graph(paths[0], paths[1], int(time.time()))
            return info, generation, size
        finally:
            for path in paths:
                path.unlink(missing_ok=True)


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
                # missed demand (the HTLC event stream); None: the stream was not heard
                "failed_out_1d": c.failed_out_1d,
                "failed_out_amount_1d_sat": c.failed_out_amount_1d_sat,
            }
            for c in snapshot.channels
        ],
    }


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
    started = time.perf_counter()
    run = await crud.create_run(kind, requested_by)
    try:
        gateway = await current_gateway()
    except NodeUnavailable as exc:
        await crud.update_run(run["id"], status="skipped", reason=str(exc))
        logger.info(f"feepilot: run {run['id']} skipped: {exc}")
        return await crud.get_run(run["id"])  # type: ignore[return-value]
    warnings: list[str] = []
    if not gateway.capabilities["inbound_fees"]:
        if engine_settings.inbound.manage != INBOUND_OFF or any(
                o.manage_inbound for o in engine_settings.guardrails.channel_overrides.values()):
            warnings.append(f"Inbound fees are not managed: {gateway.backend} has none (the inbound settings are ignored)")
        engine_settings = without_inbound_management(engine_settings)
    try:
        at = now()
        graph, graph_error = await graph_cache.get_graph(gateway, document["graph_refresh_minutes"] * 60)
        caller = ResilientCaller(breaker, retry_policy)
        reading = time.perf_counter()
        snapshot = await caller.call("snapshot", lambda: gateway.snapshot(graph_loaded=graph is not None, now=at))
        node_s = time.perf_counter() - reading
        snapshot = await htlc_listener.with_failed_forwards(snapshot, at, from_history=gateway.failures_from_history)
        if graph_error:
            snapshot = _with_source_error(snapshot, "graph", graph_error)
        since = at - document["history_days"] * 86400
        history = change_records(await crud.applied_changes_since(since))
        # Metrics (when the graph changed), evaluation and the rows to store: in the worker.
        inbound_ours = inbound_set_by_us(snapshot.channels, await crud.inbound_ours())
        gathered = time.perf_counter()
        result = await heavy_worker.cycle(snapshot, engine_settings, history, at, graph.fingerprint if graph else None,
                                          inbound_ours)
    except (NodeCallError, CircuitOpen) as exc:
        await crud.update_run(run["id"], status="failed", reason=f"The node did not answer: {exc}")
        logger.warning(f"feepilot: run {run['id']} failed: {exc}")
        return await crud.get_run(run["id"])  # type: ignore[return-value]
    except HeavyWorkError as exc:
        await crud.update_run(run["id"], status="failed", reason=str(exc))
        logger.warning(f"feepilot: run {run['id']} failed: {exc}")
        return await crud.get_run(run["id"])  # type: ignore[return-value]
    if result.metrics is not None and result.metrics.recomputed:
        logger.info(f"feepilot: graph metrics computed in {result.metrics.compute_seconds:.1f} s ({result.metrics.fingerprint})")

    # `channels` counts every channel the node listed (pending and closed too); `scored` the open
    # ones; `blocked` the decisions a guardrail blocked (the summary's activity counts them here).
    counts = {**result.counts, "scored": len(result.encoded.scored), "blocked": result.encoded.blocked}
    summary = {
        "warnings": warnings + list(result.warnings),
        "graph_fingerprint": result.graph_fingerprint,
        "sources": dict(snapshot.sources),
        "source_errors": dict(snapshot.source_errors),
        "mode": document["mode"],
        "forwards_sync": forwards_store.last_sync.as_dict() if forwards_store.last_sync else None,
        # the run's own time until its rows are ready to write (created_at/finished_at are whole
        # seconds): reading the node and our history, then the evaluation (the heavy-work process);
        # the one transaction that writes them comes after and is not in it
        "seconds": round(time.perf_counter() - started, 3),
        # node_s: within gather_s, the node's answers with the forwards' sync and sums
        "timing": {"gather_s": round(gathered - started, 3), "node_s": round(node_s, 3),
                   "evaluate_s": round(time.perf_counter() - gathered, 3)},
    }
    # snapshot, scores, decisions, the channels' series and the run itself: one transaction
    await crud.store_run(run["id"], at, snapshot=snapshot_summary(snapshot), encoded=result.encoded,
                         node_id=snapshot.node_id, counts=counts, summary=summary)
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
    # the compact series, stored as the JSON the route answers: no snapshot decoded, nothing re-encoded
    series = await crud.channel_series(chan_id, since)
    changes, _ = await crud.list_changes(chan_id=chan_id, since=since, limit=500, oldest_first=True)
    if series.empty and not changes and not await _channel_known(chan_id):
        raise NotFound(f"No channel with id {chan_id}")
    return {"chan_id": chan_id, "points_json": series.points, "changes": changes, "scores_json": series.scores,
            "failed_forwards": await htlc_listener.channel_failures(chan_id, since)}


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
