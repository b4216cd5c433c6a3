"""lightningd's JSON-RPC over a unix socket, for the CLN face (asyncio; no SimNode access off the worker).

Framing as lightningd (lightningd/jsonrpc.c) and pyln-client expect it: requests are JSON-RPC 2.0
objects written back to back with no delimiter (pyln opens a connection per call; lightning-cli and
plugins may send several), each answered by one JSON object followed by "\\n\\n", with the request's
`id` echoed exactly.  A request needs `jsonrpc: "2.0"`, an `id` (string or primitive), a `method` and
`params`; a `filter` member trims the result.  Requests on one connection are answered in order.

Every SimNode access runs on SimServer's single worker thread (`SimServer.run`), so the LND face, the
/sim API and this face never touch the state concurrently; the clock ticks before each call as for
HTTP.  Faults (method "CLN", path = RPC name): latency and hang delay the answer, drop closes the
connection without one, garbled answers a JSON list as the result.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
from typing import Any

from .cln_api import finish, handle_cln
from .cln_graph import static_parts
from .cln_invoices import next_paid, wait_timed_out
from .cln_params import INVALID_REQUEST
from .cln_reply import ClnReply, InvoiceWait
from .faults import CLN_METHOD, FaultAction
from .server import SimServer

WAIT_POLL_S = 0.2
CLOSE_WAIT_S = 2.0
READ_CHUNK = 65536
MAX_REQUEST_BYTES = 16 * 1024 * 1024


class FramingError(ValueError):
    """Bytes that cannot start a JSON object."""


def split_request(buf: bytes) -> tuple[bytes | None, bytes]:
    """The first complete top-level JSON value in `buf` (leading whitespace skipped) and the rest;
    (None, buf) while it is incomplete.  Tracks strings and escapes so braces inside them do not count."""
    i, n = 0, len(buf)
    while i < n and buf[i] in b" \t\r\n":
        i += 1
    if i == n:
        return None, b""
    if buf[i] not in b"{[":
        raise FramingError("Expected {} for json command")
    depth, in_string, escaped = 0, False, False
    for j in range(i, n):
        ch = buf[j]
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:  # backslash
                escaped = True
            elif ch == 0x22:  # quote
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in b"{[":
            depth += 1
        elif ch in b"}]":
            depth -= 1
            if depth == 0:
                return buf[i:j + 1], buf[j + 1:]
    return None, buf[i:]


def bind_unix_socket(path: str) -> socket.socket:
    """Bind before the graph loads, so a path in use fails at once; a stale socket file is replaced."""
    if os.path.exists(path):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise SystemExit(f"simnode: cannot listen on {path}: exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody answers: left over by a process that died
        else:
            raise SystemExit(f"simnode: cannot listen on {path}: another process serves it")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise SystemExit(f"simnode: cannot listen on {path}: {exc.strerror}") from None
    return sock


def _envelope(request_id: Any, body: bytes, member: str) -> bytes:
    return b'{"jsonrpc":"2.0","id":' + json.dumps(request_id).encode() + b',"' + member.encode() + b'":' + body + b"}\n\n"


def _error(request_id: Any, code: int, message: str) -> bytes:
    return _envelope(request_id, json.dumps({"code": code, "message": message}).encode(), "error")


class ClnServer:
    def __init__(self, sim_server: SimServer, sock: socket.socket) -> None:
        self.sim_server = sim_server
        self.sim = sim_server.sim
        self.sock = sock
        self.path = sock.getsockname()
        self._server: asyncio.AbstractServer | None = None
        self._stopping = False

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._connection, sock=self.sock, limit=MAX_REQUEST_BYTES)
        # the static listchannels/listnodes JSON (the graph only, no SimNode state), built in the
        # background so the first call is fast
        asyncio.get_running_loop().run_in_executor(None, static_parts, self.sim.graph)

    async def close(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
            try:  # newer Pythons also wait for open connections: an idle client must not hold up the exit
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_WAIT_S)
            except asyncio.TimeoutError:
                pass
        if os.path.exists(self.path):
            os.unlink(self.path)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        try:
            while not self._stopping:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    return
                buf += chunk
                while True:
                    try:
                        raw, buf = split_request(buf)
                    except FramingError as exc:
                        writer.write(_error(None, INVALID_REQUEST, str(exc)))
                        await writer.drain()
                        return  # lightningd gives up on a connection that sends garbage
                    if raw is None:
                        break
                    if not await self._answer(raw, writer):
                        return
                if len(buf) > MAX_REQUEST_BYTES:
                    return
        except (ConnectionResetError, BrokenPipeError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _answer(self, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must close (a fault dropped it)."""
        try:
            request = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            writer.write(_error(None, INVALID_REQUEST, "Invalid token in json input"))
            await writer.drain()
            return False
        problem = _malformed(request)
        if problem is not None:
            message, echo_id = problem
            writer.write(_error(request["id"] if echo_id else None, INVALID_REQUEST, message))
            await writer.drain()
            return True
        request_id, method = request["id"], request["method"]
        run = self.sim_server.run
        fault: FaultAction = await run(self.sim.faults.decide, CLN_METHOD, method, request.get("params"))
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.hang_seconds:
            await asyncio.sleep(fault.hang_seconds)
        if fault.drop:
            writer.transport.abort()
            return False
        if fault.garbled:
            out = _envelope(request_id, b'["simnode fault: garbled answer"]', "result")
        else:
            await run(self.sim_server.tick)
            reply: ClnReply = await run(handle_cln, self.sim, method, request["params"], fault, request.get("filter"))
            if reply.wait is not None:
                reply = await self._wait_paid(reply.wait, request.get("filter"))
            if reply.error is not None:
                out = _envelope(request_id, json.dumps(reply.error).encode(), "error")
            else:
                out = _envelope(request_id, await run(reply.encode_result), "result")
        key = f"cln {method}"
        await run(self._count_bytes, key, len(out))
        writer.write(out)
        await writer.drain()
        return True

    def _count_bytes(self, key: str, size: int) -> None:
        self.sim.response_bytes[key] = self.sim.response_bytes.get(key, 0) + size

    async def _wait_paid(self, wait: InvoiceWait, filter_spec: Any) -> ClnReply:
        """waitanyinvoice held open: poll the invoices (on the worker) until one is paid after
        `lastpay_index`, the timeout passes (real seconds, as lightningd counts them) or we stop."""
        deadline = None if wait.timeout is None else time.monotonic() + wait.timeout
        while not self._stopping:
            found = await self.sim_server.run(next_paid, self.sim, wait.lastpay_index)
            if found is not None:
                return finish(found, filter_spec)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            await asyncio.sleep(WAIT_POLL_S if left is None else min(WAIT_POLL_S, left))
        return ClnReply(error=wait_timed_out().body())


def _malformed(request: Any) -> tuple[str, bool] | None:
    """lightningd's parse_request checks, in its order and words, and whether the answer can carry
    the request's id (before the id and version are known good it answers with id null)."""
    if not isinstance(request, dict):
        return "Expected {} for json command", False
    if "id" not in request:
        return "No id", False
    if isinstance(request["id"], (dict, list)):
        return "Expected string/primitive for id", False
    if request.get("jsonrpc") != "2.0":
        return 'jsonrpc: "2.0" must be specified in the request', False
    if "method" not in request:
        return "No method", True
    if "params" not in request:
        return "No params", True
    if not isinstance(request["method"], str):
        return "Expected string for method", True
    return None
