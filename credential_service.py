"""Fee Autopilot's own node credential: bake or paste, verify, use, rotate, revoke (issue 17).

The shell around credentials.py (what to allow and how to judge it) and vault.py (the
encryption): this module reads and writes the vault's rows, calls the node through
node.py's LndClient and puts the active credential into `node.credential_slot`, from
where every node call of the extension takes it. Nothing here logs or returns a
macaroon; the API sees fingerprints and permissions only.

Who may do what is the API's business (views_api.py): creating, rotating, revoking and
verifying need the super user; admins read.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from loguru import logger

from . import crud
from .credentials import (
    DANGEROUS,
    NEEDED,
    PURPOSE,
    Check,
    InvalidMacaroon,
    MacaroonFacts,
    describe_macaroon,
    fingerprint,
    fresh_root_key_id,
    lncli_command,
    parse_macaroon_hex,
    refusal_fix,
    uri_permissions,
)
from .node import (
    FUNDING_SOURCE,
    CredentialRefused,
    LndClient,
    NodeCallError,
    NodeCredential,
    NodeUnavailable,
    backend_kind,
    credential_slot,
    resolve_node,
)
from .notify import notify
from .vault import VaultError, VaultKey, load_key, seal, unseal

CHECK_TIMEOUT_S = 20.0
IDLE_WAIT_S = 30.0  # rotation: how long the old credential's calls in flight may take


class CredentialRefusal(Exception):
    """Refused, nothing changed; `status` is the HTTP answer, `details` extra fields."""

    def __init__(self, message: str, status: int = 409, details: Optional[dict] = None):
        super().__init__(message)
        self.status = status
        self.details = details or {}


# --- the vault key and the slot ------------------------------------------------------------------

_key: Optional[VaultKey] = None
_loaded = False
_load_lock = asyncio.Lock()


def vault_key() -> VaultKey:
    global _key
    if _key is None:
        from lnbits.settings import settings

        _key = load_key(Path(settings.lnbits_data_folder))
    return _key


async def ensure_loaded() -> None:
    """Once per process: the active credential from the vault into the slot."""
    global _loaded
    if _loaded:
        return
    async with _load_lock:
        if _loaded:
            return
        row = await crud.active_credential()
        _put_in_slot(row)
        _loaded = True


def _put_in_slot(row: Optional[dict]) -> None:
    if row is None:
        credential_slot.active, credential_slot.unusable = None, None
        return
    try:
        if not row.get("secret"):
            raise VaultError("its secret is missing from the database")
        raw = unseal(vault_key(), row["secret"], row["id"], PURPOSE)
    except VaultError as exc:
        credential_slot.active = None
        credential_slot.unusable = (
            f"{exc} (credential {row['fingerprint']}). No node call is made until it is fixed: restore the master "
            "secret, or revoke the credential (Fee Autopilot then uses LNbits' macaroon)."
        )
        logger.error(f"feepilot: node credential {row['fingerprint']} unusable: {exc}")
        return
    credential_slot.unusable = None
    credential_slot.active = NodeCredential(
        credential_id=row["id"], fingerprint=row["fingerprint"], macaroon_hex=raw.hex(),
        refused=row.get("refused_reason"), refused_at=row.get("refused_at"),
    )


async def _on_refused(credential: NodeCredential, message: str) -> None:
    await crud.set_credential_refused(credential.credential_id, credential.refused_at, message)
    await crud.insert_credential_event(credential.credential_id, "refused", "node", message)
    await notify("credential", f"Fee Autopilot paused fee changes: the node refused its credential "
                               f"{credential.fingerprint} ({message}). Rotate or revoke it in Node credential.")


credential_slot.listeners.append(_on_refused)


# --- the node -----------------------------------------------------------------------------------------


def _lnd(macaroon: Any) -> LndClient:
    node = resolve_node()
    if backend_kind(node) != "lnd":
        raise CredentialRefusal("Fee Autopilot's own credential is an LND macaroon: LNbits' funding source must be "
                                "LndRestWallet (LND REST)", status=501)
    return LndClient(node, CHECK_TIMEOUT_S, macaroon=macaroon)


async def _allowed(auth: LndClient, raw: bytes, method: str) -> tuple[Optional[bool], Optional[str]]:
    """(allowed, None), or (None, why the check could not be made)."""
    try:
        await auth.post("/v1/macaroon/checkpermissions", {
            "macaroon": base64.b64encode(raw).decode(), "fullMethod": method,
            "check_default_perms_from_full_method": True,
        })
        return True, None
    except NodeCallError as exc:
        if exc.status == 400:  # LND's answer about the checked macaroon: not allowed, or not valid at all
            return False, exc.detail
        return None, str(exc)


async def check_macaroon(raw: bytes) -> Check:
    """Ask the node, for every RPC needed and every dangerous one, whether `raw` allows it.

    The checks are authenticated with the candidate itself (it needs CheckMacaroonPermissions
    anyway); when it cannot even do that, with LNbits' macaroon."""
    check = Check()
    candidate = _lnd(raw.hex())
    try:
        info = await candidate.get("/v1/getinfo")
        check.node_id = info.get("identity_pubkey")
    except CredentialRefused as exc:
        if "permission denied" not in exc.detail:
            check.invalid = exc.detail
            return check
    except NodeCallError as exc:
        raise CredentialRefusal(f"The node did not answer: {exc}", status=502) from exc
    methods = list(NEEDED) + list(DANGEROUS)
    auth = candidate
    first, error = await _allowed(auth, raw, "/lnrpc.Lightning/CheckMacaroonPermissions")
    if first is None:
        auth = _lnd(FUNDING_SOURCE)
    results = await asyncio.gather(*[_allowed(auth, raw, m) for m in methods])
    for method, (allowed, why) in zip(methods, results):
        if allowed is None:
            check.errors[method] = why or "no answer"
            check.allowed[method] = False
        else:
            check.allowed[method] = allowed
            if not allowed and why and ("root key" in why or "verification failed" in why):
                check.invalid = why
    if check.errors and len(check.errors) == len(methods):
        raise CredentialRefusal("The node could not check the macaroon's permissions: "
                                f"{next(iter(check.errors.values()))}", status=502)
    return check


async def _funding_node_id() -> Optional[str]:
    try:
        return (await _lnd(FUNDING_SOURCE).get("/v1/getinfo")).get("identity_pubkey")
    except NodeCallError:
        return None  # LNbits' macaroon may not read info: nothing to compare with


# --- getting one ----------------------------------------------------------------------------------


@dataclass
class Candidate:
    raw: bytes = field(repr=False)
    method: str  # baked or pasted
    facts: MacaroonFacts
    check: Check
    root_key_id: Optional[int]


async def bake_possible() -> tuple[bool, str]:
    """May LNbits' macaroon bake (macaroon:generate)? And why not, in words."""
    try:
        lnbits_mac = _lnd(FUNDING_SOURCE)
    except (NodeUnavailable, CredentialRefusal) as exc:
        return False, str(exc)
    own = lnbits_mac.funding_source_macaroon()
    if not own:
        return False, "LNbits' funding source sends no macaroon"
    try:
        raw = bytes.fromhex(own)
    except ValueError:
        return False, "LNbits' macaroon is not hex"
    allowed, why = await _allowed(lnbits_mac, raw, "/lnrpc.Lightning/BakeMacaroon")
    if allowed:
        return True, "LNbits' macaroon may bake macaroons (macaroon:generate)"
    return False, ("LNbits' macaroon cannot bake macaroons (it lacks macaroon:generate): paste one baked with the "
                   f"command shown ({why})")


async def bake_candidate() -> Candidate:
    possible, why = await bake_possible()
    if not possible:
        raise CredentialRefusal(why, status=409)
    lnbits_mac = _lnd(FUNDING_SOURCE)
    try:
        table = (await lnbits_mac.get("/v1/macaroon/permissions")).get("method_permissions") or {}
    except NodeCallError as exc:
        logger.info(f"feepilot: the node's permission table is unavailable ({exc}); baking the known list")
        table = {}
    unknown = [m for m in NEEDED if table and m not in table]
    if unknown:
        raise CredentialRefusal(f"This LND does not know {', '.join(unknown)}: Fee Autopilot needs a newer LND",
                                status=409)
    try:
        taken = {int(i) for i in (await lnbits_mac.get("/v1/macaroon/ids")).get("root_key_ids") or []}
    except NodeCallError:
        taken = set()
    root_key_id = fresh_root_key_id(taken)
    try:
        baked = await lnbits_mac.post("/v1/macaroon", {"permissions": uri_permissions(), "root_key_id": str(root_key_id)})
    except NodeCallError as exc:
        raise CredentialRefusal(f"The node did not bake the macaroon: {exc}", status=502) from exc
    raw = bytes.fromhex(baked["macaroon"])
    candidate = Candidate(raw, "baked", describe_macaroon(raw), await check_macaroon(raw), root_key_id)
    problem = candidate.check.problem() or (
        f"the baked macaroon allows more than asked ({', '.join(candidate.check.extra)})" if candidate.check.extra else None)
    if problem:
        await _delete_root_key_id(root_key_id)
        raise CredentialRefusal(f"The baked macaroon did not pass its check: {problem}", status=502)
    return candidate


async def _examine(macaroon_hex: str) -> tuple[bytes, MacaroonFacts, Check]:
    """A pasted macaroon: its bytes, what it says of itself, and what the node says of it."""
    try:
        raw = parse_macaroon_hex(macaroon_hex)
    except InvalidMacaroon as exc:
        raise CredentialRefusal(str(exc), status=409) from exc
    return raw, describe_macaroon(raw), await check_macaroon(raw)


async def paste_candidate(macaroon_hex: str) -> Candidate:
    raw, facts, check = await _examine(macaroon_hex)
    problem = check.problem()
    if problem:
        raise CredentialRefusal(problem, status=409, details=_check_details(check, facts))
    funding_node = await _funding_node_id()
    if funding_node and check.node_id and funding_node != check.node_id:
        raise CredentialRefusal("The macaroon belongs to another node than LNbits' funding source", status=409)
    return Candidate(raw, "pasted", facts, check, facts.root_key_id)


def _check_details(check: Check, facts: MacaroonFacts) -> dict:
    return {"missing": check.missing, "extra": check.extra, "warnings": check.warnings(facts)}


async def check_pasted(macaroon_hex: str) -> dict:
    """What the node says of a macaroon, without storing it."""
    raw, facts, check = await _examine(macaroon_hex)
    return {"fingerprint": fingerprint(raw), "root_key_id": _id_text(facts.root_key_id),
            "permissions": list(facts.permissions), "usable": check.problem() is None,
            "problem": check.problem(), **_check_details(check, facts)}


def _id_text(value: Optional[int]) -> Optional[str]:
    return None if value is None else str(value)


async def _store(candidate: Candidate, by: str) -> str:
    credential_id = crud.new_id()
    await crud.insert_credential(
        credential_id, created_by=by, method=candidate.method, fingerprint=fingerprint(candidate.raw),
        root_key_id=_id_text(candidate.root_key_id),
        permissions=list(candidate.facts.permissions) or [f"uri:{m}" for m in NEEDED if candidate.check.allowed.get(m)],
        warnings=candidate.check.warnings(candidate.facts),
        secret=seal(vault_key(), candidate.raw, credential_id, PURPOSE),
    )
    return credential_id


async def _switch_to(credential_id: str) -> None:
    await crud.activate_credential(credential_id)
    _put_in_slot(await crud.active_credential())


async def _delete_root_key_id(root_key_id: int) -> Optional[str]:
    """Revoke every macaroon of our root key id on the node; None, or why it could not."""
    try:
        answer = await _lnd(FUNDING_SOURCE).request("DELETE", f"/v1/macaroon/{root_key_id}")
    except (NodeCallError, NodeUnavailable, CredentialRefusal) as exc:
        return (f"the node did not revoke root key id {root_key_id} ({exc}): run "
                f"`lncli deletemacaroonid {root_key_id}` on the node")
    if not answer.get("deleted"):
        return f"the node no longer had root key id {root_key_id}"
    return None


_change_lock = asyncio.Lock()


async def create(method: str, macaroon_hex: Optional[str], by: str) -> dict:
    async with _change_lock:
        await ensure_loaded()
        if await crud.active_credential():
            raise CredentialRefusal("Fee Autopilot already has a node credential: rotate it instead", status=409)
        candidate = await (bake_candidate() if method == "bake" else paste_candidate(macaroon_hex or ""))
        credential_id = await _store(candidate, by)
        await _switch_to(credential_id)
        await crud.insert_credential_event(credential_id, "created", by, f"{candidate.method}, now in use")
        await notify("credential", f"Fee Autopilot now uses its own node credential {fingerprint(candidate.raw)} "
                                   f"({candidate.method}).")
        logger.info(f"feepilot: node credential {fingerprint(candidate.raw)} ({candidate.method}) in use")
        return await overview()


async def rotate(method: str, macaroon_hex: Optional[str], by: str) -> dict:
    """New one, verified, switched to; then the old root key id revoked if we baked it."""
    async with _change_lock:
        await ensure_loaded()
        old = await crud.active_credential()
        if old is None:
            raise CredentialRefusal("Fee Autopilot has no node credential to rotate: create one", status=409)
        candidate = await (bake_candidate() if method == "bake" else paste_candidate(macaroon_hex or ""))
        if fingerprint(candidate.raw) == old["fingerprint"]:
            raise CredentialRefusal("This is the credential in use: paste a new one", status=409)
        previous = credential_slot.active
        credential_id = await _store(candidate, by)
        await _switch_to(credential_id)  # from here on every new call sends the new one
        note = await _retire(old, previous)
        message = f"replaced {old['fingerprint']} with {fingerprint(candidate.raw)} ({candidate.method})"
        await crud.insert_credential_event(credential_id, "rotated", by, message + (f"; {note}" if note else ""))
        await notify("credential", f"Fee Autopilot rotated its node credential: {message}." + (f" {note}." if note else ""))
        logger.info(f"feepilot: node credential rotated: {message}")
        return await overview(note)


async def _retire(old: dict, previous: Optional[NodeCredential]) -> Optional[str]:
    """Wait out the old credential's calls in flight, revoke its root key id if we baked it,
    forget its secret."""
    await _wait_idle(previous)
    note = None
    if old["method"] == "baked" and old.get("root_key_id"):
        note = await _delete_root_key_id(int(old["root_key_id"]))
        if note is None:
            note = f"root key id {old['root_key_id']} revoked on the node"
    elif old.get("root_key_id"):
        note = (f"the old macaroon was pasted: revoke it on the node with `lncli deletemacaroonid {old['root_key_id']}`"
                if old["root_key_id"] != "0" else "the old macaroon was pasted (root key id 0): it stays valid on the node")
    await crud.forget_credential_secret(old["id"], note)
    return note


async def _wait_idle(credential: Optional[NodeCredential]) -> None:
    """Until the calls sent with `credential` have answered (at most IDLE_WAIT_S)."""
    waited = 0.0
    while credential is not None and credential.in_flight and waited < IDLE_WAIT_S:
        await asyncio.sleep(0.05)
        waited += 0.05


async def revoke(by: str) -> dict:
    """Delete our root key id on the node (if we baked it) and forget the secret; Fee
    Autopilot then uses LNbits' macaroon, as without a credential."""
    async with _change_lock:
        await ensure_loaded()
        row = await crud.active_credential()
        if row is None:
            raise CredentialRefusal("Fee Autopilot has no node credential to revoke", status=409)
        previous = credential_slot.active
        _put_in_slot(None)  # from here on calls send LNbits' macaroon
        await _wait_idle(previous)
        note = None
        if row["method"] == "baked" and row.get("root_key_id"):
            note = await _delete_root_key_id(int(row["root_key_id"]))
            note = note or f"root key id {row['root_key_id']} revoked on the node"
        elif row.get("root_key_id") and row["root_key_id"] != "0":
            note = f"it was pasted: revoke it on the node with `lncli deletemacaroonid {row['root_key_id']}`"
        await crud.revoke_credential(row["id"], by, note)
        await crud.insert_credential_event(row["id"], "revoked", by, note)
        await notify("credential", f"Fee Autopilot revoked its node credential {row['fingerprint']}"
                                   + (f" ({note})" if note else "") + "; it uses LNbits' macaroon again.")
        logger.info(f"feepilot: node credential {row['fingerprint']} revoked")
        return await overview(note)


async def verify(by: str) -> dict:
    """Check the active credential with the node now; a refusal is cleared when it passes."""
    async with _change_lock:
        await ensure_loaded()
        active = credential_slot.active
        if active is None:
            raise CredentialRefusal(credential_slot.unusable or "Fee Autopilot has no node credential to verify",
                                    status=409)
        check = await check_macaroon(bytes.fromhex(active.macaroon_hex))
        problem = check.problem()
        if problem is None:
            active.refused, active.refused_at = None, None
            await crud.set_credential_refused(active.credential_id, None, None)
        await crud.insert_credential_event(active.credential_id, "verified", by, problem or "all permissions present")
        return await overview(problem)


# --- what the API and status show ---------------------------------------------------------------


def status() -> dict:
    """For /status: which credential calls use, and whether it works."""
    active = credential_slot.active
    if credential_slot.unusable:
        return {"in_use": "none", "state": "unusable", "fingerprint": None, "problem": credential_slot.unusable,
                "fix": "Restore the vault's master secret, or revoke the credential in Node credential.",
                "writes_paused": True}
    if active is None:
        return {"in_use": "lnbits", "state": "none", "fingerprint": None, "problem": None, "fix": None,
                "writes_paused": False}
    if active.refused:
        return {"in_use": "fee_autopilot", "state": "refused", "fingerprint": active.fingerprint,
                "problem": f"The node refused it: {active.refused}", "fix": refusal_fix(active.fingerprint),
                "writes_paused": True, "refused_at": active.refused_at}
    return {"in_use": "fee_autopilot", "state": "active", "fingerprint": active.fingerprint, "problem": None,
            "fix": None, "writes_paused": False}


async def overview(note: Optional[str] = None) -> dict:
    await ensure_loaded()
    rows = await crud.list_credentials()
    active = next((r for r in rows if r["status"] == "active"), None)
    suggested = fresh_root_key_id(set())
    return {
        "status": status(),
        "active": _public(active) if active else None,
        "history": [_public(r) for r in rows if r["status"] != "active"],
        "events": await crud.list_credential_events(),
        "needed": [{"method": rpc, "why": why, "permission": f"uri:{rpc}"}
                   for _, (rpc, why) in _unique_calls()],
        "never": [{"method": m, "what": what} for m, what in DANGEROUS.items()],
        "lncli_command": lncli_command(suggested),
        "suggested_root_key_id": str(suggested),
        "note": note,
    }


def _unique_calls():
    from .credentials import CALLS

    seen = set()
    for key, value in CALLS.items():
        if value[0] not in seen:
            seen.add(value[0])
            yield key, value


def _public(row: dict) -> dict:
    """A credential row as the API shows it: never the secret."""
    keys = ("id", "created_at", "created_by_name", "method", "fingerprint", "root_key_id", "permissions", "warnings",
            "status", "activated_at", "retired_at", "revoked_at", "revoked_by_name", "revoke_note", "refused_at",
            "refused_reason")
    return {k: row.get(k) for k in keys}
