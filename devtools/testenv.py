"""Test environments: a real simnode and real LNbits 1.6.2 processes with the extension.

Used by tests/conftest.py fixtures and by tests that need a host of their own.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .host import LnbitsHost

PASSWORD_LENGTH = 18


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", every: float = 0.3):
    """The predicate's first truthy value, polled every `every` s; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")

@dataclass
class HostSession:
    host: LnbitsHost
    super_token: str
    admin_token: str
    user_token: str
    admin_id: str
    user_id: str
    super_password: str

    def client(self, token: str | None = None) -> httpx.Client:
        return self.host.client(token)

    @property
    def url(self) -> str:
        return self.host.url


def output_dir() -> Path:
    path = Path(os.environ.get("FEEPILOT_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_host_session(workdir: Path, **host_kwargs) -> HostSession:
    host = LnbitsHost(workdir, **host_kwargs)
    host.start()
    password = secrets.token_urlsafe(PASSWORD_LENGTH)
    super_token = host.first_install("admin", password)
    host.enable_extension(super_token)
    admin = host.create_user("operator", secrets.token_urlsafe(PASSWORD_LENGTH), admin=True)
    user = host.create_user("alice", secrets.token_urlsafe(PASSWORD_LENGTH))
    for token in (admin["token"], user["token"]):
        host.enable_extension(token)
    host.wait_extension_loaded(super_token)
    return HostSession(
        host=host,
        super_token=super_token,
        admin_token=admin["token"],
        user_token=user["token"],
        admin_id=admin["id"],
        user_id=user["id"],
        super_password=password,
    )


# Centrality pivots of the test hosts: the default (500) costs 40-75 s of this 2-core machine
# per cold cycle on the 2024 graph, and every module's host has at least one. Tests of the
# heavy work itself (the event loop during a cold cycle, the worker) set what they measure.
TEST_BETWEENNESS_SAMPLES = 32
TEST_GRAPH_WORK = {"engine": {"graph": {"betweenness_samples": TEST_BETWEENNESS_SAMPLES}}}


def quiet_schedule(session: HostSession) -> None:
    """Mode off and test-sized graph work, and wait out a cycle that may have started
    with LNbits, so tests see only the node calls and runs they cause themselves. A dry
    run waits for the run lock, and warms the graph cache for the tests after it.
    (The schedule's first cycle waits 30 s after a start, so this lands first.)"""
    quiet = {"mode": "off", **TEST_GRAPH_WORK}
    with session.client(session.super_token) as client:
        client.put("/feepilot/api/v1/settings", json=quiet).raise_for_status()
        client.post("/feepilot/api/v1/runs", json={"dry_run": True}, timeout=300).raise_for_status()


class NodeEnv:
    """A simnode and an LNbits of their own, on one simulated clock.

    The extension reads its clock from FEEPILOT_CLOCK_FILE (see clock.py); each
    `advance` moves simnode and that clock together, so cooldowns and windows
    see simulated time.
    """

    def __init__(self, simnode, session: HostSession, clock_file: Path, backend: str = "lnd"):
        self.simnode = simnode
        self.session = session
        self.clock_file = clock_file
        self.backend = backend  # "lnd" (LndRestWallet) or "cln" (CoreLightningWallet)

    # Faults and requests named by what they do, whichever face of simnode LNbits talks to: one
    # test of the safety net runs on both backends.

    def write_fault(self, **rule) -> dict:
        """A fault rule for fee writes: LND's POST /v1/chanpolicy, CLN's setchannel."""
        if self.backend == "cln":
            return {"method": "CLN", "path": "setchannel", **rule}
        return {"path": "/v1/chanpolicy", **rule}

    def policy_read_fault(self, chan_id: str = "*", **rule) -> dict:
        """A fault rule for reading one channel's policy (or any, with "*"): LND's
        /v1/graph/edge/<chan_id>, CLN's listpeerchannels short_channel_id=<scid>."""
        if self.backend == "cln":  # "*": every call that names one channel (the channel list names none)
            named = "*" if chan_id == "*" else scid(chan_id)
            return {"method": "CLN", "path": "listpeerchannels", "params": {"short_channel_id": named}, **rule}
        return {"path": f"/v1/graph/edge/{chan_id}", **rule}

    def change_elsewhere(self, chan_id: str, **fields: int) -> None:
        """Someone else (lncli, lightning-cli) changes the channel's policy straight on the node:
        `ppm`, `cltv` (LND only: CLN's cltv delta is node-wide) or `max_htlc_msat`."""
        live = self.channel_truth()[chan_id]["policy"]
        wanted = {**live, **fields}
        if self.backend == "cln":
            if "cltv" in fields:
                raise ValueError("Core Lightning has no per-channel cltv delta")
            answer = self.simnode.cln_call("setchannel", {"id": scid(chan_id), "feebase": wanted["base_msat"],
                                                          "feeppm": wanted["ppm"], "htlcmax": wanted["max_htlc_msat"]})
            assert "result" in answer, answer
            return
        txid, index = self.channel_truth()[chan_id]["channel_point"].split(":")
        status, body = self.simnode.post("/v1/chanpolicy", {
            "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
            "base_fee_msat": str(wanted["base_msat"]), "fee_rate_ppm": wanted["ppm"],
            "time_lock_delta": wanted["cltv"], "max_htlc_msat": str(wanted["max_htlc_msat"]),
            "min_htlc_msat": str(wanted["min_htlc_msat"]), "min_htlc_msat_specified": True,
        })
        assert status == 200, body

    def write_requests(self) -> list[dict]:
        """What the node received as fee writes, oldest first: chanpolicy bodies or setchannel params."""
        state = self.state()
        return state["setchannel_requests"] if self.backend == "cln" else state["chanpolicy_requests"]

    def sync_clock(self) -> None:
        # Atomic replace: the extension reads this file on every clock reading.
        offset = self.simnode.state()["now"] - time.time()
        partial = self.clock_file.with_suffix(".tmp")
        partial.write_text(str(offset))
        os.replace(partial, self.clock_file)

    def advance(self, hours: float) -> None:
        self.simnode.advance(hours=hours)
        self.sync_clock()

    def state(self) -> dict:
        return self.simnode.state()

    def client(self, token: str | None = None) -> httpx.Client:
        return self.session.client(token if token is not None else self.session.super_token)

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        with self.client() as client:
            return client.request(method, f"/feepilot/api/v1{path}", timeout=300, **kwargs)

    def dry_run(self) -> dict:
        response = self.api("POST", "/runs", json={"dry_run": True})
        assert response.status_code == 201, response.text
        return response.json()

    def channel_truth(self) -> dict[str, dict]:
        return {c["chan_id"]: c for c in self.state()["channels"]}

    def assert_log_matches_node(self) -> None:
        """Every channel the change log touched is on the node as the log says it was left:
        the newest settled change's new policy when applied, its old one when failed."""
        truth = self.channel_truth()
        newest: dict[str, dict] = {}
        for change in self.api("GET", "/changes?limit=500").json()["data"]:  # newest first
            if change["status"] != "pending":
                newest.setdefault(change["chan_id"], change)
        assert newest, "the log has changes"
        for chan_id, change in newest.items():
            if change["status"] == "conflict":
                continue
            expected = change["new_policy"] if change["status"] == "applied" else change["old_policy"]
            live = truth[chan_id]["policy"]
            assert (live["base_msat"], live["ppm"]) == (expected["base_msat"], expected["ppm"]), (chan_id, change)


def scid(chan_id: str) -> str:
    """LND's integer chan_id as Core Lightning's short channel id."""
    number = int(chan_id)
    return f"{number >> 40}x{(number >> 16) & 0xFFFFFF}x{number & 0xFFFF}"


def start_node_env(workdir: Path, seed: int = 7, simnode_args: tuple = (), cln: bool = False,
                   channels: int = 16) -> NodeEnv:
    """simnode and LNbits on it: on LND REST, or with `cln` on Core Lightning's JSON-RPC socket."""
    from simnode.testing import start_simnode

    node = start_simnode(seed=seed, speed=0, extra_args=simnode_args, cln=cln, channels=channels)
    env = None
    try:
        env = attach_host(node, workdir, cln=cln)
        quiet_schedule(env.session)
    except BaseException:  # nothing left running behind a failed start
        if env is not None:
            env.session.host.stop()
        node.stop()
        raise
    return env


def backend_kwargs(node, cln: bool = False) -> dict:
    """LnbitsHost's funding source on a running simnode: LND REST, or its Core Lightning socket."""
    if cln:
        if node.cln_socket is None:
            raise ValueError("simnode was started without its Core Lightning face (start_simnode(cln=True))")
        return {"backend": "CoreLightningWallet", "cln_socket": node.cln_socket}
    return {"backend": "LndRestWallet", "lnd_endpoint": node.url, "macaroon": node.macaroon}


def attach_host(node, workdir: Path, cln: bool = False) -> NodeEnv:
    """A real LNbits with the extension on a running simnode (`node`), the two on one simulated clock;
    `cln`: LNbits on CoreLightningWallet through simnode's Core Lightning socket."""
    clock_file = workdir / "clock-offset"
    env = NodeEnv(node, None, clock_file, backend="cln" if cln else "lnd")  # type: ignore[arg-type]
    env.sync_clock()
    session = start_host_session(
        workdir,
        **backend_kwargs(node, cln),
        extra_env={"FEEPILOT_CLOCK_FILE": str(clock_file)},
    )
    env.session = session
    return env


