"""`--graph` takes any Core Lightning listchannels snapshot, not only the committed ones (issue 14, item 6).

Small synthetic snapshots (a complete graph of 44 nodes, so every node has the >= 40 distinct active
channels into it that simnode wants of a peer) are written in the shapes operators meet: ours (gzip,
`meta`, integers), an older Core Lightning dump (no `meta`, "msat"-suffixed strings, `amount_msat`,
`last_update`, extra keys), a newer one (integer `amount_msat`, no `satoshis`), plain JSON; all load to
the same graph. Bad files stop `python -m simnode` with exit 2 and one line naming the file. The 2024
snapshot still loads to exactly the same graph as before the change (counts and a fingerprint).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simnode import SimNode, TrafficParams, handle, load_graph
from simnode import __main__ as simnode_main
from simnode.graph import GraphFormatError, check_room_for_node

REPO_ROOT = Path(__file__).resolve().parents[2]
N_NODES = 44
DATE = "2025-06-01"
NEWEST = 1748779200  # 2025-06-01 12:00 UTC: the newest last_update in the old-CLN dump


def _pub(i: int) -> str:
    return ("02" if i % 2 else "03") + hashlib.sha256(f"node{i}".encode()).hexdigest()


def _directions() -> list[dict]:
    """Our shape: one entry per direction; a few disabled directions (all policy fields 0)."""
    out = []
    k = 0
    for a in range(N_NODES):
        for b in range(a + 1, N_NODES):
            k += 1
            scid = f"{800000 + k}x{k % 7}x{k % 2}"
            cap = 1_000_000 + 37_000 * k
            for src, dst in ((a, b), (b, a)):
                active = (k + src) % 97 != 0
                out.append({
                    "source": _pub(src), "destination": _pub(dst), "short_channel_id": scid,
                    "satoshis": cap, "active": active,
                    "base_fee_millisatoshi": (1000 if (k + src) % 3 else 0) if active else 0,
                    "fee_per_millionth": (10 + (k * 7 + src) % 900) if active else 0,
                    "delay": (40, 80, 144)[(k + src) % 3] if active else 0,
                    "htlc_minimum_msat": (1000 if k % 2 else 1) if active else 0,
                    "htlc_maximum_msat": cap * 990 if active else 0,
                })
    return out


def current_shape() -> dict:
    return {"meta": {"snapshot_date": DATE, "format": "synthetic"}, "channels": _directions(),
            "aliases": {_pub(i): f"node{i}" for i in range(N_NODES)}}


def old_cln_shape() -> dict:
    """Core Lightning ~v0.10–v23: msat fields as "<n>msat" strings, `satoshis` and `amount_msat`, no meta."""
    chans = []
    for j, c in enumerate(_directions()):
        chans.append({
            "source": c["source"], "destination": c["destination"], "short_channel_id": c["short_channel_id"],
            "public": True, "satoshis": c["satoshis"], "amount_msat": f"{c['satoshis'] * 1000}msat",
            "message_flags": 1, "channel_flags": 0 if c["source"] < c["destination"] else 1,
            "active": c["active"], "last_update": NEWEST - (j * 613) % (9 * 86400),
            "base_fee_millisatoshi": c["base_fee_millisatoshi"], "fee_per_millionth": c["fee_per_millionth"],
            "delay": c["delay"], "htlc_minimum_msat": f"{c['htlc_minimum_msat']}msat",
            "htlc_maximum_msat": f"{c['htlc_maximum_msat']}msat", "features": "",
        })
    return {"channels": chans}


def new_cln_shape() -> dict:
    """Core Lightning v24+: integer `amount_msat`, no `satoshis`, no meta."""
    chans = []
    for c in old_cln_shape()["channels"]:
        c = dict(c)
        del c["satoshis"]
        for key in ("amount_msat", "htlc_minimum_msat", "htlc_maximum_msat"):
            c[key] = int(c[key][:-4])
        chans.append(c)
    return {"channels": chans}


def write(path: Path, data: dict, gz: bool) -> Path:
    raw = json.dumps(data).encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def shape(g) -> tuple:
    """The graph without the per-direction last_update (invented in our format, real in CLN dumps)."""
    def pol(p):
        return None if p is None else (p.base_msat, p.ppm, p.cltv, p.min_htlc_msat, p.max_htlc_msat, p.disabled)

    edges = tuple((e.chan_id, e.txid, e.vout, e.node1, e.node2, e.capacity, pol(e.pol1), pol(e.pol2)) for e in g.edges)
    inbound = tuple(sorted((k, tuple((c.source, c.capacity, c.base_msat, c.ppm) for c in v)) for k, v in g.inbound.items()))
    return edges, inbound, tuple(sorted(g.node_edges))


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    d = tmp_path_factory.mktemp("snapshots")
    return {
        "current": write(d / "current.listchannels.json.gz", current_shape(), gz=True),
        "plain": write(d / "plain.json", current_shape(), gz=False),
        # the suffix lies both ways: the first bytes decide
        "old_cln": write(d / "old-cln.json", old_cln_shape(), gz=True),
        "old_cln_plain": write(d / "old-cln-plain.json.gz", old_cln_shape(), gz=False),
        "new_cln": write(d / "new-cln.json", new_cln_shape(), gz=False),
    }


def test_every_shape_loads_to_the_same_graph(snapshots):
    graphs = {name: load_graph(path) for name, path in snapshots.items()}
    ref = graphs["current"]
    n_channels = N_NODES * (N_NODES - 1) // 2
    assert len(ref.edges) == n_channels and len(ref.node_edges) == N_NODES
    assert all(isinstance(e.capacity, int) for e in ref.edges)
    for name, g in graphs.items():
        assert shape(g) == shape(ref), name
        assert g.snapshot_date == DATE, name
    for g in graphs.values():  # "990000000msat" and friends became integers
        for e in g.edges[:50]:
            for p in (e.pol1, e.pol2):
                assert all(type(v) is int for v in (p.base_msat, p.ppm, p.cltv, p.min_htlc_msat, p.max_htlc_msat))
                assert p.disabled or p.max_htlc_msat == e.capacity * 990
    assert ref.aliases[_pub(0)] == "node0" and graphs["old_cln"].aliases == {}


def test_snapshot_date_without_meta_is_the_newest_last_update(snapshots):
    ours = load_graph(snapshots["current"])
    assert (ours.snapshot_date, ours.snapshot_date_source) == (DATE, "meta.snapshot_date")
    old = load_graph(snapshots["old_cln"])
    assert (old.snapshot_date, old.snapshot_date_source) == (DATE, "newest last_update")
    # a real last_update is served as it is; ours are invented (before the snapshot date)
    assert max(max(p.last_update for p in (e.pol1, e.pol2) if p) for e in old.edges) == NEWEST
    assert all(e.last_update < ours.snapshot_ts for e in ours.edges)


def test_no_meta_and_no_last_update_falls_back_to_the_file_date(tmp_path):
    data = current_shape()
    del data["meta"]
    path = write(tmp_path / "no-meta.json", data, gz=False)
    g = load_graph(path)
    assert g.snapshot_date_source == "file modification time"
    assert g.snapshot_date == time.strftime("%Y-%m-%d", time.gmtime(path.stat().st_mtime))


def test_simnode_builds_the_same_node_on_every_shape(snapshots):
    states = []
    for name in ("current", "old_cln", "new_cln"):
        g = load_graph(snapshots[name])
        check_room_for_node(g, 16)
        sim = SimNode(g, seed=3, params=TrafficParams(history_days=1))
        chans = handle(sim, "GET", "/v1/channels").json()["channels"]
        assert len(chans) == 16
        edge = handle(sim, "GET", f"/v1/graph/edge/{g.edges[5].chan_id}").json()
        assert edge["capacity"] == str(g.edges[5].capacity)
        sim.advance(hours=12)
        s = sim.state()
        assert s["totals"]["forwards"] > 0
        states.append(([{k: v for k, v in c.items() if k != "peer_alias"} for c in s["channels"]], s["totals"]))
    assert states[0] == states[1] == states[2]


# --- malformed input: one line naming the file --------------------------------------------------------


def _broken(kind: str) -> tuple[bytes, str]:
    chans = _directions()
    if kind == "no_scid":
        del chans[3]["short_channel_id"]
        return json.dumps({"channels": chans}).encode(), "channel 3 has no short_channel_id"
    if kind == "bad_fee":
        chans[7]["fee_per_millionth"] = "abc"
        chans[7]["active"] = True
        return json.dumps({"channels": chans}).encode(), "has fee_per_millionth \"abc\""
    if kind == "bad_msat":
        chans[2]["htlc_minimum_msat"] = "12sat"
        return json.dumps({"channels": chans}).encode(), "channel 2 (800002x2x0) has htlc_minimum_msat \"12sat\""
    if kind == "no_capacity":
        del chans[4]["satoshis"]
        return json.dumps({"channels": chans}).encode(), "channel 4 (800003x3x1) has neither satoshis nor amount_msat"
    if kind == "bad_pubkey":
        chans[0]["source"] = "02abc"
        return json.dumps({"channels": chans}).encode(), "channel 0 (800001x1x1) has source \"02abc\""
    if kind == "duplicate":
        chans.append(dict(chans[1]))
        return json.dumps({"channels": chans}).encode(), f"channel {len(chans) - 1} (800001x1x1) repeats channel 1 (same short_channel_id and source)"
    if kind == "other_nodes":
        chans[1]["source"] = _pub(5)
        return json.dumps({"channels": chans}).encode(), "channel 1 (800001x1x1) joins other nodes than channel 0"
    if kind == "no_channels_key":
        return json.dumps({"nodes": []}).encode(), 'has no "channels" list'
    if kind == "top_level_list":
        return json.dumps(chans).encode(), "top level is a JSON list"
    if kind == "not_json":
        return b"hello, not json\n", "is not JSON"
    if kind == "truncated_gzip":
        return gzip.compress(json.dumps({"channels": chans}).encode())[:500], "is not valid gzip"
    if kind == "bad_date":
        return json.dumps({"meta": {"snapshot_date": "22/09/2024"}, "channels": chans}).encode(), "meta.snapshot_date"
    if kind == "too_small":
        small = [c for c in chans if c["source"] in {_pub(i) for i in range(5)} and c["destination"] in {_pub(i) for i in range(5)}]
        return json.dumps({"channels": small}).encode(), "only 0 nodes have >= 40 distinct active channels into them"
    raise AssertionError(kind)


BROKEN = ("no_scid", "bad_fee", "bad_msat", "no_capacity", "bad_pubkey", "duplicate", "other_nodes", "no_channels_key",
          "top_level_list", "not_json", "truncated_gzip", "bad_date", "too_small")


@pytest.mark.parametrize("kind", BROKEN)
def test_malformed_snapshot_is_one_line_naming_the_file(kind, tmp_path, capsys):
    data, what = _broken(kind)
    path = tmp_path / f"{kind}.json"
    path.write_bytes(data)
    with pytest.raises(SystemExit) as exit_:
        simnode_main.main(["--graph", str(path), "--port", "0", "--speed", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"simnode: graph snapshot {path}"), err
    assert what in err, err
    assert "Traceback" not in err


def test_loader_raises_graph_format_error(tmp_path):
    path = tmp_path / "x.json.gz"
    path.write_bytes(_broken("no_scid")[0])
    with pytest.raises(GraphFormatError, match=r"x\.json\.gz: channel 3 has no short_channel_id$"):
        load_graph(path)


def test_cli_exits_2_with_one_line_naming_the_bad_file(tmp_path):
    path = tmp_path / "bad-snapshot.json"
    path.write_bytes(_broken("no_scid")[0])
    proc = subprocess.run([sys.executable, "-m", "simnode", "--graph", str(path), "--port", "0"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"simnode: graph snapshot {path}: channel 3 has no short_channel_id"], proc.stderr
    assert proc.stdout == ""


# --- the committed snapshots load exactly as before ---------------------------------------------------


def fingerprint(g) -> str:
    h = hashlib.sha256()
    h.update(f"{g.snapshot_date}|{g.snapshot_ts}|{len(g.aliases)}".encode())

    def pol(p):
        return None if p is None else (p.base_msat, p.ppm, p.cltv, p.min_htlc_msat, p.max_htlc_msat, p.disabled,
                                       p.last_update)

    for e in g.edges:
        h.update(repr((e.chan_id, e.txid, e.vout, e.node1, e.node2, e.capacity, e.last_update,
                       pol(e.pol1), pol(e.pol2))).encode())
    for k in sorted(g.inbound):
        h.update(k.encode())
        h.update(repr([(c.source, c.capacity, c.base_msat, c.ppm) for c in g.inbound[k]]).encode())
    h.update(repr(sorted(g.aliases.items())).encode())
    return h.hexdigest()


def test_2024_snapshot_is_unchanged():
    """Counts and fingerprint measured with the loader before `--graph` took other snapshots."""
    g = load_graph("2024")
    assert (len(g.edges), len(g.node_edges), sum(len(v) for v in g.inbound.values())) == (59428, 18212, 106666)
    assert (g.snapshot_date, g.snapshot_date_source) == ("2024-09-22", "meta.snapshot_date")
    assert fingerprint(g) == "a238874adb45eee6d261d82e19a9f64edb731c086d652eca8d7443f512f871b1"


# --- bench/strategies.py --graph FILE -------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_bench_quick_runs_on_a_snapshot_file(snapshots, tmp_path):
    """`--quick --graph FILE`: seed 1 of that file, 7 days, every strategy (about 7 s on this graph)."""
    from bench import strategies

    out = tmp_path / "out"
    path = snapshots["old_cln"]
    assert strategies.main(["--quick", "--graph", str(path), "--workers", "1", "--out", str(out)]) == 0
    data = json.loads((out / "strategies.json").read_text())
    assert data["days"] == 7 and {r["strategy"] for r in data["results"]} == set(strategies.STRATEGIES)
    assert {(r["graph"], r["seed"]) for r in data["results"]} == {(str(path), 1)}
    report = (out / "strategies.md").read_text()
    assert f"Graph `{path.name}`: 946 channels, 44 nodes" in report
    assert "snapshot date 2025-06-01 (from the newest last_update)" in report


def test_bench_refuses_an_unusable_snapshot_in_one_line(tmp_path, capsys):
    from bench import strategies

    bad = tmp_path / "too-small.json"
    bad.write_bytes(_broken("too_small")[0])
    assert strategies.main(["--graph", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"bench/strategies.py: graph snapshot {bad}: only 0 nodes"), err
    assert not (tmp_path / "out").exists()
