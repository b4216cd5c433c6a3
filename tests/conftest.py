"""Shared fixtures: a real simnode and real LNbits 1.6.2 processes with the extension.

Session-scoped because starting LNbits takes seconds; tests that change global
state (settings, pins) restore it, or use a `node_env` of their own module.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from devtools.host import LnbitsHost
from devtools.testenv import HostSession, NodeEnv, output_dir, quiet_schedule, start_host_session, start_node_env


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


def _node_env(tmp_path_factory, backend: str) -> Iterator[NodeEnv]:
    env = start_node_env(tmp_path_factory.mktemp(f"node-env-{backend}"), cln=backend == "cln")
    yield env
    env.session.host.stop()
    env.simnode.stop()
    _keep_log(env.session.host, f"lnbits-node-env-{backend}-{id(env)}.log")


@pytest.fixture(scope="module")
def node_env(tmp_path_factory) -> Iterator[NodeEnv]:
    """A fresh node and LNbits (on LND) for one test module (tests in it share them)."""
    yield from _node_env(tmp_path_factory, "lnd")


@pytest.fixture(scope="module", params=["lnd", "cln"])
def node_env_both(request, tmp_path_factory) -> Iterator[NodeEnv]:
    """As `node_env`, once on LND (LndRestWallet) and once on Core Lightning (CoreLightningWallet,
    simnode's CLN face): the modules that prove the safety net take it as their `node_env`, and
    each of their tests runs on both backends. `env.backend` says which; `env.write_fault`,
    `env.policy_read_fault`, `env.write_requests` and `env.change_elsewhere` name faults and
    requests by what they do, on either face."""
    yield from _node_env(tmp_path_factory, request.param)
