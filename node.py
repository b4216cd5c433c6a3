"""The only code that talks to the node, through LNbits' own funding source.

The funding source is resolved fresh on every call: LNbits may swap it for a
VoidWallet at run time, or restart it when an admin saves settings.

Which macaroon a call sends is decided in one place, `LndClient._macaroon`: Fee
Autopilot's own credential when one is active (credential_service.py puts it in
`credential_slot`), else LNbits' macaroon; always the funding source's endpoint
and TLS certificate.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Awaitable, BinaryIO, Callable, Optional, Sequence

import httpx
from loguru import logger

from .engine.ingest_lnd import (
    channels_from_lnd,
    chanpolicy_body,
    edge_policies,
    with_flows,
)
from .engine.jsonstream import loads_object_incrementally
from .engine.snapshot import (
    ACTIVE,
    CLOSED,
    FLOW_WINDOWS_DAYS,
    INACTIVE,
    PENDING,
    Channel,
    NodeSnapshot,
    Policy,
)
from . import forwards_store

NODE_TIMEOUT_S = 20.0
GRAPH_TIMEOUT_S = 120.0
SWITCH_PAGE_SIZE = 5000
LARGE_BODY_BYTES = 1_000_000

DATA_SOURCES = ("channels", "policies", "forwards", "graph", "htlc_events")


class NodeUnavailable(Exception):
    """The node API cannot be used; the message tells the operator what to do."""


class NodeCallError(Exception):
    """A node call failed. `transient` errors are worth retrying. `answered`: the node answered
    with an error (an HTTP status, a JSON-RPC error), which proves it did not act on the call."""

    def __init__(self, message: str, *, transient: bool, status: Optional[int] = None, detail: str = "",
                 answered: Optional[bool] = None):
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.detail = detail  # the node's own words, when it answered
        self.answered = status is not None if answered is None else answered


class CredentialRefused(NodeCallError):
    """The node refused the macaroon a call sent (revoked, or without the permission), or
    Fee Autopilot's credential cannot be used at all. Never transient: retrying or the
    circuit breaker would only hide it."""

    def __init__(self, message: str, status: Optional[int] = None, detail: str = ""):
        super().__init__(message, transient=False, status=status, detail=detail or message)


# --- which macaroon a call sends --------------------------------------------------


@dataclass
class NodeCredential:
    """Fee Autopilot's own macaroon, decrypted from the vault, in memory only."""

    credential_id: str
    fingerprint: str
    macaroon_hex: str = field(repr=False)
    refused: Optional[str] = None  # what the node said when it refused it
    refused_at: Optional[int] = None
    in_flight: int = 0  # calls sent with it that have not answered yet (rotation waits for them)


@dataclass
class CredentialSlot:
    active: Optional[NodeCredential] = None
    # The active credential exists but cannot be decrypted: no call is made with any macaroon.
    unusable: Optional[str] = None
    # Called (credential, message) when the node refuses the active credential.
    listeners: list[Callable[[NodeCredential, str], Awaitable[None]]] = field(default_factory=list)

    def writes_paused(self) -> Optional[str]:
        """Why fee writes must not be sent now, or None."""
        if self.unusable:
            return f"Fee Autopilot's node credential cannot be used: {self.unusable}"
        if self.active is not None and self.active.refused:
            return f"the node refused Fee Autopilot's credential {self.active.fingerprint} ({self.active.refused})"
        return None


credential_slot = CredentialSlot()


class _FundingSourceMacaroon:
    def __repr__(self) -> str:
        return "FUNDING_SOURCE"


FUNDING_SOURCE: Any = _FundingSourceMacaroon()  # LndClient(..., macaroon=FUNDING_SOURCE): LNbits' own

# What LND answers (HTTP 500, gRPC Unknown) when it does not accept a macaroon.
_REFUSALS = ("permission denied", "verification failed", "cannot get macaroon", "root key with id",
             "macaroon", "invalid auth")


def refuses_macaroon(status: int, message: str) -> bool:
    text = message.lower()
    return status in (401, 403) or (status == 500 and any(words in text for words in _REFUSALS))


@dataclass
class NodeInfo:
    node_id: str
    alias: str
    block_height: Optional[int]
    backend: str


@dataclass
class NodeChannels:
    info: NodeInfo
    channels: list[Channel]
    sources: dict[str, bool] = field(default_factory=dict)
    source_errors: dict[str, str] = field(default_factory=dict)


def backend_name() -> str:
    from lnbits.wallets import get_funding_source

    return type(get_funding_source()).__name__


def resolve_node() -> Any:
    """LNbits' node object for the current funding source, or NodeUnavailable."""
    from lnbits.wallets import get_funding_source
    from lnbits.wallets.base import Feature

    source = get_funding_source()
    name = type(source).__name__
    node_cls = getattr(source, "__node_cls__", None)
    if not source.has_feature(Feature.nodemanager) or node_cls is None:
        if name == "VoidWallet":
            raise NodeUnavailable(
                "LNbits runs on VoidWallet: its funding source failed to start. "
                "Check the LND REST or Core Lightning settings in LNbits "
                "(Server > Funding) and restart LNbits."
            )
        raise NodeUnavailable(
            f"The funding source {name} has no node API. Fee Autopilot needs "
            "LndRestWallet (LND REST) or CoreLightningWallet (Core Lightning) as LNbits' funding source."
        )
    return node_cls(source)


def failures_come_with_history(backend: str) -> bool:
    """Whether the funding source's node lists failed forwards in its forwarding history (Core
    Lightning's listforwards) rather than on a stream that must be heard (LND's HTLC events)."""
    return backend == "CoreLightningWallet"


def backend_kind(node: Any) -> str:
    name = type(node).__name__
    if name == "LndRestNode":
        return "lnd"
    if name == "CoreLightningNode":
        return "cln"
    return "generic"


class LndClient:
    """LND REST through the host's own client (same endpoint, macaroon, TLS).

    LNbits' `LndRestNode.request` crashes on non-JSON error bodies and cannot
    tell a timeout from a refusal; this keeps its client but classifies errors.
    """

    def __init__(self, node: Any, timeout_s: float = NODE_TIMEOUT_S, macaroon: Any = None):
        """`macaroon`: None = Fee Autopilot's active credential, else LNbits' macaroon;
        FUNDING_SOURCE = LNbits' macaroon; a hex string = that macaroon (a candidate)."""
        self.wallet = node.wallet
        self.timeout_s = timeout_s
        self.macaroon = macaroon

    def _macaroon(self) -> tuple[Optional[NodeCredential], Optional[dict[str, str]]]:
        """The one place that decides which macaroon a call sends: (credential, headers)."""
        if self.macaroon is FUNDING_SOURCE:
            return None, None
        if isinstance(self.macaroon, str):
            return None, {"Grpc-Metadata-macaroon": self.macaroon}
        if credential_slot.unusable:
            raise CredentialRefused(f"Fee Autopilot's node credential cannot be used: {credential_slot.unusable}")
        active = credential_slot.active
        if active is None:
            return None, None
        return active, {"Grpc-Metadata-macaroon": active.macaroon_hex}

    def funding_source_macaroon(self) -> Optional[str]:
        return self.wallet.client.headers.get("Grpc-Metadata-macaroon")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[dict[str, Any]] = None,
        body: Optional[dict[str, Any]] = None,
        timeout: Optional[float] = None,
        into: Optional[BinaryIO] = None,
    ) -> Any:
        """The decoded answer (large ones decoded in a thread), or with `into` its bytes
        written there as they arrive, undecoded (the graph: tens of MB that LNbits' process
        never holds whole; the heavy-work process decodes them, worker.py); then the count."""
        url = f"{self.wallet.endpoint}{path}"
        timeout = timeout or self.timeout_s
        credential, headers = self._macaroon()
        if credential is not None:
            credential.in_flight += 1
        written = 0
        try:
            request = self.wallet.client.build_request(
                method, url, params=params, json=body, timeout=timeout, headers=headers
            )
            response = await self.wallet.client.send(request, stream=True)
            content = b""
            try:
                if response.status_code >= 400:
                    await response.aread()  # an error's few bytes, read as httpx reads them
                elif into is None:
                    content = await _read_body(response)
                else:
                    written = await _write_body(response, into)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise NodeCallError(f"{method} {path}: timed out after {timeout:.0f} s", transient=True) from exc
        except httpx.TransportError as exc:
            raise NodeCallError(f"{method} {path}: connection failed ({exc.__class__.__name__})", transient=True) from exc
        finally:
            if credential is not None:
                credential.in_flight -= 1
        if response.status_code >= 400:
            message = _lnd_error_message(response)
            if refuses_macaroon(response.status_code, message):
                which = (f"Fee Autopilot's credential {credential.fingerprint}" if credential is not None
                         else "the macaroon given" if isinstance(self.macaroon, str) else "LNbits' macaroon")
                text = f"{method} {path}: the node refused {which}: {message}"
                if credential is not None and credential is credential_slot.active and not credential.refused:
                    credential.refused, credential.refused_at = message, int(time.time())
                    logger.warning(f"feepilot: {text}")
                    for listener in credential_slot.listeners:
                        try:
                            await listener(credential, message)
                        except Exception as exc:  # recording the refusal must not hide it
                            logger.warning(f"feepilot: credential listener failed: {exc}")
                raise CredentialRefused(text, status=response.status_code, detail=message)
            transient = response.status_code >= 500 and response.status_code not in (501,)
            raise NodeCallError(
                f"{method} {path}: HTTP {response.status_code} {message}",
                transient=transient,
                status=response.status_code,
                detail=message,
            )
        if into is not None:
            return written
        try:
            if len(content) > LARGE_BODY_BYTES:
                return await asyncio.to_thread(decode_large, content)
            return json.loads(content)
        except ValueError as exc:
            raise NodeCallError(f"{method} {path}: the node answered with invalid JSON", transient=True) from exc

    async def stream(self, path: str, *, connect_timeout: float) -> AsyncIterator[dict[str, Any]]:
        """A server-streaming call's messages (`result` of each line) as they arrive, for as long as
        the node keeps it open; NodeCallError when it cannot be opened or breaks. Waiting for the
        next message has no timeout (an idle node sends nothing). Not counted as a call in flight
        (a credential's rotation would wait for ever): its user reconnects when the macaroon
        `identity()` names changes. A refusal is raised, not recorded against the credential: a
        credential without this one permission still sets fees."""
        url = f"{self.wallet.endpoint}{path}"
        _, headers = self._macaroon()
        timeout = httpx.Timeout(connect_timeout, read=None, write=connect_timeout, pool=connect_timeout)
        try:
            request = self.wallet.client.build_request("GET", url, timeout=timeout, headers=headers)
            response = await self.wallet.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise NodeCallError(f"GET {path}: timed out after {connect_timeout:.0f} s", transient=True) from exc
        except httpx.TransportError as exc:
            raise NodeCallError(f"GET {path}: connection failed ({exc.__class__.__name__})", transient=True) from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                message = _lnd_error_message(response)
                if refuses_macaroon(response.status_code, message):
                    raise CredentialRefused(f"GET {path}: the node refused the macaroon: {message}",
                                            status=response.status_code, detail=message)
                raise NodeCallError(f"GET {path}: HTTP {response.status_code} {message}",
                                    transient=response.status_code >= 500, status=response.status_code, detail=message)
            try:
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        message = json.loads(line)
                    except ValueError as exc:
                        raise NodeCallError(f"GET {path}: the node sent invalid JSON", transient=True) from exc
                    if isinstance(message, dict) and isinstance(message.get("error"), dict):
                        raise NodeCallError(f"GET {path}: {message['error'].get('message', 'stream error')}",
                                            transient=True)
                    if isinstance(message, dict) and isinstance(message.get("result"), dict):
                        yield message["result"]
            except httpx.TransportError as exc:
                raise NodeCallError(f"GET {path}: the stream broke ({exc.__class__.__name__})", transient=True) from exc
        finally:
            await response.aclose()

    def identity(self) -> Optional[str]:
        """Which macaroon calls send now (a credential's id, or None for LNbits' own)."""
        credential, _ = self._macaroon()
        return credential.credential_id if credential is not None else None

    async def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return await self.request("POST", path, body=body, **kwargs)


WRITE_BATCH_BYTES = 1 << 20


async def _read_body(response: httpx.Response) -> bytes:
    """The answer's body, held by this call only. httpx keeps what `aread()` read on the response,
    and a response is in a reference cycle (its stream points back at it): its body stays until the
    interpreter's full collection, which on LNbits' heap is rare. 120 pages of a first forwarding-
    history sync held about 90 MB of LNbits' memory that way."""
    chunks = [chunk async for chunk in response.aiter_bytes()]
    return b"".join(chunks)


async def _write_body(response: httpx.Response, into: BinaryIO) -> int:
    """The answer's body into `into`, a batch at a time in a thread (a file write may wait on
    the disk; the loop never does)."""
    written, batch = 0, bytearray()
    async for chunk in response.aiter_bytes():
        batch += chunk
        if len(batch) >= WRITE_BATCH_BYTES:
            await asyncio.to_thread(into.write, bytes(batch))
            written += len(batch)
            batch.clear()
    if batch:
        await asyncio.to_thread(into.write, bytes(batch))
        written += len(batch)
    return written


def decode_large(content: bytes) -> Any:
    """Decode a large answer element by element: one json.loads of a few MB holds the GIL,
    and so LNbits' event loop, for its whole duration."""
    return loads_object_incrementally(content.decode())


def _lnd_error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except json.JSONDecodeError:
        return response.text[:200]
    error = data.get("error", data) if isinstance(data, dict) else {}
    return str(error.get("message", "")) if isinstance(error, dict) else str(data)[:200]


# --- LND ---------------------------------------------------------------------


async def _lnd_info(client: LndClient) -> NodeInfo:
    info = await client.get("/v1/getinfo")
    return NodeInfo(
        node_id=info["identity_pubkey"],
        alias=info.get("alias", ""),
        block_height=info.get("block_height"),
        backend="LndRestWallet",
    )


async def _lnd_channels(client: LndClient, info: NodeInfo) -> NodeChannels:
    """All channels with full policies in six calls, whatever their number.

    Fees come from the fee report (authoritative); cltv delta and HTLC limits
    from our node's edges in the graph (the fee report lacks them).
    """
    open_raw, pending_raw, closed_raw, fees_raw, node_raw, peers_raw = await asyncio.gather(
        client.get("/v1/channels", params={"peer_alias_lookup": "true"}),
        client.get("/v1/channels/pending"),
        client.get("/v1/channels/closed"),
        client.get("/v1/fees"),
        client.get(f"/v1/graph/node/{info.node_id}", params={"include_channels": "true"}),
        client.get("/v1/peers"),
    )
    # pure Python over every channel, its policies and peers: in a thread, off LNbits' event loop
    channels = await asyncio.to_thread(
        channels_from_lnd, info.node_id, open_raw, pending_raw, closed_raw, fees_raw, node_raw, peers_raw
    )
    return NodeChannels(
        info=info,
        channels=channels,
        sources={"channels": True, "policies": True},
    )


async def lnd_forward_pages(client: LndClient, start: int, end: int) -> AsyncIterator[list[dict[str, Any]]]:
    """The node's forwarding events of [start, end] (unix seconds, both included), a page at a
    time, oldest first. LND's `index_offset` counts the events of this window it skips."""
    offset = 0
    while True:
        page = await client.post(
            "/v1/switch",
            {
                "start_time": str(start),
                "end_time": str(end),
                "index_offset": offset,
                "num_max_events": SWITCH_PAGE_SIZE,
            },
        )
        batch = page.get("forwarding_events", []) or []
        if batch:
            yield batch
        if len(batch) < SWITCH_PAGE_SIZE:
            return
        offset = int(page.get("last_offset_index", offset + len(batch)))


def _switch_pager(client: LndClient) -> forwards_store.Pager:
    return lambda start, end: lnd_forward_pages(client, start, end)


# --- generic (any backend with LNbits' node API) ---------------------------------


def _state_name(state: Any) -> str:
    value = getattr(state, "value", state)
    return {"active": ACTIVE, "inactive": INACTIVE, "pending": PENDING, "closed": CLOSED}.get(
        str(value), INACTIVE
    )


async def _generic_channels(node: Any, backend: str) -> NodeChannels:
    info_raw = await node.get_info()
    public = getattr(info_raw, "id", None)
    node_id = public or await node.get_id()
    channels: list[Channel] = []
    has_fees = True
    for raw in await node.get_channels():
        policy = None
        if raw.fee_ppm is not None and raw.fee_base_msat is not None:
            policy = Policy(
                base_msat=int(raw.fee_base_msat),
                ppm=int(raw.fee_ppm),
                cltv_delta=0,
                min_htlc_msat=0,
                max_htlc_msat=0,
            )
        elif _state_name(raw.state) == ACTIVE:
            has_fees = False
        channels.append(
            Channel(
                chan_id=str(raw.id or raw.short_id or ""),
                short_id=str(raw.short_id or ""),
                channel_point=(f"{raw.point.funding_txid}:{raw.point.output_index}" if raw.point else ""),
                peer_id=raw.peer_id,
                peer_alias=raw.name or "",
                state=_state_name(raw.state),
                capacity_sat=raw.balance.total_msat // 1000,
                local_sat=raw.balance.local_msat // 1000,
                remote_sat=raw.balance.remote_msat // 1000,
                local_policy=policy,
            )
        )
    info = NodeInfo(
        node_id=node_id,
        alias=getattr(info_raw, "alias", "") or "",
        block_height=getattr(info_raw, "blockheight", None),
        backend=backend,
    )
    errors = {} if has_fees else {"policies": f"{backend} does not report channel fees"}
    return NodeChannels(
        info=info,
        channels=channels,
        sources={"channels": True, "policies": has_fees},
        source_errors=errors,
    )


# --- the façade the services use ------------------------------------------------


class NodeGateway:
    """One resolved node: reads channels and snapshots, whatever the backend."""

    def __init__(self, node: Any, backend: str, timeout_s: float = NODE_TIMEOUT_S):
        self.node = node
        self.backend = backend
        self.timeout_s = timeout_s
        self.kind = backend_kind(node)
        self.lnd = LndClient(node, timeout_s) if self.kind == "lnd" else None
        self.cln: Any = None
        if self.kind == "cln":
            from .cln_node import ClnClient  # built on this module's types: imported once it exists

            self.cln = ClnClient(node, timeout_s)

    @classmethod
    def current(cls, timeout_s: float = NODE_TIMEOUT_S) -> "NodeGateway":
        return cls(resolve_node(), backend_name(), timeout_s)

    @property
    def can_read_forwards(self) -> bool:
        return self.kind in ("lnd", "cln")

    @property
    def can_read_graph(self) -> bool:
        return self.kind in ("lnd", "cln")

    @property
    def failures_from_history(self) -> bool:
        """Failed forwards come with the forwarding history, not from a stream (failures_come_with_history)."""
        return failures_come_with_history(self.backend)

    @property
    def capabilities(self) -> dict[str, bool]:
        """What Fee Autopilot can do on this backend (GET /status)."""
        return {"reads_forwards": self.can_read_forwards, "reads_graph": self.can_read_graph,
                "writes_fees": self.kind in ("lnd", "cln"), "inbound_fees": self.kind == "lnd"}

    async def info(self) -> NodeInfo:
        if self.lnd:
            return await _lnd_info(self.lnd)
        if self.cln:
            from .cln_node import cln_info

            return await cln_info(self.cln)
        return (await _generic_channels(self.node, self.backend)).info

    async def channels(self) -> NodeChannels:
        if self.lnd:
            return await _lnd_channels(self.lnd, await _lnd_info(self.lnd))
        if self.cln:
            from .cln_node import cln_channels

            return await cln_channels(self.cln)
        return await _generic_channels(self.node, self.backend)

    async def _forwards_syncer(self, node_id: Optional[str] = None) -> forwards_store.Syncer:
        """How our stored forwarding history is brought up to date from this node."""
        if self.lnd:
            node_id = node_id or (await _lnd_info(self.lnd)).node_id
            return forwards_store.by_time(_switch_pager(self.lnd), node_id)
        if self.cln:
            from .cln_node import cln_forward_pages, cln_info

            client = self.cln
            node_id = node_id or (await cln_info(client)).node_id
            return forwards_store.by_index(lambda start: cln_forward_pages(client, start), node_id)
        raise NodeCallError(f"{self.backend}: forwarding history is not supported", transient=False)

    async def graph_files(self, channels_into: BinaryIO, nodes_into: BinaryIO) -> int:
        """Core Lightning's public graph, `listchannels` and `listnodes` undecoded into the two files
        (their size): decoded in the heavy-work process (worker.py), never whole in LNbits' own."""
        if not self.cln:
            raise NodeCallError(f"{self.backend}: listchannels/listnodes are Core Lightning's", transient=False)
        from .cln_node import cln_graph

        return await cln_graph(self.cln, channels_into, nodes_into, max(GRAPH_TIMEOUT_S, self.timeout_s))

    async def describegraph(self, into: BinaryIO) -> int:
        """The node's network graph as it answers it, undecoded, written to `into` as it arrives
        (its size): tens of MB of JSON that become a graph in the heavy-work process (worker.py),
        never whole in LNbits' own."""
        if not self.lnd:
            raise NodeCallError(f"{self.backend}: reading the network graph is not supported", transient=False)
        return await self.lnd.get("/v1/graph", timeout=max(GRAPH_TIMEOUT_S, self.lnd.timeout_s), into=into)

    @property
    def can_stream_htlc_events(self) -> bool:
        return self.kind == "lnd"

    def htlc_events(self, connect_timeout: float) -> AsyncIterator[dict[str, Any]]:
        """LND's HTLC event stream (`SubscribeHtlcEvents`): its messages from now on, for as long as
        the node keeps it open (htlc_listener.py listens to it)."""
        if not self.lnd:
            raise NodeCallError(f"{self.backend}: the HTLC event stream is LND's only", transient=False)
        return self.lnd.stream("/v2/router/htlcevents", connect_timeout=connect_timeout)

    async def forwards(self, now: int, days: int) -> list[dict[str, Any]]:
        """The forwards of [now − days, now] from the history Fee Autopilot keeps (forwards_store),
        after reading from the node only what is new since the last read."""
        return await forwards_store.events(await self._forwards_syncer(), now, days)

    async def forward_totals(self, now: int, windows: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """Node-wide (forwards, fees msat, volume sat) per [start, end) window, summed from our
        stored history (synced first)."""
        return await forwards_store.totals(await self._forwards_syncer(), now, windows)

    async def snapshot(self, *, graph_loaded: bool, now: Optional[int] = None) -> NodeSnapshot:
        """The node now. The graph is not in it: it stays in the heavy-work process, which adds
        it to the snapshot there; `graph_loaded` says whether it has one."""
        now = now or int(time.time())
        base = await self.channels()
        sources = dict(base.sources)
        errors = dict(base.source_errors)
        channels = base.channels
        if self.can_read_forwards:
            try:
                # the sums of the history we keep (it survives a pruned node), synced incrementally first
                syncer = await self._forwards_syncer(base.info.node_id)
                flows = await forwards_store.flows(syncer, now, FLOW_WINDOWS_DAYS)
                channels = with_flows(channels, flows, FLOW_WINDOWS_DAYS)
                sources["forwards"] = True
            except NodeCallError as exc:
                sources["forwards"] = False
                errors["forwards"] = str(exc)
                logger.warning(f"feepilot: forwarding history unavailable: {exc}")
        else:
            sources["forwards"] = False
            errors["forwards"] = f"{self.backend}: forwarding history is not supported"
        sources["graph"] = graph_loaded
        if not graph_loaded and "graph" not in errors:
            errors["graph"] = "network graph not loaded yet"
        return NodeSnapshot(
            node_id=base.info.node_id,
            alias=base.info.alias,
            taken_at=now,
            block_height=base.info.block_height,
            channels=tuple(channels),
            graph=None,
            backend=self.backend,
            sources=sources,
            source_errors=errors,
        )


# --- reading and writing one channel's complete policy ---------------------------


def same_policy(a: Optional[Policy], b: Optional[Policy]) -> bool:
    """Equal in every field we write. `disabled` is the node's (it follows the peer's
    connection) and timestamps are gossip's: neither makes a policy ours or not."""
    if a is None or b is None:
        return a is b
    return replace(a, last_update=None, disabled=False) == replace(b, last_update=None, disabled=False)


def policy_differences(live: Policy, expected: Policy) -> dict[str, tuple[Any, Any]]:
    fields = (
        "base_msat",
        "ppm",
        "cltv_delta",
        "min_htlc_msat",
        "max_htlc_msat",
        "inbound_base_msat",
        "inbound_ppm",
    )
    return {
        name: (getattr(expected, name), getattr(live, name))
        for name in fields
        if getattr(expected, name) != getattr(live, name)
    }


async def lnd_read_policy(client: LndClient, our_id: str, chan_id: str) -> Policy:
    edge = await client.get(f"/v1/graph/edge/{chan_id}")
    ours, _ = edge_policies(edge, our_id)
    if ours is None:
        raise NodeCallError(f"channel {chan_id} has no policy of ours in the graph", transient=False)
    return ours


async def lnd_write_policy(client: LndClient, channel_point: str, policy: Policy) -> None:
    result = await client.post("/v1/chanpolicy", chanpolicy_body(channel_point, policy))
    failed = result.get("failed_updates") or []
    if failed:
        reasons = "; ".join(f"{f.get('reason', '')}: {f.get('update_error', '')}" for f in failed)
        raise NodeCallError(f"the node refused the update ({reasons})", transient=False)


class PolicyWriter:
    """Read and set one channel's complete local policy, per backend: the only code that writes
    channel policies (LND: /v1/chanpolicy; Core Lightning: setchannel)."""

    def __init__(self, gateway: NodeGateway, our_id: str):
        self.gateway = gateway
        self.our_id = our_id

    @property
    def can_write(self) -> bool:
        return self.gateway.kind in ("lnd", "cln")

    @property
    def why_not(self) -> str:
        return (
            f"{self.gateway.backend} cannot set a complete channel policy without side effects; "
            "Fee Autopilot applies changes on LND (LndRestWallet) and Core Lightning (CoreLightningWallet). "
            "Nothing was changed."
        )

    async def read(self, chan_id: str) -> Policy:
        if self.gateway.lnd is not None:
            return await lnd_read_policy(self.gateway.lnd, self.our_id, chan_id)
        if self.gateway.cln is not None:
            from .cln_node import cln_read_policy

            return await cln_read_policy(self.gateway.cln, chan_id)
        raise NodeCallError(self.why_not, transient=False)

    async def write(self, chan_id: str, channel_point: str, policy: Policy) -> None:
        """LND names the channel by its funding outpoint, Core Lightning by its short channel id."""
        if self.gateway.lnd is not None:
            return await lnd_write_policy(self.gateway.lnd, channel_point, policy)
        if self.gateway.cln is not None:
            from .cln_node import cln_write_policy

            return await cln_write_policy(self.gateway.cln, chan_id, policy)
        raise NodeCallError(self.why_not, transient=False)


def writes_paused() -> Optional[str]:
    """Why fee writes are paused (Fee Autopilot's credential refused or unusable), or None."""
    return credential_slot.writes_paused()
