"""Issue 15: an answer's body is held by the call that read it, not by httpx's response.

A response is in a reference cycle (its stream points back at it), so what it holds lives until the
interpreter's full collection, rare on LNbits' heap: a first sync of a big node's forwarding history
(120 pages of /v1/switch) kept about 90 MB of LNbits' memory that way (bench/scale.py's first cycle).
With the collector paused here — in this test process, never in LNbits' — any response that still
holds its body after the call is found among the live objects.
"""

from __future__ import annotations

import asyncio
import gc
import json
from types import ModuleType, SimpleNamespace

import httpx

from devtools.extension_modules import load as load_module

PACKAGE = "feepilot_node_under_test"
BODY_EVENTS = 20_000  # about 2 MB of JSON: past LARGE_BODY_BYTES, decoded in a thread


def load(name: str) -> ModuleType:
    return load_module(PACKAGE, name)


class Sent(httpx.AsyncByteStream):
    """A body as a server sends it: in pieces, nothing kept once sent."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self):
        body, self.body = self.body, b""
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]


def switch_page(request: httpx.Request) -> httpx.Response:
    events = [{"timestamp_ns": str(i), "chan_id_in": "1", "chan_id_out": "2", "amt_in_msat": "1001000",
               "amt_out_msat": "1000000", "fee_msat": "1000"} for i in range(BODY_EVENTS)]
    body = json.dumps({"forwarding_events": events, "last_offset_index": BODY_EVENTS}).encode()
    return httpx.Response(200, stream=Sent(body))


def bodies_still_held() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, httpx.Response) and len(getattr(o, "_content", b"")) > 1_000_000)


def test_the_answers_bodies_are_not_left_on_their_responses():
    node = load("node")

    async def three_pages() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(switch_page)) as client:
            wallet = SimpleNamespace(endpoint="http://lnd.test", client=client)
            lnd = node.LndClient(SimpleNamespace(wallet=wallet), macaroon=node.FUNDING_SOURCE)
            return [len((await lnd.post("/v1/switch", {}))["forwarding_events"]) for _ in range(3)]

    gc.collect()
    held_before = bodies_still_held()
    gc.disable()
    try:
        assert asyncio.run(three_pages()) == [BODY_EVENTS] * 3  # the answers, decoded
        assert bodies_still_held() == held_before
    finally:
        gc.enable()
