"""Issue 17 in the browser: the Node credential dialog bakes, checks a pasted macaroon,
shows the credential to admins read-only, and revokes — never showing a macaroon."""

from __future__ import annotations

import httpx

API = "/feepilot/api/v1"


def baked(node) -> list[dict]:
    return httpx.get(f"{node.url}/sim/macaroons", timeout=30).json()["baked"]


def open_dialog(w):
    w.page.get_by_test_id("open-credential").click()
    dialog = w.page.get_by_test_id("credential-dialog")
    dialog.get_by_test_id("credential-state").wait_for()
    return dialog


def test_bake_check_and_revoke_from_the_page(open_page, page_host, page_simnode):
    w = open_page(page_host.super_token)
    dialog = open_dialog(w)
    state = dialog.get_by_test_id("credential-state")
    assert "LNbits' own macaroon" in state.inner_text()
    needed = dialog.get_by_test_id("credential-needed").inner_text()
    assert "uri:/lnrpc.Lightning/UpdateChannelPolicy" in needed and "set a channel's fees" in needed
    assert "uri:/routerrpc.Router/SendPaymentV2" not in needed

    dialog.get_by_test_id("credential-bake").click()
    w.page.wait_for_function(
        "() => document.querySelector('[data-testid=credential-state]').innerText.includes('is in use')")
    with page_host.client(page_host.super_token) as client:
        status = client.get(f"{API}/status").json()["credential"]
    assert status["in_use"] == "fee_autopilot" and status["fingerprint"] in state.inner_text()
    assert status["fingerprint"] in dialog.get_by_test_id("credential-active").inner_text()
    w.shot("credential-baked")

    # Paste: the command is shown; a macaroon without UpdateChannelPolicy is checked and its gap named.
    dialog.get_by_test_id("credential-paste-open").click()
    command = dialog.get_by_test_id("credential-command").inner_text()
    assert command.startswith("lncli bakemacaroon --root_key_id ") and "uri:/lnrpc.Lightning/FeeReport" in command
    uris = [p.split(":", 1)[1] for p in command.split()[4:] if "UpdateChannelPolicy" not in p]
    partial = httpx.post(f"{page_simnode.url}/v1/macaroon", headers=page_simnode.headers, timeout=30, json={
        "permissions": [{"entity": "uri", "action": u} for u in uris], "root_key_id": "7000001"}).json()["macaroon"]
    dialog.locator("textarea").first.fill(partial)
    dialog.get_by_test_id("credential-check").click()
    result = dialog.get_by_test_id("credential-check-result")
    result.wait_for()
    assert "Missing: /lnrpc.Lightning/UpdateChannelPolicy" in result.inner_text()

    # Nothing the page shows or keeps in its text is a macaroon (the pasted one is in the input only).
    dialog.locator("textarea").first.fill("")
    text = w.page.locator("body").inner_text()
    for macaroon in baked(page_simnode):
        assert macaroon["macaroon"] not in text and macaroon["macaroon"][:48] not in text

    dialog.get_by_test_id("credential-revoke").click()
    w.page.get_by_test_id("credential-revoke-confirm").click()
    w.page.wait_for_function(
        "() => document.querySelector('[data-testid=credential-state]').innerText.includes(\"LNbits' own macaroon\")")
    with page_host.client(page_host.super_token) as client:
        assert client.get(f"{API}/status").json()["credential"]["in_use"] == "lnbits"
    assert "revoked" in dialog.get_by_test_id("credential-events").inner_text()


def test_admins_see_the_credential_read_only(open_page, page_host):
    with page_host.client(page_host.super_token) as client:
        created = client.post(f"{API}/credential", json={"method": "bake"}, timeout=120)
        assert created.status_code == 201, created.text
        fingerprint = created.json()["active"]["fingerprint"]
    try:
        w = open_page(page_host.admin_token)
        dialog = open_dialog(w)
        assert fingerprint in dialog.get_by_test_id("credential-active").inner_text()
        assert "only the super user" in dialog.inner_text()
        assert dialog.get_by_test_id("credential-bake").count() == 0
        assert dialog.get_by_test_id("credential-revoke").count() == 0
    finally:
        with page_host.client(page_host.super_token) as client:
            assert client.post(f"{API}/credential/revoke", timeout=120).status_code == 200
