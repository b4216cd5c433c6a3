"""Who may call what: every endpoint against every kind of caller.

Reads need an LNbits admin; changing the node or the settings needs the super
user; LNbits ACL tokens are honoured (read-only tokens cannot write). Calls use
unknown ids or invalid bodies where the allowed answer would change something,
so an allowed call answers 404/422 and a refused one 401/403. On LND and on Core Lightning (issue 18).
"""

from __future__ import annotations

import httpx
import pytest

API = "/feepilot/api/v1"
READ, DRY_RUN, WRITE = "read", "dry_run", "write"

ENDPOINTS = [
    (READ, "GET", "/status", None),
    (READ, "GET", "/channels", None),
    (READ, "GET", "/settings", None),
    (READ, "GET", "/settings/history", None),
    (READ, "GET", "/runs", None),
    (READ, "GET", "/runs/unknown-run", None),
    (READ, "GET", "/scores", None),
    (READ, "GET", "/changes", None),
    (READ, "GET", "/changes/unknown-change", None),
    (READ, "GET", "/earnings?days=7", None),
    (READ, "GET", "/channels/unknown-channel/history", None),
    # Fee Autopilot's own node credential: admins see fingerprints and permissions, only the
    # super user creates, rotates, revokes, verifies or checks one (issue 17). Allowed, these
    # change nothing: an invalid body (400), no credential to act on (409), not a macaroon (409).
    (READ, "GET", "/credential", None),
    (WRITE, "POST", "/credential", {"method": "not-a-method"}),
    (WRITE, "POST", "/credential/rotate", {"method": "not-a-method"}),
    (WRITE, "POST", "/credential/revoke", None),
    (WRITE, "POST", "/credential/verify", None),
    (WRITE, "POST", "/credential/check", {"macaroon": "not hex"}),
    (DRY_RUN, "POST", "/runs", {"dry_run": True}),
    (WRITE, "PUT", "/settings", {"mode": "not-a-mode"}),
    (WRITE, "POST", "/runs/unknown-run/apply", {}),
    (WRITE, "POST", "/decisions/unknown-decision/apply", None),
    (WRITE, "POST", "/runs/unknown-run/rollback", {}),
    (WRITE, "POST", "/changes/unknown-change/rollback", {}),
    (WRITE, "PUT", "/channels/unknown-channel/pin", {"pinned": True}),
    (WRITE, "PUT", "/channels/unknown-channel/policy", {"base_msat": 0, "ppm": 10}),
    # Allowed, it settles nothing here (no pending change, no drift): 200 and no change.
    (WRITE, "POST", "/reconcile", None),
]

# caller -> which kinds it may use
ALLOWED = {
    "anonymous": set(),
    "user": set(),
    "wallet_key": set(),
    "admin": {READ, DRY_RUN},
    "super_user": {READ, DRY_RUN, WRITE},
    "acl_read_only": {READ},
    "acl_read_write": {READ, DRY_RUN, WRITE},
}


@pytest.fixture(scope="module", params=["lnd", "cln"])
def lnbits_on_each_backend(request, tmp_path_factory):
    """The session's LNbits on LND, or one on simnode's Core Lightning face for this module."""
    if request.param == "lnd":
        yield request.getfixturevalue("lnbits")
        return
    from devtools.testenv import start_node_env

    env = start_node_env(tmp_path_factory.mktemp("auth-cln"), cln=True)
    try:
        yield env.session
    finally:
        env.session.host.stop()
        env.simnode.stop()


def make_acl_token(lnbits, write: bool) -> str:
    password = lnbits.super_password
    with lnbits.client(lnbits.super_token) as client:
        created = client.put("/api/v1/auth/acl", json={"id": "", "name": f"feepilot {'rw' if write else 'ro'}", "password": password})
        created.raise_for_status()
        acl = next(a for a in created.json()["access_control_list"] if a["name"] == f"feepilot {'rw' if write else 'ro'}")
        for endpoint in acl["endpoints"]:
            if endpoint["path"] == API:
                endpoint["read"], endpoint["write"] = True, write
        assert any(e["path"] == API for e in acl["endpoints"]), acl["endpoints"]
        client.put("/api/v1/auth/acl", json={**acl, "password": password}).raise_for_status()
        token = client.post(
            "/api/v1/auth/acl/token",
            json={"acl_id": acl["id"], "token_name": "test", "password": password, "expiration_time_minutes": 60},
        )
        token.raise_for_status()
        return token.json()["api_token"]


@pytest.fixture(scope="module")
def callers(lnbits_on_each_backend) -> dict[str, dict]:
    adminkey = lnbits_on_each_backend.host.user(lnbits_on_each_backend.super_token)["wallets"][0]["adminkey"]
    return {
        "anonymous": {},
        "user": {"Authorization": f"Bearer {lnbits_on_each_backend.user_token}"},
        "wallet_key": {"X-API-KEY": adminkey},
        "admin": {"Authorization": f"Bearer {lnbits_on_each_backend.admin_token}"},
        "super_user": {"Authorization": f"Bearer {lnbits_on_each_backend.super_token}"},
        "acl_read_only": {"Authorization": f"Bearer {make_acl_token(lnbits_on_each_backend, write=False)}"},
        "acl_read_write": {"Authorization": f"Bearer {make_acl_token(lnbits_on_each_backend, write=True)}"},
    }


@pytest.mark.parametrize("caller", list(ALLOWED))
def test_every_endpoint_answers_each_caller_as_allowed(lnbits_on_each_backend, callers, caller):
    wrong = []
    with httpx.Client(base_url=lnbits_on_each_backend.url, headers=callers[caller], timeout=120) as client:
        settings_before = client.get(f"{API}/settings").json() if ALLOWED[caller] else None
        for kind, method, path, body in ENDPOINTS:
            response = client.request(method, API + path, json=body)
            allowed = kind in ALLOWED[caller]
            refused = response.status_code in (401, 403)
            if allowed == refused:
                wrong.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
            if not allowed:
                expected = 401 if caller in ("anonymous", "wallet_key") else 403
                if response.status_code != expected:
                    wrong.append(f"{method} {path}: expected {expected}, got {response.status_code}")
        if settings_before is not None:
            assert client.get(f"{API}/settings").json() == settings_before
    assert not wrong, "\n".join(wrong)


def test_dry_run_false_needs_the_super_user(lnbits_on_each_backend, callers):
    for caller in ("admin", "acl_read_only", "user"):
        with httpx.Client(base_url=lnbits_on_each_backend.url, headers=callers[caller], timeout=60) as client:
            assert client.post(f"{API}/runs", json={"dry_run": False}).status_code == 403, caller


def test_public_summary_is_for_any_logged_in_user(lnbits_on_each_backend, callers):
    for caller, expected in (("anonymous", 401), ("wallet_key", 401), ("user", 200), ("admin", 200)):
        with httpx.Client(base_url=lnbits_on_each_backend.url, headers=callers[caller], timeout=60) as client:
            response = client.get(f"{API}/public/summary")
            assert response.status_code == expected, (caller, response.text)
            if expected == 200:
                assert response.json() == {"enabled": False, "alias": None, "channel_count": None,
                                           "score_distribution": None, "mode": None, "last_run": None}
