"""simnode for the scale benchmark (bench/scale.py): thousands of channels (`--min-peer-degree`) and the
bytes of its answers per route (`GET /sim/requests`)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from simnode import SimNode, TrafficParams, load_graph
from simnode.__main__ import build_parser
from simnode.graph import GraphFormatError, check_room_for_node, well_connected
from simnode.node import MIN_PEER_DEGREE
from simnode.testing import start_simnode


def test_min_peer_degree_admits_more_peers():
    g = load_graph()
    channels = len(well_connected(g, MIN_PEER_DEGREE)) + 50  # more than the default admits
    with pytest.raises(GraphFormatError, match=f">= {MIN_PEER_DEGREE} distinct"):
        check_room_for_node(g, channels)
    check_room_for_node(g, channels, min_degree=15)
    sim = SimNode(g, seed=3, channels=channels, params=TrafficParams(history_days=0), min_peer_degree=15)
    peers = [c.peer for c in sim.channels]
    assert len(peers) == channels and len(set(peers)) == channels  # distinct peers, as before
    admitted = set(well_connected(g, 15))
    assert set(peers) <= admitted
    assert any(p not in set(well_connected(g, MIN_PEER_DEGREE)) for p in peers)  # the lower bar was used
    assert build_parser().parse_args(["--min-peer-degree", "6"]).min_peer_degree == 6
    assert build_parser().parse_args([]).min_peer_degree is None  # the default stays MIN_PEER_DEGREE


def test_default_node_unchanged_by_the_parameter():
    g = load_graph()
    a = SimNode(g, seed=5, channels=16, params=TrafficParams(history_days=1))
    b = SimNode(g, seed=5, channels=16, params=TrafficParams(history_days=1), min_peer_degree=MIN_PEER_DEGREE)
    assert [(c.peer, c.chan_id, c.local_msat) for c in a.channels] == [(c.peer, c.chan_id, c.local_msat) for c in b.channels]
    assert len(a.forwards) == len(b.forwards)


def test_sim_requests_counts_requests_and_answer_bytes():
    with start_simnode(seed=7, speed=0, extra_args=("--history-days", "1")) as node:
        sizes = []
        for _ in range(2):
            request = urllib.request.Request(node.url + "/v1/getinfo", headers=node.headers)
            with urllib.request.urlopen(request, timeout=30) as answer:
                sizes.append(len(answer.read()))
        status, _ = node.post("/v1/switch", {"num_max_events": 5})
        assert status == 200
        seen = node.requests()
        assert seen["requests"]["GET /v1/getinfo"] == 2
        assert seen["response_bytes"]["GET /v1/getinfo"] == sum(sizes)
        assert seen["requests"]["POST /v1/switch"] == 1 and seen["response_bytes"]["POST /v1/switch"] > 0
        assert seen["requests"] == node.state()["requests"]  # the same counts as /sim/state
        assert "/sim/state" not in json.dumps(seen)  # control routes are not node requests
