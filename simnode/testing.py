"""Start simnode as a subprocess for tests and dev harnesses.

    from simnode.testing import start_simnode

    with start_simnode(seed=7, speed=0) as node:      # waits for the ready line (< 10 s)
        node.url          # "http://127.0.0.1:<free port>"
        node.macaroon     # hex to send as Grpc-Metadata-macaroon
        node.node_id      # our node's pubkey
        node.headers      # {"Grpc-Metadata-macaroon": node.macaroon}
        node.state()      # GET /sim/state            (sync, stdlib only)
        node.requests()   # GET /sim/requests: LND requests served and the bytes answered, per route
        node.advance(hours=24)                         # POST /sim/advance
        node.revenue(start, end)                       # GET /sim/revenue (forwards in [start, end))
        node.set_faults({"path": "/v1/chanpolicy", "status": 503})   # POST /sim/faults
        node.clear_faults()                            # DELETE /sim/faults
        node.get("/v1/getinfo"); node.post("/v1/switch", {...})      # LND calls → (status, json)
    # stop() is called on exit; node.stop() also works outside a `with`.

    with start_simnode(seed=7, speed=0, cln=True) as node:   # also the Core Lightning face
        node.cln_socket   # unix socket path: LightningRpc(node.cln_socket), LNbits' corelightning_rpc
        node.cln_call("listforwards", {"index": "created", "start": 1})  # → {"result": ...} or {"error": ...}

Async variants (httpx): `await astate(url)`, `await aadvance(url, hours=1)`,
`await aset_faults(url, rule)`, `await aclear_faults(url)`.

`start_simnode(seed, channels, speed, graph, extra_args, start, timeout)`:
`speed=0` freezes the clock (it then moves only with advance); `start` is
"now" (default: timestamps near wall-clock time), "snapshot" (fully
reproducible timestamps) or unix seconds; `extra_args` is passed to
`python -m simnode` verbatim (e.g. ("--history-days", "0")).  `cln=True` adds
`--cln-socket` with a socket in a temporary directory (removed on stop).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

READY = re.compile(r"simnode listening on (\S+) node=([0-9a-f]{66}) macaroon=([0-9a-f]+)")
READY_CLN = re.compile(r" cln=(\S+)")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _request(method: str, url: str, body: Any = None, headers: dict | None = None, timeout: float = 30) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


class SimnodeProcess:
    def __init__(self, proc: subprocess.Popen, url: str, node_id: str, macaroon: str, ready_line: str) -> None:
        self.proc = proc
        self.url = url
        self.node_id = node_id
        self.macaroon = macaroon
        self.ready_line = ready_line
        self.startup_seconds = float(m.group(1)) if (m := re.search(r"startup=([\d.]+)s", ready_line)) else None
        self.cln_socket: str | None = m.group(1) if (m := READY_CLN.search(ready_line)) else None
        self.temp_dir: str | None = None  # removed on stop (holds the CLN socket)
        self._cln_ids = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Grpc-Metadata-macaroon": self.macaroon}

    # LND calls
    def get(self, path: str, timeout: float = 30) -> tuple[int, Any]:
        return _request("GET", self.url + path, headers=self.headers, timeout=timeout)

    def post(self, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        return _request("POST", self.url + path, body if body is not None else {}, self.headers, timeout)

    # /sim control
    def state(self, forwards: bool = False) -> dict:
        return _request("GET", self.url + "/sim/state" + ("?forwards=1" if forwards else ""))[1]

    def requests(self) -> dict:
        """GET /sim/requests: LND requests served per "METHOD path" and the bytes of their answers."""
        return _request("GET", self.url + "/sim/requests")[1]

    def revenue(self, start: int | None = None, end: int | None = None) -> dict:
        """GET /sim/revenue: the forwards whose second is in [start, end), node-wide and per outgoing channel."""
        params = "&".join(f"{k}={v}" for k, v in (("from", start), ("to", end)) if v is not None)
        return _request("GET", self.url + "/sim/revenue" + (f"?{params}" if params else ""))[1]

    def advance(self, hours: float = 0.0, seconds: float = 0.0) -> dict:
        return _request("POST", self.url + "/sim/advance", {"hours": hours, "seconds": seconds}, timeout=600)[1]

    def set_faults(self, *rules: dict, replace: bool = False) -> dict:
        return _request("POST", self.url + "/sim/faults", {"rules": list(rules), "replace": replace})[1]

    def drop_streams(self, path: str | None = None) -> int:
        """Cut the open streams' connections (as LND restarting its REST proxy would; only those
        of `path` when given); how many were open."""
        return _request("POST", self.url + "/sim/streams/drop", {"path": path} if path else {})[1]["dropped"]

    def clear_faults(self) -> dict:
        return _request("DELETE", self.url + "/sim/faults")[1]

    # Core Lightning calls (stdlib: one connection per call, as pyln-client does)
    def cln_call(self, method: str, params: dict | list | None = None, timeout: float = 60, **extra: Any) -> dict:
        """One JSON-RPC call on the CLN socket → the answer's {"result": ...} or {"error": ...}
        (`extra` adds request members, e.g. filter=...)."""
        if self.cln_socket is None:
            raise RuntimeError("simnode was started without cln=True")
        self._cln_ids += 1
        request_id = f"simnode-testing:{method}#{self._cln_ids}"
        request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {} if params is None else params}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.cln_socket)
            sock.sendall(json.dumps(request | extra).encode())
            buf = bytearray()
            end = -1
            while end < 0:  # search only the new bytes (answers can be tens of MB)
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError(f"CLN socket closed before answering {method}")
                start = max(0, len(buf) - 1)
                buf += chunk
                end = buf.find(b"\n\n", start)
        answer = json.loads(bytes(buf[:end]))
        if answer.get("id") != request_id or answer.get("jsonrpc") != "2.0":
            raise ValueError(f"malformed CLN answer: {answer}")
        return {k: v for k, v in answer.items() if k in ("result", "error")}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None

    def __enter__(self) -> "SimnodeProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simnode(
    seed: int = 7,
    channels: int = 16,
    speed: float = 0,
    graph: str | None = None,
    extra_args: Sequence[str] = (),
    start: str = "now",
    timeout: float = 60.0,
    host: str = "127.0.0.1",
    cln: bool = False,
) -> SimnodeProcess:
    """Run `python -m simnode --port 0 ...` and wait for its ready line."""
    cmd = [sys.executable, "-m", "simnode", "--seed", str(seed), "--port", "0", "--host", host,
           "--channels", str(channels), "--speed", str(speed), "--start", str(start)]
    if graph:
        cmd += ["--graph", str(graph)]
    temp_dir = tempfile.mkdtemp(prefix="simnode-cln-") if cln else None  # short path: unix sockets allow ~100 bytes
    if temp_dir is not None:
        cmd += ["--cln-socket", os.path.join(temp_dir, "lightning-rpc")]
    cmd += list(extra_args)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    errors: deque[str] = deque(maxlen=200)

    def reader(stream, sink) -> None:  # drain both pipes so the server never blocks on them
        for line in stream:
            sink.append(line)

    threading.Thread(target=reader, args=(proc.stdout, lines), daemon=True).start()
    threading.Thread(target=reader, args=(proc.stderr, errors), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            m = READY.search(line)
            if m:
                node = SimnodeProcess(proc, m.group(1), m.group(2), m.group(3), line.strip())
                node.stderr_tail = errors
                node.temp_dir = temp_dir
                return node
        if proc.poll() is not None:
            time.sleep(0.2)
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
            raise RuntimeError(f"simnode exited with {proc.returncode}: {''.join(errors)[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)
    raise TimeoutError(f"simnode did not become ready within {timeout}s")


# ---- async helpers (httpx ships with LNbits)
async def _arequest(method: str, url: str, body: Any = None) -> Any:
    import httpx

    async with httpx.AsyncClient(timeout=600) as c:
        r = await c.request(method, url, json=body)
        return r.json()


async def astate(url: str) -> dict:
    return await _arequest("GET", url + "/sim/state")


async def aadvance(url: str, hours: float = 0.0, seconds: float = 0.0) -> dict:
    return await _arequest("POST", url + "/sim/advance", {"hours": hours, "seconds": seconds})


async def aset_faults(url: str, *rules: dict, replace: bool = False) -> dict:
    return await _arequest("POST", url + "/sim/faults", {"rules": list(rules), "replace": replace})


async def aclear_faults(url: str) -> dict:
    return await _arequest("DELETE", url + "/sim/faults")
