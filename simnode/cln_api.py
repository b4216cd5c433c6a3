"""Core Lightning v25.12 JSON-RPC dispatcher: (method, params) → ClnReply.  No networking.

    reply = handle_cln(sim, "listpeerchannels", {})
    reply.json()     # {"result": {...}} or {"error": {"code": -32602, "message": "..."}}

The same SimNode the LND face serves, in lightningd's words.  Order as lightningd: filter check,
method lookup (-32601), parameters by name or position (-32602), then the fault rules (method "CLN",
path = the method's name), then the command.  Every call is counted in `sim.request_counts` as
"cln <method>".  waitanyinvoice that has to block answers `ClnReply(wait=...)`: the server finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import cln_graph, cln_invoices, cln_node
from .cln_filter import apply_filter, check_filter
from .cln_forwards import listforwards
from .cln_params import (
    INVALID_PARAMS, METHOD_NOT_FOUND, ClnError, Param, anything, array, bind, boolean, hex_string, label, msat,
    msat_or_any, msat_u32, number, one_of, preimage, pubkey, sha256_hex, short_channel_id, string, u16, u32, u64,
    usage,
)
from .cln_reply import ClnReply, InvoiceWait, RawJson
from .cln_setchannel import setchannel
from .faults import CLN_METHOD, FaultAction
from .node import SimNode


@dataclass(frozen=True)
class Call:
    sim: SimNode
    args: dict[str, Any]  # the parameters bound to their names, defaults filled in
    raw: Any  # the params as sent (setchannel keeps them in /sim/state)
    fault: FaultAction


@dataclass(frozen=True)
class Command:
    params: tuple[Param, ...]
    run: Callable[[Call], Any]


INDEX = one_of("created", "updated", why="should be 'created' or 'updated'")
PAY_STATUS = one_of("pending", "complete", "failed", why="should be a valid status")
LOG_LEVEL = one_of("io", "trace", "debug", "info", "unusual", why="should be 'io', 'trace', 'debug', 'info' or 'unusual'")
FORWARD_STATUS = one_of("offered", "settled", "local_failed", "failed", why="Unrecognized status")


def _listchannels(c: Call) -> dict | RawJson:
    a = c.args
    if sum(a[k] is not None for k in ("short_channel_id", "source", "destination")) > 1:
        raise ClnError(INVALID_PARAMS, "Can only specify one of `short_channel_id`, `source` or `destination`")
    return cln_graph.listchannels(c.sim, a["short_channel_id"], a["source"], a["destination"])


def _no_payments(key: str) -> Callable[[Call], dict]:
    def run(c: Call) -> dict:
        if c.args["bolt11"] is not None and c.args["payment_hash"] is not None:
            raise ClnError(INVALID_PARAMS, "Can only specify one of {bolt11} or {payment_hash}")
        return {key: []}  # pay fails before any sendpay: nothing was ever sent
    return run


def _help(c: Call) -> dict:
    wanted = c.args["command"]
    if wanted is not None and wanted not in COMMANDS:
        raise ClnError(METHOD_NOT_FOUND, f"Unknown command {wanted}")
    names = [wanted] if wanted is not None else sorted(COMMANDS)
    return {"help": [{"command": usage(n, COMMANDS[n].params)} for n in names], "format-hint": "simple"}


P = Param
PAYMENT_LISTING = (P("bolt11", string), P("payment_hash", sha256_hex), P("status", PAY_STATUS), P("index", INDEX),
                   P("start", u64, default=0), P("limit", u32))
COMMANDS: dict[str, Command] = {
    "getinfo": Command((), lambda c: cln_node.getinfo(c.sim)),
    "listfunds": Command((P("spent", boolean, default=False),), lambda c: cln_node.listfunds(c.sim)),
    "listpeers": Command((P("id", pubkey), P("level", LOG_LEVEL)), lambda c: cln_node.listpeers(c.sim, c.args["id"])),
    "listpeerchannels": Command(
        (P("id", pubkey), P("short_channel_id", short_channel_id), P("channel_id", sha256_hex)),
        lambda c: cln_node.listpeerchannels(c.sim, c.args["id"], c.args["short_channel_id"], c.args["channel_id"])),
    "listnodes": Command((P("id", pubkey),), lambda c: cln_graph.listnodes(c.sim, c.args["id"])),
    "listchannels": Command((P("short_channel_id", short_channel_id), P("source", pubkey), P("destination", pubkey)),
                            _listchannels),
    "listforwards": Command(
        (P("status", FORWARD_STATUS), P("in_channel", short_channel_id), P("out_channel", short_channel_id),
         P("index", INDEX), P("start", u64, default=0), P("limit", u32)),
        lambda c: listforwards(c.sim, **c.args)),
    "setchannel": Command(
        (P("id", string, required=True), P("feebase", msat_u32), P("feeppm", u32), P("htlcmin", msat),
         P("htlcmax", msat), P("enforcedelay", u32, default=600), P("ignorefeelimits", boolean)),
        lambda c: setchannel(c.sim, c.args, c.raw, c.fault)),
    "invoice": Command(
        (P("amount_msat", msat_or_any, required=True), P("label", label, required=True),
         P("description", string, required=True), P("expiry", u64, default=cln_invoices.DEFAULT_EXPIRY),
         P("fallbacks", array), P("preimage", preimage), P("exposeprivatechannels", anything), P("cltv", u32),
         P("deschashonly", boolean, default=False)),
        lambda c: cln_invoices.create_invoice(c.sim, c.args["amount_msat"], c.args["label"], c.args["description"],
                                              c.args["expiry"], c.args["preimage"], c.args["deschashonly"])),
    "listinvoices": Command(
        (P("label", label), P("invstring", string), P("payment_hash", sha256_hex), P("offer_id", sha256_hex),
         P("index", INDEX), P("start", u64, default=0), P("limit", u32)),
        lambda c: cln_invoices.listinvoices(c.sim, **c.args)),
    "waitanyinvoice": Command((P("lastpay_index", u64, default=0), P("timeout", u64)),
                              lambda c: cln_invoices.waitanyinvoice(c.sim, c.args["lastpay_index"], c.args["timeout"])),
    "pay": Command(
        (P("bolt11", string, required=True), P("amount_msat", msat), P("label", string), P("riskfactor", number),
         P("maxfeepercent", number), P("retry_for", u16), P("maxdelay", u16), P("exemptfee", msat),
         P("localinvreqid", hex_string), P("exclude", array), P("maxfee", msat), P("description", string),
         P("partial_msat", msat)),
        lambda c: cln_invoices.pay(c.sim, c.args["bolt11"], c.args["amount_msat"])),
    "listpays": Command(PAYMENT_LISTING, _no_payments("pays")),
    "listsendpays": Command(PAYMENT_LISTING, _no_payments("payments")),
    "connect": Command((P("id", string, required=True), P("host", string), P("port", u16)),
                       lambda c: cln_node.connect(c.sim, c.args["id"], c.args["host"], c.args["port"])),
    "disconnect": Command((P("id", pubkey, required=True), P("force", boolean, default=False)),
                          lambda c: cln_node.disconnect(c.sim, c.args["id"], c.args["force"])),
    "fundchannel": Command(
        (P("id", pubkey, required=True), P("amount", anything, required=True), P("feerate", anything),
         P("announce", boolean), P("minconf", u32), P("push_msat", msat), P("close_to", string),
         P("request_amt", anything), P("compact_lease", string), P("utxos", array), P("mindepth", u32),
         P("reserve", anything), P("channel_type", array)),
        lambda c: cln_node.fundchannel(c.sim, c.args["id"])),
    "close": Command(
        (P("id", string, required=True), P("unilateraltimeout", u32), P("destination", string),
         P("fee_negotiation_step", string), P("wrong_funding", string), P("force_lease_closed", boolean),
         P("feerange", array)),
        lambda c: cln_node.close(c.sim, c.args["id"])),
    "help": Command((P("command", string),), _help),
    # pyln's handshake inside notify(): accepted; simnode's commands send no progress notifications
    "notifications": Command((P("enable", boolean, required=True),), lambda c: {}),
}


def handle_cln(sim: SimNode, method: str, params: Any = None, fault: FaultAction | None = None,
               filter: Any = None) -> ClnReply:
    """One JSON-RPC call; `params` an object or a positional array (None = no parameters)."""
    key = f"cln {method}"
    sim.request_counts[key] = sim.request_counts.get(key, 0) + 1
    try:
        if filter is not None:
            check_filter(filter)
        command = COMMANDS.get(method)
        if command is None:
            raise ClnError(METHOD_NOT_FOUND, f"Unknown command '{method}'")
        args = bind({} if params is None else params, command.params)
        if fault is None:
            fault = sim.faults.decide(CLN_METHOD, method, params)
        if fault.status is not None:
            raise ClnError(fault.cln_code, fault.message)
        result = command.run(Call(sim, args, params, fault))
    except ClnError as err:
        return ClnReply(error=err.body())
    if isinstance(result, InvoiceWait):
        return ClnReply(wait=result)
    return finish(result, filter)


def finish(result: Any, filter: Any) -> ClnReply:
    """The reply for a result, filtered as the request asked."""
    if filter is not None:
        decoded = result.decode() if isinstance(result, RawJson) else result
        return ClnReply(result=apply_filter(decoded, filter))
    return ClnReply(result=result)


__all__ = ["handle_cln", "ClnReply", "COMMANDS"]
