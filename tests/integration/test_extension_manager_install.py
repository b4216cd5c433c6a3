"""The release zip installs the way LNbits' extension manager installs it.

A loopback HTTP server serves a manifest and the zip; LNbits is pointed at the
manifest and installs, activates and enables the extension through its own API.
"""

from __future__ import annotations

import functools
import http.server
import json
import secrets
import threading
from pathlib import Path

from devtools.host import LnbitsHost, free_port
from devtools.release import build, explicit_manifest


def serve_folder(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_release_zip_has_runtime_files_only(scratch_dir):
    import zipfile

    archive, sha256 = build(scratch_dir)
    names = zipfile.ZipFile(archive).namelist()
    assert len(sha256) == 64
    for required in ("LICENSE", "README.md", "__init__.py", "config.json", "manifest.json"):
        assert f"feepilot/{required}" in names
    assert "feepilot/templates/feepilot/index.html" in names
    assert "feepilot/static/js/index.js" in names
    assert not [n for n in names if n.startswith(("feepilot/tests/", "feepilot/simnode/", "feepilot/bench/", "feepilot/devtools/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", "Makefile"))]


def test_install_from_manifest_through_lnbits_api(scratch_dir):
    served = scratch_dir / "served"
    archive, sha256 = build(served)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    manifest_url = f"{base}/manifest.json"
    (served / "manifest.json").write_text(json.dumps(explicit_manifest(f"{base}/{archive.name}", sha256)))
    server = serve_folder(served, port)
    host = LnbitsHost(
        scratch_dir / "lnbits",
        backend="FakeWallet",
        link_extension=False,
        extra_env={"LNBITS_EXTENSIONS_MANIFESTS": json.dumps([manifest_url])},
    )
    try:
        host.start()
        token = host.first_install("admin", secrets.token_urlsafe(16))
        with host.client(token) as client:
            releases = client.get("/api/v1/extension/feepilot/releases")
            assert releases.status_code == 200, releases.text
            release = next(r for r in releases.json() if r["source_repo"] == manifest_url)
            assert release["hash"] == sha256

            installed = client.post(
                "/api/v1/extension",
                json={
                    "ext_id": "feepilot",
                    "archive": release["archive"],
                    "source_repo": manifest_url,
                    "version": release["version"],
                },
            )
            assert installed.status_code == 200, installed.text
            assert (host.extensions_path / "extensions" / "feepilot" / "config.json").is_file()

            client.put("/api/v1/extension/feepilot/activate").raise_for_status()
            client.put("/api/v1/extension/feepilot/enable").raise_for_status()
            status = client.get("/feepilot/api/v1/status")
            assert status.status_code == 200, status.text + host.log_tail()
            assert status.json()["version"] == release["version"]
            assert status.json()["backend"] == "FakeWallet"
    finally:
        host.stop()
        server.shutdown()
