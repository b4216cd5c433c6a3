"""credentials.py (issue 17): the permissions Fee Autopilot's macaroon gets are exactly the
RPCs its code calls; LND's macaroons are read and named without revealing them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credentials import (
    CALLS,
    DANGEROUS,
    NEEDED,
    Check,
    InvalidMacaroon,
    MacaroonFacts,
    describe_macaroon,
    fingerprint,
    fresh_root_key_id,
    lncli_command,
    parse_macaroon_hex,
    uri_permissions,
)
from simnode.macaroons import METHOD_PERMISSIONS, ROUTE_METHODS, MacaroonService

ROOT = Path(__file__).resolve().parents[2]
# node.py's calls: client.get("/v1/..."), self.lnd.get(f"/v1/graph/node/{...}"), client.post(...),
# and the one server stream, self.lnd.stream("/v2/...") (a GET)
CALL_SITE = re.compile(r"\.(get|post|stream)\(\s*f?\"(/v[12]/[^\"]*)\"")


def shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_the_permissions_are_the_rpcs_node_py_calls_and_no_other():
    text = (ROOT / "node.py").read_text()
    sites = {(m.group(1).upper().replace("STREAM", "GET"), shape(m.group(2))) for m in CALL_SITE.finditer(text)}
    assert len(sites) >= 10, sites
    ours = {(call.split()[0], shape(call.split()[1])) for call in CALLS}
    checks = {("POST", "/v1/macaroon/checkpermissions")}  # the credential checks itself (credential_service.py)
    assert sites == ours - checks
    assert '"/v1/macaroon/checkpermissions"' in (ROOT / "credential_service.py").read_text()


def test_each_call_maps_to_the_rpc_lnd_serves_it_with():
    for call, (rpc, why) in CALLS.items():
        method, path = call.split()
        assert ROUTE_METHODS[(method, path)] == rpc, call
        assert why
    assert set(NEEDED) == {rpc for rpc, _ in CALLS.values()}
    assert all(p == {"entity": "uri", "action": m} for p, m in zip(uri_permissions(), NEEDED))
    # nothing needed is dangerous, and nothing needed writes anything but channel policies
    assert not set(NEEDED) & set(DANGEROUS)
    writes = {m for m in NEEDED if any(a == "write" for _, a in METHOD_PERMISSIONS[m])}
    assert writes == {"/lnrpc.Lightning/UpdateChannelPolicy"}


def test_lncli_command():
    command = lncli_command(1234567)
    assert command.startswith("lncli bakemacaroon --root_key_id 1234567 uri:/lnrpc.Lightning/GetInfo ")
    assert command.split()[4:] == [f"uri:{m}" for m in NEEDED]


def test_fresh_root_key_ids_are_our_own():
    taken = {2**40 + i for i in range(10)}
    ids = {fresh_root_key_id(taken) for _ in range(200)}
    assert not ids & taken and all(2**40 <= i < 2**53 for i in ids) and len(ids) > 190


def test_lnds_macaroons_are_described_and_named():
    service = MacaroonService()
    macaroon = service.bake({"uri": ["/lnrpc.Lightning/GetInfo"], "offchain": ["read", "write"]}, 987654321)
    raw = parse_macaroon_hex(" " + macaroon[:40] + "\n" + macaroon[40:].upper() + "\n")
    assert raw == bytes.fromhex(macaroon)
    facts = describe_macaroon(raw)
    assert facts.root_key_id == 987654321
    assert set(facts.permissions) == {"uri:/lnrpc.Lightning/GetInfo", "offchain:read", "offchain:write"}
    name = fingerprint(raw)
    assert re.fullmatch(r"[0-9a-f]{4}(:[0-9a-f]{4}){3}", name) and name.replace(":", "") not in macaroon
    assert fingerprint(raw) == name != fingerprint(bytes.fromhex(service.bake({"info": ["read"]}, 1)))
    assert describe_macaroon(b"\x02garbage") == MacaroonFacts(None)


@pytest.mark.parametrize("text, words", [
    ("", "no macaroon"), ("xyz", "must be hex"), ("abc", "must be hex"), ("0301", "v2 binary"),
    ("02" * 9000, "longer than"),
])
def test_what_is_not_a_macaroon_is_said_without_the_value(text, words):
    with pytest.raises(InvalidMacaroon, match=words) as caught:
        parse_macaroon_hex(text)
    assert text[:8] not in str(caught.value) or not text


def test_a_check_names_what_is_missing_and_what_is_too_much():
    check = Check(allowed={m: True for m in NEEDED})
    assert check.problem() is None and check.missing == [] and check.extra == []
    check.allowed["/lnrpc.Lightning/UpdateChannelPolicy"] = False
    check.allowed["/routerrpc.Router/SendPaymentV2"] = True
    assert check.missing == ["/lnrpc.Lightning/UpdateChannelPolicy"]
    assert "UpdateChannelPolicy" in check.problem()
    assert check.extra == ["/routerrpc.Router/SendPaymentV2"]
    warnings = check.warnings(MacaroonFacts(0))
    assert any("pay invoices" in w for w in warnings) and any("root key id 0" in w for w in warnings)
    assert Check(invalid="root key gone").problem().startswith("The node does not accept this macaroon")
