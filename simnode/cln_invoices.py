"""CLN's invoices and payments over the node's invoices (lightningd/invoice.c, plugins/pay.c of v25.12).

Invoices are SimNode's (one store for both faces; the CLN face adds the label).  Status: paid
(settled through /sim/invoices/settle), expired (unpaid past expires_at in simulated time; an LND
hold invoice cancelled shows as expired too), else unpaid.  pay_index is the settle order, as
CLN numbers paid invoices.  Outgoing payments are not simulated: `pay` fails as CLN's pay plugin
does when getroute finds no route, before any sendpay, so listpays and listsendpays stay empty.
"""

from __future__ import annotations

import hashlib

from .cln_params import (
    ANY_AMOUNT, INVALID_PARAMS, INVOICE_LABEL_ALREADY_EXISTS, INVOICE_PREIMAGE_ALREADY_EXISTS, INVOICE_WAIT_TIMED_OUT,
    PAY_STOPPED_RETRYING, ClnError,
)
from .cln_reply import InvoiceWait
from .node import SimNode

DEFAULT_EXPIRY = 7 * 24 * 3600  # lightningd's invoice default


def _status(sim: SimNode, inv: dict) -> str:
    if inv["state"] == "SETTLED":
        return "paid"
    if inv["state"] == "CANCELED" or sim.now >= inv["creation_date"] + inv["expiry"]:
        return "expired"
    return "unpaid"


def _label(inv: dict) -> str:
    # an invoice made through the LND face has no label: CLN would show one, so it gets its add index
    return inv.get("cln_label", f"lnd-{inv['add_index']}")


def invoice_json(sim: SimNode, inv: dict) -> dict:
    """json_add_invoice_fields: the same object in listinvoices and waitanyinvoice."""
    status = _status(sim, inv)
    out: dict = {"label": _label(inv), "bolt11": inv["payment_request"], "payment_hash": inv["r_hash"].hex()}
    if inv["value_msat"]:
        out["amount_msat"] = inv["value_msat"]
    out["status"] = status
    if status == "paid":
        out |= {"pay_index": inv["settle_index"], "amount_received_msat": inv["amt_paid_msat"],
                "paid_at": inv["settle_date"], "payment_preimage": inv["r_preimage"].hex()}
    if not inv["description_hash"]:
        out["description"] = inv["memo"]
    out |= {"expires_at": inv["creation_date"] + inv["expiry"], "created_index": inv["add_index"]}
    if status == "paid":
        out["updated_index"] = inv["settle_index"]  # CLN bumps an invoice's updated_index when it is paid
    return out


def create_invoice(sim: SimNode, amount_msat: int | str, label: str, description: str, expiry: int,
                   preimage: bytes | None, deschashonly: bool) -> dict:
    if any(inv.get("cln_label") == label for inv in sim.invoices):
        raise ClnError(INVOICE_LABEL_ALREADY_EXISTS, f"Duplicate label '{label}'")
    if preimage is None:  # lightningd derives it from its secret; simnode from the seed and a counter
        preimage = hashlib.sha256(f"cln-preimage:{sim.seed}:{len(sim.invoices)}".encode()).digest()
    if any(inv["r_hash"] == hashlib.sha256(preimage).digest() for inv in sim.invoices):
        raise ClnError(INVOICE_PREIMAGE_ALREADY_EXISTS, "preimage already used")
    desc_hash = hashlib.sha256(description.encode()).digest() if deschashonly else b""
    value = 0 if amount_msat == ANY_AMOUNT else amount_msat
    inv = sim.add_invoice(value, description, preimage, expiry, False, desc_hash)
    inv["cln_label"] = label
    return {"payment_hash": inv["r_hash"].hex(), "expires_at": inv["creation_date"] + inv["expiry"],
            "bolt11": inv["payment_request"], "payment_secret": inv["payment_addr"].hex(),
            "created_index": inv["add_index"]}


def listinvoices(sim: SimNode, label: str | None, invstring: str | None, payment_hash: str | None,
                 offer_id: str | None, index: str | None, start: int, limit: int | None) -> dict:
    if sum(x is not None for x in (label, invstring, payment_hash, offer_id)) > 1:
        raise ClnError(INVALID_PARAMS, "Can only specify one of {label}, {invstring}, {payment_hash} or {offer_id}")
    if start and index is None:
        raise ClnError(INVALID_PARAMS, "Can only specify {start} with {index}")
    if limit is not None and index is None:
        raise ClnError(INVALID_PARAMS, "Can only specify {limit} with {index}")
    invs = list(sim.invoices)
    if label is not None:
        invs = [i for i in invs if _label(i) == label]
    elif invstring is not None:
        invs = [i for i in invs if i["payment_request"] == invstring]
    elif payment_hash is not None:
        invs = [i for i in invs if i["r_hash"].hex() == payment_hash]
    elif offer_id is not None:
        invs = []  # no BOLT12 offers
    elif index == "updated":  # unpaid ones keep updated_index 0: included from start 0, first
        invs = sorted((i for i in invs if i["settle_index"] >= start), key=lambda i: (i["settle_index"], i["add_index"]))
    elif index == "created":
        invs = [i for i in invs if i["add_index"] >= start]
    if limit is not None:
        invs = invs[:limit]
    return {"invoices": [invoice_json(sim, i) for i in invs]}


def next_paid(sim: SimNode, lastpay_index: int) -> dict | None:
    paid = [i for i in sim.invoices if i["state"] == "SETTLED" and i["settle_index"] > lastpay_index]
    return invoice_json(sim, min(paid, key=lambda i: i["settle_index"])) if paid else None


def waitanyinvoice(sim: SimNode, lastpay_index: int, timeout: int | None) -> dict | InvoiceWait:
    found = next_paid(sim, lastpay_index)
    if found is not None:
        return found
    if timeout == 0:
        raise wait_timed_out()
    return InvoiceWait(lastpay_index, None if timeout is None else float(timeout))


def wait_timed_out() -> ClnError:
    return ClnError(INVOICE_WAIT_TIMED_OUT, "Timed out while waiting for invoice to be paid")


def pay(sim: SimNode, bolt11: str, amount_msat: int | None) -> dict:
    """Every payment fails: no route is simulated (the pay plugin's answer when getroute finds none)."""
    try:
        import bolt11 as bolt11_lib

        decoded = bolt11_lib.decode(bolt11)
    except Exception as exc:  # the library raises several kinds for a bad string
        raise ClnError(INVALID_PARAMS, f"Invalid bolt11: {exc}") from None
    amount = int(decoded.amount_msat or 0) or amount_msat
    if not amount:
        raise ClnError(INVALID_PARAMS, "amount_msat parameter required")
    if decoded.amount_msat and amount_msat is not None:
        raise ClnError(INVALID_PARAMS, "amount_msat parameter unnecessary")
    reason = (f"Error computing a route to {decoded.payee}: \"Could not find a route\" (205)"
              if decoded.payee else "Could not find a route")
    raise ClnError(PAY_STOPPED_RETRYING, "Ran out of routes to try after 1 attempt: see `paystatus`",
                   {"attempts": [{"status": "failed", "failreason": reason, "partid": 0, "amount_msat": amount}]})
