"""`make run`: simnode + LNbits 1.6.2 with this extension, ready in a browser.

State lives in `run/` (git-ignored): LNbits' data folder, the extension link and
the admin password. Running it again reuses them; delete `run/` to start afresh.
Ctrl-C stops both processes.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import time

from simnode.testing import start_simnode

from .host import REPO_ROOT, LnbitsHost

RUN_DIR = REPO_ROOT / "run"
PASSWORD_FILE = RUN_DIR / ".admin-password"
USERNAME = "admin"


def admin_password() -> tuple[str, bool]:
    """The saved password, or a new one (True when new)."""
    if PASSWORD_FILE.exists():
        return PASSWORD_FILE.read_text().strip(), False
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(15)
    PASSWORD_FILE.write_text(password + "\n")
    PASSWORD_FILE.chmod(0o600)
    return password, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--simnode-port", type=int, default=8080)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (1: the node lives in real time, with simulated history behind it)")
    args = parser.parse_args()

    print(f"Starting simnode (seed {args.seed}) …", flush=True)
    simnode = start_simnode(seed=args.seed, speed=args.speed, extra_args=("--port", str(args.simnode_port)))
    host = LnbitsHost(
        RUN_DIR,
        port=args.port,
        backend="LndRestWallet",
        lnd_endpoint=simnode.url,
        macaroon=simnode.macaroon,
    )
    try:
        print(f"simnode: {simnode.url} (node {simnode.node_id})", flush=True)
        print(f"Starting LNbits 1.6.2 on {host.url} (log: {host.log_path.relative_to(REPO_ROOT)}) …", flush=True)
        host.start()
        password, new = admin_password()
        if host.is_first_install_pending():
            token = host.first_install(USERNAME, password)
        else:
            token = host.login_super_user(USERNAME, password)
        host.enable_extension(token)
        host.wait_extension_loaded(token)
        print()
        print("Fee Autopilot is ready:")
        print(f"  open      {host.url}/feepilot/")
        print(f"  user      {USERNAME}")
        print(f"  password  {password}   ({'new, ' if new else ''}saved in run/.admin-password)")
        print(f"  API       curl -H 'Authorization: Bearer {token}' {host.url}/feepilot/api/v1/status")
        print("Ctrl-C stops LNbits and simnode.", flush=True)
        stop = False

        def on_signal(signum, frame):
            nonlocal stop
            stop = True

        # Explicit handlers: a shell that starts us in the background ignores
        # SIGINT, and Python then never raises KeyboardInterrupt.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not stop:
            if host.process and host.process.poll() is not None:
                print("LNbits exited; see run/lnbits.log", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping …", flush=True)
        host.stop()
        simnode.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
