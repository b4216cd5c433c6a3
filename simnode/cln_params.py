"""Core Lightning's JSON-RPC parameters: errors, value parsers, and binding by name or by position.

lightningd takes `params` as an object (by name) or an array (by the documented order) and
answers bad input with JSONRPC2_INVALID_PARAMS (-32602) in its own words, which this module
reproduces (common/json_param.c, lightningd/jsonrpc.c of v25.12; non-developer mode, where a bad
value's message ends in "invalid token (see logs for details)").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# common/jsonrpc_errors.h
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
LIGHTNINGD = -1
PAY_STOPPED_RETRYING = 210
CONNECT_NO_KNOWN_ADDRESS = 400
INVOICE_LABEL_ALREADY_EXISTS = 900
INVOICE_PREIMAGE_ALREADY_EXISTS = 901
INVOICE_WAIT_TIMED_OUT = 904

U16_MAX, U32_MAX, U64_MAX = 2**16 - 1, 2**32 - 1, 2**64 - 1


class ClnError(Exception):
    """An error lightningd would answer: {"code", "message"[, "data"]}."""

    def __init__(self, code: int, message: str, data: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


class BadValue(Exception):
    """A parser's complaint, turned into CLN's bad-parameter message by `bad_param`."""


def bad_param(name: str, why: str) -> ClnError:
    return ClnError(INVALID_PARAMS, f"{name}: {why}: invalid token (see logs for details)")


Parser = Callable[[Any], Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _digits(value: Any) -> int | None:
    """A JSON integer, or a string of digits (lightningd reads both from the token's text)."""
    if _is_int(value):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+", value):
        return int(value)
    return None


def unsigned(limit: int, what: str) -> Parser:
    def parse(value: Any) -> int:
        n = _digits(value)
        if n is None or n < 0 or n > limit:
            raise BadValue(what)
        return n
    return parse


u16 = unsigned(U16_MAX, "should be an integer")
u32 = unsigned(U32_MAX, "should be an integer")
u64 = unsigned(U64_MAX, "should be an unsigned 64 bit integer")


def msat(value: Any) -> int:
    """CLN's amount syntax: a whole number (msat), `Nmsat`, `Nsat`, `N.nnnsat` or `N[.n…]btc` (1–11 decimals)."""
    n = _digits(value)
    if n is not None and n >= 0:
        return n
    if isinstance(value, str):
        if m := re.fullmatch(r"(\d+)msat", value):
            return int(m.group(1))
        if m := re.fullmatch(r"(\d+)sat", value):
            return int(m.group(1)) * 1000
        if m := re.fullmatch(r"(\d+)\.(\d{3})sat", value):
            return int(m.group(1)) * 1000 + int(m.group(2))
        if re.fullmatch(r"\d+(\.\d{1,11})?btc", value):
            try:
                return int(Decimal(value[:-3]) * 100_000_000_000)
            except InvalidOperation:
                pass
    raise BadValue("should be a millisatoshi amount")


def msat_u32(value: Any) -> int:
    """setchannel's feebase: an msat amount that must fit a u32."""
    n = msat(value)
    if n > U32_MAX:
        raise BadValue("exceeds u32 max")
    return n


ANY_AMOUNT = "any"


def msat_or_any(value: Any) -> int | str:
    """invoice's amount_msat: ANY_AMOUNT (an amountless invoice) or a positive amount."""
    if value == ANY_AMOUNT:
        return ANY_AMOUNT
    n = msat(value)
    if n == 0:
        raise BadValue("should be positive msat or 'any'")
    return n


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise BadValue("should be 'true' or 'false'")


def string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise BadValue("should be a string")


def label(value: Any) -> str:
    """A label is a JSON string or number; a number is used as its text."""
    if isinstance(value, str):
        return value
    if _is_int(value) or isinstance(value, float):
        return str(value)
    raise BadValue("should be a string or number")


def pubkey(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"0[23][0-9a-fA-F]{64}", value):
        return value.lower()
    raise BadValue("should be a node id")


def sha256_hex(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return value.lower()
    raise BadValue("should be a 32 byte hex value")


def preimage(value: Any) -> bytes:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return bytes.fromhex(value)
    raise BadValue("should be 64 hex digits")


SCID = re.compile(r"(\d+)x(\d+)x(\d+)")


def short_channel_id(value: Any) -> str:
    if isinstance(value, str) and (m := SCID.fullmatch(value)):
        block, tx, out = (int(x) for x in m.groups())
        if block < 2**24 and tx < 2**24 and out < 2**16:
            return f"{block}x{tx}x{out}"
    raise BadValue("should be a short_channel_id of form NxNxN")


def one_of(*choices: str, why: str) -> Parser:
    def parse(value: Any) -> str:
        if value in choices:
            return value
        raise BadValue(why)
    return parse


def anything(value: Any) -> Any:
    return value


def number(value: Any) -> float:
    if _is_int(value) or isinstance(value, float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    raise BadValue("should be a number")


def array(value: Any) -> list:
    if isinstance(value, list):
        return value
    raise BadValue("should be an array")


def hex_string(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"([0-9a-fA-F]{2})*", value):
        return value
    raise BadValue("should be a hex string")


@dataclass(frozen=True)
class Param:
    name: str
    parse: Parser
    required: bool = False
    default: Any = None


def bind(params: Any, spec: tuple[Param, ...]) -> dict[str, Any]:
    """`params` (object or array) → {name: parsed value}, defaults filled in; CLN's errors otherwise.
    A JSON null counts as absent, as lightningd treats it."""
    given: dict[str, Any] = {}
    if isinstance(params, list):
        if len(params) > len(spec):
            raise ClnError(INVALID_PARAMS, f"too many parameters: got {len(params)}, expected {len(spec)}")
        given = {p.name: v for p, v in zip(spec, params)}
    elif isinstance(params, dict):
        names = {p.name for p in spec}
        for key in params:
            if key not in names:
                raise ClnError(INVALID_PARAMS, f"unknown parameter: {key}, this may be caused by a failure to "
                                               "autodetect key=value-style parameters. Please try using the -k flag "
                                               "and explicit key=value pairs of parameters.")
        given = dict(params)
    else:
        raise ClnError(INVALID_PARAMS, "Expected array or object for params")
    out: dict[str, Any] = {}
    for p in spec:
        value = given.get(p.name)
        if value is None:
            out[p.name] = p.default
            continue
        try:
            out[p.name] = p.parse(value)
        except BadValue as why:
            raise bad_param(p.name, str(why)) from None
    for p in spec:
        if p.required and out[p.name] is None:
            raise ClnError(INVALID_PARAMS, f"missing required parameter: {p.name}")
    return out


def usage(name: str, spec: tuple[Param, ...]) -> str:
    """`help`'s line: the name, then required params bare and optional ones in brackets."""
    return " ".join([name] + [p.name if p.required else f"[{p.name}]" for p in spec])
