"""Build the release zip the LNbits extension manager installs.

Only what the extension needs at run time goes in: no tests, benchmarks,
simnode or dev files. The zip is reproducible (fixed timestamps, sorted
entries), so its sha256 identifies the content.

    python -m devtools.release            # writes dist/feepilot-<version>.zip, prints sha256
"""

from __future__ import annotations

import argparse
import hashlib
import json
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_FILES = ("config.json", "manifest.json", "description.md", "README.md", "LICENSE")
RUNTIME_DIRS = ("engine", "templates", "static")
EXCLUDED_DIRS = {"__pycache__", "baselines"}
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def version() -> str:
    return json.loads((REPO_ROOT / "config.json").read_text())["version"]


def runtime_paths() -> list[Path]:
    paths = [REPO_ROOT / name for name in RUNTIME_FILES]
    paths += [p for p in REPO_ROOT.glob("*.py") if p.name != "conftest.py"]
    for folder in RUNTIME_DIRS:
        for path in (REPO_ROOT / folder).rglob("*"):
            relative = path.relative_to(REPO_ROOT)
            if path.is_file() and not EXCLUDED_DIRS.intersection(relative.parts) and path.suffix != ".pyc":
                paths.append(path)
    return sorted(set(paths))


def build(dist: Path) -> tuple[Path, str]:
    dist.mkdir(parents=True, exist_ok=True)
    archive = dist / f"feepilot-{version()}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in runtime_paths():
            # LNbits takes the zip's single top folder as the extension folder.
            info = zipfile.ZipInfo(f"feepilot/{path.relative_to(REPO_ROOT).as_posix()}", FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def explicit_manifest(archive_url: str, sha256: str) -> dict:
    """A manifest entry in the format LNbits reads for releases outside GitHub."""
    config = json.loads((REPO_ROOT / "config.json").read_text())
    return {
        "extensions": [
            {
                "id": "feepilot",
                "repo": config.get("repo"),
                "name": config["name"],
                "version": config["version"],
                "short_description": config["short_description"],
                "icon": config.get("tile"),
                "archive": archive_url,
                "hash": sha256,
                "min_lnbits_version": config["min_lnbits_version"],
            }
        ]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dist", type=Path, default=REPO_ROOT / "dist")
    args = parser.parse_args()
    archive, sha256 = build(args.dist)
    print(f"{archive.relative_to(REPO_ROOT) if archive.is_relative_to(REPO_ROOT) else archive}")
    print(f"sha256 {sha256}")


if __name__ == "__main__":
    main()
