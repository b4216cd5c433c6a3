"""A real LNbits 1.6.2 with this repository mounted as the `feepilot` extension.

Used by `make run` (devtools/run.py) and by the integration, crash and browser
tests. LNbits runs as its own uvicorn process, exactly as an operator runs it;
nothing of LNbits is mocked.

    host = LnbitsHost(workdir, backend="LndRestWallet", lnd_endpoint=url, macaroon=hex)
    host = LnbitsHost(workdir, backend="CoreLightningWallet", cln_socket=path)   # Core Lightning
    host.start()
    host.first_install("admin", password)   # or host.login(...) when already installed
    host.enable_extension(host.super_token)
    ...
    host.stop()
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
EXTENSION_ID = "feepilot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortInUseError(OSError):
    """The port is taken by another process (a listener, or a socket bound to it)."""


def reserve_port(port: int, host: str = "127.0.0.1") -> socket.socket:
    """Bind and listen on `host:port` now, or raise PortInUseError at once.

    LNbits gets this very socket (SERVE_ON_FD): no other process can take the port
    between the check and the start, and whatever answers on it afterwards is the
    process we started, never another server that happened to be there.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a previous run's TIME_WAIT is fine
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(exc.errno, f"port {port} is in use") from exc
        raise
    return sock


# uvicorn serving LNbits on the listening socket the harness passes (argv[1] is its fd).
# Not `uvicorn --fd`: that wraps the descriptor as an AF_UNIX socket, so asyncio never sets
# TCP_NODELAY and small answers wait for delayed ACKs (health during a busy cycle: median
# 52 ms instead of 11). socket(fileno=...) reads the real family from the descriptor.
SERVE_ON_FD = (
    "import socket, sys, uvicorn; "
    "sock = socket.socket(fileno=int(sys.argv[1])); "
    "uvicorn.Server(uvicorn.Config('lnbits.__main__:app', log_level='warning')).run(sockets=[sock])"
)


def lnbits_site_packages() -> Path:
    """LNbits resolves `lnbits/static` relative to the cwd: start it from here."""
    import lnbits

    return Path(lnbits.__file__).resolve().parent.parent


class LnbitsHost:
    def __init__(
        self,
        workdir: Path,
        *,
        port: int = 0,
        backend: str = "LndRestWallet",
        lnd_endpoint: Optional[str] = None,
        macaroon: str = "",
        cln_socket: Optional[str] = None,
        link_extension: bool = True,
        extra_env: Optional[dict[str, str]] = None,
    ):
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.backend = backend
        self.lnd_endpoint = lnd_endpoint
        self.macaroon = macaroon
        self.cln_socket = cln_socket
        self.link_extension = link_extension
        self.extra_env = dict(extra_env or {})
        self.process: Optional[subprocess.Popen] = None
        self.super_token: Optional[str] = None
        self.super_user_id: Optional[str] = None
        self.log_path = self.workdir / "lnbits.log"

    # --- layout and environment -------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_folder(self) -> Path:
        return self.workdir / "data"

    @property
    def extensions_path(self) -> Path:
        return self.workdir / "lnbits-extensions"

    def prepare(self) -> None:
        self.data_folder.mkdir(parents=True, exist_ok=True)
        extensions = self.extensions_path / "extensions"
        extensions.mkdir(parents=True, exist_ok=True)
        link = extensions / EXTENSION_ID
        if self.link_extension and not link.exists():
            link.symlink_to(REPO_ROOT, target_is_directory=True)

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LNBITS_", "LND_", "FUNDING_", "CORELIGHTNING_", "CLIGHTNING_"))
        }
        env.update(
            {
                "LNBITS_DATA_FOLDER": str(self.data_folder),
                "LNBITS_EXTENSIONS_PATH": str(self.extensions_path),
                "LNBITS_ADMIN_UI": "true",
                "LNBITS_BACKEND_WALLET_CLASS": self.backend,
                "LNBITS_EXTENSIONS_DEFAULT_INSTALL": "[]",
                "LNBITS_EXTENSIONS_MANIFESTS": "[]",
                "LNBITS_WASM_EXTENSIONS_MANIFESTS": "[]",
                "LNBITS_RATE_LIMIT_NO": "1000000",
                "AUTH_HTTPS_ONLY": "false",
                "FUNDING_SOURCE_MAX_RETRIES": "2",
                "LNBITS_SITE_TITLE": "LNbits",
                "DEBUG": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.lnd_endpoint:
            env["LND_REST_ENDPOINT"] = self.lnd_endpoint
            env["LND_REST_MACAROON"] = self.macaroon
            env["LND_REST_CERT"] = ""
        if self.cln_socket:
            env["CORELIGHTNING_RPC"] = self.cln_socket  # LNbits' settings.corelightning_rpc
        env.update(self.extra_env)
        return env

    # --- process ------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        """Start LNbits on `self.port`; PortInUseError at once (nothing started) when it is taken."""
        self.prepare()
        sock = reserve_port(self.port)
        try:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", SERVE_ON_FD, str(sock.fileno())],
                    cwd=lnbits_site_packages(),
                    env=self.environment(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(sock.fileno(),),
                )
        finally:
            sock.close()  # the child holds the listening socket now; ours would outlive a dead child
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Until our process answers: it holds the only listening socket on the port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"LNbits exited with {self.process.returncode}; see {self.log_path}\n{self.log_tail()}")
            try:
                # 307 (first install pending) or 200: the app is serving. Until uvicorn
                # accepts, a request waits in the socket's backlog: keep the timeout short.
                response = httpx.get(f"{self.url}/api/v1/health", timeout=1)
                if response.status_code in (200, 307) and self.process and self.process.poll() is None:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"LNbits did not answer within {timeout:.0f} s\n{self.log_tail()}")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if not self.process or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def kill(self) -> None:
        """A crash: no shutdown hooks run."""
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- accounts -------------------------------------------------------------------

    def client(self, token: Optional[str] = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def first_install(self, username: str, password: str) -> str:
        with self.client() as client:
            response = client.put(
                "/api/v1/auth/first_install",
                json={"username": username, "password": password, "password_repeat": password},
            )
        if response.status_code != 200:
            raise RuntimeError(f"first install failed: {response.status_code} {response.text}")
        self.super_token = response.json()["access_token"]
        self.super_user_id = self.user(self.super_token)["id"]
        return self.super_token

    def is_first_install_pending(self) -> bool:
        with self.client(follow_redirects=False) as client:
            return client.get("/api/v1/health").status_code == 307

    def login(self, username: str, password: str) -> str:
        with self.client() as client:
            response = client.post("/api/v1/auth", json={"username": username, "password": password})
        if response.status_code != 200:
            raise RuntimeError(f"login of {username} failed: {response.status_code} {response.text}")
        return response.json()["access_token"]

    def login_super_user(self, username: str, password: str) -> str:
        self.super_token = self.login(username, password)
        self.super_user_id = self.user(self.super_token)["id"]
        return self.super_token

    def user(self, token: str) -> dict[str, Any]:
        with self.client(token) as client:
            response = client.get("/api/v1/auth")
        response.raise_for_status()
        return response.json()

    def create_user(self, username: str, password: str, *, admin: bool = False) -> dict[str, Any]:
        """A new account with a password; `admin` makes it an LNbits admin user."""
        with self.client(self.super_token) as client:
            response = client.post(
                "/users/api/v1/user",
                json={"username": username, "password": password, "password_repeat": password},
            )
            if response.status_code != 200:
                raise RuntimeError(f"create user failed: {response.status_code} {response.text}")
            user_id = response.json()["id"]
            if admin:
                client.put(f"/users/api/v1/user/{user_id}/admin").raise_for_status()
        token = self.login(username, password)
        return {"id": user_id, "token": token, "user": self.user(token)}

    def enable_extension(self, token: str) -> None:
        with self.client(token) as client:
            response = client.put(f"/api/v1/extension/{EXTENSION_ID}/enable")
        if response.status_code != 200:
            raise RuntimeError(f"enable failed: {response.status_code} {response.text}")

    def wait_extension_loaded(self, token: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        with self.client(token) as client:
            while time.monotonic() < deadline:
                last = client.get(f"/{EXTENSION_ID}/api/v1/status")
                if last.status_code == 200:
                    return
                time.sleep(0.3)
        detail = f"{last.status_code} {last.text}" if last is not None else "no answer"
        raise RuntimeError(f"{EXTENSION_ID} did not load: {detail}\n{self.log_tail()}")

