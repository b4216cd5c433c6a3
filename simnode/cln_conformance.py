"""Test tooling: Core Lightning v25.12's own JSON schemas (refdata/specs/cln-v25.12) as validators.

The schemas are JSON Schema (draft 7: if/then/else, allOf, additionalProperties) over CLN's own
type names; those are given their meaning here (lightningd's doc/schemas conventions):
msat/sat/u64 unsigned integers, u32/u16/u8 within their width, pubkey 33 bytes of compressed point
in hex, hash/txid/secret 32 bytes in hex, hex an even number of hex digits, short_channel_id
BLOCKxTXxOUT.  Everything else (required, additionalProperties, enum, lengths) is the schema's own.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC_DIR = Path(__file__).resolve().parent.parent / "refdata" / "specs" / "cln-v25.12"  # committed


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _unsigned(bits: int):
    def check(_checker: Any, v: Any) -> bool:
        return _is_int(v) and 0 <= v < 2**bits
    return check


def _hex_of(length: int | None):
    pattern = re.compile(r"(?:[0-9a-f]{2})*" if length is None else f"[0-9a-f]{{{length * 2}}}")

    def check(_checker: Any, v: Any) -> bool:
        return isinstance(v, str) and pattern.fullmatch(v) is not None
    return check


def _pubkey(_checker: Any, v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"0[23][0-9a-f]{64}", v) is not None


def _scid(_checker: Any, v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"\d+x\d+x\d+", v) is not None


CLN_TYPES = {
    "msat": _unsigned(64), "sat": _unsigned(64), "u64": _unsigned(64), "u32": _unsigned(32),
    "u16": _unsigned(16), "u8": _unsigned(8), "pubkey": _pubkey, "hash": _hex_of(32), "txid": _hex_of(32),
    "secret": _hex_of(32), "hex": _hex_of(None), "short_channel_id": _scid,
}

ClnValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine_many(CLN_TYPES),
)

# lightningd's error object (common/json_stream: "code", "message", optional "data")
ERROR_SCHEMA = {
    "type": "object", "required": ["code", "message"], "additionalProperties": False,
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
}


def spec_methods() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def spec(method: str) -> dict:
    path = SPEC_DIR / f"{method}.json"
    if not path.is_file():
        raise FileNotFoundError(f"CLN schema missing: {path} (committed in refdata/specs/cln-v25.12/; restore it from git)")
    return json.loads(path.read_text())


def _errors(schema: dict, doc: Any) -> list[str]:
    found = sorted(ClnValidator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in found]


def validate_response(method: str, doc: Any) -> None:
    errors = _errors(spec(method)["response"], doc)
    if errors:
        raise AssertionError(f"{method}: {len(errors)} schema errors:\n" + "\n".join(errors[:10]))


def validate_request(method: str, params: dict) -> None:
    errors = _errors(spec(method)["request"], params)
    if errors:
        raise AssertionError(f"{method} request: {len(errors)} schema errors:\n" + "\n".join(errors[:10]))


def validate_error(doc: Any) -> None:
    errors = _errors(ERROR_SCHEMA, doc)
    if errors:
        raise AssertionError("error object: " + "; ".join(errors))
