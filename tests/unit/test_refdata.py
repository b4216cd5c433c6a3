"""The repository carries its reference data, nothing reads ../shared, and a missing file is named."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import simnode.conformance as conformance
import simnode.graph as simgraph
from devtools.release import build

REPO_ROOT = Path(__file__).resolve().parents[2]
REFDATA = REPO_ROOT / "refdata"
EXPECTED = [
    "lngraph/README.md",
    "lngraph/ln-2024-09-22.listchannels.json.gz",
    "lngraph/ln-2026-02-03.listchannels.json.gz",
    "specs/lnd-v0.21.2/LICENSE.lnd",
    "specs/lnd-v0.21.2/lightning.swagger.json",
    "specs/lnd-v0.21.2/router.swagger.json",
    "specs/lnd-v0.21.2/invoices.swagger.json",
    "specs/cln-v25.12/LICENSE.cln",
    *(f"specs/cln-v25.12/{name}.json" for name in (
        "getinfo", "listchannels", "listforwards", "listfunds", "listnodes", "listpeerchannels", "listpeers", "setchannel")),
]


@pytest.mark.parametrize("relative", EXPECTED)
def test_reference_file_is_in_the_repository(relative):
    path = REFDATA / relative
    assert path.is_file(), f"missing: refdata/{relative}"
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            assert fh.read(1) == b"{"  # a real gzip'd JSON object, not an LFS pointer
    elif path.suffix == ".json":
        assert isinstance(json.loads(path.read_text()), dict)


def test_readers_point_into_the_repository():
    assert simgraph.default_graph_dir() == REFDATA / "lngraph"
    assert conformance.SPEC_DIR == REFDATA / "specs" / "lnd-v0.21.2"
    assert simgraph.resolve_graph_path("2026") == REFDATA / "lngraph" / "ln-2026-02-03.listchannels.json.gz"


def test_no_code_path_reads_the_shared_folder_beside_the_clone():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    this = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()
    offenders = []
    for name in tracked:
        if name == this or name.startswith("refdata/") or not name.endswith((".py", ".md", ".sh", ".ini", ".cfg", ".toml", "Makefile")):
            continue
        path = REPO_ROOT / name
        if not path.is_file():  # deleted in the work tree
            continue
        text = path.read_text(errors="replace")
        if "../shared" in text or '"shared"' in text or "'shared'" in text:
            offenders.append(name)
    assert offenders == []


def test_missing_snapshot_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(simgraph, "GRAPH_DIR", tmp_path / "lngraph")
    with pytest.raises(simgraph.GraphNotFoundError) as err:
        simgraph.resolve_graph_path("2024")
    assert str(tmp_path / "lngraph" / "ln-2024-09-22.listchannels.json.gz") in str(err.value)


def test_unreadable_snapshot_is_named(tmp_path):
    broken = tmp_path / "broken.json.gz"
    broken.write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ValueError, match="broken.json.gz"):
        simgraph.load_graph(broken)


def test_missing_swagger_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(conformance, "SPEC_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"LND swagger spec missing: .*lightning\.swagger\.json"):
        conformance.swagger("lightning")


def test_simnode_cli_names_a_missing_graph(tmp_path):
    missing = tmp_path / "nope.listchannels.json.gz"
    done = subprocess.run([sys.executable, "-m", "simnode", "--port", "0", "--graph", str(missing)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert str(missing) in done.stderr and "Traceback" not in done.stderr


def test_release_zip_leaves_reference_data_out(tmp_path):
    archive, _ = build(tmp_path)
    names = zipfile.ZipFile(archive).namelist()
    assert "feepilot/config.json" in names
    assert not [n for n in names if n.startswith("feepilot/refdata/") or n.endswith(".gz") or "swagger" in n]
    top = {n.split("/")[1] for n in names if n.count("/") >= 2}
    assert top <= {"engine", "templates", "static"}, top
