"""`make run` refuses at once, with one line, when a port or the run folder is taken.

Each case runs `python -m devtools.run` for real (the same entry point `make run` uses)
against a port this test occupies, with a run folder of its own, and checks it stops
within seconds without starting anything, while the occupant keeps its port.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.host import LnbitsHost, PortInUseError

REPO_ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT = 10.0  # seconds; a refusal takes well under one (Python start-up included)


def occupied_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def free_port(avoid: set[int] = frozenset()) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port


def run_devtools(run_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "devtools.run", "--run-dir", str(run_dir), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    return done, time.monotonic() - started


def still_serves(sock: socket.socket) -> bool:
    with socket.create_connection(sock.getsockname(), timeout=2):
        conn, _ = sock.accept()
        conn.close()
    return True


@pytest.mark.parametrize("variable", ["PORT", "SIMNODE_PORT"])
@pytest.mark.parametrize("check_only", [False, True])
def test_a_taken_port_is_refused_in_one_line(tmp_path, variable, check_only):
    occupant = occupied_port()
    taken = occupant.getsockname()[1]
    other = free_port({taken})
    lnbits_port, simnode_port = (taken, other) if variable == "PORT" else (other, taken)
    try:
        done, elapsed = run_devtools(tmp_path / "run", "--port", str(lnbits_port), "--simnode-port", str(simnode_port),
                                     *(["--check-only"] if check_only else []))
        assert done.returncode == 1
        assert elapsed < TIME_LIMIT
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"port {taken} is in use ({variable}): choose another, e.g. {variable}=")
        assert lines[0].endswith(" make run")
        suggested = int(lines[0].split(f"{variable}=")[1].split()[0])
        assert suggested not in (taken, other)
        assert "Starting" not in done.stdout  # nothing was started
        assert not (tmp_path / "run").exists()  # nor any state written
        assert still_serves(occupant)
    finally:
        occupant.close()


def test_free_ports_pass_the_check(tmp_path):
    a = free_port()
    done, _ = run_devtools(tmp_path / "run", "--port", str(a), "--simnode-port", str(free_port({a})), "--check-only")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_the_same_port_twice_is_refused(tmp_path):
    port = free_port()
    done, _ = run_devtools(tmp_path / "run", "--port", str(port), "--simnode-port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip() == f"PORT and SIMNODE_PORT are both {port}: choose two different ports, e.g. SIMNODE_PORT={port + 10} make run"


def test_a_second_make_run_on_the_same_folder_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = open(run_dir / "make-run.lock", "a+")  # what a live `make run` holds
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(json.dumps({"pid": os.getpid(), "port": 5000, "simnode_port": 8080}))
        lock.flush()
        a = free_port()
        for extra in ([], ["--check-only"]):
            done, elapsed = run_devtools(run_dir, "--port", str(a), "--simnode-port", str(free_port({a})), *extra)
            assert done.returncode == 1 and elapsed < TIME_LIMIT
            assert done.stderr.strip() == (
                f"make run is already running on run/ (pid {os.getpid()}, PORT 5000, SIMNODE_PORT 8080): "
                f"stop it first (Ctrl-C in its terminal, or kill {os.getpid()}); one LNbits per SQLite folder")
            assert "Starting" not in done.stdout
    finally:
        lock.close()
    # the lock goes with its holder: a stale file is no reason to refuse
    done, _ = run_devtools(run_dir, "--port", str(a), "--simnode-port", str(free_port({a})), "--check-only")
    assert done.returncode == 0, done.stderr


def test_an_lnbits_left_behind_on_the_folder_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # a live process whose command line names lnbits, as the uvicorn of an earlier run does
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "lnbits.__main__:app"])
    try:
        (run_dir / "lnbits.pid").write_text(f"{left.pid}\n")
        a = free_port()
        done, _ = run_devtools(run_dir, "--port", str(a), "--simnode-port", str(free_port({a})), "--check-only")
        assert done.returncode == 1
        assert done.stderr.strip() == (f"an LNbits from an earlier make run still runs on run/ (pid {left.pid}): "
                                       f"stop it (kill {left.pid}), then try again; one LNbits per SQLite folder")
    finally:
        left.kill()
        left.wait()
    done, _ = run_devtools(run_dir, "--port", str(a), "--simnode-port", str(free_port({a})), "--check-only")
    assert done.returncode == 0, done.stderr  # a dead pid in the file is no reason to refuse


def test_lnbits_is_not_started_on_a_port_another_server_answers(tmp_path):
    # Another server answers on the port: the host must refuse at once, not take the
    # other server's answer for its own LNbits being ready.
    occupant = occupied_port()
    try:
        host = LnbitsHost(tmp_path, port=occupant.getsockname()[1], backend="FakeWallet")
        started = time.monotonic()
        with pytest.raises(PortInUseError):
            host.start()
        assert time.monotonic() - started < 2
        assert host.process is None
    finally:
        occupant.close()
