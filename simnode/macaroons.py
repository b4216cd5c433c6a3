"""LND's macaroons: bake, verify, list, revoke — in LND v0.21.2's binary format and words.

A macaroon is a v2 binary macaroon (location "lnd") whose identifier is LND's: the
version byte 3 and a protobuf `MacaroonId {nonce, storageId, ops}`; `storageId` is
the root key id in decimal and `ops` are the permissions (entity + actions, `uri` for
one RPC). It is signed with the root key of its root key id. First-party caveats
added to it (LND's `time-before`, `ipaddr`, custom `lnd-custom` ones) must hold too;
any other caveat fails verification. Deleting a root key id invalidates every
macaroon baked under it at once.

The value simnode was started with (`--macaroon`, an arbitrary hex) stays LND's admin
macaroon: root key id 0, every permission — LNbits and the tests use it.

Pure like lnd_api: the HTTP layer calls it on simnode's one worker thread.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import weakref
from dataclasses import dataclass, field

from pymacaroons import MACAROON_V2, Macaroon, Verifier
from pymacaroons.exceptions import MacaroonException
from pymacaroons.serializers import BinarySerializer

from .encoding import SCHEMAS, LndError, Response

LOCATION = "lnd"
ID_VERSION = 3
DEFAULT_ROOT_KEY_ID = 0
WRONG_MACAROON = "verification failed: signature mismatch after caveat verification"
PERMISSION_DENIED = "permission denied"
VALID_ENTITIES = ("onchain", "offchain", "address", "message", "peers", "info", "invoices", "signer", "macaroon", "uri")
VALID_ACTIONS = ("read", "write", "generate")
ADMIN_OPS = frozenset(
    [(e, a) for e in ("onchain", "offchain", "address", "message", "peers", "info", "invoices", "signer")
     for a in ("read", "write")]
    + [("macaroon", "generate"), ("macaroon", "read"), ("macaroon", "write")]
)


def _ops(*pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(p.split(":")) for p in pairs)  # type: ignore[misc]


# LND's permission table (rpcserver.go MainRPCServerPermissions and the sub-servers'), for the
# methods of the routes simnode serves and the ones a least-privilege check asks about.
METHOD_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "/lnrpc.Lightning/GetInfo": _ops("info:read"),
    "/lnrpc.Lightning/ChannelBalance": _ops("offchain:read"),
    "/lnrpc.Lightning/WalletBalance": _ops("onchain:read"),
    "/lnrpc.Lightning/ListPeers": _ops("peers:read"),
    "/lnrpc.Lightning/ConnectPeer": _ops("peers:write"),
    "/lnrpc.Lightning/DisconnectPeer": _ops("peers:write"),
    "/lnrpc.Lightning/ListChannels": _ops("offchain:read"),
    "/lnrpc.Lightning/PendingChannels": _ops("offchain:read"),
    "/lnrpc.Lightning/ClosedChannels": _ops("offchain:read"),
    "/lnrpc.Lightning/OpenChannel": _ops("onchain:write", "offchain:write"),
    "/lnrpc.Lightning/OpenChannelSync": _ops("onchain:write", "offchain:write"),
    "/lnrpc.Lightning/CloseChannel": _ops("onchain:write", "offchain:write"),
    "/lnrpc.Lightning/DescribeGraph": _ops("info:read"),
    "/lnrpc.Lightning/GetChanInfo": _ops("info:read"),
    "/lnrpc.Lightning/GetNodeInfo": _ops("info:read"),
    "/lnrpc.Lightning/GetNetworkInfo": _ops("info:read"),
    "/lnrpc.Lightning/FeeReport": _ops("offchain:read"),
    "/lnrpc.Lightning/UpdateChannelPolicy": _ops("offchain:write"),
    "/lnrpc.Lightning/ForwardingHistory": _ops("offchain:read"),
    "/lnrpc.Lightning/AddInvoice": _ops("invoices:write"),
    "/lnrpc.Lightning/LookupInvoice": _ops("invoices:read"),
    "/lnrpc.Lightning/ListInvoices": _ops("invoices:read"),
    "/lnrpc.Lightning/SubscribeInvoices": _ops("invoices:read"),
    "/lnrpc.Lightning/ListPayments": _ops("offchain:read"),
    "/lnrpc.Lightning/SendPaymentSync": _ops("offchain:write"),
    "/lnrpc.Lightning/SendCoins": _ops("onchain:write"),
    "/lnrpc.Lightning/NewAddress": _ops("address:write"),
    "/lnrpc.Lightning/BakeMacaroon": _ops("macaroon:generate"),
    "/lnrpc.Lightning/ListMacaroonIDs": _ops("macaroon:read"),
    "/lnrpc.Lightning/DeleteMacaroonID": _ops("macaroon:write"),
    "/lnrpc.Lightning/ListPermissions": _ops("info:read"),
    "/lnrpc.Lightning/CheckMacaroonPermissions": _ops("macaroon:read"),
    "/routerrpc.Router/SendPaymentV2": _ops("offchain:write"),
    "/routerrpc.Router/TrackPaymentV2": _ops("offchain:read"),
    "/routerrpc.Router/SubscribeHtlcEvents": _ops("offchain:read"),
    "/routerrpc.Router/UpdateChanStatus": _ops("offchain:write"),
    "/invoicesrpc.Invoices/AddHoldInvoice": _ops("invoices:write"),
    "/invoicesrpc.Invoices/SettleInvoice": _ops("invoices:write"),
    "/invoicesrpc.Invoices/CancelInvoice": _ops("invoices:write"),
}

# REST route (method, path template) -> the RPC it calls (the swagger files' operationIds).
ROUTE_METHODS: dict[tuple[str, str], str] = {
    ("GET", "/v1/getinfo"): "/lnrpc.Lightning/GetInfo",
    ("GET", "/v1/balance/channels"): "/lnrpc.Lightning/ChannelBalance",
    ("GET", "/v1/balance/blockchain"): "/lnrpc.Lightning/WalletBalance",
    ("GET", "/v1/peers"): "/lnrpc.Lightning/ListPeers",
    ("POST", "/v1/peers"): "/lnrpc.Lightning/ConnectPeer",
    ("DELETE", "/v1/peers/{pub_key}"): "/lnrpc.Lightning/DisconnectPeer",
    ("GET", "/v1/channels"): "/lnrpc.Lightning/ListChannels",
    ("GET", "/v1/channels/pending"): "/lnrpc.Lightning/PendingChannels",
    ("GET", "/v1/channels/closed"): "/lnrpc.Lightning/ClosedChannels",
    ("POST", "/v1/channels"): "/lnrpc.Lightning/OpenChannelSync",
    ("DELETE", "/v1/channels/{channel_point.funding_txid_str}/{channel_point.output_index}"):
        "/lnrpc.Lightning/CloseChannel",
    ("GET", "/v1/graph"): "/lnrpc.Lightning/DescribeGraph",
    ("GET", "/v1/graph/edge/{chan_id}"): "/lnrpc.Lightning/GetChanInfo",
    ("GET", "/v1/graph/node/{pub_key}"): "/lnrpc.Lightning/GetNodeInfo",
    ("GET", "/v1/graph/info"): "/lnrpc.Lightning/GetNetworkInfo",
    ("GET", "/v1/fees"): "/lnrpc.Lightning/FeeReport",
    ("POST", "/v1/chanpolicy"): "/lnrpc.Lightning/UpdateChannelPolicy",
    ("POST", "/v1/switch"): "/lnrpc.Lightning/ForwardingHistory",
    ("POST", "/v1/invoices"): "/lnrpc.Lightning/AddInvoice",
    ("GET", "/v1/invoice/{r_hash_str}"): "/lnrpc.Lightning/LookupInvoice",
    ("GET", "/v1/invoices"): "/lnrpc.Lightning/ListInvoices",
    ("GET", "/v1/invoices/subscribe"): "/lnrpc.Lightning/SubscribeInvoices",
    ("GET", "/v1/payments"): "/lnrpc.Lightning/ListPayments",
    ("POST", "/v1/transactions"): "/lnrpc.Lightning/SendCoins",
    ("GET", "/v1/newaddress"): "/lnrpc.Lightning/NewAddress",
    ("POST", "/v1/macaroon"): "/lnrpc.Lightning/BakeMacaroon",
    ("GET", "/v1/macaroon/ids"): "/lnrpc.Lightning/ListMacaroonIDs",
    ("DELETE", "/v1/macaroon/{root_key_id}"): "/lnrpc.Lightning/DeleteMacaroonID",
    ("GET", "/v1/macaroon/permissions"): "/lnrpc.Lightning/ListPermissions",
    ("POST", "/v1/macaroon/checkpermissions"): "/lnrpc.Lightning/CheckMacaroonPermissions",
    ("POST", "/v2/router/send"): "/routerrpc.Router/SendPaymentV2",
    ("GET", "/v2/router/track/{payment_hash}"): "/routerrpc.Router/TrackPaymentV2",
    ("GET", "/v2/router/htlcevents"): "/routerrpc.Router/SubscribeHtlcEvents",
    ("POST", "/v2/router/updatechanstatus"): "/routerrpc.Router/UpdateChanStatus",
    ("POST", "/v2/invoices/hodl"): "/invoicesrpc.Invoices/AddHoldInvoice",
    ("POST", "/v2/invoices/settle"): "/invoicesrpc.Invoices/SettleInvoice",
    ("POST", "/v2/invoices/cancel"): "/invoicesrpc.Invoices/CancelInvoice",
}

SCHEMAS.update({
    "BakeMacaroonRequest": {"permissions": "any", "root_key_id": "uint64", "allow_external_permissions": "bool"},
    "CheckMacPermRequest": {"macaroon": "bytes", "permissions": "any", "fullMethod": "str",
                            "check_default_perms_from_full_method": "bool"},
})


# --- LND's identifier: version byte + protobuf MacaroonId ----------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _read_fields(data: bytes) -> list[tuple[int, bytes]]:
    fields, i = [], 0
    while i < len(data):
        key, shift = 0, 0
        while True:
            b = data[i]; i += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        if key & 7 != 2:
            raise ValueError("unexpected wire type")
        length, shift = 0, 0
        while True:
            b = data[i]; i += 1
            length |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        if i + length > len(data):
            raise ValueError("truncated")
        fields.append((key >> 3, data[i:i + length]))
        i += length
    return fields


def encode_id(nonce: bytes, root_key_id: int, ops: dict[str, list[str]]) -> bytes:
    body = _field(1, nonce) + _field(2, str(root_key_id).encode())
    for entity, actions in ops.items():
        body += _field(3, _field(1, entity.encode()) + b"".join(_field(2, a.encode()) for a in actions))
    return bytes([ID_VERSION]) + body


@dataclass(frozen=True)
class MacaroonId:
    nonce: bytes
    root_key_id: int
    ops: frozenset[tuple[str, str]]


def decode_id(identifier: bytes) -> MacaroonId:
    if not identifier or identifier[0] != ID_VERSION:
        raise ValueError("unknown identifier version")
    nonce, storage, ops = b"", b"", set()
    for number, value in _read_fields(identifier[1:]):
        if number == 1:
            nonce = value
        elif number == 2:
            storage = value
        elif number == 3:
            entity, actions = "", []
            for n, v in _read_fields(value):
                if n == 1:
                    entity = v.decode()
                elif n == 2:
                    actions.append(v.decode())
            ops |= {(entity, a) for a in actions}
    return MacaroonId(nonce, int(storage.decode() or "0"), frozenset(ops))


# --- the service ---------------------------------------------------------------------------------


@dataclass
class Verified:
    admin: bool
    ops: frozenset[tuple[str, str]]
    root_key_id: int


@dataclass
class MacaroonService:
    admin_hex: str | None = None
    root_keys: dict[int, bytes] = field(default_factory=dict)
    refused: int = 0  # requests refused (any reason), for tests
    # For tests (GET /sim/macaroons): every macaroon baked, and the requests each root key id made.
    baked: list[dict] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root_keys.setdefault(DEFAULT_ROOT_KEY_ID, os.urandom(32))

    def bake(self, ops: dict[str, list[str]], root_key_id: int = DEFAULT_ROOT_KEY_ID) -> str:
        key = self.root_keys.setdefault(root_key_id, os.urandom(32))
        identifier = encode_id(os.urandom(32), root_key_id, ops)
        mac = Macaroon(location=LOCATION, identifier=identifier, key=key, version=MACAROON_V2)
        value = base64.urlsafe_b64decode(_pad(mac.serialize(BinarySerializer()))).hex()
        self.baked.append({"root_key_id": root_key_id, "macaroon": value})
        return value

    def delete(self, root_key_id: int) -> bool:
        if root_key_id == DEFAULT_ROOT_KEY_ID:
            raise LndError(2, "the specified ID cannot be deleted")
        return self.root_keys.pop(root_key_id, None) is not None

    def verify(self, raw: bytes) -> Verified:
        """LND's ValidateMacaroon up to the permission check, or LndError with its words."""
        if self.admin_hex is not None and raw == bytes.fromhex(self.admin_hex):
            return Verified(True, ADMIN_OPS, DEFAULT_ROOT_KEY_ID)
        try:
            mac = Macaroon.deserialize(base64.urlsafe_b64encode(raw).decode(), BinarySerializer())
            ident = decode_id(mac.identifier_bytes)
        except (MacaroonException, ValueError, IndexError, UnicodeDecodeError, TypeError, binascii.Error) as exc:
            raise LndError(2, f"verification failed: cannot unmarshal macaroon ({exc.__class__.__name__})") from None
        key = self.root_keys.get(ident.root_key_id)
        if key is None:
            raise LndError(2, f"cannot get macaroon: root key with id {ident.root_key_id} doesn't exist")
        verifier = Verifier()
        verifier.satisfy_general(_caveat_holds)
        try:
            verifier.verify(mac, key)
        except MacaroonException:
            raise LndError(2, WRONG_MACAROON) from None
        return Verified(False, ident.ops, ident.root_key_id)

    def allows(self, verified: Verified, full_method: str, required: tuple[tuple[str, str], ...]) -> bool:
        if verified.admin:
            return True
        if required and all(op in verified.ops for op in required):
            return True
        return ("uri", full_method) in verified.ops

    def check_request(self, headers: list[tuple[str, str]], method: str, template: str) -> None:
        """Every request: exactly one macaroon, valid, allowing the route's RPC."""
        vals = [v for k, v in headers if k.lower() == "grpc-metadata-macaroon"]
        try:
            if len(vals) != 1:
                raise LndError(2, f"expected 1 macaroon, got {len(vals)}")
            try:
                raw = bytes.fromhex(vals[0].strip())
            except ValueError:
                raise LndError(2, "unable to decode macaroon: encoding/hex: invalid byte") from None
            verified = self.verify(raw)
            key = f"{'admin' if verified.admin else verified.root_key_id} {method} {template}"
            full_method = ROUTE_METHODS.get((method, template))
            if full_method is None:  # a route simnode does not map: only the admin macaroon
                if not verified.admin:
                    raise LndError(2, PERMISSION_DENIED)
                return
            if not self.allows(verified, full_method, METHOD_PERMISSIONS[full_method]):
                raise LndError(2, PERMISSION_DENIED)
            self.requests[key] = self.requests.get(key, 0) + 1
        except LndError:
            self.refused += 1
            raise


def _pad(text: str) -> bytes:
    return (text + "=" * (-len(text) % 4)).encode()


def _caveat_holds(caveat: str) -> bool:
    """LND's first-party caveat checkers (time-before, ipaddr) and custom caveats."""
    name, _, value = caveat.partition(" ")
    if name == "time-before":
        try:
            from datetime import datetime
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() > time.time()
        except ValueError:
            return False
    if name == "ipaddr":
        return value in ("127.0.0.1", "::1")
    return name == "lnd-custom"


_services: "weakref.WeakKeyDictionary[object, MacaroonService]" = weakref.WeakKeyDictionary()


def service_for(sim: object, admin_hex: str | None = None) -> MacaroonService:
    """The macaroon service of one simnode (root keys live as long as the node)."""
    service = _services.get(sim)
    if service is None:
        service = _services[sim] = MacaroonService(admin_hex.lower() if admin_hex else None)
    elif admin_hex and service.admin_hex is None:
        service.admin_hex = admin_hex.lower()
    return service


# --- the REST routes -------------------------------------------------------------------------------


def _permission_list(value: object, field_name: str = "permissions") -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise LndError(3, f"proto: syntax error: unexpected token for repeated field {field_name}")
    out = []
    for p in value:
        unknown = set(p) - {"entity", "action"}
        if unknown:
            raise LndError(3, f'proto:\u00a0(line 1:2): unknown field "{sorted(unknown)[0]}"')
        entity, action = p.get("entity", ""), p.get("action", "")
        if not isinstance(entity, str) or not isinstance(action, str):
            raise LndError(3, f"proto: invalid value for string field {field_name}")
        out.append((entity, action))
    return out


def bake(service: MacaroonService, body: dict) -> Response:
    perms = _permission_list(body.get("permissions"))
    if not perms:
        raise LndError(2, "permission list cannot be empty. specify at least one action/entity pair")
    external = bool(body.get("allow_external_permissions"))
    for entity, action in perms:
        if entity == "uri":
            if action not in METHOD_PERMISSIONS and not external:
                raise LndError(2, f"invalid permission action. {action} is not a known RPC URI")
            continue
        if entity not in VALID_ENTITIES and not external:
            raise LndError(2, "invalid permission entity. use 'lncli listpermissions' to see all valid permissions")
        if action not in VALID_ACTIONS and not external:
            raise LndError(2, "invalid permission action. use 'lncli listpermissions' to see all valid permissions")
    ops: dict[str, list[str]] = {}
    for entity, action in perms:
        if action not in ops.setdefault(entity, []):
            ops[entity].append(action)
    root_key_id = int(body.get("root_key_id") or DEFAULT_ROOT_KEY_ID)
    return Response(200, {"macaroon": service.bake(ops, root_key_id)})


def list_ids(service: MacaroonService) -> Response:
    return Response(200, {"root_key_ids": [str(i) for i in sorted(service.root_keys)]})


def delete_id(service: MacaroonService, raw_id: str) -> Response:
    try:
        root_key_id = int(raw_id)
        if not 0 <= root_key_id < 2**64:
            raise ValueError
    except ValueError:
        raise LndError(3, f'type mismatch, parameter: root_key_id, error: strconv.ParseUint: parsing "{raw_id}": '
                          "invalid syntax") from None
    return Response(200, {"deleted": service.delete(root_key_id)})


def list_permissions() -> Response:
    return Response(200, {"method_permissions": {
        method: {"permissions": [{"entity": e, "action": a} for e, a in ops]}
        for method, ops in sorted(METHOD_PERMISSIONS.items())
    }})


def check_permissions(service: MacaroonService, body: dict) -> Response:
    perms = tuple(_permission_list(body.get("permissions")))
    full_method = body.get("fullMethod") or ""
    if body.get("check_default_perms_from_full_method"):
        if perms:
            raise LndError(3, "cannot check default permissions from full method and also specify permissions")
        if full_method not in METHOD_PERMISSIONS:
            raise LndError(3, f"no permissions found for method {full_method}")
        perms = METHOD_PERMISSIONS[full_method]
    try:
        verified = service.verify(body.get("macaroon") or b"")
    except LndError as err:
        raise LndError(3, err.message) from None
    if perms and not service.allows(verified, full_method, perms):
        raise LndError(3, PERMISSION_DENIED)
    return Response(200, {"valid": True})


# --- /sim/macaroons: what happens outside Fee Autopilot ------------------------------------------


def handle_sim_macaroons(service: MacaroonService, method: str, path: str, data: dict) -> Response:
    """POST /sim/macaroons/revoke {"root_key_id": N}: someone ran `lncli deletemacaroonid N`.
    GET /sim/macaroons: the root key ids, the count of refused requests, every macaroon baked
    (tests search storage and logs for them) and the requests accepted per root key id and
    route ("<id or admin> <METHOD> <path template>")."""
    if path == "/sim/macaroons" and method == "GET":
        return Response(200, {"root_key_ids": sorted(service.root_keys), "refused": service.refused,
                              "baked": list(service.baked), "requests": dict(service.requests)})
    if path == "/sim/macaroons/revoke" and method == "POST":
        try:
            root_key_id = int(data.get("root_key_id"))  # type: ignore[arg-type]
            deleted = service.delete(root_key_id)
        except (TypeError, ValueError):
            return Response(400, {"error": "root_key_id must be an integer"})
        except LndError as err:
            return Response(400, {"error": err.message})
        return Response(200, {"deleted": deleted})
    return Response(404, {"error": f"unknown sim route {method} {path}"})
