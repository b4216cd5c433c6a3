"""Shared fixtures: a real simnode and real LNbits 1.6.2 processes with the extension.

Session-scoped because starting LNbits takes seconds; tests that change global
state (settings, pins) restore it or use their own host.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from devtools.host import LnbitsHost

PASSWORD_LENGTH = 18


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


@pytest.fixture(scope="session")
def simnode():
    from simnode.testing import start_simnode

    with start_simnode(seed=7, speed=0) as node:
        yield node


@pytest.fixture(scope="session")
def lnbits(simnode, tmp_path_factory) -> Iterator[HostSession]:
    workdir = tmp_path_factory.mktemp("lnbits-simnode")
    session = start_host_session(
        workdir,
        backend="LndRestWallet",
        lnd_endpoint=simnode.url,
        macaroon=simnode.macaroon,
    )
    quiet_schedule(session)
    yield session
    session.host.stop()
    _keep_log(session.host, "lnbits-simnode.log")


@pytest.fixture(scope="session")
def fake_lnbits(tmp_path_factory) -> Iterator[HostSession]:
    """LNbits on FakeWallet: a funding source without a node API."""
    workdir = tmp_path_factory.mktemp("lnbits-fake")
    session = start_host_session(workdir, backend="FakeWallet")
    yield session
    session.host.stop()
    _keep_log(session.host, "lnbits-fake.log")


def quiet_schedule(session: HostSession) -> None:
    """Mode off, and wait out a cycle that may have started with LNbits, so tests
    see only the node calls and runs they cause themselves. A dry run waits for
    the run lock, and warms the graph cache for the tests after it."""
    with session.client(session.super_token) as client:
        client.put("/feepilot/api/v1/settings", json={"mode": "off"}).raise_for_status()
        client.post("/feepilot/api/v1/runs", json={"dry_run": True}, timeout=300).raise_for_status()


def _keep_log(host: LnbitsHost, name: str) -> None:
    try:
        shutil.copy(host.log_path, output_dir() / name)
    except OSError:
        pass


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="feepilot-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class NodeEnv:
    """A simnode and an LNbits of their own, on one simulated clock.

    The extension reads its clock from FEEPILOT_CLOCK_FILE (see clock.py); each
    `advance` moves simnode and that clock together, so cooldowns and windows
    see simulated time.
    """

    def __init__(self, simnode, session: HostSession, clock_file: Path):
        self.simnode = simnode
        self.session = session
        self.clock_file = clock_file

    def sync_clock(self) -> None:
        import time

        self.clock_file.write_text(str(self.simnode.state()["now"] - time.time()))

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


def start_node_env(workdir: Path, seed: int = 7, simnode_args: tuple = ()) -> tuple:
    from simnode.testing import start_simnode

    node = start_simnode(seed=seed, speed=0, extra_args=simnode_args)
    clock_file = workdir / "clock-offset"
    env = NodeEnv(node, None, clock_file)  # type: ignore[arg-type]
    env.sync_clock()
    session = start_host_session(
        workdir,
        backend="LndRestWallet",
        lnd_endpoint=node.url,
        macaroon=node.macaroon,
        extra_env={"FEEPILOT_CLOCK_FILE": str(clock_file)},
    )
    env.session = session
    quiet_schedule(session)
    return env


@pytest.fixture(scope="module")
def node_env(tmp_path_factory) -> Iterator[NodeEnv]:
    """A fresh node and LNbits for one test module (tests in it share them)."""
    env = start_node_env(tmp_path_factory.mktemp("node-env"))
    yield env
    env.session.host.stop()
    env.simnode.stop()
    _keep_log(env.session.host, f"lnbits-node-env-{id(env)}.log")
