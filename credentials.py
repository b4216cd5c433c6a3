"""Fee Autopilot's own LND credential: what it must allow, what it must not, how to read one.

Pure: no node, no database (the shell is credential_service.py, node I/O in node.py).

The permissions are LND's `uri:` permissions of exactly the RPCs Fee Autopilot calls
(`CALLS`, one entry per REST call site in node.py and credential_service.py; a unit test
keeps the two in step). A macaroon with only these can read channels, fees, the graph
and the forwarding history, and set channel policies — it cannot pay, receive, open
or close channels, move on-chain funds, bake or revoke macaroons.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Optional

# REST call ("METHOD path template") -> the RPC LND serves it with, and why we call it.
CALLS: dict[str, tuple[str, str]] = {
    "GET /v1/getinfo": ("/lnrpc.Lightning/GetInfo", "the node's id, alias and block height"),
    "GET /v1/channels": ("/lnrpc.Lightning/ListChannels", "open channels and their balances"),
    "GET /v1/channels/pending": ("/lnrpc.Lightning/PendingChannels", "channels being opened or closed"),
    "GET /v1/channels/closed": ("/lnrpc.Lightning/ClosedChannels", "closed channels (their history stays)"),
    "GET /v1/fees": ("/lnrpc.Lightning/FeeReport", "the fees each channel charges now"),
    "GET /v1/graph/node/{pub_key}": ("/lnrpc.Lightning/GetNodeInfo", "our channels' cltv delta and HTLC limits"),
    "GET /v1/peers": ("/lnrpc.Lightning/ListPeers", "which peers are online"),
    "POST /v1/switch": ("/lnrpc.Lightning/ForwardingHistory", "forwards and the fees they earned"),
    "GET /v1/graph": ("/lnrpc.Lightning/DescribeGraph", "the public graph (graph metrics)"),
    "GET /v1/graph/edge/{chan_id}": ("/lnrpc.Lightning/GetChanInfo", "one channel's policy, read back after a write"),
    "GET /v2/router/htlcevents": ("/routerrpc.Router/SubscribeHtlcEvents", "forwards that failed on our side (missed demand)"),
    "POST /v1/chanpolicy": ("/lnrpc.Lightning/UpdateChannelPolicy", "set a channel's fees (the only write)"),
    "POST /v1/macaroon/checkpermissions": (
        "/lnrpc.Lightning/CheckMacaroonPermissions", "check its own permissions (this credential's health)"),
}
NEEDED: tuple[str, ...] = tuple(dict.fromkeys(rpc for rpc, _ in CALLS.values()))

# What a Fee Autopilot credential must never allow: a pasted macaroon that does is accepted
# with a warning naming each (it works, but a leak of it could move funds).
DANGEROUS: dict[str, str] = {
    "/routerrpc.Router/SendPaymentV2": "pay invoices",
    "/lnrpc.Lightning/SendPaymentSync": "pay invoices",
    "/lnrpc.Lightning/SendCoins": "send on-chain funds",
    "/lnrpc.Lightning/NewAddress": "create on-chain addresses",
    "/lnrpc.Lightning/OpenChannelSync": "open channels",
    "/lnrpc.Lightning/CloseChannel": "close channels",
    "/lnrpc.Lightning/AddInvoice": "create invoices",
    "/lnrpc.Lightning/ConnectPeer": "connect to peers",
    "/lnrpc.Lightning/BakeMacaroon": "bake new macaroons",
    "/lnrpc.Lightning/DeleteMacaroonID": "revoke macaroons",
}

PURPOSE = "lnd-macaroon"  # the vault's associated data: what the secret is for
MAX_MACAROON_BYTES = 8192
# Our own root key ids: random, far from LND's 0 and from small ids people pick by hand,
# and below 2^53 so every client shows them exactly.
ROOT_KEY_ID_RANGE = (2**40, 2**53)


class InvalidMacaroon(ValueError):
    """Not a macaroon in LND's format (the message says what is wrong, never the value)."""


def uri_permissions(methods: tuple[str, ...] = NEEDED) -> list[dict[str, str]]:
    return [{"entity": "uri", "action": method} for method in methods]


def lncli_command(root_key_id: int, methods: tuple[str, ...] = NEEDED) -> str:
    """The command an operator runs on the node to bake the credential by hand."""
    return " ".join(["lncli", "bakemacaroon", f"--root_key_id {root_key_id}", *[f"uri:{m}" for m in methods]])


def fresh_root_key_id(taken: set[int]) -> int:
    while True:
        candidate = secrets.randbelow(ROOT_KEY_ID_RANGE[1] - ROOT_KEY_ID_RANGE[0]) + ROOT_KEY_ID_RANGE[0]
        if candidate not in taken:
            return candidate


def parse_macaroon_hex(text: str) -> bytes:
    value = re.sub(r"\s+", "", text or "")
    if not value:
        raise InvalidMacaroon("no macaroon given: paste the hex that lncli bakemacaroon printed")
    if not re.fullmatch(r"[0-9a-fA-F]+", value) or len(value) % 2:
        raise InvalidMacaroon("the macaroon must be hex (what lncli bakemacaroon prints, or xxd -p of the file)")
    raw = bytes.fromhex(value)
    if len(raw) > MAX_MACAROON_BYTES:
        raise InvalidMacaroon(f"the macaroon is longer than {MAX_MACAROON_BYTES} bytes")
    if raw[0] != 2:
        raise InvalidMacaroon("not an LND macaroon: LND's macaroons are in the v2 binary format (they begin with 02)")
    return raw


def fingerprint(raw: bytes) -> str:
    """Names a macaroon without revealing it: the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return ":".join(digest[i:i + 4] for i in range(0, 16, 4))


# --- what LND's identifier says (v2 binary macaroon, identifier = 3 + protobuf MacaroonId) ----------


@dataclass(frozen=True)
class MacaroonFacts:
    root_key_id: Optional[int]
    permissions: tuple[str, ...] = ()  # "entity:action", as lncli prints them


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _proto_fields(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        if key & 7 != 2:
            raise ValueError("unexpected wire type")
        length, i = _varint(data, i)
        if i + length > len(data):
            raise ValueError("truncated field")
        out.append((key >> 3, data[i:i + length]))
        i += length
    return out


def _v2_identifier(raw: bytes) -> bytes:
    """The identifier field of a v2 binary macaroon: [version 2] (type varint, length, data)*"""
    i = 1
    while i < len(raw):
        kind, i = _varint(raw, i)
        if kind == 0:  # end of section before an identifier
            break
        length, i = _varint(raw, i)
        if kind == 2:
            return raw[i:i + length]
        i += length
    raise ValueError("no identifier")


def describe_macaroon(raw: bytes) -> MacaroonFacts:
    """Root key id and permissions from LND's identifier; unknown when it is not LND's."""
    try:
        identifier = _v2_identifier(raw)
        if not identifier or identifier[0] != 3:
            return MacaroonFacts(None)
        storage, perms = b"", []
        for number, value in _proto_fields(identifier[1:]):
            if number == 2:
                storage = value
            elif number == 3:
                entity, actions = "", []
                for n, v in _proto_fields(value):
                    if n == 1:
                        entity = v.decode()
                    elif n == 2:
                        actions.append(v.decode())
                perms += [f"{entity}:{a}" for a in actions]
        return MacaroonFacts(int(storage.decode()) if storage else None, tuple(perms))
    except (ValueError, UnicodeDecodeError):
        return MacaroonFacts(None)


# --- judging a candidate ---------------------------------------------------------------------------


@dataclass
class Check:
    """What the node said about a candidate macaroon."""

    allowed: dict[str, bool] = field(default_factory=dict)  # method -> allowed, needed and dangerous ones
    errors: dict[str, str] = field(default_factory=dict)  # method -> why the check itself failed
    invalid: Optional[str] = None  # the node does not accept the macaroon at all
    node_id: Optional[str] = None

    @property
    def missing(self) -> list[str]:
        return [m for m in NEEDED if not self.allowed.get(m)]

    @property
    def extra(self) -> list[str]:
        return [m for m in DANGEROUS if self.allowed.get(m)]

    def warnings(self, facts: MacaroonFacts) -> list[str]:
        out = [f"It also allows {DANGEROUS[m]} ({m}): a leak of it could move funds. Bake one with only the "
               "permissions listed." for m in self.extra]
        if facts.root_key_id == 0:
            out.append("It was baked under root key id 0, LND's default (the admin macaroon's): it cannot be "
                       "revoked without revoking every default macaroon. Bake it with its own --root_key_id.")
        return out

    def problem(self) -> Optional[str]:
        """Why it cannot be used, in words; None when it can."""
        if self.invalid:
            return f"The node does not accept this macaroon: {self.invalid}"
        if self.missing:
            return ("The macaroon lacks permissions Fee Autopilot needs: " + ", ".join(self.missing)
                    + ". Bake one with the command shown.")
        return None


def refusal_fix(in_use: str) -> str:
    return (f"The node refused Fee Autopilot's credential ({in_use}): it was revoked or lost a permission on the node. "
            "Writes are paused. Rotate it (bake or paste a new one), or revoke it to use LNbits' own macaroon again.")
