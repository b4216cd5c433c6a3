"""aiohttp wrapper: macaroons (macaroons.py), faults (latency/hang/drop), streams, the running clock.

All SimNode access runs on one worker thread so the event loop never blocks
(the first /v1/graph builds ~tens of MB of JSON) and the state is never touched
concurrently.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import parse_qs

from aiohttp import web

from .encoding import Response
from .lnd_api import handle, htlc_event_json, invoice_json
from .macaroons import handle_sim_macaroons, service_for
from .node import SimNode
from .sim_api import handle_sim

STREAM_POLL_S = 0.2


class SimServer:
    def __init__(self, sim: SimNode, macaroon: str, speed: float = 0.0) -> None:
        self.sim = sim
        self.macaroon = macaroon
        self.speed = speed
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simnode")
        self._last_tick = time.monotonic()
        self._stopping = False
        self._open_streams: dict[int, web.Request] = {}  # id(request): a request is not hashable

    async def run(self, fn, *args, **kw):
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(fn, *args, **kw))

    def tick(self) -> None:
        """Advance the simulated clock by speed × real time elapsed."""
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if self.speed > 0:
            self.sim.advance(seconds=dt * self.speed)

    async def ticker(self, app: web.Application):
        async def loop():
            while not self._stopping:
                await asyncio.sleep(0.5)
                await self.run(self.tick)
        task = asyncio.create_task(loop())
        # build the static /v1/graph JSON in the background so the first call is fast
        prebuild = asyncio.get_running_loop().run_in_executor(None, self.sim.graph.static_graph_parts)
        yield
        self._stopping = True
        task.cancel()
        await asyncio.gather(task, prebuild, return_exceptions=True)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        app.cleanup_ctx.append(self.ticker)
        return app

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        query = parse_qs(request.query_string, keep_blank_values=True)
        body = await request.read()
        if path.startswith("/sim/macaroons"):
            try:
                data = json.loads(body) if body.strip() else {}
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            resp = await self.run(handle_sim_macaroons, service_for(self.sim, self.macaroon), request.method, path, data)
            return web.Response(status=resp.status, body=resp.encode(), content_type="application/json")
        if path == "/sim/streams/drop" and request.method == "POST":
            # like LND restarting its REST proxy: the open streams' connections (of one path, when the
            # body names it) are cut, no answer after; clients must reconnect (and see only what follows)
            try:
                only = (json.loads(body) if body.strip() else {}).get("path")
            except (ValueError, AttributeError):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            dropped = self._drop_streams(only)
            return web.json_response({"dropped": dropped})
        if path.startswith("/sim/"):
            await self.run(self.tick)
            resp = await self.run(handle_sim, self.sim, request.method, path, query, body)
            return web.Response(status=resp.status, body=resp.encode(), content_type="application/json")
        fault = await self.run(self.sim.faults.decide, request.method, path)
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.hang_seconds:
            await asyncio.sleep(fault.hang_seconds)
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError()
        if fault.garbled:
            return web.Response(status=200, body=b'["simnode fault: garbled answer"]', content_type="application/json")
        await self.run(self.tick)
        headers = list(request.headers.items())  # pairs: duplicates stay visible
        resp: Response = await self.run(handle, self.sim, request.method, path, query, body, headers, self.macaroon, fault)
        if resp.stream is None:
            encoded = resp.encode()
            key = f"{request.method.upper()} {path}"  # as handle() counts the request
            self.sim.response_bytes[key] = self.sim.response_bytes.get(key, 0) + len(encoded)
            return web.Response(status=resp.status, body=encoded, content_type="application/json")
        return await self._stream(request, resp)

    async def _stream(self, request: web.Request, resp: Response) -> web.StreamResponse:
        if resp.stream == "finite":
            out = web.StreamResponse(status=resp.status, headers={"Content-Type": "application/json"})
            await out.prepare(request)
            for line in resp.lines:
                await out.write(json.dumps(line).encode() + b"\n")
            await out.write_eof()
            return out
        out = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        out.enable_chunked_encoding()
        await out.prepare(request)
        self._open_streams[id(request)] = request
        try:
            if resp.stream == "invoices":
                await self._stream_invoices(out, resp.stream_args)
            elif resp.stream == "htlcevents":
                await self._stream_htlc(out)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._open_streams.pop(id(request), None)
        return out

    def _drop_streams(self, path: str | None = None) -> int:
        """Cut the open streams (those of `path` only, when given); how many."""
        dropped = 0
        for key, request in list(self._open_streams.items()):
            if path is not None and request.path != path:
                continue
            if request.transport is not None:
                request.transport.abort()
                dropped += 1
            self._open_streams.pop(key, None)
        return dropped

    async def _stream_invoices(self, out: web.StreamResponse, args: dict) -> None:
        sim = self.sim
        add_index, settle_index = args.get("add_index", 0), args.get("settle_index", 0)
        backlog: list[dict] = []
        if add_index:
            backlog += [i for i in sim.invoices if i["add_index"] > add_index]
        if settle_index:
            backlog += [i for i in sim.invoices if i["settle_index"] > settle_index]
        for inv in backlog:
            await out.write(json.dumps({"result": invoice_json(inv)}).encode() + b"\n")
        seen = len(sim.invoice_events)
        while not self._stopping:
            await asyncio.sleep(STREAM_POLL_S)
            while seen < len(sim.invoice_events):
                await out.write(json.dumps({"result": invoice_json(sim.invoice_events[seen])}).encode() + b"\n")
                seen += 1

    async def _stream_htlc(self, out: web.StreamResponse) -> None:
        sim = self.sim
        nf, nx = len(sim.forwards), len(sim.failed)
        await out.write(json.dumps({"result": {"incoming_channel_id": "0", "outgoing_channel_id": "0",
                                               "incoming_htlc_id": "0", "outgoing_htlc_id": "0", "timestamp_ns": "0",
                                               "event_type": "UNKNOWN", "subscribed_event": {}}}).encode() + b"\n")
        while not self._stopping:
            await asyncio.sleep(STREAM_POLL_S)
            lines = []
            while nf < len(sim.forwards):
                lines.append((sim.forwards[nf].ts_ns, htlc_event_json("forward", sim.forwards[nf])))
                nf += 1
            while nx < len(sim.failed):
                f = sim.failed[nx]
                nx += 1
                if f.reason == "INSUFFICIENT_BALANCE":  # the peer-side shortfall never reaches our node
                    lines.append((f.ts_ns, htlc_event_json("fail", f)))
            for _, line in sorted(lines, key=lambda x: x[0]):
                await out.write(json.dumps({"result": line}).encode() + b"\n")

