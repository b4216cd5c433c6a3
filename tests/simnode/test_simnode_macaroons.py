"""simnode's macaroons (issue 17): LND's v2 binary macaroons, baked under root key ids,
verified on every request against LND's permission table, revoked by root key id."""

from __future__ import annotations

import base64
import datetime

import httpx
import pytest
from pymacaroons import Macaroon
from pymacaroons.serializers import BinarySerializer

from simnode.macaroons import METHOD_PERMISSIONS, ROUTE_METHODS, decode_id
from simnode.testing import start_simnode

DENIED = {"code": 2, "message": "permission denied", "details": []}


@pytest.fixture(scope="module")
def node():
    with start_simnode(seed=11, speed=0, extra_args=("--history-days", "1")) as n:
        yield n


def call(node, method: str, path: str, macaroon: str, body=None) -> httpx.Response:
    return httpx.request(method, node.url + path, json=body, headers={"Grpc-Metadata-macaroon": macaroon}, timeout=60)


def bake(node, permissions: list[tuple[str, str]], root_key_id: int) -> str:
    r = call(node, "POST", "/v1/macaroon", node.macaroon, {
        "permissions": [{"entity": e, "action": a} for e, a in permissions], "root_key_id": str(root_key_id)})
    assert r.status_code == 200, r.text
    return r.json()["macaroon"]


def uri(*methods: str) -> list[tuple[str, str]]:
    return [("uri", m) for m in methods]


def with_caveat(macaroon_hex: str, caveat: str) -> str:
    mac = Macaroon.deserialize(base64.urlsafe_b64encode(bytes.fromhex(macaroon_hex)).decode(), BinarySerializer())
    mac.add_first_party_caveat(caveat)
    text = mac.serialize(BinarySerializer())
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).hex()


def test_the_admin_macaroon_still_does_everything(node):
    for method, path, body in (("GET", "/v1/getinfo", None), ("GET", "/v1/fees", None),
                               ("GET", "/v1/macaroon/ids", None), ("GET", "/v1/macaroon/permissions", None)):
        r = call(node, method, path, node.macaroon, body)
        assert r.status_code == 200, (path, r.text)
    assert "0" in call(node, "GET", "/v1/macaroon/ids", node.macaroon).json()["root_key_ids"]
    r = call(node, "POST", "/v1/chanpolicy", node.macaroon, {"global": True, "base_fee_msat": "1000",
                                                            "fee_rate_ppm": 100, "time_lock_delta": 80})
    assert r.status_code == 200, r.text


def test_a_baked_macaroon_is_lnds_v2_binary_format_with_its_permissions_in_the_id(node):
    mac = bake(node, uri("/lnrpc.Lightning/GetInfo") + [("offchain", "read")], 4242)
    raw = bytes.fromhex(mac)
    assert raw[0] == 2  # v2 binary
    parsed = Macaroon.deserialize(base64.urlsafe_b64encode(raw).decode(), BinarySerializer())
    assert parsed.location == "lnd"
    ident = decode_id(parsed.identifier_bytes)
    assert ident.root_key_id == 4242 and len(ident.nonce) == 32
    assert ident.ops == {("uri", "/lnrpc.Lightning/GetInfo"), ("offchain", "read")}
    assert "4242" in call(node, "GET", "/v1/macaroon/ids", node.macaroon).json()["root_key_ids"]
    # Two macaroons of the same id differ (nonce) and both verify.
    other = bake(node, [("info", "read")], 4242)
    assert other != mac
    assert call(node, "GET", "/v1/getinfo", other).status_code == 200


def test_uri_and_entity_permissions_are_checked_on_every_request(node):
    scoped = bake(node, uri("/lnrpc.Lightning/GetInfo", "/lnrpc.Lightning/UpdateChannelPolicy"), 77)
    assert call(node, "GET", "/v1/getinfo", scoped).status_code == 200
    for method, path, body in (("GET", "/v1/fees", None), ("POST", "/v2/router/send", {"payment_request": "lnbc1"}),
                               ("POST", "/v1/macaroon", {"permissions": [{"entity": "info", "action": "read"}]}),
                               ("GET", "/v1/macaroon/ids", None)):
        r = call(node, method, path, scoped, body)
        assert (r.status_code, r.json()) == (500, DENIED), (path, r.text)
    reader = bake(node, [("offchain", "read")], 78)
    assert call(node, "GET", "/v1/fees", reader).status_code == 200
    assert call(node, "GET", "/v1/channels", reader).status_code == 200
    r = call(node, "POST", "/v1/chanpolicy", reader, {"global": True, "base_fee_msat": "1", "fee_rate_ppm": 1,
                                                       "time_lock_delta": 80})
    assert (r.status_code, r.json()) == (500, DENIED)
    assert call(node, "GET", "/v1/getinfo", reader).json() == DENIED  # info:read, not offchain


def test_a_revoked_root_key_id_invalidates_its_macaroons_and_only_them(node):
    doomed = bake(node, [("info", "read")], 901)
    kept = bake(node, [("info", "read")], 902)
    assert call(node, "GET", "/v1/getinfo", doomed).status_code == 200
    r = call(node, "DELETE", "/v1/macaroon/901", node.macaroon)
    assert r.json() == {"deleted": True}
    assert call(node, "DELETE", "/v1/macaroon/901", node.macaroon).json() == {"deleted": False}
    r = call(node, "GET", "/v1/getinfo", doomed)
    assert (r.status_code, r.json()) == (500, {"code": 2, "details": [],
                                              "message": "cannot get macaroon: root key with id 901 doesn't exist"})
    assert "901" not in call(node, "GET", "/v1/macaroon/ids", node.macaroon).json()["root_key_ids"]
    assert call(node, "GET", "/v1/getinfo", kept).status_code == 200
    r = call(node, "DELETE", "/v1/macaroon/0", node.macaroon)
    assert (r.status_code, r.json()["message"]) == (500, "the specified ID cannot be deleted")
    assert call(node, "DELETE", "/v1/macaroon/x1", node.macaroon).status_code == 400
    # From outside (someone ran lncli deletemacaroonid): the /sim fault.
    r = httpx.post(node.url + "/sim/macaroons/revoke", json={"root_key_id": 902})
    assert r.json() == {"deleted": True}
    assert "root key with id 902" in call(node, "GET", "/v1/getinfo", kept).json()["message"]
    # A deleted id can be reused: a new root key, the old macaroons stay invalid.
    fresh = bake(node, [("info", "read")], 902)
    assert call(node, "GET", "/v1/getinfo", fresh).status_code == 200
    assert call(node, "GET", "/v1/getinfo", kept).json()["message"] == (
        "verification failed: signature mismatch after caveat verification")


def test_tampered_and_caveated_macaroons(node):
    mac = bake(node, [("info", "read")], 55)
    raw = bytearray(bytes.fromhex(mac))
    raw[-3] ^= 0x01  # the signature
    r = call(node, "GET", "/v1/getinfo", raw.hex())
    assert (r.status_code, r.json()["message"]) == (500, "verification failed: signature mismatch after caveat verification")
    r = call(node, "GET", "/v1/getinfo", "zz")
    assert r.status_code == 500 and "encoding/hex" in r.json()["message"]
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert call(node, "GET", "/v1/getinfo", with_caveat(mac, f"time-before {future}")).status_code == 200
    expired = call(node, "GET", "/v1/getinfo", with_caveat(mac, "time-before 2001-01-01T00:00:00Z"))
    assert expired.status_code == 500 and "verification failed" in expired.json()["message"]
    assert call(node, "GET", "/v1/getinfo", with_caveat(mac, "unknown-caveat x")).status_code == 500
    r = httpx.get(node.url + "/v1/getinfo", headers=[("Grpc-Metadata-macaroon", mac), ("Grpc-Metadata-macaroon", mac)])
    assert r.json()["message"] == "expected 1 macaroon, got 2"


def test_checkpermissions_answers_like_lnd(node):
    scoped = bake(node, uri("/lnrpc.Lightning/UpdateChannelPolicy", "/lnrpc.Lightning/CheckMacaroonPermissions"), 66)
    b64 = base64.b64encode(bytes.fromhex(scoped)).decode()

    def check(method: str, auth: str = scoped) -> httpx.Response:
        return call(node, "POST", "/v1/macaroon/checkpermissions", auth,
                    {"macaroon": b64, "fullMethod": method, "check_default_perms_from_full_method": True})

    assert check("/lnrpc.Lightning/UpdateChannelPolicy").json() == {"valid": True}
    r = check("/routerrpc.Router/SendPaymentV2")
    assert (r.status_code, r.json()["message"]) == (400, "permission denied")
    # the explicit form: the method's permissions from ListPermissions
    r = call(node, "POST", "/v1/macaroon/checkpermissions", node.macaroon,
             {"macaroon": b64, "permissions": [{"entity": "offchain", "action": "write"}],
              "fullMethod": "/lnrpc.Lightning/UpdateChannelPolicy"})
    assert r.json() == {"valid": True}
    r = call(node, "POST", "/v1/macaroon/checkpermissions", node.macaroon,
             {"macaroon": b64, "permissions": [{"entity": "offchain", "action": "write"}],
              "fullMethod": "/routerrpc.Router/SendPaymentV2"})
    assert r.status_code == 400
    # checkpermissions itself needs macaroon:read (or its uri)
    reader = bake(node, [("info", "read")], 67)
    assert check("/lnrpc.Lightning/GetInfo", auth=reader).json() == DENIED
    call(node, "DELETE", "/v1/macaroon/66", node.macaroon)
    r = call(node, "POST", "/v1/macaroon/checkpermissions", node.macaroon,
             {"macaroon": b64, "fullMethod": "/lnrpc.Lightning/GetInfo", "check_default_perms_from_full_method": True})
    assert r.status_code == 400 and "root key with id 66" in r.json()["message"]


def test_bake_refuses_what_lnd_refuses(node):
    for body, words in (({"permissions": []}, "permission list cannot be empty"),
                        ({"permissions": [{"entity": "wallet", "action": "read"}]}, "invalid permission entity"),
                        ({"permissions": [{"entity": "info", "action": "steal"}]}, "invalid permission action"),
                        ({"permissions": [{"entity": "uri", "action": "/lnrpc.Lightning/Nope"}]}, "invalid permission action")):
        r = call(node, "POST", "/v1/macaroon", node.macaroon, body)
        assert r.status_code == 500 and words in r.json()["message"], r.text
    r = call(node, "POST", "/v1/macaroon", node.macaroon, {"permissions": [{"entity": "info", "action": "read"}],
                                                          "root_key_id": "-1"})
    assert r.status_code == 400


def test_permissions_list_lnds_table_for_every_route_simnode_maps(node):
    table = call(node, "GET", "/v1/macaroon/permissions", node.macaroon).json()["method_permissions"]
    assert table["/lnrpc.Lightning/UpdateChannelPolicy"] == {"permissions": [{"entity": "offchain", "action": "write"}]}
    assert table["/routerrpc.Router/SendPaymentV2"] == {"permissions": [{"entity": "offchain", "action": "write"}]}
    assert table["/lnrpc.Lightning/BakeMacaroon"] == {"permissions": [{"entity": "macaroon", "action": "generate"}]}
    assert set(ROUTE_METHODS.values()) <= set(METHOD_PERMISSIONS) == set(table)


def test_the_macaroon_routes_answer_in_lnds_swagger_shapes(node):
    from simnode.conformance import response_schemas, validate

    schemas = response_schemas()
    mac = bake(node, [("info", "read")], 31337)
    b64 = base64.b64encode(bytes.fromhex(node.macaroon)).decode()
    cases = [
        ("POST", "/v1/macaroon", "/v1/macaroon", {"permissions": [{"entity": "info", "action": "read"}]}),
        ("GET", "/v1/macaroon/ids", "/v1/macaroon/ids", None),
        ("GET", "/v1/macaroon/permissions", "/v1/macaroon/permissions", None),
        ("POST", "/v1/macaroon/checkpermissions", "/v1/macaroon/checkpermissions",
         {"macaroon": b64, "fullMethod": "/lnrpc.Lightning/GetInfo", "check_default_perms_from_full_method": True}),
        ("DELETE", "/v1/macaroon/31337", "/v1/macaroon/{root_key_id}", None),
    ]
    for method, path, template, body in cases:
        r = call(node, method, path, node.macaroon, body)
        assert r.status_code == 200, (path, r.text)
        validate(schemas[(method, template)][0], r.json())
    validate("rpcStatus", call(node, "GET", "/v1/getinfo", mac).json())  # refused: its root key id is gone
