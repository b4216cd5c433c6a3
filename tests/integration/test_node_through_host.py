"""Issue 2: the node through the host — status and channels, auth, no node API."""

from __future__ import annotations

import time

import httpx
import pytest

STATUS = "/feepilot/api/v1/status"
CHANNELS = "/feepilot/api/v1/channels"


def sim_state(simnode) -> dict:
    return httpx.get(f"{simnode.url}/sim/state", timeout=30).json()


def test_status_shows_the_simnode_node(lnbits, simnode):
    deadline = time.monotonic() + 60  # the HTLC event listener subscribes once LNbits' funding source is up
    with lnbits.client(lnbits.admin_token) as client:
        response = client.get(STATUS)
        while not response.json()["htlc_events"]["live"] and time.monotonic() < deadline:
            time.sleep(0.5)
            response = client.get(STATUS)
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["backend"] == "LndRestWallet"
    assert status["node_api_available"] is True
    assert status["node_api_reason"] is None
    assert status["node_id"] == simnode.node_id
    truth = sim_state(simnode)
    assert status["alias"] == truth["alias"]
    assert status["block_height"] == truth["block_height"]
    counts = status["channel_counts"]
    assert counts["active"] >= 1 and counts.get("inactive", 0) >= 1
    assert counts.get("pending", 0) >= 1 and counts.get("closed", 0) >= 1
    assert status["sources"] == {"channels": True, "policies": True, "forwards": True, "graph": True, "htlc_events": True}
    assert status["htlc_events"]["live"] is True and status["htlc_events"]["running"] is True


def test_channels_carry_the_policies_simnode_holds(lnbits, simnode):
    with lnbits.client(lnbits.admin_token) as client:
        response = client.get(CHANNELS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["node_id"] == simnode.node_id
    listed = {c["id"]: c for c in body["channels"]}
    truth = sim_state(simnode)
    open_truth = {c["chan_id"]: c for c in truth["channels"]}
    assert len(open_truth) == 16
    for chan_id, expected in open_truth.items():
        channel = listed[chan_id]
        assert channel["state"] == ("active" if expected["active"] else "inactive")
        assert channel["capacity_sat"] == expected["capacity_sat"]
        assert channel["local_sat"] == expected["local_msat"] // 1000
        assert channel["remote_sat"] == expected["remote_msat"] // 1000
        assert channel["peer_id"] == expected["peer"]
        assert channel["channel_point"] == expected["channel_point"]
        policy, true_policy = channel["policy"], expected["policy"]
        assert policy is not None, chan_id
        assert policy["base_msat"] == true_policy["base_msat"]
        assert policy["ppm"] == true_policy["ppm"]
        assert policy["cltv_delta"] == true_policy["cltv"]
        assert policy["inbound_base_msat"] == true_policy["inbound_base_msat"]
        assert policy["inbound_ppm"] == true_policy["inbound_ppm"]
        assert policy["min_htlc_msat"] == true_policy["min_htlc_msat"]
        assert policy["max_htlc_msat"] == true_policy["max_htlc_msat"]
        assert channel["peer_alias"]
        assert channel["short_id"].count("x") == 2
    states = {c["state"] for c in body["channels"]}
    assert {"active", "inactive", "pending", "closed"} <= states


@pytest.mark.parametrize("path", [STATUS, CHANNELS])
def test_reads_need_an_admin(lnbits, path):
    with lnbits.client() as anonymous:
        assert anonymous.get(path).status_code == 401
    with lnbits.client(lnbits.user_token) as user:
        response = user.get(path)
        assert response.status_code == 403
        assert "admin" in response.json()["detail"].lower()
    with lnbits.client(lnbits.super_token) as super_user:
        assert super_user.get(path).status_code == 200


def test_wallet_admin_key_is_not_enough(lnbits):
    user = lnbits.host.user(lnbits.super_token)
    adminkey = user["wallets"][0]["adminkey"]
    with httpx.Client(base_url=lnbits.url, headers={"X-API-KEY": adminkey}) as client:
        assert client.get(STATUS).status_code == 401


def test_without_node_manager_status_says_so_and_channels_503(fake_lnbits):
    with fake_lnbits.client(fake_lnbits.admin_token) as client:
        status = client.get(STATUS)
        channels = client.get(CHANNELS)
    assert status.status_code == 200
    body = status.json()
    assert body["backend"] == "FakeWallet"
    assert body["node_api_available"] is False
    assert "FakeWallet" in body["node_api_reason"] and "LndRestWallet" in body["node_api_reason"]
    assert not any(body["sources"].values())
    assert channels.status_code == 503
    assert "LndRestWallet" in channels.json()["detail"]


def test_page_renders_for_admins_and_explains_itself_to_others(lnbits):
    with lnbits.client(lnbits.admin_token) as client:
        page = client.get("/feepilot/")
    assert page.status_code == 200
    assert "feepilot/static/js/index.js" in page.text
    assert "admins only" in page.text
    with lnbits.client(lnbits.user_token) as client:
        assert client.get("/feepilot/").status_code == 200


def test_channels_are_read_in_a_fixed_number_of_node_requests(lnbits, simnode):
    """Fees must not cost one node request per channel (LNbits' get_channels does)."""
    before = sim_state(simnode)["requests"]
    with lnbits.client(lnbits.admin_token) as client:
        assert client.get(CHANNELS).status_code == 200
    after = sim_state(simnode)["requests"]
    made = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert sum(made.values()) <= 7, made
    assert not any(" /v1/graph/edge/" in key for key in made), made
    assert "GET /v1/fees" in made
