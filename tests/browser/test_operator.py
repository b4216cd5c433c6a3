"""The page answers an operator's three questions: is it earning, what will it do, did it help?

Its own simnode and LNbits on one simulated clock (devtools.testenv.NodeEnv), so a
test can advance the node two days and compare what the page shows with simnode's
ground truth (`/sim/revenue`) over the same windows. Every test fails on console
errors and unexpected HTTP errors (conftest.py) and saves screenshots under
test-output/browser/.
"""

from __future__ import annotations

import re
import shutil

import pytest

from devtools.testenv import NodeEnv, output_dir, start_node_env

from .conftest import PHONE
from .test_page import wait_until

API = "/feepilot/api/v1"
FORBIDDEN = ("engine.", "guardrails.", "{'")


@pytest.fixture(scope="module")
def node_env(tmp_path_factory) -> NodeEnv:
    env = start_node_env(tmp_path_factory.mktemp("operator"))
    yield env
    env.session.host.stop()
    env.simnode.stop()
    try:
        shutil.copy(env.session.host.log_path, output_dir() / "lnbits-browser-operator.log")
    except OSError:
        pass


# conftest's open_page drives these two: here they are the NodeEnv's.
@pytest.fixture(scope="module")
def page_host(node_env):
    return node_env.session


@pytest.fixture(scope="module")
def page_simnode(node_env):
    return node_env.simnode


@pytest.fixture(scope="module")
def user_ids(node_env) -> list[str]:
    with node_env.client() as client:
        super_id = client.get("/api/v1/auth").json()["id"]
    return [super_id, node_env.session.admin_id, node_env.session.user_id]


def assert_plain_text(page, user_ids: list[str], where: str) -> None:
    """No internal path, Python repr or raw user id anywhere in the page's text."""
    text = page.locator("body").inner_text()
    for fragment in FORBIDDEN:
        assert fragment not in text, f"{where}: the page shows {fragment!r}: …{snippet(text, fragment)}…"
    for user_id in user_ids:
        for probe in (user_id, user_id[:8]):
            assert probe not in text, f"{where}: the page shows the user id {probe}: …{snippet(text, probe)}…"


def snippet(text: str, fragment: str) -> str:
    at = text.find(fragment)
    return text[max(0, at - 60): at + 60]


def accepted_decision(env: NodeEnv) -> tuple[dict, dict]:
    run = env.dry_run()
    detail = env.api("GET", f"/runs/{run['id']}").json()
    accepted = [d for d in detail["decisions"] if d["accepted"] and d["new_policy"]]
    assert accepted, "the dry-run proposes no change"
    return detail, accepted[0]


def apply_one(env: NodeEnv) -> dict:
    run, decision = accepted_decision(env)
    answer = env.api("POST", f"/runs/{run['id']}/apply", json={"decision_ids": [decision["id"]]})
    assert answer.status_code == 200, answer.text
    changes = env.api("GET", "/changes", params={"chan_id": decision["chan_id"], "limit": 1}).json()["data"]
    assert changes and changes[0]["status"] == "applied", changes
    return changes[0]


def test_summary_band_equals_the_api_and_the_node(open_page, node_env, user_ids):
    node_env.advance(6)  # some forwards in the last day
    w = open_page(node_env.session.super_token)
    page = w.page
    band = page.locator("[data-testid=summary]")
    band.locator("[data-testid=summary-period]").first.wait_for()
    summary = node_env.api("GET", "/summary").json()
    shown = {
        el.get_attribute("data-key"): el for el in band.locator("[data-testid=summary-period]").all()
    }
    assert set(shown) == {"1d", "7d", "30d"}
    at = summary["at"]
    for period in summary["periods"]:
        el = shown[period["key"]]
        # the API's windows include their end (now), as LND's /v1/switch does; /sim/revenue's do not
        truth = node_env.simnode.revenue(at - period["days"] * 86400, at + 1)
        # the page shows the API's figures …
        assert float(el.get_attribute("data-fees-sat")) == pytest.approx(period["fees_sat"])
        assert int(el.get_attribute("data-forwards")) == period["forwards"]
        # … and the API's figures are the node's (fees earned over the same window)
        assert period["fees_sat"] == pytest.approx(truth["fees_msat"] / 1000), period["key"]
        assert period["forwards"] == truth["forwards"], period["key"]
        fees_text = el.locator("[data-testid=summary-fees]").inner_text()
        assert float(fees_text.replace(",", "")) == pytest.approx(period["fees_sat"], abs=0.5)
        assert f"{period['forwards']:,} forward" in el.inner_text()
    assert summary["periods"][0]["forwards"] > 0, "the node forwarded nothing in a day: the test proves little"

    state = node_env.state()
    open_channels = state["channels"]
    shares = [c["local_msat"] / (c["local_msat"] + c["remote_msat"]) for c in open_channels]
    channels = band.locator("[data-testid=summary-channels]")
    drained = sum(1 for s in shares if s < summary["drained_below"])
    full = sum(1 for s in shares if s > summary["full_above"])
    assert (summary["channels"]["drained"], summary["channels"]["full"]) == (drained, full)
    assert int(channels.get_attribute("data-drained")) == drained
    assert int(channels.get_attribute("data-full")) == full
    assert_plain_text(page, user_ids, "main view")
    w.shot("operator-main")


def test_autopilot_asks_first_with_a_preview(open_page, node_env):
    node_env.api("PUT", "/settings", json={"mode": "shadow"}).raise_for_status()
    # The first shadow cycle runs at once; after it the next one is an interval away, so
    # switching to autopilot below starts no cycle that could write.
    wait_until(
        lambda: (node_env.api("GET", "/status").json().get("last_run") or {}).get("kind") == "shadow",
        timeout=120, what="the first shadow cycle",
    )
    writes = len(node_env.state()["chanpolicy_requests"])
    w = open_page(node_env.session.super_token)
    page = w.page
    switch = page.locator("[data-testid=mode-switch]")
    switch.wait_for()

    switch.get_by_role("button", name="Autopilot").click()
    dialog = page.locator("[data-testid=mode-dialog]")
    dialog.wait_for()
    dialog.locator("[data-testid=mode-preview-count]").wait_for()
    preview = dialog.locator("[data-testid=mode-preview] .q-item")
    assert preview.count() > 0, "the preview lists no change"
    w.shot("operator-autopilot-confirm")
    dialog.locator("[data-testid=mode-cancel]").click()
    dialog.wait_for(state="detached")
    assert node_env.api("GET", "/settings").json()["mode"] == "shadow"
    assert "Shadow" in page.locator("[data-testid=mode-switch] [aria-pressed=true]").inner_text()

    switch.get_by_role("button", name="Autopilot").click()
    dialog.wait_for()
    dialog.locator("[data-testid=mode-preview-count]").wait_for()
    dialog.locator("[data-testid=mode-confirm]").click()
    wait_until(lambda: node_env.api("GET", "/settings").json()["mode"] == "autopilot", what="autopilot")
    try:
        # and back: leaving autopilot is asked too
        switch.get_by_role("button", name="Shadow").click()
        dialog.wait_for()
        assert "Leave autopilot" in dialog.inner_text()
        dialog.locator("[data-testid=mode-confirm]").click()
        wait_until(lambda: node_env.api("GET", "/settings").json()["mode"] == "shadow", what="shadow again")
    finally:
        node_env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
    # the previews were dry-runs: nothing reached the node
    assert len(node_env.state()["chanpolicy_requests"]) == writes


def test_a_rollback_marks_the_scores_out_of_date(open_page, node_env, user_ids):
    change = apply_one(node_env)
    node_env.dry_run()  # the scores now see the applied fee
    w = open_page(node_env.session.super_token)
    page = w.page
    row = page.locator(f'[data-testid=channel-row][data-chan="{change["chan_id"]}"]')
    row.wait_for()
    assert row.get_attribute("data-stale") == "no"

    page.locator("[data-testid=tab-history]").click()
    entry = page.locator(f'[data-testid=history-change][data-id="{change["id"]}"]')
    entry.locator("[data-testid=rollback-change]").click()
    page.get_by_role("button", name="OK").click()
    old = change["old_policy"]["ppm"]
    wait_until(
        lambda: {c["chan_id"]: c for c in node_env.state()["channels"]}[change["chan_id"]]["policy"]["ppm"] == old,
        what="the roll back on the node",
    )
    page.locator("[data-testid=tab-channels]").click()
    wait_until(lambda: row.get_attribute("data-stale") == "yes", what="the row marked out of date")
    stale = row.locator("[data-testid=stale]")
    assert stale.is_visible()
    assert f"{old} ppm" in row.locator("[data-testid=fee-now]").inner_text()
    stale.hover()
    page.get_by_text("Since these scores were computed").wait_for()
    w.shot("operator-stale-row")
    page.locator("[data-testid=rescore]").click()
    wait_until(lambda: row.get_attribute("data-stale") == "no", what="re-scored", timeout=120)
    assert_plain_text(page, user_ids, "channels after a roll back")


def test_impact_of_a_change_after_two_days(open_page, node_env, user_ids):
    change = apply_one(node_env)
    at = change["settled_at"] or change["created_at"]
    node_env.advance(48)
    node_env.dry_run()  # a snapshot inside the after-window, for the local share

    answer = node_env.api("GET", f"/changes/{change['id']}").json()
    impact = answer["impact"]
    assert impact and impact["window_s"] == pytest.approx(2 * 86400, abs=120)
    w_s = impact["window_s"]
    before = node_env.simnode.revenue(at - w_s, at)["channels"].get(change["chan_id"], {})
    after = node_env.simnode.revenue(at, at + w_s)["channels"].get(change["chan_id"], {})
    assert impact["before"]["fees_sat"] == pytest.approx(before.get("fees_msat", 0) / 1000)
    assert impact["before"]["forwards"] == before.get("forwards", 0)
    assert impact["after"]["fees_sat"] == pytest.approx(after.get("fees_msat", 0) / 1000)
    assert impact["after"]["forwards"] == after.get("forwards", 0)
    assert before.get("forwards", 0) + after.get("forwards", 0) > 0, "no forward on the channel: the test proves little"

    w = open_page(node_env.session.super_token)
    page = w.page
    page.locator("[data-testid=tab-history]").click()
    entry = page.locator(f'[data-testid=history-change][data-id="{change["id"]}"]')
    shown = entry.locator("[data-testid=impact]")
    shown.wait_for()
    assert float(shown.get_attribute("data-before-fees-sat")) == pytest.approx(impact["before"]["fees_sat"])
    assert float(shown.get_attribute("data-after-fees-sat")) == pytest.approx(impact["after"]["fees_sat"])
    assert int(shown.get_attribute("data-before-forwards")) == impact["before"]["forwards"]
    assert int(shown.get_attribute("data-after-forwards")) == impact["after"]["forwards"]
    text = shown.inner_text()
    assert "Before (2 days)" in text and "After (2 days" in text, text
    assert f"{impact['after']['forwards']:,} forward" in shown.locator("[data-testid=impact-after]").inner_text()
    # per run, on demand: the run's changes summed (here the one)
    run_impact = node_env.api("GET", f"/runs/{change['run_id']}").json()["impact"]
    run_entry = page.locator(f'[data-testid=history-run][data-id="{change["run_id"]}"]')
    run_entry.locator("[data-testid=run-impact]").click()
    run_shown = run_entry.locator("[data-testid=impact]")
    run_shown.wait_for()
    assert float(run_shown.get_attribute("data-after-fees-sat")) == pytest.approx(run_impact["after"]["fees_sat"])
    assert float(run_shown.get_attribute("data-after-fees-sat")) == pytest.approx(impact["after"]["fees_sat"])
    entry.scroll_into_view_if_needed()
    w.shot("operator-history-impact")

    # the same figures in the channel's detail
    page.locator("[data-testid=tab-channels]").click()
    row = page.locator(f'[data-testid=channel-row][data-chan="{change["chan_id"]}"]')
    row.locator("[data-testid=expand]").click()
    detail = page.locator("[data-testid=channel-detail]")
    item = detail.locator(f'[data-testid=recent-changes] [data-id="{change["id"]}"] [data-testid=impact]')
    item.wait_for()
    assert float(item.get_attribute("data-after-fees-sat")) == pytest.approx(impact["after"]["fees_sat"])
    title = detail.locator("[data-testid=chart-title]").inner_text()
    assert "(30 days)" not in title and re.search(r"\(\d", title), title
    page.wait_for_selector("[data-testid=channel-detail] canvas")
    page.wait_for_timeout(300)
    w.shot("operator-channel-detail")
    assert_plain_text(page, user_ids, "channel detail")


def test_the_dry_run_dialog_says_what_happened(open_page, node_env, user_ids):
    w = open_page(node_env.session.super_token)
    page = w.page
    page.locator("[data-testid=dry-run]").click()
    dialog = page.locator("[data-testid=run-dialog]")
    dialog.wait_for()
    summary = dialog.locator("[data-testid=run-summary]")
    run = node_env.api("GET", "/runs", params={"limit": 1}).json()["data"][0]
    detail = node_env.api("GET", f"/runs/{run['id']}").json()
    assert f"{len(detail['decisions'])} channels scored" in summary.inner_text()
    assert "Nothing has been applied." in summary.inner_text()
    assert "dry run run" not in page.locator("body").inner_text()
    first = dialog.locator("[data-testid=proposal]").first
    chosen = first.get_attribute("data-decision")
    first.locator("[data-testid=proposal-check]").click()
    page.locator("[data-testid=apply-selected]").click()
    page.locator("[data-testid=apply-confirm-ok]").click()
    dialog.locator("[data-testid=outcome] [data-status=applied]").first.wait_for()
    wait_until(lambda: "1 change from this run applied." in summary.inner_text(), what="the summary after the apply")
    assert "Nothing has been applied" not in summary.inner_text()
    applied = dialog.locator(f'[data-testid=proposal][data-decision="{chosen}"]')
    wait_until(lambda: applied.locator("[data-testid=proposal-check]").count() == 0, what="no checkbox on the applied one")
    w.shot("operator-dry-run-dialog")
    assert_plain_text(page, user_ids, "dry-run dialog")


def test_phone_shows_fee_proposal_and_reason_and_apply_is_reachable(open_page, node_env, user_ids):
    w = open_page(node_env.session.super_token, viewport=PHONE)
    page = w.page
    cards = page.locator("[data-testid=channel-row]")
    cards.first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    with_proposal = cards.filter(has=page.locator("[data-testid=fee-proposed]")).first
    for part in ("fee-now", "fee-proposed", "headline"):
        box = with_proposal.locator(f"[data-testid={part}]").first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (part, box)
    w.shot("operator-phone")

    page.locator("[data-testid=dry-run]").click()
    dialog = page.locator("[data-testid=run-dialog]")
    dialog.wait_for()
    page.wait_for_timeout(400)
    button = page.locator("[data-testid=apply-selected]")
    box = button.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    w.shot("operator-phone-dry-run")
    assert_plain_text(page, user_ids, "phone")


def test_settings_errors_and_the_history_use_the_page_labels(open_page, node_env, user_ids):
    apply_one(node_env)  # the history has a change by a person
    w = open_page(node_env.session.super_token)
    w.expect_http_error(422, f"{API}/settings")
    page = w.page
    page.locator("[data-testid=open-settings]").click()
    dialog = page.locator("[data-testid=settings-dialog]")
    low = dialog.locator('[data-field="engine.guardrails.min_ppm"]')
    low.wait_for()
    low.locator("input").fill("900")
    dialog.locator('[data-field="engine.guardrails.max_ppm"] input').fill("800")
    dialog.locator("[data-testid=save-settings]").click()
    wait_until(lambda: "Maximum fee (ppm)" in low.inner_text(), what="the cross-field error in labels")
    toast = page.locator(".q-notification").first
    toast.wait_for()
    assert_plain_text(page, user_ids, "settings error")
    assert "UNPROCESSABLE" not in page.locator("body").inner_text()
    assert node_env.api("GET", "/settings").json()["engine"]["guardrails"]["min_ppm"] != 900
    w.shot("operator-settings-error")
    dialog.get_by_role("button", name="Cancel").click()

    page.locator("[data-testid=tab-history]").click()
    page.locator("[data-testid=history-change]").first.wait_for()
    assert_plain_text(page, user_ids, "history")
    names = page.locator("[data-testid=history-change]").all_inner_texts()
    assert any("by admin" in text for text in names), names


def test_a_channel_detail_shows_the_forwards_that_failed_there(open_page, node_env, user_ids):
    wait_until(lambda: node_env.api("GET", "/status").json()["htlc_events"]["live"], timeout=60,
               what="the HTLC event stream to be live")
    start = int(node_env.state()["now"])
    node_env.advance(24)
    truth: dict[str, list[int]] = {}
    for f in node_env.simnode.state(forwards=True)["failed_forwards"]:
        if f["reason"] == "INSUFFICIENT_BALANCE" and f["ts_ns"] >= start * 1_000_000_000:
            counts = truth.setdefault(str(f["chan_out"]), [0, 0])
            counts[0] += 1
            counts[1] += f["amt_out_msat"]
    assert truth, "no forward failed for lack of balance in a day: the test proves little"
    chan_id, (count, amount_msat) = max(truth.items(), key=lambda item: item[1][0])
    wait_until(lambda: node_env.api("GET", f"/channels/{chan_id}/history?days=1").json()["failed_forwards"]
               ["lack_of_balance_24h"]["count"] == count, what="the listener to store the day's failures")

    w = open_page(node_env.session.super_token)
    page = w.page
    row = page.locator(f'[data-testid=channel-row][data-chan="{chan_id}"]')
    row.locator("[data-testid=expand]").click()
    shown = page.locator("[data-testid=channel-detail] [data-testid=failed-forwards]")
    shown.wait_for()
    assert int(shown.get_attribute("data-count-24h")) == count
    assert int(shown.get_attribute("data-amount-24h-sat")) == amount_msat // 1000
    text = shown.inner_text()
    assert f"{count:,} forward" in text and "failed for lack of balance on our side in the last 24 h" in text, text
    assert f"{amount_msat // 1000:,} sat" in text, text
    assert shown.locator("[data-testid=failed-forward]").count() == min(count, 5)
    assert "not enough balance on our side" in shown.locator("[data-testid=failed-forward]").first.inner_text()
    assert page.locator("[data-testid=failed-forwards-unheard]").count() == 0
    # the header lists the stream among the data sources
    chip = page.locator('[data-source="htlc_events"]')
    assert chip.inner_text().strip().endswith("HTLC events")
    assert_plain_text(page, user_ids, "channel detail with failed forwards")
    w.shot("operator-failed-forwards")
