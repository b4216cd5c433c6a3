"""Failed forwards from LND's HTLC event stream, listened to for as long as the extension runs.

LND reports a forward that failed on our side (our outgoing channel lacked the balance, and
other link failures) only on `GET /v2/router/htlcevents`, a server stream with no backlog: what
happens while nobody listens is never told. So a permanent task keeps one subscription open,
through the funding source's own connection (endpoint, TLS, and the macaroon node.py chooses),
stores each failure (engine.ingest_htlc) in `feepilot.link_failures` and reconnects after an
error or the end of the stream, with backoff and jitter. It reconnects too when the macaroon
calls send changes (Fee Autopilot's credential activated, rotated or removed).

The engine's snapshot gets `failed_out_1d` / `failed_out_amount_1d_sat` from that table
(`with_failed_forwards`) while the stream is known to have been heard: live now, or lost less
than COVERAGE_GAP_S ago. Otherwise they stay unknown (None): a count that missed a long outage
would read as "no failure". Retention: `forwards_retention_days`, with the forwarding history.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, replace
from typing import Any, Optional

from lnbits.task_manager import task_manager
from loguru import logger

from . import crud
from .clock import now
from .engine.ingest_htlc import LIQUIDITY_FAILURE_DETAILS, HtlcFailures, LinkFailure, with_failed_out
from .engine.snapshot import FailedOut, NodeSnapshot
from .node import CredentialRefused, NodeCallError, NodeGateway, NodeUnavailable, backend_name, failures_come_with_history
from .resilience import RetryPolicy

LISTENER_TASK_NAME = "ext_feepilot_htlc_events"
CONNECT_TIMEOUT_S = 20.0
# Before reconnecting after the n-th attempt in a row that failed: full jitter up to 1, 2, 4 … s,
# at most 30 s (resilience.RetryPolicy, as the node calls' retries), so the listener is back
# within a minute of the node. A subscription that was live resets it.
RECONNECT = RetryPolicy(base_delay_s=1.0, max_delay_s=30.0)
# A backend without the stream: looked at again this often (LNbits may change its funding source).
UNSUPPORTED_RETRY_S = 60.0
# The macaroon calls send is compared with the stream's this often (a change reconnects).
WATCH_S = 2.0
FLUSH_S = 0.5
MAX_PENDING = 50_000  # failures held while the database refuses them (the oldest go first)
COVERAGE_GAP_S = 600
DAY = 86400
NS = 1_000_000_000


@dataclass
class ListenerState:
    running: bool = False
    live: bool = False  # subscribed now (the node confirmed the subscription)
    since: Optional[int] = None  # when the current subscription became live
    lost_at: Optional[int] = None  # when the last live subscription ended
    last_event_at: Optional[int] = None
    connects: int = 0  # subscriptions opened since the extension started
    stored: int = 0  # failures stored since the extension started (new ones only)
    error: Optional[str] = None  # why it is not live, when it is not
    error_at: Optional[int] = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


state = ListenerState()
_pending: list[LinkFailure] = []
_rng = random.Random()


def heard_recently(at: int) -> bool:
    """Whether the stream was live at `at`, or lost less than COVERAGE_GAP_S before it."""
    if state.live:
        return True
    return state.lost_at is not None and at - state.lost_at < COVERAGE_GAP_S


def _row(failure: LinkFailure) -> dict[str, Any]:
    """A row of link_failures (m010): keyed by time, incoming channel and HTLC id, in integers."""
    return {
        "ts_ns": failure.ts_ns, "chan_in": int(failure.chan_id_in), "htlc_in": failure.htlc_in,
        "chan_out": int(failure.chan_id_out), "amount_msat": failure.amount_msat,
        "wire_failure": failure.wire_failure, "failure_detail": failure.failure_detail,
    }


async def flush() -> int:
    """Store what the stream delivered since the last flush (one transaction); the failures stay
    pending when the database refuses them, to be tried again."""
    if not _pending:
        return 0
    batch = _pending[:]
    del _pending[: len(batch)]
    try:
        new = await crud.insert_failed_forwards([_row(f) for f in batch])
    except Exception:
        _pending[:0] = batch
        del _pending[: max(0, len(_pending) - MAX_PENDING)]
        raise
    state.stored += new
    return new


async def _flusher() -> None:
    while True:
        await asyncio.sleep(FLUSH_S)
        try:
            await flush()
        except Exception as exc:  # kept pending; the next flush tries again
            logger.warning(f"feepilot: could not store failed forwards ({len(_pending)} pending): {exc}")


def _lost(message: str) -> bool:
    """Not live any more, and why; whether it was live."""
    was_live = state.live
    if was_live:
        state.lost_at = now()
    state.live = False
    state.error, state.error_at = message, now()
    return was_live


async def _read(gateway: NodeGateway) -> None:
    """One subscription, until the node ends it (returns) or it breaks (raises)."""
    failures = HtlcFailures()  # what this subscription saw sent: a later failure of it names only the HTLC
    async for message in gateway.htlc_events(CONNECT_TIMEOUT_S):
        if "subscribed_event" in message and not state.live:
            state.live, state.since, state.error, state.error_at = True, now(), None, None
            state.connects += 1
            logger.info("feepilot: HTLC event stream live")
            continue
        failure = failures.observe(message)
        if failure is not None:
            _pending.append(failure)
            state.last_event_at = now()
            if len(_pending) > MAX_PENDING:
                del _pending[0]


async def _listen_once(gateway: NodeGateway) -> str:
    """Read one subscription while the macaroon it was opened with stays the one calls send; why
    it ended."""
    assert gateway.lnd is not None
    identity = gateway.lnd.identity()
    reader = asyncio.create_task(_read(gateway))
    try:
        while True:
            done, _ = await asyncio.wait({reader}, timeout=WATCH_S)
            if done:
                reader.result()  # raises what ended it
                return "the node ended the stream"
            if gateway.lnd.identity() != identity:
                return "the macaroon calls send changed"
    finally:
        if not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def listen() -> None:
    """The permanent task: subscribe, store, reconnect; ends only when cancelled."""
    state.running = True
    flusher = asyncio.create_task(_flusher())
    failures = 0  # attempts in a row that never became live
    try:
        while True:
            try:
                gateway = NodeGateway.current(CONNECT_TIMEOUT_S)
                if not gateway.can_stream_htlc_events:
                    _lost(f"{gateway.backend} has no HTLC event stream (LND only)")
                    await asyncio.sleep(UNSUPPORTED_RETRY_S)
                    continue
                was_live = _lost(f"{await _listen_once(gateway)}; reconnecting")
            except asyncio.CancelledError:
                raise
            except CredentialRefused as exc:
                # a credential baked before the listener existed lacks this one permission; fees are
                # still set with it (the refusal is not recorded against it)
                was_live = _lost(f"{exc}. The macaroon needs /routerrpc.Router/SubscribeHtlcEvents (offchain:read): "
                                 "rotate Fee Autopilot's credential (Node credential) to get one that allows it")
            except (NodeUnavailable, NodeCallError) as exc:
                was_live = _lost(str(exc))
            except Exception as exc:  # a bug must not end the listener; it is logged whole
                logger.opt(exception=exc).error(f"feepilot: HTLC event listener: {exc}")
                was_live = _lost(f"an unexpected {exc.__class__.__name__}: {exc}")
            failures = 1 if was_live else failures + 1  # a live subscription resets the backoff
            wait = RECONNECT.delay(failures - 1, _rng)
            logger.warning(f"feepilot: HTLC event stream: {state.error}; reconnecting in {wait:.1f} s")
            await asyncio.sleep(wait)
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        try:
            await flush()
        except Exception as exc:
            logger.warning(f"feepilot: failed forwards not stored at stop: {exc}")
        _lost("stopped with the extension")
        state.running = False
        logger.info("feepilot: HTLC event listener stopped")


def start() -> None:
    task_manager.create_permanent_task(listen, name=LISTENER_TASK_NAME)


def stop() -> None:
    task = task_manager.get_task(LISTENER_TASK_NAME)
    if task:
        task_manager.cancel_task(task)


async def failed_out_1d(at: int) -> Optional[dict[str, tuple[int, int]]]:
    """Per outgoing channel, (count, amount in msat) of the forwards that failed for lack of our
    balance in the 24 h before `at`; None when the stream was not heard (unknown, not zero)."""
    if not heard_recently(at):
        return None
    await flush()
    return await crud.failed_forward_sums((at - DAY) * NS, at * NS, LIQUIDITY_FAILURE_DETAILS)


async def with_failed_forwards(snapshot: NodeSnapshot, at: int, from_history: bool = False) -> NodeSnapshot:
    """The snapshot with each open channel's failed forwards of the last 24 h, and the stream as
    a data source. `from_history`: the backend lists failed forwards in its forwarding history
    (Core Lightning's listforwards), which the snapshot's sync has just read: they are known when
    that read succeeded, no stream has to be heard."""
    sources, errors = dict(snapshot.sources), dict(snapshot.source_errors)
    if from_history:
        known = bool(snapshot.sources.get("forwards"))
        sources["htlc_events"] = known
        if not known:
            errors["htlc_events"] = errors.get("forwards", "the forwarding history was not read")
        sums = await crud.failed_forward_sums((at - DAY) * NS, at * NS, LIQUIDITY_FAILURE_DETAILS) if known else None
    else:
        sources["htlc_events"] = state.live
        if not state.live:
            errors["htlc_events"] = state.error or "the HTLC event stream is not connected yet"
        sums = await failed_out_1d(at)
    if sums is None:
        return replace(snapshot, sources=sources, source_errors=errors)
    failed = {chan: FailedOut(count, amount_msat // 1000) for chan, (count, amount_msat) in sums.items()}
    return replace(snapshot, channels=tuple(with_failed_out(snapshot.channels, failed)), sources=sources,
                   source_errors=errors)

RECENT_FAILURES = 10


async def channel_failures(chan_id: str, since: int) -> dict[str, Any]:
    """What a channel's detail shows: its forwards that failed for lack of our balance in the last
    24 h and since `since`, the newest failures of every reason, and whether the stream is heard."""
    at = now()
    await flush()
    from_history = failures_come_with_history(backend_name())  # read with every sync, no stream to hear
    day = await crud.channel_failure_totals(chan_id, (at - DAY) * NS, LIQUIDITY_FAILURE_DETAILS)
    window = await crud.channel_failure_totals(chan_id, since * NS, LIQUIDITY_FAILURE_DETAILS)
    recent = await crud.channel_failed_forwards(chan_id, since * NS, RECENT_FAILURES)
    return {
        "heard": from_history or heard_recently(at),
        "error": None if from_history or state.live else state.error,
        "lack_of_balance_24h": {"count": day[0], "amount_sat": day[1] // 1000},
        "lack_of_balance": {"count": window[0], "amount_sat": window[1] // 1000},
        "recent": [
            {"at": int(r["ts_ns"]) // NS, "amount_sat": int(r["amount_msat"]) // 1000, "chan_id_in": r["chan_id_in"],
             "wire_failure": r["wire_failure"], "failure_detail": r["failure_detail"]}
            for r in recent
        ],
    }
