"""GET /sim/revenue: simnode's ground truth of the forwards in a window of whole seconds,
node-wide and per outgoing channel, judged against the raw forwards of /sim/state."""

from __future__ import annotations

from simnode import SimNode, handle_sim as handle, load_graph


def truth(forwards: list[dict], start: int, end: int) -> dict:
    chosen = [f for f in forwards if start <= f["ts_ns"] // 10**9 < end]
    per: dict[str, list[int]] = {}
    for f in chosen:
        row = per.setdefault(str(f["chan_out"]), [0, 0, 0])
        row[0] += 1
        row[1] += f["fee_msat"]
        row[2] += f["amt_out_msat"] // 1000
    return {"forwards": len(chosen), "fees_msat": sum(f["fee_msat"] for f in chosen),
            "volume_out_sat": sum(f["amt_out_msat"] // 1000 for f in chosen),
            "channels": {k: {"forwards": v[0], "fees_msat": v[1], "volume_out_sat": v[2]} for k, v in sorted(per.items())}}


def test_revenue_counts_the_forwards_of_a_window_per_outgoing_channel():
    sim = SimNode(load_graph(), seed=13)
    sim.advance(hours=30)
    forwards = handle(sim, "GET", "/sim/state", {"forwards": ["1"]}).json()["forwards"]
    assert len(forwards) > 50
    now = int(sim.now)
    # Windows whose edges fall on a forward's own second, and the whole history.
    edge = forwards[len(forwards) // 2]["ts_ns"] // 10**9
    windows = [(now - 86400, now + 1), (now - 2 * 86400, now - 86400), (edge, edge + 3600), (edge + 1, edge + 7200),
               (edge - 3600, edge), (0, now + 1)]
    for start, end in windows:
        got = handle(sim, "GET", "/sim/revenue", {"from": [str(start)], "to": [str(end)]}).json()
        expected = truth(forwards, start, end)
        assert {k: got[k] for k in expected} == expected, (start, end)
        assert (got["from"], got["to"]) == (start, end)
    assert sum(truth(forwards, s, e)["forwards"] for s, e in windows[:2]) > 0
    everything = handle(sim, "GET", "/sim/revenue").json()
    assert everything["forwards"] == len(forwards)
    assert everything["fees_msat"] == handle(sim, "GET", "/sim/state").json()["totals"]["revenue_msat"]


def test_revenue_refuses_a_bad_bound():
    sim = SimNode(load_graph(), seed=13)
    assert handle(sim, "GET", "/sim/revenue", {"from": ["yesterday"]}).status == 400
