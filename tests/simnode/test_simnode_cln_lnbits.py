"""LNbits 1.6.2's real CoreLightningWallet / CoreLightningNode against simnode's CLN socket."""

from __future__ import annotations

import asyncio

import bolt11
import httpx
import pytest
import pytest_asyncio

from simnode.testing import start_simnode

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def node():
    with start_simnode(seed=7, speed=0, cln=True) as n:
        n.advance(hours=6)
        yield n


@pytest_asyncio.fixture
async def lnbits(node):
    from lnbits.settings import settings

    saved = (settings.corelightning_rpc, settings.lnbits_running)
    settings.corelightning_rpc = node.cln_socket  # what LNbits reads as CORELIGHTNING_RPC
    from lnbits.nodes.cln import CoreLightningNode
    from lnbits.wallets.corelightning import CoreLightningWallet

    wallet = CoreLightningWallet()  # calls help("invoice") and listinvoices on the socket
    yield wallet, CoreLightningNode(wallet)
    await wallet.cleanup()
    settings.corelightning_rpc, settings.lnbits_running = saved


async def test_wallet_starts_and_status_sums_every_channel(node, lnbits):
    wallet, _ = lnbits
    assert wallet.supports_description_hash  # from `help invoice` naming deschashonly
    st = await wallet.status()
    assert st.error_message is None
    truth = node.state()
    # listfunds lists every channel lightningd still has: open ones, the pending open and the two closing
    local = sum(c["local_msat"] for c in truth["channels"])
    records = node.cln_call("listpeerchannels")["result"]["channels"]
    pending = sum(r["to_us_msat"] for r in records if r["state"] != "CHANNELD_NORMAL")
    assert st.balance_msat == local + pending
    assert node.requests()["requests"]["cln help"] >= 1


async def test_create_invoice_and_the_stream_delivers_a_settlement(node, lnbits):
    from lnbits.settings import settings

    wallet, _ = lnbits
    inv = await wallet.create_invoice(2100, memo="simnode cln")
    assert inv.ok and inv.payment_request.startswith("lnbc")
    decoded = bolt11.decode(inv.payment_request)
    assert decoded.payee == node.node_id and decoded.amount_msat == 2_100_000 and decoded.description == "simnode cln"
    assert (await wallet.get_invoice_status(inv.checking_id)).pending
    settings.lnbits_running = True
    stream = wallet.paid_invoices_stream()
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(2.5)  # longer than the stream's 2 s waitanyinvoice timeout: it asked again
    assert not first.done()
    httpx.post(node.url + "/sim/invoices/settle", json={"r_hash": inv.checking_id})
    assert await asyncio.wait_for(first, 10) == inv.checking_id
    assert (await wallet.get_invoice_status(inv.checking_id)).success
    settings.lnbits_running = False
    await stream.aclose()
    assert node.requests()["requests"]["cln waitanyinvoice"] >= 2


async def test_payments_fail_without_a_route(lnbits):
    wallet, _ = lnbits
    inv = await wallet.create_invoice(1000, memo="to pay")
    paid = await wallet.pay_invoice(inv.payment_request, 5000)
    assert paid.ok is False and "Ran out of routes" in paid.error_message
    assert (await wallet.get_payment_status(inv.checking_id)).failed  # listpays knows no such payment


async def test_get_channels_and_info(node, lnbits):
    from lnbits.nodes.base import ChannelState

    _, ln = lnbits
    chans = await ln.get_channels()
    states = [c.state for c in chans]
    # the offline peer's channel is CHANNELD_NORMAL in CLN: LNbits calls that active
    assert states.count(ChannelState.ACTIVE) == 16
    assert states.count(ChannelState.PENDING) == 1 and states.count(ChannelState.CLOSED) == 2
    truth = {c["channel_point"].split(":")[0]: c for c in node.state()["channels"]}
    for c in chans:
        if c.state != ChannelState.ACTIVE:
            continue
        t = truth[c.point.funding_txid]
        assert c.balance.total_msat == t["capacity_sat"] * 1000
        assert c.balance.local_msat == max(0, t["local_msat"] - max(354, t["capacity_sat"] // 100) * 1000)
        assert (int(c.fee_ppm), int(c.fee_base_msat)) == (t["policy"]["ppm"], t["policy"]["base_msat"])
        assert c.name == t["peer_alias"] and c.short_id
    info = await ln.get_info()
    assert info.id == node.node_id and info.backend_name == "CLN" and info.blockheight == node.state()["block_height"]
    assert info.num_peers == 16 and int(info.fees.total_msat) > 0


async def test_set_channel_fee_changes_only_the_fee_fields(node, lnbits):
    from lnbits.nodes.base import ChannelState

    _, ln = lnbits
    chans = [c for c in await ln.get_channels() if c.state == ChannelState.ACTIVE]
    target = chans[2]
    before = {c["chan_id"]: c for c in node.state()["channels"]}
    await ln.set_channel_fee(target.id, 2500, 777)  # LNbits passes CLN's channel_id
    after = {c["chan_id"]: c for c in node.state()["channels"]}
    changed = [cid for cid in before if before[cid]["policy"] != after[cid]["policy"]]
    assert len(changed) == 1
    old, new = before[changed[0]]["policy"], after[changed[0]]["policy"]
    assert after[changed[0]]["channel_point"].startswith(target.point.funding_txid)
    assert (new["base_msat"], new["ppm"]) == (2500, 777)
    assert {k: v for k, v in new.items() if k not in ("base_msat", "ppm", "last_update")} == {
        k: v for k, v in old.items() if k not in ("base_msat", "ppm", "last_update")}  # cltv, htlc limits, inbound kept
    assert after[changed[0]]["policy_updates"] == before[changed[0]]["policy_updates"] + 1
    got = await ln.get_channel(target.id)
    assert (int(got.fee_ppm), int(got.fee_base_msat)) == (777, 2500)
    request = node.state()["setchannel_requests"][-1]
    assert request["params"] == {"id": target.id, "feebase": 2500, "feeppm": 777}
