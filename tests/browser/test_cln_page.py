"""Issue 18: the page on Core Lightning. A real LNbits on CoreLightningWallet, on simnode's Core
Lightning face, in Debian's Chromium: what an operator does on LND works the same (a dry run, an
apply of two proposals, a rollback), through setchannel, and changes exactly the fee fields in
simnode's ground truth; the settings hide the inbound-fee controls CLN has no use for."""

from __future__ import annotations

from typing import Iterator

import pytest

from devtools.testenv import HostSession, NodeEnv, attach_host, scid

from .conftest import ready_for_the_page
from .flows import dry_run_apply_two_then_roll_back_one


@pytest.fixture(scope="module")
def cln_env(tmp_path_factory) -> Iterator[NodeEnv]:
    from simnode.testing import start_simnode

    with start_simnode(seed=7, speed=0, cln=True) as node:
        env = attach_host(node, tmp_path_factory.mktemp("lnbits-browser-cln"), cln=True)
        try:
            yield env
        finally:
            env.session.host.stop()


@pytest.fixture(scope="module")
def page_simnode(cln_env):
    return cln_env.simnode


@pytest.fixture(scope="module")
def page_host(cln_env) -> HostSession:
    ready_for_the_page(cln_env.session)
    return cln_env.session


def cln_written_ppms(state: dict, channel: dict) -> list[int]:
    """The fee rates setchannel received for the channel (by its short channel id), oldest first."""
    return [r["params"]["feeppm"] for r in state["setchannel_requests"]
            if isinstance(r["params"], dict) and r["params"].get("id") == scid(channel["chan_id"]) and "error" not in r]


def test_dry_run_apply_two_then_roll_back_one_on_core_lightning(open_page, page_host, page_simnode):
    w = open_page(page_host.super_token)
    assert "CoreLightningWallet" in w.page.locator("[data-testid=header] [data-testid=backend]").inner_text()
    dry_run_apply_two_then_roll_back_one(w, page_host, page_simnode, cln_written_ppms, shot_suffix="-cln")
    # every write named the HTLC limits as they were, and nothing CLN's setchannel has no field for
    for request in page_simnode.state()["setchannel_requests"]:
        assert set(request["params"]) == {"id", "feebase", "feeppm", "htlcmin", "htlcmax"}, request


def test_the_settings_hide_inbound_fees_on_core_lightning(open_page, page_host):
    w = open_page(page_host.super_token)
    page = w.page
    page.locator("[data-testid=open-settings]").click()
    dialog = page.locator("[data-testid=settings-dialog]")
    dialog.wait_for()
    note = dialog.locator("[data-testid=inbound-unavailable]")
    note.wait_for()
    assert "CoreLightningWallet has no inbound fees" in note.inner_text()
    assert dialog.locator("[data-testid=inbound-help]").count() == 0
    assert dialog.locator('[data-field="engine.inbound.manage"]').count() == 0
    assert dialog.locator('[data-field="engine.guardrails.inbound_min_ppm"]').count() == 0
    w.shot("settings-no-inbound-cln")
