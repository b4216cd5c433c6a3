"""Set up the browser tests: Debian's Chromium and the Python `playwright` package.

    python -m devtools.browser_setup

Idempotent. Installs the `chromium` package with apt-get when /usr/bin/chromium is
missing (root, as on the dev machines and CI), then checks that Chromium starts and
that `playwright` imports. It never runs `playwright install`: the tests drive
Debian's Chromium, no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(command, check=True, env=env)


def ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") is None:
        raise SystemExit(f"{CHROMIUM} is missing and apt-get is not available: install Chromium by hand")
    if os.geteuid() != 0:
        raise SystemExit(f"{CHROMIUM} is missing: run `apt-get install chromium` as root (or this script with sudo)")
    run(["apt-get", "update", "-q"])
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"])
    if not CHROMIUM.exists():
        raise SystemExit(f"apt-get installed chromium but {CHROMIUM} is still missing")


def chromium_version() -> str:
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise SystemExit(f"{CHROMIUM} does not start: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def check_playwright() -> str:
    try:
        from playwright._repo_version import version
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"the playwright package is missing ({exc}): pip install -r requirements-dev.txt") from exc
    return version


def main() -> int:
    ensure_chromium()
    print(f"browser: {chromium_version()} at {CHROMIUM}")
    print(f"playwright (python): {check_playwright()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
