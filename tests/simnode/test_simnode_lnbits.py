"""LNbits 1.6.2's real LndRestWallet / LndRestNode against a running simnode."""

from __future__ import annotations

import pytest
import pytest_asyncio

from simnode.testing import start_simnode

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def node():
    with start_simnode(seed=7, speed=0) as n:
        yield n


@pytest_asyncio.fixture
async def lnbits(node):
    from lnbits.settings import settings

    settings.lnd_rest_endpoint = node.url
    settings.lnd_rest_macaroon = node.macaroon
    settings.lnd_rest_cert = ""
    from lnbits.nodes.lndrest import LndRestNode
    from lnbits.utils.cache import cache
    from lnbits.wallets.lndrest import LndRestWallet

    for key in list(getattr(cache, "_values", {})):
        cache.pop(key)
    wallet = LndRestWallet()
    yield wallet, LndRestNode(wallet)
    await wallet.cleanup()


async def test_status_reads_deprecated_balance(node, lnbits):
    wallet, _ = lnbits
    st = await wallet.status()
    assert st.error_message is None
    truth = sum(c["local_msat"] for c in node.state()["channels"]) // 1000 * 1000
    assert st.balance_msat == truth


async def test_get_channels_covers_every_state(node, lnbits):
    from lnbits.nodes.base import ChannelState

    _, ln = lnbits
    chans = await ln.get_channels()
    states = [c.state for c in chans]
    assert states.count(ChannelState.ACTIVE) == 15
    assert states.count(ChannelState.INACTIVE) == 1
    assert states.count(ChannelState.PENDING) == 1
    assert states.count(ChannelState.CLOSED) == 4  # waiting close, force closing, 2 closed
    truth = {c["chan_id"]: c for c in node.state()["channels"]}
    for c in chans:
        if c.state in (ChannelState.ACTIVE, ChannelState.INACTIVE):
            t = truth[c.id]
            assert c.balance.total_msat == t["capacity_sat"] * 1000
            assert c.balance.local_msat == t["local_msat"] // 1000 * 1000
            assert c.name == t["peer_alias"]


async def test_get_channel_and_info(node, lnbits):
    _, ln = lnbits
    st = node.state()
    ch = st["channels"][3]
    got = await ln.get_channel(ch["chan_id"])
    assert got is not None
    assert int(got.fee_ppm) == ch["policy"]["ppm"]
    assert int(got.fee_base_msat) == ch["policy"]["base_msat"]
    assert got.point.funding_txid == ch["channel_point"].split(":")[0]
    info = await ln.get_info()
    assert info.id == node.node_id
    assert info.num_peers > 0 and info.blockheight > 800_000
    assert int(info.fees.monthly_msat) >= int(info.fees.weekly_msat) >= int(info.fees.daily_msat)
    assert info.channel_stats.counts


async def test_set_channel_fee_overwrites_cltv_like_lnd(node, lnbits):
    _, ln = lnbits
    st = node.state()
    ch = next(c for c in st["channels"] if c["active"] and c["policy"]["cltv"] != 80)
    before = ch["policy"]
    await ln.set_channel_fee(ch["chan_id"], 2500, 777)
    after = next(c for c in node.state()["channels"] if c["chan_id"] == ch["chan_id"])
    assert after["policy"]["base_msat"] == 2500 and after["policy"]["ppm"] == 777
    assert after["policy"]["cltv"] == 80  # LNbits hard-codes 80: the reason feepilot must not use it
    assert after["policy"]["max_htlc_msat"] == before["max_htlc_msat"]  # 0 = keep
    assert after["policy_updates"] == ch["policy_updates"] + 1
    got = await ln.get_channel(ch["chan_id"])
    assert int(got.fee_ppm) == 777
    reqs = node.state()["chanpolicy_requests"]
    assert reqs[-1]["body"]["time_lock_delta"] == 80 and reqs[-1]["failed_updates"] == []


async def test_invoice_roundtrip_and_stream(node, lnbits):
    import asyncio

    import httpx

    wallet, _ = lnbits
    inv = await wallet.create_invoice(2100, memo="simnode")
    assert inv.ok and inv.payment_request.startswith("lnbc")
    import bolt11

    dec = bolt11.decode(inv.payment_request)
    assert dec.payee == node.node_id and dec.amount_msat == 2_100_000
    assert (await wallet.get_invoice_status(inv.checking_id)).pending
    from lnbits.settings import settings

    settings.lnbits_running = True
    stream = wallet.paid_invoices_stream()
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.5)
    assert not first.done()  # held open
    httpx.post(node.url + "/sim/invoices/settle", json={"r_hash": inv.checking_id})
    got = await asyncio.wait_for(first, 10)
    assert got == inv.checking_id
    assert (await wallet.get_invoice_status(inv.checking_id)).success
    await stream.aclose()
