"""The Fee Autopilot page in Debian's Chromium against real LNbits + simnode.

Every test saves a screenshot under test-output/browser/ and fails on any console
error, uncaught page error or unexpected HTTP error answer (see conftest.py).
"""

from __future__ import annotations

import re

from devtools.testenv import wait_until

from .conftest import PHONE
from .flows import dry_run_apply_two_then_roll_back_one

SCORE = re.compile(r"^[01]\.\d\d$")
API = "/feepilot/api/v1"


def open_channels(sim_state: dict) -> list[dict]:
    """simnode's /sim/state lists the open channels (pending and closed ones live elsewhere)."""
    return list(sim_state["channels"])


def fee_writes(sim_state: dict, channel_point: str) -> list[dict]:
    txid, index = channel_point.split(":")
    found = []
    for record in sim_state["chanpolicy_requests"]:
        point = record["body"].get("chan_point") or {}
        if point.get("funding_txid_str") == txid and int(point.get("output_index", 0)) == int(index):
            found.append(record)
    return found


def test_every_channel_has_a_score_and_a_row_expands(open_page, page_host, page_simnode):
    w = open_page(page_host.super_token)
    page = w.page
    page.wait_for_selector("[data-testid=channel-row] [data-testid=score]")
    truth = open_channels(page_simnode.state())
    assert truth, "simnode has no open channel"
    for channel in truth:
        row = page.locator(f'[data-testid=channel-row][data-chan="{channel["chan_id"]}"]')
        assert row.count() == 1, f"no row for {channel['chan_id']} ({channel['peer_alias']})"
        score = row.locator("[data-testid=score]").inner_text().strip()
        assert SCORE.match(score), f"{channel['peer_alias']}: score {score!r}"
        assert str(channel["policy"]["ppm"]) in row.inner_text()

    # header: alias, node id, backend, mode switch for the super user, breaker
    header = page.locator("[data-testid=header]")
    state = page_simnode.state()
    assert header.locator("[data-testid=node-alias]").inner_text() == state["alias"]
    assert header.locator("[data-testid=node-id]").inner_text() == state["node_id"]
    assert "LndRestWallet" in header.locator("[data-testid=backend]").inner_text()
    assert header.locator("[data-testid=mode-switch]").is_visible()
    assert "healthy" in header.locator("[data-testid=breaker]").inner_text()

    # filter
    alias = truth[0]["peer_alias"]
    page.fill("[data-testid=channel-filter] input", alias)
    wait_until(lambda: page.locator("[data-testid=channel-row]").count() == 1, what="the filter")
    page.fill("[data-testid=channel-filter] input", "")
    wait_until(lambda: page.locator("[data-testid=channel-row]").count() == len(truth), what="the filter to clear")

    # expand: the eight heuristics with evidence, the recent changes, the charts
    first = page.locator("[data-testid=channel-row]").first
    first.locator("[data-testid=expand]").click()
    detail = page.locator("[data-testid=channel-detail]")
    detail.wait_for()
    heuristics = detail.locator("[data-testid=heuristic]")
    assert heuristics.count() == 8
    for name in ("Centrality", "Liquidity", "Activity", "Competitiveness", "Uptime", "Age & stability", "Peer quality", "Network position"):
        assert name in detail.inner_text()
    page.wait_for_selector("[data-testid=channel-detail] canvas")
    page.wait_for_timeout(300)
    w.shot("channels-expanded")


def test_dry_run_apply_two_then_roll_back_one(open_page, page_host, page_simnode):
    dry_run_apply_two_then_roll_back_one(open_page(page_host.super_token), page_host, page_simnode, lnd_written_ppms)


def lnd_written_ppms(state: dict, channel: dict) -> list[int]:
    """The fee rates LND's /v1/chanpolicy received for the channel, oldest first."""
    return [int(w["body"]["fee_rate_ppm"]) for w in fee_writes(state, channel["channel_point"])]


def test_settings_show_the_server_error_beside_the_field(open_page, page_host):
    w = open_page(page_host.super_token)
    w.expect_http_error(422, f"{API}/settings")
    page = w.page
    page.locator("[data-testid=open-settings]").click()
    dialog = page.locator("[data-testid=settings-dialog]")
    field = dialog.locator('[data-field="interval_minutes"]')
    field.wait_for()
    # LND sets inbound fees: their controls are there (on Core Lightning they are not: test_cln_page)
    assert dialog.locator("[data-testid=inbound-help]").is_visible()
    assert dialog.locator('[data-field="engine.inbound.manage"]').count() == 1
    assert dialog.locator("[data-testid=inbound-unavailable]").count() == 0
    field.locator("input").fill("2")
    dialog.locator("[data-testid=save-settings]").click()
    wait_until(lambda: "at least 5" in field.inner_text(), what="the field error")
    assert "q-field--error" in (field.locator(".q-field").get_attribute("class") or "")
    # the toast says it in the page's words: the field's label, no path and no status line
    toast = page.locator(".q-notification", has_text="Settings not saved: Run every (minutes) must be at least 5")
    toast.wait_for()
    assert "interval_minutes" not in toast.inner_text() and "UNPROCESSABLE" not in toast.inner_text()
    w.shot("settings-field-error")
    with page_host.client(page_host.super_token) as client:
        assert client.get(f"{API}/settings").json()["interval_minutes"] != 2
    field.locator("input").fill("60")

    # a positive inbound fee is refused beside its field, in its label's words (discounts only)
    inbound = dialog.locator('[data-field="engine.guardrails.inbound_min_ppm"]')
    inbound.scroll_into_view_if_needed()
    inbound.locator("input").fill("5")
    dialog.locator("[data-testid=save-settings]").click()
    wait_until(lambda: "at most 0" in inbound.inner_text(), what="the inbound field's error")
    page.locator(".q-notification", has_text="Deepest inbound discount (ppm, 0 or below) must be at most 0").wait_for()
    assert dialog.locator('[data-field="engine.inbound.manage"]').is_visible()
    with page_host.client(page_host.super_token) as client:
        assert client.get(f"{API}/settings").json()["engine"]["guardrails"]["inbound_min_ppm"] <= 0
    inbound.locator("input").fill("-1000")
    # turning inbound management on from the page is saved
    dialog.locator('[data-field="engine.inbound.manage"] .q-field').click()
    page.locator(".q-menu .q-item", has_text="On: discounts").click()
    dialog.locator("[data-testid=save-settings]").click()
    page.locator(".q-notification", has_text="Settings saved").wait_for()
    with page_host.client(page_host.super_token) as client:
        saved = client.get(f"{API}/settings").json()["engine"]
        assert saved["inbound"]["manage"] == "on" and saved["guardrails"]["inbound_min_ppm"] == -1000, saved
        client.put(f"{API}/settings", json={"engine": {"inbound": {"manage": "off"}}}).raise_for_status()
    page.locator("[data-testid=open-settings]").click()
    dialog.wait_for()

    # weights stay normalised when one moves
    total = page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-field^="engine.weights."] .fp-weight-value'))
                  .reduce((sum, el) => sum + parseFloat(el.textContent), 0)"""
    )
    assert abs(total - 100) < 0.5, total
    slider = dialog.locator('[data-field="engine.weights.liquidity"] .q-slider')
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    total = page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-field^="engine.weights."] .fp-weight-value'))
                  .reduce((sum, el) => sum + parseFloat(el.textContent), 0)"""
    )
    assert abs(total - 100) < 0.5, total


def test_admin_sees_the_mode_read_only(open_page, page_host):
    w = open_page(page_host.admin_token)
    page = w.page
    page.wait_for_selector("[data-testid=channel-row] [data-testid=score]")
    assert page.locator("[data-testid=mode-readonly]").is_visible()
    assert page.locator("[data-testid=mode-switch]").count() == 0
    pins = page.locator("[data-testid=pin]")
    assert pins.count() > 0 and page.locator("[data-testid=pin].disabled").count() == pins.count()
    w.shot("admin-read-only")


def test_non_admin_sees_admins_only(open_page, page_host, page_simnode):
    w = open_page(page_host.user_token)
    page = w.page
    banner = page.locator("[data-testid=admins-only]")
    banner.wait_for()
    assert "admins only" in banner.inner_text()
    assert page.locator("[data-testid=channel-table]").count() == 0
    w.shot("non-admin-admins-only")


def test_non_admin_sees_only_aggregates_with_the_public_summary(open_page, page_host, page_simnode):
    with page_host.client(page_host.super_token) as client:
        client.put(f"{API}/settings", json={"public_summary": True}).raise_for_status()
    try:
        w = open_page(page_host.user_token)
        page = w.page
        summary = page.locator("[data-testid=public-summary]")
        summary.wait_for()
        state = page_simnode.state()
        text = summary.inner_text()
        assert state["alias"] in text
        assert str(len(state["channels"])) in text
        assert "0.8-1.0" in text
        html = page.content()
        for channel in state["channels"]:
            local, remote = channel["local_msat"] // 1000, channel["remote_msat"] // 1000
            secrets = [channel["peer"], channel["chan_id"], channel["channel_point"].split(":")[0]]
            for sat in (local, remote, channel["capacity_sat"]):
                secrets += [str(sat), f"{sat:,}"]
            if len(channel["peer_alias"]) >= 4:
                secrets.append(channel["peer_alias"])
            leaked = [s for s in secrets if s in html]
            assert not leaked, f"the public summary shows {leaked} of {channel['peer_alias']}"
        w.shot("non-admin-public-summary")
    finally:
        with page_host.client(page_host.super_token) as client:
            client.put(f"{API}/settings", json={"public_summary": False}).raise_for_status()


def test_dark_and_light_themes(open_page, page_host):
    for dark in (True, False):
        w = open_page(page_host.super_token, dark=dark)
        page = w.page
        page.wait_for_selector("[data-testid=channel-row] [data-testid=score]")
        body = page.locator("body").get_attribute("class") or ""
        assert ("body--dark" if dark else "body--light") in body, body
        colours = page.evaluate(
            """() => {
              const cell = document.querySelector('[data-testid=channel-row] td:nth-child(2)')
              const card = cell.closest('.q-card')
              return [getComputedStyle(cell).color, getComputedStyle(card).backgroundColor]
            }"""
        )
        assert colours[0] != colours[1], colours
        w.shot("theme-dark" if dark else "theme-light")


def test_phone_width_has_no_horizontal_page_scroll(open_page, page_host):
    w = open_page(page_host.super_token, viewport=PHONE)
    page = w.page
    page.wait_for_selector("[data-testid=channel-row] [data-testid=score]")

    def page_width() -> int:
        return page.evaluate("document.documentElement.scrollWidth")

    assert page_width() <= PHONE["width"]
    w.shot("phone-channels")
    page.locator("[data-testid=channel-row]").first.locator("[data-testid=expand]").click()
    page.locator("[data-testid=channel-detail]").wait_for()
    page.wait_for_timeout(300)
    assert page_width() <= PHONE["width"]
    w.shot("phone-expanded")
    page.locator("[data-testid=tab-history]").click()
    page.locator("[data-testid=history]").wait_for()
    assert page_width() <= PHONE["width"]
    page.locator("[data-testid=dry-run]").click()
    page.locator("[data-testid=run-dialog]").wait_for()
    page.wait_for_timeout(300)
    assert page_width() <= PHONE["width"]
    w.shot("phone-dry-run")
