"""Heavy work in a process of the extension's own, beside LNbits.

Decoding the network graph (tens of MB of JSON, millions of objects), its metrics and
the evaluation of every channel would hold the GIL, and the garbage collector would stop
every thread of LNbits for them. Instead they run in one worker process that Fee Autopilot
starts on first need, keeps between cycles (the decoded graph and its metrics stay cached
there, never in LNbits' process), restarts when it has died and stops in `feepilot_stop`.
Nothing of the host's interpreter is changed (no collector or switch-interval settings).

The main process sends the node's answers (the file its describegraph answer was streamed
to, the snapshot, the settings and the change history) and gets back what a run stores,
already encoded here (run_encoding.py: the scores' JSON, the decisions' blob), so LNbits'
process neither validates nor encodes thousands of objects. The snapshot's channels cross in
slices: one unpickle of a thousand channels is one C call that holds the GIL for hundreds of
milliseconds; a slice takes a few (a string or a blob unpickles as one copy). Every wait for the
worker happens in a thread of our own, never on the event loop, and one request at a time.

The child is started with multiprocessing's "spawn" context (a fresh interpreter: never a
fork of an asyncio process holding LNbits' sockets). It imports this module under the
package's own name (`feepilot` or `lnbits.extensions.feepilot`) but without running the
package's `__init__` (LNbits' routes and database): that import alone costs LNbits'
whole code base, seconds and 150 MB in the worker. If the worker cannot start, status says
why and heavy work runs in threads of LNbits' process, as before, without the interpreter
settings (`FEEPILOT_WORKER=thread` chooses that on purpose).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import os
import signal
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import AbstractSet, Any, Callable, Optional, Sequence

from .engine.evaluate import Evaluation, evaluate
from .engine.graph_metrics import GraphMetrics, compute_graph_metrics, metrics_key
from .engine.ingest_cln import graph_from_cln
from .engine.ingest_lnd import graph_from_describegraph
from .engine.jsonstream import loads_object_incrementally
from .engine.settings import EngineSettings
from .engine.snapshot import ChangeRecord, NetworkGraph, NodeSnapshot
from .models import policy_dict
from .run_encoding import EncodedRun, encode_run

ENV_MODE = "FEEPILOT_WORKER"  # "process" (default) or "thread"
START_TIMEOUT_S = 60.0  # the child imports the engine (and, under the `lnbits` CLI, LNbits' main script)
REQUEST_TIMEOUT_S = 900.0  # a cold cycle takes tens of seconds; a child silent this long is hung
SLICE = 50  # list items per message: each unpickles in a few ms
WORKER_NICENESS = 10  # the worker yields the CPU to LNbits' own process


class HeavyWorkError(Exception):
    """Heavy work failed; the message says what to do. A run records it as its reason."""


class WorkerDied(HeavyWorkError):
    """The worker process stopped (killed, out of memory, crashed) while it was asked something."""


class GraphMissing(HeavyWorkError):
    """The worker does not hold the graph the caller expects (it was restarted since)."""


class GraphUnreadable(HeavyWorkError):
    """The node's describegraph answer is not JSON we can read."""


# --- what crosses between the processes -------------------------------------------------


@dataclass(frozen=True)
class GraphInfo:
    """The cached graph, as the main process knows it (the graph itself stays in the worker)."""

    fingerprint: str
    edges: int
    nodes: int
    taken_at: int
    decode_seconds: float


@dataclass(frozen=True)
class MetricsInfo:
    fingerprint: str
    compute_seconds: float
    recomputed: bool


@dataclass(frozen=True)
class CycleResult:
    """What a run stores of an evaluation: its rows, counts and warnings (plain data)."""

    counts: dict[str, int]
    warnings: tuple[str, ...]
    graph_fingerprint: Optional[str]
    encoded: EncodedRun  # the scores and decisions, as a run stores them (run_encoding.py)
    metrics: Optional[MetricsInfo] = None


# --- the rows a run stores (computed where the evaluation is) -----------------------------


def decision_rows(evaluation: Evaluation, snapshot: NodeSnapshot) -> list[dict]:
    # No channel point: the change service takes the live channel's when it applies a decision,
    # and 64 random hex digits a decision were a third of a run's compressed decisions.
    rows = []
    for order, assessment in enumerate(evaluation.channels):
        if assessment.state not in ("active", "inactive"):
            continue
        proposal = assessment.proposal
        data = assessment.advice_dicts()
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
        # only what the row shows: to_dict would also convert the proposal, signals and the rest
        extra = assessment.advice_dicts()
        proposal = assessment.proposal_dicts()
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
                "parts": [part.to_dict() for part in assessment.parts],
                "action": assessment.action,
                "fee_action": assessment.fee_action,
                "accepted": assessment.accepted,
                "blocked_by": assessment.blocked_by,
                "reason": assessment.reason,
                "advice": extra["advice"],
                "old_policy": proposal["old_policy"],
                "new_policy": proposal["new_policy"],
                "notes": proposal["notes"],
                "headline": assessment.headline,
                "limited_by": extra["limited_by"],
                "advice_withheld": assessment.advice_withheld,
                "score_role": assessment.score_role,
                "scored_policy": policy_dict(channel.local_policy) if channel and channel.local_policy else None,
                "local_sat": channel.local_sat if channel else None,
            }
        )
    return rows


# --- the work itself (in the worker, or in LNbits' threads when there is none) -------------


class GraphWork:
    """The cached graph and metrics, and the operations on them. Synchronous: it runs in
    the worker process (or, as the fallback, in a thread of LNbits' process)."""

    def __init__(self, in_host: bool):
        # In LNbits' own process one json.loads of the graph would hold the GIL for a
        # second: decode element by element there. In the worker, the fast C decoder.
        self.in_host = in_host
        self.graph: Optional[NetworkGraph] = None
        self.metrics: Optional[GraphMetrics] = None
        self.metrics_key: Optional[tuple] = None

    def load_graph(self, source: Path, taken_at: int) -> GraphInfo:
        """The describegraph answer in the file `source` -> the graph kept here."""
        started = time.perf_counter()
        try:
            text = source.read_bytes().decode()
            data = loads_object_incrementally(text) if self.in_host else json.loads(text)
            del text
            fresh = graph_from_describegraph(data, taken_at)
        except (ValueError, AttributeError, TypeError) as exc:  # not JSON, or not describegraph's shape
            raise GraphUnreadable(f"GET /v1/graph: the node answered with invalid JSON ({exc.__class__.__name__})") from exc
        del data
        return self._keep(fresh, started)

    def load_cln_graph(self, channels_source: Path, nodes_source: Path, taken_at: int) -> GraphInfo:
        """Core Lightning's `listchannels` and `listnodes` results in the two files -> the graph kept here."""
        started = time.perf_counter()
        try:
            channels, nodes = (self._decode(path) for path in (channels_source, nodes_source))
            fresh = graph_from_cln(channels, nodes, taken_at)
        except (ValueError, AttributeError, TypeError) as exc:  # not JSON, or not their shape
            raise GraphUnreadable(f"listchannels/listnodes: Core Lightning answered with JSON we cannot read "
                                  f"({exc.__class__.__name__})") from exc
        del channels, nodes
        return self._keep(fresh, started)

    def _decode(self, source: Path) -> Any:
        text = source.read_bytes().decode()
        return loads_object_incrementally(text) if self.in_host else json.loads(text)

    def _keep(self, fresh: NetworkGraph, started: float) -> GraphInfo:
        if self.graph is None or self.graph.fingerprint != fresh.fingerprint:
            self.graph = fresh  # the replaced graph is freed here, where its pauses harm no one
        return GraphInfo(
            fingerprint=self.graph.fingerprint,
            edges=len(self.graph.edges),
            nodes=len(self.graph.aliases),
            taken_at=self.graph.taken_at,
            decode_seconds=time.perf_counter() - started,
        )

    def cycle(
        self,
        snapshot: NodeSnapshot,
        settings: EngineSettings,
        history: Sequence[ChangeRecord],
        at: int,
        graph_fingerprint: Optional[str],
        inbound_ours: AbstractSet[str] = frozenset(),
    ) -> CycleResult:
        graph = None
        if graph_fingerprint is not None:
            if self.graph is None or self.graph.fingerprint != graph_fingerprint:
                raise GraphMissing(
                    "the heavy-work process no longer holds the network graph (it was restarted since the graph "
                    "was read); the next run reads it again"
                )
            graph = self.graph
        snapshot = dataclasses.replace(snapshot, graph=graph)
        metrics = None
        info = None
        if graph is not None:
            key = metrics_key(graph, snapshot.node_id, settings.graph)
            recomputed = self.metrics is None or self.metrics_key != key
            if recomputed:
                self.metrics = None  # the old metrics are not needed while the new ones are computed
                self.metrics = compute_graph_metrics(graph, snapshot.node_id, settings.graph)
                self.metrics_key = key
            metrics = self.metrics
            assert metrics is not None
            info = MetricsInfo(fingerprint=metrics.fingerprint, compute_seconds=metrics.compute_seconds, recomputed=recomputed)
        evaluation = evaluate(snapshot, settings, history, metrics, at, inbound_ours)
        return CycleResult(
            counts=evaluation.counts(),
            warnings=tuple(evaluation.warnings),
            graph_fingerprint=evaluation.graph_fingerprint,
            encoded=encode_run(score_rows(evaluation, snapshot), decision_rows(evaluation, snapshot)),
            metrics=info,
        )


# --- messages: a header, then the large lists in slices ------------------------------------


def _send(conn: Connection, header: tuple, lists: dict[str, Sequence[Any]]) -> None:
    conn.send((header, {name: len(items) for name, items in lists.items()}))
    for items in lists.values():
        for start in range(0, len(items), SLICE):
            conn.send(list(items[start : start + SLICE]))


def _recv(conn: Connection) -> tuple[tuple, dict[str, list]]:
    header, sizes = conn.recv()
    lists: dict[str, list] = {}
    for name, size in sizes.items():
        items: list = []
        while len(items) < size:
            items.extend(conn.recv())
        lists[name] = items
    return header, lists


def _split(op: str, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Sequence[Any]]]:
    """A request's large lists, to be sent in slices."""
    if op == "cycle":
        snapshot: NodeSnapshot = args["snapshot"]
        small = {**args, "snapshot": dataclasses.replace(snapshot, channels=()), "history": ()}
        return small, {"channels": snapshot.channels, "history": args["history"]}
    return args, {}


def _join(op: str, args: dict[str, Any], lists: dict[str, list]) -> dict[str, Any]:
    if op == "cycle":
        snapshot = dataclasses.replace(args["snapshot"], channels=tuple(lists["channels"]))
        return {**args, "snapshot": snapshot, "history": lists["history"]}
    return args


def _run(work: GraphWork, op: str, args: dict[str, Any]) -> Any:
    if op == "hello":
        return os.getpid()
    if op == "load_graph":
        return work.load_graph(Path(args["path"]), args["taken_at"])
    if op == "load_cln_graph":
        return work.load_cln_graph(Path(args["channels_path"]), Path(args["nodes_path"]), args["taken_at"])
    if op == "cycle":
        return work.cycle(args["snapshot"], args["settings"], args["history"], args["at"], args["graph_fingerprint"],
                          args["inbound_ours"])
    raise ValueError(f"unknown request {op!r}")


def _error_reply(exc: BaseException) -> tuple:
    return ("error", type(exc).__name__, str(exc), traceback.format_exc())


def serve(conn: Connection) -> None:
    """The worker's loop: one request at a time until the main process closes the pipe."""
    # The child's own settings, not the host's: Ctrl-C on a terminal reaches the whole
    # process group, and the main process stops us; we leave the CPU to LNbits first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        try:
            os.nice(WORKER_NICENESS)
        except OSError:
            pass
    work = GraphWork(in_host=False)
    while True:
        try:
            (seq, op, args), lists = _recv(conn)
        except (EOFError, OSError):  # LNbits stopped or closed the pipe: nothing more to do
            return
        args = _join(op, args, lists)
        try:
            result = _run(work, op, args)
        except Exception as exc:
            reply: tuple = (seq, *_error_reply(exc))
            result_lists: dict[str, Sequence[Any]] = {}
        else:
            reply, result_lists = (seq, "ok", result), {}
        del args, lists
        try:
            _send(conn, reply, result_lists)
        except (EOFError, OSError):
            return


# The child's entry point, run by `exec` in the fresh interpreter. It registers the package
# (its folder and qualified name) and the packages above it (`lnbits`, `lnbits.extensions`)
# without executing their `__init__`, then imports this module under that name, so the
# classes that cross the pipe are the very ones LNbits' process has. (Unpickling a class of
# `lnbits.extensions.feepilot...` imports the top package first: a real `lnbits` would cost
# the worker LNbits' whole code base, 150 MB.)
_BOOT = """
import importlib, importlib.util, os, sys
parts = package.split(".")
for depth in range(len(parts), 0, -1):
    name = ".".join(parts[:depth])
    where = os.path.join(folder, *[os.pardir] * (len(parts) - depth))
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(where, "__init__.py"), submodule_search_locations=[os.path.normpath(where)])
        sys.modules[name] = importlib.util.module_from_spec(spec)
importlib.import_module(package + ".worker").serve(conn)
"""


# --- the main process's side -------------------------------------------------------------


@dataclass
class WorkerStatus:
    mode: str  # "process" or "thread"
    running: bool
    pid: Optional[int]
    started_at: Optional[int]
    restarts: int
    last_exit: Optional[str]
    fallback_reason: Optional[str]
    graph: Optional[dict] = field(default=None)


class _Silent(Exception):
    """The worker did not answer within REQUEST_TIMEOUT_S."""


class HeavyWorker:
    """The one worker process, started on first need; requests one at a time."""

    def __init__(self, start_timeout_s: float = START_TIMEOUT_S):
        self.start_timeout_s = start_timeout_s
        self._lock: Optional[asyncio.Lock] = None
        self._process: Any = None
        self._conn: Optional[Connection] = None
        self._io: Optional[ThreadPoolExecutor] = None
        self._dying: list[Any] = []
        self._seq = 0
        self._local: Optional[GraphWork] = None
        self.generation = 0  # one more each time a worker starts: a cached graph lives in one generation
        self.started_at: Optional[int] = None
        self.restarts = 0
        self.last_exit: Optional[str] = None
        self.fallback_reason: Optional[str] = None
        self.graph: Optional[GraphInfo] = None

    # --- public -------------------------------------------------------------------

    async def load_graph(self, source: Path, taken_at: int) -> tuple[GraphInfo, int]:
        """Decode the describegraph answer in the file `source` where the graph is kept (the
        worker reads the file itself): (its summary, generation)."""
        info = await self._call("load_graph", {"path": str(source), "taken_at": taken_at})
        self.graph = info
        return info, self.generation

    async def load_cln_graph(self, channels_source: Path, nodes_source: Path, taken_at: int) -> tuple[GraphInfo, int]:
        """As load_graph, from Core Lightning's two answers (`listchannels`, `listnodes`)."""
        info = await self._call("load_cln_graph", {"channels_path": str(channels_source),
                                                   "nodes_path": str(nodes_source), "taken_at": taken_at})
        self.graph = info
        return info, self.generation

    async def cycle(
        self,
        snapshot: NodeSnapshot,
        settings: EngineSettings,
        history: Sequence[ChangeRecord],
        at: int,
        graph_fingerprint: Optional[str],
        inbound_ours: AbstractSet[str] = frozenset(),
    ) -> CycleResult:
        """Metrics (when the graph changed) and the evaluation, as the rows a run stores.
        `inbound_ours`: the channels whose inbound fee Fee Autopilot set (engine.evaluate)."""
        args = {
            "snapshot": snapshot,
            "settings": settings,
            "history": tuple(history),
            "at": at,
            "graph_fingerprint": graph_fingerprint,
            "inbound_ours": frozenset(inbound_ours),
        }
        return await self._call("cycle", args)

    def holds(self, generation: int) -> bool:
        """Whether the graph loaded in `generation` is still where it was loaded."""
        if generation != self.generation:
            return False
        return self._local is not None if self.mode == "thread" else self._alive()

    @property
    def mode(self) -> str:
        return "thread" if self.fallback_reason is not None else "process"

    def status(self) -> WorkerStatus:
        self._reap()
        process = self._process
        return WorkerStatus(
            mode=self.mode,
            running=process is not None,
            pid=process.pid if process is not None else None,
            started_at=self.started_at if process is not None else None,
            restarts=self.restarts,
            last_exit=self.last_exit,
            fallback_reason=self.fallback_reason,
            graph=dataclasses.asdict(self.graph) if self.graph is not None and self.holds(self.generation) else None,
        )

    async def stop(self) -> None:
        """Stop the worker (feepilot_stop) at once, even mid-request; the next request starts
        a new one. A request in flight fails with WorkerDied."""
        process, io = self._process, self._io
        self._process = self._conn = self._io = None
        self._local = None
        self.graph = None
        self.fallback_reason = None  # a new start may succeed where the last one could not
        if process is not None:
            self.last_exit = "stopped with the extension"
            process.terminate()  # a signal: nothing in the worker is worth a graceful exit
            await _wait_exit(process, 5.0)
        for dying in self._dying:
            await _wait_exit(dying, 1.0)
        self._reap()
        if io is not None:
            io.shutdown(wait=False)

    # --- internals ------------------------------------------------------------------

    def _guard(self) -> asyncio.Lock:
        # Created on first use, inside the loop that uses it.
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _reap(self) -> None:
        # is_alive() collects a dead child without blocking: no zombie is left behind. The
        # pipe is never closed here (our io thread may be reading it): dropping the last
        # reference closes it once that thread has let go.
        self._dying = [p for p in self._dying if p.is_alive()]
        if self._process is not None and not self._process.is_alive():
            self.last_exit = _describe_exit(self._process.exitcode)
            self._process = None
            self._conn = None

    def _kill(self, process: Any, why: str) -> None:
        """Stop a worker at once (a signal: never waits on the loop); reaped later."""
        if process.is_alive():
            try:
                process.kill()
            except (OSError, ValueError, AttributeError):
                pass
        self._dying.append(process)
        if process is self._process:
            self._process = None
            self._conn = None
            self.last_exit = why

    async def _call(self, op: str, args: dict[str, Any]) -> Any:
        async with self._guard():
            if self.fallback_reason is None and os.environ.get(ENV_MODE, "process").strip().lower() == "thread":
                self.fallback_reason = f"{ENV_MODE}=thread: heavy work runs in threads of LNbits' process"
            if self.fallback_reason is None:
                try:
                    await self._ensure_started()
                except HeavyWorkError as exc:
                    self.fallback_reason = (
                        f"the heavy-work process could not start ({exc}); heavy work runs in threads of LNbits' process"
                    )
                    from loguru import logger

                    logger.warning(f"feepilot: {self.fallback_reason}")
            if self.fallback_reason is not None:
                if self._local is None:
                    self._local = GraphWork(in_host=True)
                    self.generation += 1
                return await asyncio.to_thread(_run, self._local, op, args)
            return await self._exchange(op, args)

    async def _ensure_started(self) -> None:
        self._reap()
        if self._process is not None:
            return
        if self.generation > 0:
            self.restarts += 1
        if self._io is None:
            # Our own thread for the blocking pipe: never one of the loop's default executor,
            # which LNbits and its other extensions share.
            self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feepilot-worker-io")
        loop = asyncio.get_running_loop()
        process, conn = await loop.run_in_executor(self._io, self._start_blocking)
        self._process, self._conn = process, conn
        self.generation += 1
        self.started_at = int(time.time())
        self.graph = None
        from loguru import logger

        logger.info(f"feepilot: heavy-work process started (pid {process.pid})")

    def _start_blocking(self) -> tuple[Any, Connection]:
        package = __package__ or ""
        folder = Path(__file__).resolve().parent
        try:
            context = multiprocessing.get_context("spawn")  # never fork LNbits' process
            parent, child = context.Pipe(duplex=True)
            process = context.Process(
                target=exec,
                args=(_BOOT, {"package": package, "folder": str(folder), "init_file": str(folder / "__init__.py"), "conn": child}),
                name="feepilot-heavy-work",
                daemon=True,  # multiprocessing ends it should LNbits exit without feepilot_stop
            )
            process.start()
        except Exception as exc:  # no processes on this platform, or none allowed
            raise HeavyWorkError(f"{exc.__class__.__name__}: {exc}") from exc
        child.close()  # only the worker holds its end: its death reads as EOF here
        try:
            self._seq += 1
            _send(parent, (self._seq, "hello", {}), {})
            if not parent.poll(self.start_timeout_s):
                raise HeavyWorkError(f"it did not answer within {self.start_timeout_s:g} s")
            (_, outcome, *rest), _ = _recv(parent)
            if outcome != "ok":
                raise HeavyWorkError(f"{rest[0]}: {rest[1]}")
        except (EOFError, OSError) as exc:
            process.join(5)
            parent.close()
            raise HeavyWorkError(f"it exited at once ({_describe_exit(process.exitcode)})") from exc
        except HeavyWorkError:
            parent.close()
            process.kill()
            process.join(5)
            raise
        return process, parent

    async def _exchange(self, op: str, args: dict[str, Any]) -> Any:
        conn, process = self._conn, self._process
        assert conn is not None and process is not None
        self._seq += 1
        seq = self._seq
        loop = asyncio.get_running_loop()
        try:
            reply = await loop.run_in_executor(self._io, _ask, conn, seq, op, args)
        except _Silent as exc:
            self._kill(process, f"stopped after {REQUEST_TIMEOUT_S:.0f} s without an answer")
            raise WorkerDied(f"Fee Autopilot's heavy-work process did not answer within {REQUEST_TIMEOUT_S:.0f} s and was stopped; "
                             "the next run starts a new one") from exc
        except (EOFError, OSError) as exc:
            # Its end of the pipe closed: it died. Its exit status follows within moments.
            await _wait_exit(process, 1.0)
            if process is self._process:
                self._reap()
            if process.is_alive():
                self._kill(process, "stopped by Fee Autopilot: its pipe broke")
            raise WorkerDied(
                f"Fee Autopilot's heavy-work process stopped while it was working ({self.last_exit}); "
                "the next run starts a new one"
            ) from exc
        except BaseException:
            # Cancelled (feepilot_stop) or failed mid-exchange: a reply still on its way would
            # answer the next request. A new worker is cleaner than untangling the pipe.
            self._kill(process, "stopped by Fee Autopilot: a request was cancelled")
            raise
        (got, outcome, *rest), lists = reply
        if got != seq:
            self._kill(process, "stopped by Fee Autopilot: it answered the wrong request")
            raise HeavyWorkError(f"the heavy-work process answered request {got} instead of {seq}; it was restarted")
        if outcome == "error":
            name, message, trace = rest
            raise _error_from(name, message, trace)
        return rest[0]


def _ask(conn: Connection, seq: int, op: str, args: dict[str, Any]) -> tuple[tuple, dict[str, list]]:
    """One request and its reply, in our io thread (blocking)."""
    small, lists = _split(op, args)
    _send(conn, (seq, op, small), lists)
    if not conn.poll(REQUEST_TIMEOUT_S):
        raise _Silent(op)
    header, reply_lists = _recv(conn)
    return header, reply_lists


async def _wait_exit(process: Any, wait_s: float) -> None:
    """Until `process` has exited (reaped), at most `wait_s`, then SIGKILL; polls, never blocks."""
    deadline = time.monotonic() + wait_s
    killed = False
    while process.is_alive():
        if time.monotonic() > deadline:
            if killed:
                return  # not even SIGKILL ended it yet: _reap() collects it later
            process.kill()
            killed, deadline = True, time.monotonic() + 5.0
        await asyncio.sleep(0.02)


def _describe_exit(code: Optional[int]) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


_ERRORS: dict[str, Callable[[str], HeavyWorkError]] = {
    "GraphMissing": GraphMissing,
    "GraphUnreadable": GraphUnreadable,
}


def _error_from(name: str, message: str, trace: str) -> HeavyWorkError:
    known = _ERRORS.get(name)
    if known is not None:
        return known(message)
    from loguru import logger

    logger.error(f"feepilot: heavy work failed in the worker:\n{trace}")
    return HeavyWorkError(f"heavy work failed: {name}: {message}")


heavy_worker = HeavyWorker()
