"""Core Lightning through LNbits' own funding source (CoreLightningWallet): the reads.

The funding source's node (lnbits/nodes/cln.py, CoreLightningNode) calls lightningd through
pyln-client in a thread: no timeout (a hung lightningd keeps the thread for ever) and every answer
decoded whole at once (the 50 MB of `listchannels` hold the GIL, and so LNbits' event loop, for
about a second). So Fee Autopilot speaks the same JSON-RPC itself, on the same socket the funding
source uses (`wallet.ln.socket_path`, LNbits' CORELIGHTNING_RPC): a deadline per call, large
answers decoded a piece at a time in a thread, and the graph streamed undecoded to a file that the
heavy-work process reads (worker.py), as LND's describegraph is.

Fee writes are `setchannel` on one short channel id, fee fields with the HTLC limits named as they
are (engine/ingest_cln.setchannel_params); a channel's policy is read back from
`listpeerchannels short_channel_id=…` (v25.05+; older lightningd: the whole list, filtered here).

Calls per read, whatever the number of channels: info 1 (`getinfo`); channels 3 (`getinfo`,
`listpeerchannels`, `listnodes` trimmed by a filter to ids and aliases); the graph 2
(`listchannels`, `listnodes`); forwards 1 page of `listforwards` per LISTFORWARDS_PAGE new entries
(forwards_store.sync_by_index keeps the position).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any, AsyncIterator, BinaryIO, Optional

from .engine.ingest_cln import (
    ForwardPage,
    aliases_from_listnodes,
    channels_from_listpeerchannels,
    forward_page,
    is_setchannel_answer,
    local_policy,
    scid_from_chan_id,
    setchannel_left_out,
    setchannel_params,
    setchannel_problem,
    unwritable,
)
from .engine.snapshot import Policy
from .node import LARGE_BODY_BYTES, WRITE_BATCH_BYTES, NodeCallError, NodeChannels, NodeInfo, decode_large

BACKEND = "CoreLightningWallet"
LISTFORWARDS_PAGE = 5000
READ_CHUNK = 1 << 20
# lightningd ends every answer with a blank line (jsonrpc.c); JSON it writes never contains one
ANSWER_END = b"\n\n"
# the envelope's member that carries the answer, within its first bytes ({"jsonrpc":"2.0","id":…,"result":)
_MEMBER = re.compile(rb'"(result|error)"\s*:')
HEAD_LIMIT = 4096
ALIASES_FILTER = {"nodes": [{"nodeid": True, "alias": True}]}

_ids = itertools.count(1)


class ClnClient:
    """lightningd's JSON-RPC on the funding source's unix socket: one connection per call, as
    pyln-client makes them."""

    def __init__(self, node: Any, timeout_s: float):
        self.socket_path: str = node.wallet.ln.socket_path
        self.timeout_s = timeout_s

    async def call(self, method: str, params: Optional[dict[str, Any]] = None, *, filter: Optional[dict] = None,
                   timeout: Optional[float] = None, into: Optional[BinaryIO] = None) -> Any:
        """The call's `result`, decoded (large ones off the event loop); with `into`, the result's
        JSON written there as it arrives, undecoded, and its size returned."""
        timeout = timeout or self.timeout_s
        try:
            return await asyncio.wait_for(self._call(method, params or {}, filter, into), timeout)
        except asyncio.TimeoutError as exc:
            raise NodeCallError(f"{method}: Core Lightning did not answer within {timeout:.0f} s", transient=True) from exc
        except (ConnectionError, FileNotFoundError, PermissionError, asyncio.IncompleteReadError) as exc:
            raise NodeCallError(f"{method}: the Core Lightning socket {self.socket_path} failed "
                                f"({exc.__class__.__name__}: {exc})", transient=True) from exc

    async def _call(self, method: str, params: dict[str, Any], filter: Optional[dict], into: Optional[BinaryIO]) -> Any:
        reader, sender = await asyncio.open_unix_connection(self.socket_path, limit=READ_CHUNK)
        try:
            request: dict[str, Any] = {"jsonrpc": "2.0", "id": f"feepilot:{method}#{next(_ids)}", "method": method,
                                       "params": params}
            if filter is not None:
                request["filter"] = filter
            sender.write(json.dumps(request).encode())
            await sender.drain()
            head, member, start = await _read_head(reader, method)
            if member == b"error" or into is None:
                body = await _read_to_end(reader, head)
                if member == b"error":
                    raise _answered_error(method, body)
                return await _decode_result(method, body[start:])
            return await _stream_result(reader, head[start:], into)
        finally:
            sender.close()
            try:
                await sender.wait_closed()
            except (ConnectionError, OSError):
                pass


async def _chunk(reader: asyncio.StreamReader) -> bytes:
    chunk = await reader.read(READ_CHUNK)
    if not chunk:
        raise ConnectionError("the connection closed before the answer ended")
    return chunk


async def _read_head(reader: asyncio.StreamReader, method: str) -> tuple[bytearray, bytes, int]:
    """The answer's first bytes up to its `result` or `error` member: (bytes read, member, offset of
    its value)."""
    head = bytearray()
    while True:
        head += await _chunk(reader)
        match = _MEMBER.search(head, 0, HEAD_LIMIT)
        if match:
            return head, match.group(1), match.end()
        if len(head) > HEAD_LIMIT or ANSWER_END in head:
            raise NodeCallError(f"{method}: Core Lightning's answer is not JSON-RPC", transient=True)


async def _read_to_end(reader: asyncio.StreamReader, body: bytearray) -> bytes:
    end = body.find(ANSWER_END)
    while end < 0:
        searched = max(0, len(body) - 1)  # only the new bytes (answers can be megabytes)
        body += await _chunk(reader)
        end = body.find(ANSWER_END, searched)
    return bytes(body[:end])


def _strip_envelope(tail: bytes, method: str) -> bytes:
    """The result's JSON without the envelope's closing brace that follows it."""
    tail = tail.rstrip()
    if not tail.endswith(b"}"):
        raise NodeCallError(f"{method}: Core Lightning's answer is not JSON-RPC", transient=True)
    return tail[:-1]


def _answered_error(method: str, envelope: bytes) -> NodeCallError:
    try:
        error = json.loads(envelope).get("error") or {}
    except ValueError:
        error = {}
    code, message = error.get("code"), str(error.get("message", "unreadable error"))
    # -1 is lightningd's catch-all (a plugin or subdaemon that failed): worth another try
    return NodeCallError(f"Core Lightning refused {method} (error {code}: {message})", transient=code == -1,
                         detail=message, answered=True)


async def _decode_result(method: str, raw: bytes) -> Any:
    text = _strip_envelope(raw, method)
    try:
        if len(text) > LARGE_BODY_BYTES:
            return await asyncio.to_thread(decode_large, text)
        return json.loads(text)
    except ValueError as exc:
        raise NodeCallError(f"{method}: Core Lightning answered with invalid JSON", transient=True) from exc


async def _stream_result(reader: asyncio.StreamReader, pending: bytearray, into: BinaryIO) -> int:
    """The result's bytes into `into`, a batch at a time in a thread; the last few are held back
    until the answer's end is seen (they carry the envelope's closing brace)."""
    hold = 64
    written = 0
    searched = 0
    while True:
        end = pending.find(ANSWER_END, searched)
        if end >= 0:
            final = _strip_envelope(bytes(pending[:end]), "answer")
            await asyncio.to_thread(into.write, final)
            return written + len(final)
        if len(pending) >= WRITE_BATCH_BYTES + hold:
            batch = bytes(pending[:-hold])
            await asyncio.to_thread(into.write, batch)
            written += len(batch)
            del pending[:-hold]
        searched = max(0, len(pending) - 1)
        pending += await _chunk(reader)


# --- the reads ------------------------------------------------------------------------------


async def cln_info(client: ClnClient) -> NodeInfo:
    info = await client.call("getinfo")
    return NodeInfo(node_id=info["id"], alias=info.get("alias", ""), block_height=info.get("blockheight"),
                    backend=BACKEND)


async def cln_channels(client: ClnClient) -> NodeChannels:
    """Every channel with its complete local policy (`updates.local`) in three calls."""
    info_raw, peer_channels, nodes = await asyncio.gather(
        client.call("getinfo"),
        client.call("listpeerchannels"),
        client.call("listnodes", filter=ALIASES_FILTER),
    )
    info = NodeInfo(node_id=info_raw["id"], alias=info_raw.get("alias", ""), block_height=info_raw.get("blockheight"),
                    backend=BACKEND)
    # pure Python over every channel and every node's alias: in a thread, off LNbits' event loop
    channels = await asyncio.to_thread(lambda: channels_from_listpeerchannels(peer_channels, aliases_from_listnodes(nodes)))
    return NodeChannels(info=info, channels=channels, sources={"channels": True, "policies": True})


async def cln_forward_pages(client: ClnClient, start: int) -> AsyncIterator[ForwardPage]:
    """`listforwards` from created_index `start` on, a page at a time, as the rows we keep."""
    while True:
        answer = await client.call("listforwards", {"index": "created", "start": start, "limit": LISTFORWARDS_PAGE})
        entries = answer.get("forwards") or []
        if entries:
            yield await asyncio.to_thread(forward_page, entries)
        if len(entries) < LISTFORWARDS_PAGE:
            return
        start = max(int(e.get("created_index") or 0) for e in entries) + 1


async def cln_graph(client: ClnClient, channels_into: BinaryIO, nodes_into: BinaryIO, timeout: float) -> int:
    """The public graph's two answers (`listchannels`, `listnodes`) into the two files, undecoded;
    their total size."""
    channels = await client.call("listchannels", timeout=timeout, into=channels_into)
    nodes = await client.call("listnodes", timeout=timeout, into=nodes_into)
    return channels + nodes


# --- one channel's policy: read and write ------------------------------------------------------

INVALID_PARAMS = -32602  # JSON-RPC's code for a parameter lightningd does not know


async def _peer_channels(client: ClnClient, short_channel_id: str) -> list[Any]:
    try:
        answer = await client.call("listpeerchannels", {"short_channel_id": short_channel_id})
    except NodeCallError as exc:
        if f"error {INVALID_PARAMS}" not in str(exc) or "short_channel_id" not in exc.detail:
            raise
        answer = await client.call("listpeerchannels")  # before v25.05 it filters only by peer
    if not isinstance(answer, dict) or not isinstance(answer.get("channels"), list):
        raise NodeCallError("listpeerchannels: Core Lightning's answer has no channels", transient=True)
    return answer["channels"]


async def cln_read_policy(client: ClnClient, chan_id: str) -> Policy:
    """Our complete policy on one channel, from listpeerchannels' `updates.local`."""
    scid = scid_from_chan_id(chan_id)
    entry = next((e for e in await _peer_channels(client, scid) if e.get("short_channel_id") == scid), None)
    policy = local_policy(entry) if entry is not None else None
    if policy is None:
        raise NodeCallError(f"channel {scid} has no policy of ours on this node", transient=False)
    return policy


async def cln_write_policy(client: ClnClient, chan_id: str, policy: Policy) -> None:
    """The channel's fees set to `policy`'s with `setchannel`, the rest kept as it is. What it
    cannot write (a cltv delta, inbound fees) is refused before anything is sent."""
    scid = scid_from_chan_id(chan_id)
    try:
        live = await cln_read_policy(client, chan_id)
    except NodeCallError as exc:  # setchannel was not sent: proven, and worth another try when the read is
        raise NodeCallError(f"not sent: the live policy could not be read first ({exc})", transient=exc.transient,
                            answered=True) from exc
    why = unwritable(live, policy)
    if why:
        raise NodeCallError(f"not sent: {why}", transient=False, answered=True)
    answer = await client.call("setchannel", setchannel_params(scid, policy))
    if not is_setchannel_answer(answer):  # proves nothing either way: the read-back decides
        raise NodeCallError("setchannel: Core Lightning's answer is not a setchannel answer", transient=True)
    if setchannel_left_out(answer, scid):
        raise NodeCallError(f"Core Lightning refused setchannel: channel {scid} was left out of its answer, not changed",
                            transient=False, answered=True)
    problem = setchannel_problem(answer, scid, policy)
    if problem:
        # lightningd answered, so it did whatever it says; the read-back decides what stands
        raise NodeCallError(problem, transient=False)
