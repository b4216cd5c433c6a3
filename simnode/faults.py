"""Fault rules for tests: which request breaks, and how.

A rule matches `method` (or "*") and a path glob (fnmatch, e.g. "/v1/chanpolicy",
"/v1/graph*", "*").  The HTTP server applies latency / hang / drop; the pure
dispatcher applies status errors and `failed_updates`.  Error-rate draws use a
RNG seeded from the node seed, so a test sees the same sequence every run.

Core Lightning calls are matched as method "CLN" and the RPC's name as the path
("setchannel", "list*"), so {"path": "*"} hits both faces, {"method": "CLN"} only
CLN's, and an LND path glob never a CLN call.  A CLN error carries `cln_code`
(default -1, lightningd's catch-all); `cln_code` alone also makes a rule an error rule.
`params` narrows a CLN rule to calls whose named parameters have those values ("*": any), e.g.
{"path": "listpeerchannels", "params": {"short_channel_id": "103x1x0"}} (an LND path names its
channel already); a positional parameter list never matches it.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import asdict, dataclass, field

FIELDS = {
    "path", "method", "error_rate", "status", "grpc_code", "message", "latency_ms",
    "hang", "hang_seconds", "drop", "failed_updates", "failed_reason", "times", "garbled",
    "cln_code", "htlcmin_floor_msat", "htlcmax_ceiling_msat", "params", "skip",
}
CLN_METHOD = "CLN"  # the `method` a Core Lightning call is matched as
CLN_CATCHALL = -1  # lightningd's LIGHTNINGD error code


@dataclass
class FaultRule:
    path: str = "*"
    method: str = "*"
    error_rate: float = 0.0  # probability of answering `status` (default 500) instead
    status: int | None = None  # answer this HTTP status always (or with error_rate)
    grpc_code: int | None = None
    message: str | None = None
    latency_ms: int = 0
    hang: bool = False  # sleep hang_seconds (past any sane client timeout) before answering
    hang_seconds: float = 120.0
    drop: bool = False  # close the TCP connection without an answer
    garbled: bool = False  # answer 200 with a body of the wrong shape (a JSON list), without acting
    failed_updates: list[str] = field(default_factory=list)  # chan_ids chanpolicy reports failed
    failed_reason: str = "UPDATE_FAILURE_INTERNAL_ERR"
    times: int | None = None  # apply to the next N matching requests only
    skip: int = 0  # let the first N matching requests through first (then `times` counts)
    cln_code: int | None = None  # the code of the injected CLN error (default -1)
    htlcmin_floor_msat: int | None = None  # CLN setchannel: as if the peer required at least this htlc minimum
    htlcmax_ceiling_msat: int | None = None  # CLN setchannel: as if the channel could carry at most this
    params: dict | None = None  # CLN: only calls with these named parameter values

    def matches(self, method: str, path: str, params: object = None) -> bool:
        if not ((self.method == "*" or self.method.upper() == method.upper()) and fnmatch.fnmatchcase(path, self.path)):
            return False
        if self.params:
            return isinstance(params, dict) and all(k in params and v in ("*", params[k]) for k, v in self.params.items())
        return True


@dataclass
class FaultAction:
    latency_ms: int = 0
    hang_seconds: float = 0.0
    drop: bool = False
    garbled: bool = False
    status: int | None = None
    grpc_code: int = 2
    message: str = ""
    failed_updates: dict[str, str] = field(default_factory=dict)
    cln_code: int = CLN_CATCHALL
    htlcmin_floor_msat: int | None = None
    htlcmax_ceiling_msat: int | None = None


STATUS_TO_GRPC = {500: 2, 503: 14, 504: 4, 429: 8, 400: 3, 404: 5, 401: 16, 403: 7, 409: 6, 501: 12}
DEFAULT_MESSAGE = {503: "simnode fault: service unavailable", 500: "simnode fault: injected error"}


class Faults:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.rng = random.Random(f"simnode-faults:{seed}")
        self.injected = 0

    def add(self, spec: dict) -> FaultRule:
        unknown = set(spec) - FIELDS
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        rule = FaultRule(**spec)
        rule.failed_updates = [str(x) for x in rule.failed_updates]
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()
        self.rng = random.Random(f"simnode-faults:{self.seed}")

    def describe(self) -> dict:
        return {"rules": [asdict(r) for r in self.rules], "injected": self.injected}

    def decide(self, method: str, path: str, params: object = None) -> FaultAction:
        act = FaultAction()
        for rule in list(self.rules):
            if not rule.matches(method, path, params):
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.times is not None:
                if rule.times <= 0:
                    continue
                rule.times -= 1
            fired = False
            act.latency_ms += rule.latency_ms
            fired |= rule.latency_ms > 0
            if rule.hang:
                act.hang_seconds = max(act.hang_seconds, rule.hang_seconds)
                fired = True
            if rule.drop:
                act.drop = True
                fired = True
            if rule.garbled:
                act.garbled = True
                fired = True
            if rule.status is not None or rule.error_rate > 0 or rule.cln_code is not None:
                hit = rule.error_rate <= 0 or self.rng.random() < rule.error_rate
                if hit:
                    st = rule.status or 500
                    act.status = st
                    act.grpc_code = rule.grpc_code if rule.grpc_code is not None else STATUS_TO_GRPC.get(st, 2)
                    act.message = rule.message or DEFAULT_MESSAGE.get(st, f"simnode fault: HTTP {st}")
                    act.cln_code = rule.cln_code if rule.cln_code is not None else CLN_CATCHALL
                    fired = True
            if rule.htlcmin_floor_msat is not None:
                act.htlcmin_floor_msat = max(act.htlcmin_floor_msat or 0, rule.htlcmin_floor_msat)
                fired = True
            if rule.htlcmax_ceiling_msat is not None:
                prev = act.htlcmax_ceiling_msat
                act.htlcmax_ceiling_msat = rule.htlcmax_ceiling_msat if prev is None else min(prev, rule.htlcmax_ceiling_msat)
                fired = True
            for cid in rule.failed_updates:
                act.failed_updates[cid] = rule.failed_reason
                fired = True
            if fired:
                self.injected += 1
        return act
