"""Test tooling: LND v0.21.2 swagger definitions → strict JSON Schema (reads refdata/specs/lnd-v0.21.2).

protojson rules (LND's REST encoding): `string/int64|uint64` is a
decimal string, `integer/*` a number, `string/byte` standard base64, enums by name,
unset sub-messages `null`; oneof members may be omitted.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema

SPEC_DIR = Path(__file__).resolve().parent.parent / "refdata" / "specs" / "lnd-v0.21.2"  # committed with the repository
SPEC_FILES = ("lightning", "router", "invoices")
B64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"

# oneof members / proto3 optional fields LND omits when unset
OPTIONAL = {
    "lnrpcChannelPoint": {"funding_txid_bytes", "funding_txid_str"},
    "routerrpcHtlcEvent": {"forward_event", "forward_fail_event", "settle_event", "link_fail_event",
                           "subscribed_event", "final_htlc_event"},
    "lnrpcForwardingEvent": {"incoming_htlc_id", "outgoing_htlc_id"},
}


def _prop(p: dict) -> dict:
    if "$ref" in p:
        return {"anyOf": [{"$ref": p["$ref"]}, {"type": "null"}]}
    t, fmt = p.get("type"), p.get("format")
    if t == "string" and fmt in ("int64", "uint64"):
        return {"type": "string", "pattern": r"^-?\d+$"}
    if t == "string" and fmt == "byte":
        return {"type": "string", "pattern": B64}
    if t == "string":
        return {"type": "string", **({"enum": p["enum"]} if "enum" in p else {})}
    if t == "integer":
        return {"type": "integer"}
    if t == "number":
        return {"type": "number"}
    if t == "boolean":
        return {"type": "boolean"}
    if t == "array":
        return {"type": "array", "items": _prop(p["items"])}
    if t == "object":
        if "additionalProperties" in p:
            return {"type": "object", "additionalProperties": _prop(p["additionalProperties"])}
        if "properties" in p:
            return _obj("", p)
        return {"type": "object"}
    return {}


def _obj(name: str, d: dict) -> dict:
    props = d.get("properties", {})
    return {
        "type": "object",
        "properties": {k: _prop(v) for k, v in props.items()},
        "required": sorted(set(props) - OPTIONAL.get(name, set())),
        "additionalProperties": False,
    }


def swagger(name: str) -> dict:
    """One of LND's swagger files; a missing one is named, with where it belongs."""
    path = SPEC_DIR / f"{name}.swagger.json"
    if not path.is_file():
        raise FileNotFoundError(f"LND swagger spec missing: {path} (it is committed in refdata/specs/lnd-v0.21.2/; restore it from git)")
    return json.loads(path.read_text())


@lru_cache(maxsize=1)
def definitions() -> dict:
    defs: dict = {}
    for f in SPEC_FILES:
        defs.update(swagger(f)["definitions"])
    out = {}
    for name, d in defs.items():
        if d.get("type") == "string" and "enum" in d:
            out[name] = {"type": "string", "enum": d["enum"]}
        elif d.get("type") == "object" or "properties" in d:
            out[name] = _obj(name, d)
        else:
            out[name] = _prop(d)
    # the swagger types the streaming envelope inline; error bodies use rpcStatus
    out["rpcStatus"]["properties"]["details"] = {"type": "array"}
    return out


@lru_cache(maxsize=None)
def response_schemas() -> dict[tuple[str, str], tuple[str, bool]]:
    """(METHOD, path template) → (definition name, streaming?)."""
    res = {}
    for f in SPEC_FILES:
        sw = swagger(f)
        for path, ops in sw["paths"].items():
            for method, op in ops.items():
                sch = op["responses"]["200"]["schema"]
                if "$ref" in sch:
                    res[(method.upper(), path)] = (sch["$ref"].split("/")[-1], False)
                else:
                    res[(method.upper(), path)] = (sch["properties"]["result"]["$ref"].split("/")[-1], True)
    return res


def validator(name: str) -> jsonschema.Draft7Validator:
    schema = {"definitions": definitions(), "$ref": f"#/definitions/{name}"}
    return jsonschema.Draft7Validator(schema)


def validate(name: str, doc) -> None:
    errors = sorted(validator(name).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        msgs = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10]]
        raise AssertionError(f"{name}: {len(errors)} schema errors:\n" + "\n".join(msgs))
