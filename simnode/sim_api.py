"""/sim/* control routes (no macaroon): truth, clock, faults. Pure like lnd_api."""

from __future__ import annotations

import json

from .encoding import Response, q_bool
from .node import SimNode


def _err(status: int, msg: str) -> Response:
    return Response(status, {"error": msg})


def _json_body(body: bytes) -> dict:
    if not body or not body.strip():
        return {}
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("body must be a JSON object")
    return obj


def handle_sim(sim: SimNode, method: str, path: str, query: dict[str, list[str]] | None = None,
               body: bytes = b"") -> Response:
    query = query or {}
    try:
        data = _json_body(body)
    except (ValueError, json.JSONDecodeError) as exc:
        return _err(400, f"bad JSON body: {exc}")
    try:
        if path == "/sim/state" and method == "GET":
            return Response(200, sim.state(include_forwards=q_bool(query, "forwards")))
        if path == "/sim/advance" and method == "POST":
            unknown = set(data) - {"hours", "seconds", "days"}
            if unknown:
                return _err(400, f"unknown fields {sorted(unknown)}")
            secs = float(data.get("hours", 0)) * 3600 + float(data.get("seconds", 0)) + float(data.get("days", 0)) * 86400
            if secs < 0:
                return _err(400, "cannot go back in time")
            steps = sim.advance(seconds=secs)
            return Response(200, {"now": sim.now, "block_height": sim.block_height, "steps": steps,
                                  "forwards": len(sim.forwards), "failed_forwards": len(sim.failed)})
        if path == "/sim/faults":
            if method == "GET":
                return Response(200, sim.faults.describe())
            if method == "DELETE" or (method == "POST" and data.get("clear")):
                sim.faults.clear()
                return Response(200, sim.faults.describe())
            if method == "POST":
                rules = data.get("rules", [data] if data else [])
                if data.get("replace"):
                    sim.faults.clear()
                for r in rules:
                    r = {k: v for k, v in r.items() if k != "replace"}
                    sim.faults.add(r)
                return Response(200, sim.faults.describe())
        if path == "/sim/invoices/settle" and method == "POST":
            h = bytes.fromhex(str(data.get("r_hash", "")))
            inv = sim.settle_invoice(h)
            if inv is None:
                return _err(404, "no open invoice with that hash")
            return Response(200, {"settled": True, "settle_index": inv["settle_index"]})
        if path == "/sim/revenue" and method == "GET":
            # ground truth over [from, to) in whole seconds (default: all of history up to now, included)
            start = int(query.get("from", ["0"])[0])
            end = int(query.get("to", [str(int(sim.now) + 1)])[0])
            return Response(200, sim.revenue_between(start, end))
        if path == "/sim/requests" and method == "GET":
            # what /sim/state says in "requests", without the rest (cheap on a node of thousands of channels)
            return Response(200, {"requests": dict(sorted(sim.request_counts.items())),
                                  "response_bytes": dict(sorted(sim.response_bytes.items()))})
        if path == "/sim/info" and method == "GET":
            return Response(200, {"node_id": sim.pubkey, "seed": sim.seed, "now": sim.now, "graph": sim.graph.path})
    except (TypeError, ValueError) as exc:
        return _err(400, str(exc))
    return _err(404, f"unknown sim route {method} {path}")
