"""Operator flows through the page, shared by the LND and the Core Lightning browser tests."""

from __future__ import annotations

from typing import Callable

from devtools.testenv import wait_until

from .conftest import Watched

API = "/feepilot/api/v1"
FEE_FIELDS = ("base_msat", "ppm", "last_update")  # what a fee change changes (and its gossip time)


def strip_fees(policy: dict) -> dict:
    return {k: v for k, v in policy.items() if k not in FEE_FIELDS}


def without_time(policy: dict) -> dict:
    return {k: v for k, v in policy.items() if k != "last_update"}


def dry_run_apply_two_then_roll_back_one(w: Watched, page_host, page_simnode,
                                         written_ppms: Callable[[dict, dict], list[int]], shot_suffix: str = "") -> None:
    """Through the page: a dry run (once, however often it is clicked), an apply of two proposals, a
    rollback of one from the history; simnode's ground truth changes only those two channels' fees,
    and then only the second's. `written_ppms(state, channel)`: the fee rates the node received for
    the channel, oldest first (LND's chanpolicy bodies, CLN's setchannel calls); `shot_suffix` ends
    the screenshots' names."""
    page = w.page
    page.wait_for_selector("[data-testid=channel-row] [data-testid=score]")
    state = page_simnode.state()
    before = {c["chan_id"]: c for c in state["channels"]}
    writes_before = sum(len(written_ppms(state, c)) for c in state["channels"])

    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith(f"{API}/runs") else None)
    page.locator("[data-testid=dry-run]").dblclick()  # a second click must not start a second run
    dialog = page.locator("[data-testid=run-dialog]")
    dialog.wait_for()
    assert len(posts) == 1, f"the dry-run started {len(posts)} runs"
    proposals = dialog.locator("[data-testid=proposal]")
    assert proposals.count() >= 2
    w.shot(f"dry-run-preview{shot_suffix}")
    state = page_simnode.state()
    assert sum(len(written_ppms(state, c)) for c in state["channels"]) == writes_before, "a dry-run wrote to the node"

    chosen = []
    for i in range(2):
        item = proposals.nth(i)
        chosen.append((item.get_attribute("data-decision"), item.get_attribute("data-chan")))
        item.locator("[data-testid=proposal-check]").click()
    page.locator("[data-testid=apply-selected]").click()
    page.locator("[data-testid=apply-confirm]").wait_for()
    w.shot(f"apply-confirm{shot_suffix}")
    page.locator("[data-testid=apply-confirm-ok]").click()
    outcomes = page.locator("[data-testid=outcome]")
    wait_until(lambda: outcomes.count() == 2, what="two outcomes")
    assert page.locator("[data-testid=outcome] [data-status=applied]").count() == 2, outcomes.all_inner_texts()
    w.shot(f"apply-outcomes{shot_suffix}")

    with page_host.client(page_host.super_token) as client:
        run = client.get(f"{API}/runs", params={"limit": 1}).json()["data"][0]
        decisions = {d["id"]: d for d in client.get(f"{API}/runs/{run['id']}").json()["decisions"]}
    state = page_simnode.state()
    live = {c["chan_id"]: c for c in state["channels"]}
    for decision_id, chan_id in chosen:
        decision = decisions[decision_id]
        assert decision["chan_id"] == chan_id
        new_ppm = decision["new_policy"]["ppm"]
        assert live[chan_id]["policy"]["ppm"] == new_ppm != before[chan_id]["policy"]["ppm"]
        writes = written_ppms(state, live[chan_id])
        assert writes and writes[-1] == new_ppm, writes
    untouched = set(before) - {chan for _, chan in chosen}
    for chan_id in untouched:
        assert without_time(live[chan_id]["policy"]) == without_time(before[chan_id]["policy"]), chan_id
    for _, chan_id in chosen:  # the fee fields and nothing else
        assert strip_fees(live[chan_id]["policy"]) == strip_fees(before[chan_id]["policy"]), chan_id

    # roll the first one back from the history
    page.locator("[data-testid=run-dialog] button[aria-label=Close]").click()
    page.locator("[data-testid=tab-history]").click()
    first_chan = chosen[0][1]
    change = page.locator(f'[data-testid=history-change][data-chan="{first_chan}"]').filter(
        has=page.locator("[data-testid=rollback-change]")
    )
    change.wait_for()
    assert "applied" in change.locator("[data-testid=status-chip]").inner_text()
    change.locator("[data-testid=rollback-change]").click()
    page.get_by_role("button", name="OK").click()

    old_ppm = before[first_chan]["policy"]["ppm"]
    wait_until(
        lambda: {c["chan_id"]: c for c in page_simnode.state()["channels"]}[first_chan]["policy"]["ppm"] == old_ppm,
        what="the roll back on the node",
    )
    state = page_simnode.state()
    live = {c["chan_id"]: c for c in state["channels"]}
    assert written_ppms(state, live[first_chan])[-1] == old_ppm
    assert without_time(live[first_chan]["policy"]) == without_time(before[first_chan]["policy"])
    second_chan = chosen[1][1]
    assert live[second_chan]["policy"]["ppm"] == decisions[chosen[1][0]]["new_policy"]["ppm"]
    page.locator(f'[data-testid=history-change][data-chan="{first_chan}"]', has_text="rolled back").wait_for()
    w.shot(f"history-rolled-back{shot_suffix}")
