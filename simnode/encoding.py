"""LND REST (grpc-gateway + protojson) encoding rules: errors, bodies, query values."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

GRPC_TO_HTTP = {
    0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}


class LndError(Exception):
    """An error LND would return: gRPC code + message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return GRPC_TO_HTTP.get(self.code, 500)

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "details": []}


@dataclass
class Response:
    status: int
    body: dict | bytes | None = None  # dict → JSON; bytes → pre-encoded JSON
    stream: str | None = None  # streaming route kind, served by the HTTP layer
    lines: list[dict] = field(default_factory=list)  # finite stream lines (incl. {"error": ...})
    stream_args: dict = field(default_factory=dict)

    def json(self) -> Any:
        if isinstance(self.body, (bytes, bytearray)):
            return json.loads(self.body)
        return self.body

    def encode(self) -> bytes:
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        return json.dumps(self.body, separators=(",", ":")).encode()


def error_response(err: LndError) -> Response:
    return Response(err.http_status, err.body())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def txid_bytes_b64(txid_hex: str) -> str:
    """LND's funding_txid_bytes: reversed byte order vs the hex txid."""
    return b64(bytes.fromhex(txid_hex)[::-1])


def decode_bytes(value: str, field_name: str = "bytes") -> bytes:
    """protojson bytes: std base64 first, then URL-safe; padding optional."""
    s = value.strip().replace(" ", "+")
    pad = "=" * (-len(s.rstrip("=")) % 4)
    for dec in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return dec(s.rstrip("=") + pad)
        except (binascii.Error, ValueError):
            continue
    raise LndError(3, f"proto: invalid value for bytes field {field_name}: {value!r}")


_CAMEL = re.compile(r"([A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), name)


# Request message schemas: field → nested schema dict, or a type tag string.
CHAN_POINT = {"funding_txid_bytes": "bytes", "funding_txid_str": "str", "output_index": "uint32"}
SCHEMAS: dict[str, dict] = {
    "PolicyUpdateRequest": {
        "global": "bool", "chan_point": CHAN_POINT, "base_fee_msat": "int64", "fee_rate": "double",
        "fee_rate_ppm": "uint32", "time_lock_delta": "uint32", "max_htlc_msat": "uint64",
        "min_htlc_msat": "uint64", "min_htlc_msat_specified": "bool",
        "inbound_fee": {"base_fee_msat": "int32", "fee_rate_ppm": "int32"}, "create_missing_edge": "bool",
    },
    "ForwardingHistoryRequest": {
        "start_time": "uint64", "end_time": "uint64", "index_offset": "uint32", "num_max_events": "uint32",
        "peer_alias_lookup": "bool", "incoming_chan_ids": "[uint64]", "outgoing_chan_ids": "[uint64]",
    },
    "Invoice": {
        "memo": "str", "r_preimage": "bytes", "r_hash": "bytes", "value": "int64", "value_msat": "int64",
        "settled": "bool", "creation_date": "int64", "settle_date": "int64", "payment_request": "str",
        "description_hash": "bytes", "expiry": "int64", "fallback_addr": "str", "cltv_expiry": "uint64",
        "route_hints": "any", "private": "bool", "add_index": "uint64", "settle_index": "uint64",
        "amt_paid": "int64", "amt_paid_sat": "int64", "amt_paid_msat": "int64", "state": "any",
        "htlcs": "any", "features": "any", "is_keysend": "bool", "payment_addr": "bytes", "is_amp": "bool",
        "amp_invoice_state": "any", "is_blinded": "bool", "blinded_path_config": "any",
    },
    "AddHoldInvoiceRequest": {
        "memo": "str", "hash": "bytes", "value": "int64", "value_msat": "int64", "description_hash": "bytes",
        "expiry": "int64", "fallback_addr": "str", "cltv_expiry": "uint64", "route_hints": "any", "private": "bool",
    },
    "SettleInvoiceMsg": {"preimage": "bytes"},
    "CancelInvoiceMsg": {"payment_hash": "bytes"},
    "ConnectPeerRequest": {"addr": {"pubkey": "str", "host": "str"}, "perm": "bool", "timeout": "uint64"},
    "UpdateChanStatusRequest": {"chan_point": CHAN_POINT, "action": "any"},
    "SendPaymentRequest": {k: "any" for k in (
        "dest amt payment_hash final_cltv_delta payment_request timeout_seconds fee_limit_sat cltv_limit "
        "route_hints dest_custom_records amt_msat fee_limit_msat last_hop_pubkey allow_self_payment "
        "dest_features max_parts no_inflight_updates outgoing_chan_ids payment_addr max_shard_size_msat "
        "amp time_pref cancelable first_hop_custom_records").split()},
    "OpenChannelRequest": {"any": "any"},
}

INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1),
}


def _coerce(kind: str, value: Any, name: str) -> Any:
    if value is None:
        return None
    if kind == "any":
        return value
    if kind.startswith("["):
        if not isinstance(value, list):
            raise LndError(3, f"proto: syntax error: unexpected token for repeated field {name}")
        return [_coerce(kind[1:-1], v, name) for v in value]
    if kind in INT_RANGES:
        lo, hi = INT_RANGES[kind]
        if isinstance(value, bool):
            raise LndError(3, f"proto: invalid value for {kind} field {name}: {json.dumps(value)}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int) or not lo <= value <= hi:
            raise LndError(3, f"proto: invalid value for {kind} field {name}: {json.dumps(value)}")
        return value
    if kind == "double":
        if isinstance(value, bool):
            raise LndError(3, f"proto: invalid value for double field {name}: {json.dumps(value)}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise LndError(3, f"proto: invalid value for double field {name}: {json.dumps(value)}") from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise LndError(3, f"proto: invalid value for bool field {name}: {json.dumps(value)}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise LndError(3, f"proto: invalid value for string field {name}: {json.dumps(value)}")
        return value
    if kind == "bytes":
        if not isinstance(value, str):
            raise LndError(3, f"proto: invalid value for bytes field {name}: {json.dumps(value)}")
        return decode_bytes(value, name)
    raise AssertionError(kind)


def _parse_obj(obj: Any, schema: dict, path: str = "") -> dict:
    if not isinstance(obj, dict):
        raise LndError(3, f"proto: syntax error (line 1:1): unexpected token {json.dumps(obj)}")
    if "any" in schema and schema["any"] == "any":
        return dict(obj)
    out: dict = {}
    for key, value in obj.items():
        name = key if key in schema else snake(key)
        if name not in schema:
            raise LndError(3, f'proto:\u00a0(line 1:2): unknown field "{key}"')
        sub = schema[name]
        if isinstance(sub, dict):
            out[name] = None if value is None else _parse_obj(value, sub, path + name + ".")
        else:
            out[name] = _coerce(sub, value, path + name)
    return out


def parse_body(body: bytes, message: str) -> dict:
    """Decode a request body like grpc-gateway: empty = {}, unknown fields → 400."""
    if not body or not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LndError(3, f"proto: syntax error (line 1:{exc.pos if hasattr(exc, 'pos') else 1}): invalid value") from None
    if obj is None:
        return {}
    return _parse_obj(obj, SCHEMAS[message])


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def q_get(query: dict[str, list[str]], name: str) -> str | None:
    for key in (name, _camel(name)):
        vals = query.get(key)
        if vals:
            return vals[-1]
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def q_bool(query: dict[str, list[str]], name: str) -> bool:
    v = q_get(query, name)
    if v is None or v == "":
        return False
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise LndError(3, f'type mismatch, parameter: {name}, error: strconv.ParseBool: parsing "{v}": invalid syntax')


def q_int(query: dict[str, list[str]], name: str, kind: str = "uint64") -> int:
    v = q_get(query, name)
    if v is None or v == "":
        return 0
    return parse_int_param(v, name, kind)


def parse_int_param(v: str, name: str, kind: str = "uint64") -> int:
    lo, hi = INT_RANGES[kind]
    func = "ParseUint" if kind.startswith("u") else "ParseInt"
    if not re.fullmatch(r"-?\d+", v) or not lo <= int(v) <= hi:
        raise LndError(3, f'type mismatch, parameter: {name}, error: strconv.{func}: parsing "{v}": invalid syntax')
    return int(v)
