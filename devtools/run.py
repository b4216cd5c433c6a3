"""`make run`: simnode + LNbits 1.6.2 with this extension, ready in a browser.

State lives in `run/` (git-ignored): LNbits' data folder, the extension link and
the admin password. Running it again reuses them; delete `run/` to start afresh.
Ctrl-C stops both processes.

It refuses to start, with one line and exit status 1 and before installing or
starting anything, when the LNbits port (PORT) or the simnode port (SIMNODE_PORT)
is taken, or when another `make run` (or an LNbits it left behind) is using `run/`:
one SQLite folder, one LNbits. `make run` calls `--check-only` first with the
system Python, so a refusal comes before `make deps`, in well under a second; the
checks run again here and the ports stay held from check to start (LNbits gets
the listening socket itself), so "ready" is only ever printed for the processes
this command started and that are still alive.

The imports of the host harness (httpx, LNbits) wait until the checks pass: the
checks need only the standard library.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
USERNAME = "admin"
LOCK_NAME = "make-run.lock"  # flock held while a `make run` lives; JSON with its pid and ports
LNBITS_PID_NAME = "lnbits.pid"  # the LNbits it started, removed when it stops


class Refusal(Exception):
    """A reason not to start, as the one line to print."""


# --- checks (standard library only) -------------------------------------------------


def port_problem(port: int, host: str = "127.0.0.1") -> Optional[str]:
    """None when `host:port` can be listened on now, else why not."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
    try:
        sock.bind((host, port))
        sock.listen(1)
    except OSError as exc:
        return "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    finally:
        sock.close()
    return None


def suggest_port(port: int, avoid: set[int]) -> int:
    for candidate in [*range(port + 10, port + 200), *range(port + 1, port + 10)]:
        if candidate < 65536 and candidate not in avoid and port_problem(candidate) is None:
            return candidate
    return port + 10


def check_ports(port: int, simnode_port: int) -> list[str]:
    if port == simnode_port:
        return [f"PORT and SIMNODE_PORT are both {port}: choose two different ports, e.g. SIMNODE_PORT={port + 10} make run"]
    lines = []
    for number, variable, other in ((port, "PORT", simnode_port), (simnode_port, "SIMNODE_PORT", port)):
        problem = port_problem(number)
        if problem == "in use":
            lines.append(f"port {number} is in use ({variable}): choose another, "
                         f"e.g. {variable}={suggest_port(number, {other})} make run")
        elif problem:
            lines.append(f"port {number} cannot be used ({variable}): {problem}")
    return lines


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def looks_like_lnbits(pid: int) -> bool:
    """A live pid from run/lnbits.pid is our LNbits unless /proc says otherwise (pid reuse)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"lnbits" in cmdline.read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists() and pid_alive(pid)
    except OSError:
        return True


def read_lock_info(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def lock_refusal(run_dir: Path, info: dict) -> str:
    pid = info.get("pid", "?")
    ports = f", PORT {info['port']}, SIMNODE_PORT {info['simnode_port']}" if "port" in info else ""
    return (f"make run is already running on {run_dir.name}/ (pid {pid}{ports}): stop it first "
            f"(Ctrl-C in its terminal, or kill {pid}); one LNbits per SQLite folder")


def check_run_dir(run_dir: Path) -> list[str]:
    """Another `make run` holding the lock, or an LNbits one left behind, on `run_dir`."""
    lock = run_dir / LOCK_NAME
    if lock.exists():
        with open(lock, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return [lock_refusal(run_dir, read_lock_info(lock))]
            fcntl.flock(fh, fcntl.LOCK_UN)
    pid_file = run_dir / LNBITS_PID_NAME
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return []
    if pid_alive(pid) and looks_like_lnbits(pid):
        return [f"an LNbits from an earlier make run still runs on {run_dir.name}/ (pid {pid}): "
                f"stop it (kill {pid}), then try again; one LNbits per SQLite folder"]
    return []


def preflight(run_dir: Path, port: int, simnode_port: int) -> list[str]:
    # The folder first: when the other `make run` holds the ports too, it is the reason.
    return check_run_dir(run_dir) or check_ports(port, simnode_port)


def acquire_lock(run_dir: Path, port: int, simnode_port: int):
    """Hold `run_dir`'s lock for the life of this process (the kernel drops it when we die)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / LOCK_NAME, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = read_lock_info(run_dir / LOCK_NAME)
        fh.close()
        raise Refusal(lock_refusal(run_dir, info)) from None
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "port": port, "simnode_port": simnode_port}))
    fh.flush()
    return fh


def admin_password(run_dir: Path) -> tuple[str, bool]:
    """The saved password, or a new one (True when new)."""
    password_file = run_dir / ".admin-password"
    if password_file.exists():
        return password_file.read_text().strip(), False
    run_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(15)
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return password, True


def shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


# --- the run --------------------------------------------------------------------------


def serve(args: argparse.Namespace, stop: dict) -> int:
    from simnode.testing import start_simnode

    from .host import LnbitsHost, PortInUseError

    run_dir: Path = args.run_dir
    simnode = host = None
    pid_file = run_dir / LNBITS_PID_NAME
    try:
        print(f"Starting simnode (seed {args.seed}) …", flush=True)
        try:
            simnode = start_simnode(seed=args.seed, speed=args.speed, extra_args=("--port", str(args.simnode_port)),
                                    cln=args.backend == "cln")
        except RuntimeError:
            if port_problem(args.simnode_port) == "in use":  # taken since the check
                raise Refusal(check_ports(args.port, args.simnode_port)[0]) from None
            raise
        print(f"simnode: {simnode.url} (node {simnode.node_id})", flush=True)
        if args.backend == "cln":
            print(f"simnode's Core Lightning socket: {simnode.cln_socket}", flush=True)
            funding = {"backend": "CoreLightningWallet", "cln_socket": simnode.cln_socket}
        else:
            funding = {"backend": "LndRestWallet", "lnd_endpoint": simnode.url, "macaroon": simnode.macaroon}
        host = LnbitsHost(run_dir, port=args.port, **funding)
        print(f"Starting LNbits 1.6.2 on {host.url} ({host.backend}; log: {shown(host.log_path)}) …", flush=True)
        try:
            host.start()
        except PortInUseError:
            raise Refusal(check_ports(args.port, args.simnode_port)[0]) from None
        pid_file.write_text(f"{host.process.pid}\n")
        password, new = admin_password(run_dir)
        if host.is_first_install_pending():
            token = host.first_install(USERNAME, password)
        else:
            token = host.login_super_user(USERNAME, password)
        host.enable_extension(token)
        host.wait_extension_loaded(token)
        # Ready only for what we started and what still runs (LNbits answers on a socket
        # only its process holds; simnode printed its own ready line).
        if not host.is_running() or simnode.proc.poll() is not None:
            print(f"LNbits or simnode exited during start-up; see {shown(host.log_path)}", file=sys.stderr)
            return 1
        print()
        print("Fee Autopilot is ready:")
        print(f"  open      {host.url}/feepilot/")
        print(f"  user      {USERNAME}")
        print(f"  password  {password}   ({'new, ' if new else ''}saved in {shown(run_dir)}/.admin-password)")
        print(f"  API       curl -H 'Authorization: Bearer {token}' {host.url}/feepilot/api/v1/status")
        print("Ctrl-C stops LNbits and simnode.", flush=True)
        while not stop["now"]:
            if not host.is_running():
                print(f"LNbits exited; see {shown(host.log_path)}", file=sys.stderr)
                return 1
            if simnode.proc.poll() is not None:
                print("simnode exited", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        if host is not None or simnode is not None:
            print("\nStopping …", flush=True)
        if host is not None:
            host.stop()
        pid_file.unlink(missing_ok=True)
        if simnode is not None:
            simnode.stop()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5000, help="LNbits port (make: PORT)")
    parser.add_argument("--simnode-port", type=int, default=8080, help="simnode port (make: SIMNODE_PORT)")
    parser.add_argument("--seed", type=int, default=7, help="simnode seed (make: SEED)")
    parser.add_argument("--backend", choices=("lnd", "cln"), default="lnd",
                        help="LNbits' funding source: LND REST (LndRestWallet) or Core Lightning's JSON-RPC "
                             "(CoreLightningWallet) on simnode's socket (make: BACKEND)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (1: the node lives in real time, with simulated history behind it)")
    parser.add_argument("--run-dir", type=Path, default=REPO_ROOT / "run", help="LNbits' state (default run/)")
    parser.add_argument("--check-only", action="store_true", help="only check the ports and the run folder")
    args = parser.parse_args(argv)
    args.run_dir = args.run_dir.resolve()

    problems = preflight(args.run_dir, args.port, args.simnode_port)
    if problems:
        print("\n".join(problems), file=sys.stderr, flush=True)
        return 1
    if args.check_only:
        return 0

    stop = {"now": False}

    def on_signal(signum, frame):
        if stop["now"]:
            return
        stop["now"] = True
        raise KeyboardInterrupt  # interrupts a start-up in progress; the loop checks the flag

    # Explicit handlers: a shell that starts us in the background ignores SIGINT (Python
    # then never raises KeyboardInterrupt), and a closed terminal sends SIGHUP, which
    # would otherwise leave LNbits (its own session) running on run/.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        lock = acquire_lock(args.run_dir, args.port, args.simnode_port)
    except Refusal as refusal:
        print(refusal, file=sys.stderr, flush=True)
        return 1
    try:
        return serve(args, stop)
    except Refusal as refusal:
        print(refusal, file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
