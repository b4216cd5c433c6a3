"""REST API under /feepilot/api/v1. Thin: auth and validation here, work in services.

Reads need an LNbits admin; anything that changes the node or the settings needs
the super user, as LNbits' own node API does.
"""

import asyncio
import gzip
import hashlib
import json
from http import HTTPStatus
from typing import Any, Optional, Union

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from lnbits.core.models import Account, User
from lnbits.decorators import check_admin, check_super_user, check_user_exists
from lnbits.settings import settings as lnbits_settings

from . import crud, insights
from .app_settings import APP_DEFAULTS, MODES, RANGES, InvalidSettings, described
from .engine.settings_labels import FIELD_LABELS
from .models import (
    ApplyRun,
    BadRequestOut,
    BatchOut,
    Change,
    ChangeDetail,
    ChangePage,
    ChannelHistoryOut,
    ChannelsOut,
    CreateRun,
    CredentialCheckIn,
    CredentialCheckOut,
    CredentialIn,
    CredentialOut,
    CredentialRefusedOut,
    EarningsOut,
    ErrorOut,
    PinIn,
    PinOut,
    PolicyIn,
    PublicSummaryOut,
    ReconcileOut,
    RefusedOut,
    Rollback,
    RunDetail,
    RunPage,
    Run,
    RunRollbackOut,
    ScoresOut,
    SettingsChange,
    SettingsDocument,
    SettingsErrorOut,
    StatusOut,
    SummaryOut,
)
from .credential_service import CredentialRefusal, bake_possible, check_pasted
from .credential_service import create as create_credential
from .credential_service import overview as credential_overview
from .credential_service import revoke as revoke_credential
from .credential_service import rotate as rotate_credential
from .credential_service import verify as verify_credential
from .node import NodeCallError, NodeUnavailable
from .vault import VaultError
from .request_errors import PlainErrorsRoute
from .resilience import CircuitOpen
from .run_encoding import run_detail_json
from .tasks import schedule
from .change_service import (
    NotFound,
    Refused,
    apply_decision,
    apply_run,
    decisions_with_outcomes,
    manual_policy,
    reconcile_now,
    rollback_change,
    rollback_run,
    set_pin,
    update_settings,
)
from .services import (
    RunInProgress,
    StoredSettingsInvalid,
    channel_history,
    compute_run,
    earnings,
    list_channels,
    load_settings,
    node_status,
    public_summary,
)

# Request-validation errors (400) of every route here say what is wrong in words (request_errors.py).
feepilot_ext_api = APIRouter(prefix="/api/v1", route_class=PlainErrorsRoute)


# --- what each route answers besides success (its OpenAPI `responses`) -----------------------
#
# Every 4xx and 5xx below is one we answer on purpose, with the model of its body. LNbits
# answers FastAPI's request-validation errors with 400 (its global handler), never 422:
# declaring "4XX" keeps FastAPI from documenting a 422 "Validation Error" nobody sends, and
# says what is true of LNbits itself: any other client error (e.g. 429 when its rate limit
# applies) is `{"detail": ...}` too.

WHO = {
    "admin": "Not an LNbits admin (or the extension is not enabled for this user, or an ACL token without access)",
    "super": "Not the super user (or an ACL token without write access)",
    "user": "The extension is not enabled for this user (or an ACL token without access)",
}
ANSWERS: dict[Union[int, str], dict[str, Any]] = {
    400: {"model": BadRequestOut, "description": "The request is malformed (`detail` says what is wrong with each "
                                                 "parameter or field, `errors` lists them), or refused as given"},
    401: {"model": ErrorOut, "description": "No or an invalid access token"},
    404: {"model": ErrorOut, "description": "Not found (`detail` names what)"},
    409: {"model": RefusedOut, "description": "Refused, nothing was changed: another change or run is in progress, "
                                              "or the stored settings are invalid (`errors`)"},
    422: {"model": SettingsErrorOut, "description": "A setting is invalid; `errors` names each field; nothing was stored"},
    501: {"model": ErrorOut, "description": "The funding source cannot write fee policies"},
    502: {"model": ErrorOut, "description": "The node did not answer"},
    503: {"model": ErrorOut, "description": "The funding source has no node API, or the circuit breaker is open"},
    "4XX": {"model": ErrorOut, "description": "Any other client error LNbits answers (e.g. 429 when rate limited)"},
}
NODE = (502, 503)
WRITES = (404, 409, 501, 502, 503)


def answers(who: str, *codes: int, **descriptions: str) -> dict[Union[int, str], dict[str, Any]]:
    """The `responses` of a route: LNbits' 400/401/403 and 4XX, then `codes`; a
    description given as `e409="..."` replaces the general one."""
    chosen: dict[Union[int, str], dict[str, Any]] = {
        400: ANSWERS[400], 401: ANSWERS[401], 403: {"model": ErrorOut, "description": WHO[who]},
    }
    for code in codes:
        chosen[code] = ANSWERS[code]
    chosen["4XX"] = ANSWERS["4XX"]
    for key, description in descriptions.items():
        code = int(key[1:])
        chosen[code] = {**chosen[code], "description": description}
    return chosen


def node_error(exc: Exception) -> HTTPException:
    if isinstance(exc, NodeUnavailable):
        return HTTPException(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
    return HTTPException(HTTPStatus.BAD_GATEWAY, f"The node did not answer: {exc}")


def invalid(exc: InvalidSettings) -> JSONResponse:
    """422 naming every field that is wrong, by its label; the page shows each message
    beside the field its `field` (path) names."""
    return JSONResponse(
        status_code=HTTPStatus.UNPROCESSABLE_ENTITY,
        content={"detail": str(exc), "errors": described(exc.errors)},
    )


@feepilot_ext_api.get(
    "/status",
    response_model=StatusOut,
    summary="Extension and node status",
    description="Version, backend, node identity, channel counts and usable data sources.",
    responses=answers("admin"),
)
async def api_status(_: Account = Depends(check_admin)) -> StatusOut:
    return await node_status(schedule)


@feepilot_ext_api.get(
    "/channels",
    response_model=ChannelsOut,
    summary="The node's channels with their fee policies",
    responses=answers("admin", 409, *NODE, e409="The stored settings are invalid (`errors`)"),
)
async def api_channels(_: Account = Depends(check_admin)) -> Any:
    return await _guarded(list_channels())


# --- settings ---------------------------------------------------------------------


def settings_patch_schema() -> dict[str, Any]:
    """What PUT /settings takes, for the OpenAPI description: the body stays a plain object
    here so that app_settings' validation answers 422 naming each field (not pydantic's 400)."""
    properties: dict[str, Any] = {"mode": {"type": "string", "enum": list(MODES)}}
    for name in APP_DEFAULTS:
        if name in RANGES:
            low, high = RANGES[name]
            properties[name] = {"type": "integer", "minimum": low, "maximum": high}
        elif isinstance(APP_DEFAULTS[name], bool):
            properties[name] = {"type": "boolean"}
    properties["engine"] = {
        "type": "object",
        "description": "Any part of the engine document (GET /settings shows it whole: weights, thresholds, "
        "guardrails, lists); each value is checked, and a 422 names what is wrong (engine/README.md lists the ranges)",
    }
    return {"type": "object", "properties": properties, "additionalProperties": False}


def with_labels(document: Any) -> Any:
    """The settings document with what the page calls each setting (read-only)."""
    return {**document, "labels": FIELD_LABELS} if isinstance(document, dict) else document


@feepilot_ext_api.get(
    "/settings",
    response_model=SettingsDocument,
    summary="Instance settings: mode, schedule, engine and guardrails",
    responses=answers("admin", 409, e409="The stored settings are invalid; `errors` names each field to fix"),
)
async def api_get_settings(_: Account = Depends(check_admin)) -> Any:
    try:
        return with_labels(await load_settings())
    except StoredSettingsInvalid as exc:
        return stored_settings_invalid(exc)


@feepilot_ext_api.put(
    "/settings",
    response_model=SettingsDocument,
    summary="Change settings (partial documents are merged)",
    responses=answers("super", 409, 422, e409="Another change held the lock too long; nothing was stored"),
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": settings_patch_schema()}}}},
)
async def api_put_settings(
    patch: dict[str, Any] = Body(..., description="Any part of the settings document"),
    account: Account = Depends(check_super_user),
) -> Any:
    try:
        return with_labels(await _guarded(update_settings(patch, account.id)))
    except InvalidSettings as exc:
        return invalid(exc)


@feepilot_ext_api.get(
    "/settings/history",
    response_model=list[SettingsChange],
    summary="Who changed which settings, when",
    responses=answers("admin"),
)
async def api_settings_history(
    limit: int = Query(50, ge=1, le=500), _: Account = Depends(check_admin)
) -> list[dict]:
    return await crud.list_settings_history(limit)


# --- runs and scores ----------------------------------------------------------------


@feepilot_ext_api.post(
    "/runs",
    response_model=RunDetail,
    status_code=HTTPStatus.CREATED,
    summary="Score every channel now and propose changes (dry-run applies nothing)",
    responses=answers(
        "admin", 409, 501, *NODE,
        e409="A run is already in progress, another change holds the lock, or the stored settings are invalid (`errors`)",
    ) | {403: {"model": ErrorOut, "description": f"{WHO['admin']}; or `dry_run: false` and not the super user"}},
)
async def api_create_run(
    data: CreateRun,
    accept_encoding: Optional[str] = Header(None, include_in_schema=False),
    account: Account = Depends(check_admin),
) -> Any:
    if not data.dry_run and account.id != lnbits_settings.super_user:
        raise HTTPException(HTTPStatus.FORBIDDEN, "Only the super user may apply changes (dry_run: false).")
    run = await _guarded(compute_run("dry_run" if data.dry_run else "manual", account.id))
    if isinstance(run, JSONResponse):
        return run
    if not data.dry_run and run["status"] == "completed" and run["counts"].get("accepted"):
        result = await _guarded(apply_run(run["id"], account.id))
        if isinstance(result, JSONResponse):
            return result
        run = await crud.get_run(run["id"])
    return await _run_detail(run, HTTPStatus.CREATED, accept_encoding)


@feepilot_ext_api.get("/runs", response_model=RunPage, summary="Runs, newest first", responses=answers("admin"))
async def api_list_runs(
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000_000),
    _: Account = Depends(check_admin),
) -> RunPage:
    runs, total = await crud.list_runs(limit, offset)
    return RunPage(data=runs, total=total)


@feepilot_ext_api.get(
    "/runs/{run_id}", response_model=RunDetail, summary="One run with its decisions", responses=answers("admin", 404)
)
async def api_get_run(
    run_id: str,
    accept_encoding: Optional[str] = Header(None, include_in_schema=False),
    _: Account = Depends(check_admin),
) -> Any:
    run = await crud.get_run(run_id)
    if not run:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"No run with id {run_id}")
    impact = await insights.run_impact_of(run_id)
    return await _run_detail(run, HTTPStatus.OK, accept_encoding, impact=impact.out(), impact_error=impact.error,
                             decisions_trimmed=await crud.decisions_trimmed(run_id))


async def _run_detail(run: dict, status: HTTPStatus, accept_encoding: Optional[str], **extra: Any) -> Response:
    """A run with its decisions, as RunDetail answers it. Built, encoded and compressed in a thread:
    a run of a 2,000-channel node has 2,000 decisions, seconds of pure Python that would stall the
    loop (and 3 MB that LNbits' middleware would compress there)."""
    decisions = await decisions_with_outcomes(run["id"])
    gzipped = accepts_gzip(accept_encoding)

    impact = extra.pop("impact", None)
    impact_json = jsonable_encoder(impact) if impact is not None else None

    def encoded() -> bytes:
        body = run_detail_json(run, decisions, impact_json, **extra)
        return gzip.compress(body, GZIP_LEVEL) if gzipped else body

    headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if gzipped else {}
    return Response(content=await asyncio.to_thread(encoded), media_type="application/json", status_code=status,
                    headers=headers)


@feepilot_ext_api.get(
    "/scores",
    response_model=ScoresOut,
    summary="Latest scores per channel, with reasons",
    description="Serialised once per run and served as stored, with an `ETag`: a GET with `If-None-Match` "
    "naming it answers 304 until a run scores again (or the run's status changes).",
    responses={**answers("admin"), 304: {"description": "Not modified: the scores named by `If-None-Match`"}},
)
async def api_scores(
    if_none_match: Optional[str] = Header(None, include_in_schema=False),
    accept_encoding: Optional[str] = Header(None, include_in_schema=False),
    _: Account = Depends(check_admin),
) -> Any:
    latest, run = await crud.latest_scores_with_run()
    if latest is None:
        return ScoresOut(run=None, channels=[])
    # the run is small and changes after its scores (applied, rolled back): read each time, part of the tag
    run_json = json.dumps(jsonable_encoder(Run.parse_obj(run)), separators=(",", ":")) if run else "null"
    etag = '"' + hashlib.sha256(f"{latest.etag}:{run_json}".encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match and (if_none_match.strip() == "*" or etag in _entity_tags(if_none_match)):
        return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=headers)
    gzipped = accepts_gzip(accept_encoding)
    global _scores_gzip
    if gzipped and _scores_gzip[0] == etag:  # a big node's scores are megabytes: not even joined again
        return _gzipped_scores(_scores_gzip[1], headers)
    body = '{"run":' + run_json + ',"channels":' + latest.channels + "}"
    if not gzipped or len(body) < GZIP_MIN_BYTES:
        return Response(content=body, media_type="application/json", headers=headers)
    compressed = await asyncio.to_thread(gzip.compress, body.encode(), GZIP_LEVEL)  # once per version, off the loop
    _scores_gzip = (etag, compressed)
    return _gzipped_scores(compressed, headers)


def _gzipped_scores(content: bytes, headers: dict[str, str]) -> Response:
    return Response(content=content, media_type="application/json",
                    headers={**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})


# LNbits' GZipMiddleware compresses every answer of 1,000 bytes or more at level 9 on the event
# loop (about a second for the 12 MB scores of a 2,000-channel node), unless the answer is encoded
# already: our large answers are compressed in a thread (and GET /scores's once per version).
GZIP_MIN_BYTES = 1000
GZIP_LEVEL = 6
_scores_gzip: tuple[str, bytes] = ("", b"")


def accepts_gzip(header: Optional[str]) -> bool:
    """Whether an answer to this Accept-Encoding header is gzipped: the middleware's own rule ("gzip"
    anywhere in it), as it would compress the answer anyway, on the loop."""
    return "gzip" in (header or "")


def _entity_tags(header: str) -> set[str]:
    """The tags of an If-None-Match header (weak ones compare as strong: RFC 9110's weak comparison)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


# --- applying and undoing ---------------------------------------------------------------


def stored_settings_invalid(exc: StoredSettingsInvalid) -> JSONResponse:
    """409: the stored settings must be fixed first; `errors` names each field."""
    return JSONResponse(
        status_code=HTTPStatus.CONFLICT,
        content={"detail": str(exc), "errors": described(exc.errors)},
    )


def refused(exc: Refused) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content={"detail": str(exc), **exc.details})


async def _guarded(coro):
    """Map the service's exceptions to HTTP answers; every one leaves things unchanged."""
    try:
        return await coro
    except NotFound as exc:
        raise HTTPException(HTTPStatus.NOT_FOUND, str(exc)) from exc
    except Refused as exc:
        return refused(exc)
    except RunInProgress as exc:
        raise HTTPException(HTTPStatus.CONFLICT, str(exc)) from exc
    except StoredSettingsInvalid as exc:
        return stored_settings_invalid(exc)
    except CircuitOpen as exc:
        raise HTTPException(HTTPStatus.SERVICE_UNAVAILABLE, str(exc)) from exc
    except (NodeUnavailable, NodeCallError) as exc:
        raise node_error(exc) from exc


@feepilot_ext_api.post(
    "/runs/{run_id}/apply",
    response_model=BatchOut,
    summary="Apply a run's accepted proposals (or the selected ones) as one batch",
    responses=answers(
        "super", *WRITES,
        e400=f"{ANSWERS[400]['description']}: `decision_ids` names decisions not in the run, or not accepted by the "
        "guardrails",
        e409="The run cannot be applied now (its status), another change holds the lock, or the stored settings are invalid",
    ),
)
async def api_apply_run(
    run_id: str, data: ApplyRun = Body(...), account: Account = Depends(check_super_user)
) -> Any:
    return await _guarded(apply_run(run_id, account.id, decision_ids=data.decision_ids))


@feepilot_ext_api.post(
    "/decisions/{decision_id}/apply",
    response_model=BatchOut,
    summary="Apply one decision",
    responses=answers(
        "super", *WRITES,
        e400=f"{ANSWERS[400]['description']}: the decision was not accepted by the guardrails (nothing to apply)",
        e409="Its run cannot be applied now, another change holds the lock, or the stored settings are invalid",
    ),
)
async def api_apply_decision(decision_id: str, account: Account = Depends(check_super_user)) -> Any:
    return await _guarded(apply_decision(decision_id, account.id))


@feepilot_ext_api.post(
    "/runs/{run_id}/rollback",
    response_model=RunRollbackOut,
    summary="Roll back every applied change of a run, newest first",
    responses=answers(
        "super", *WRITES,
        e409="A channel was changed since (`conflicts` says how), nothing is left to roll back, or another change "
        "holds the lock",
    ),
)
async def api_rollback_run(
    run_id: str, data: Rollback = Body(...), account: Account = Depends(check_super_user)
) -> Any:
    return await _guarded(rollback_run(run_id, account.id, data.force))


@feepilot_ext_api.get(
    "/changes", response_model=ChangePage, summary="The change log, newest first", responses=answers("admin")
)
async def api_changes(
    chan_id: Optional[str] = Query(
        None, max_length=75, regex=r"^([0-9]{1,20}|[0-9]{1,8}x[0-9]{1,8}x[0-9]{1,5}|[0-9a-f]{64}(:[0-9]{1,10})?)$"
    ),
    status: Optional[str] = Query(None, regex="^(pending|applied|failed|conflict)$"),
    run_id: Optional[str] = Query(None, max_length=64, regex=r"^[A-Za-z0-9_-]+$"),
    since: Optional[int] = Query(None, ge=0, le=253_402_300_799, description="unix seconds (at most the end of year 9999)"),
    until: Optional[int] = Query(None, ge=0, le=253_402_300_799, description="unix seconds (at most the end of year 9999)"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000_000),
    _: Account = Depends(check_admin),
) -> ChangePage:
    changes, total = await crud.list_changes(
        chan_id=chan_id, status=status, run_id=run_id, since=since, until=until, limit=limit, offset=offset
    )
    undone = await crud.applied_rollbacks_of([change["id"] for change in changes])
    impacts = await insights.change_impacts(changes)
    for change in changes:
        change["rolled_back_by"] = undone.get(change["id"])
        change["impact"] = impacts.out(change["id"])
    return ChangePage(data=changes, total=total, impact_error=impacts.error)


@feepilot_ext_api.get(
    "/changes/{change_id}",
    response_model=ChangeDetail,
    summary="One change with every status it went through",
    responses=answers("admin", 404),
)
async def api_get_change(change_id: str, _: Account = Depends(check_admin)) -> ChangeDetail:
    change = await crud.get_change(change_id)
    if not change:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"No change with id {change_id}")
    change["rolled_back_by"] = (await crud.applied_rollbacks_of([change_id])).get(change_id)
    impacts = await insights.change_impacts([change])
    return ChangeDetail(**change, events=await crud.list_change_events(change_id), impact=impacts.out(change_id),
                        impact_error=impacts.error)


@feepilot_ext_api.post(
    "/changes/{change_id}/rollback",
    response_model=Change,
    summary="Restore the policy a change replaced",
    responses=answers(
        "super", *WRITES,
        e409="The channel was changed since (`differences` says how), the change is not applied or already rolled "
        "back, the channel is closed or has a change of unknown outcome, or another change holds the lock",
    ),
)
async def api_rollback_change(
    change_id: str, data: Rollback = Body(...), account: Account = Depends(check_super_user)
) -> Any:
    return await _guarded(rollback_change(change_id, account.id, data.force))


@feepilot_ext_api.post(
    "/reconcile",
    response_model=ReconcileOut,
    summary="Settle changes of unknown outcome and look for policies changed outside Fee Autopilot, now",
    responses=answers(
        "super", 409, 501, *NODE, e409="Another change holds the lock, or the stored settings are invalid"
    ),
)
async def api_reconcile(account: Account = Depends(check_super_user)) -> Any:
    return await _guarded(reconcile_now())


@feepilot_ext_api.put(
    "/channels/{chan_id}/pin",
    response_model=PinOut,
    summary="Pin (never touch) or unpin a channel",
    responses=answers(
        "super", 404, 409, *NODE, e409="Another change holds the lock, or the stored settings are invalid (`errors`)"
    ),
)
async def api_pin(chan_id: str, data: PinIn = Body(...), account: Account = Depends(check_super_user)) -> Any:
    return await _guarded(set_pin(chan_id, data.pinned, account.id))


@feepilot_ext_api.put(
    "/channels/{chan_id}/policy",
    response_model=Change,
    summary="Set a channel's fees by hand, through the same guardrails and change log",
    responses=answers(
        "super", *WRITES,
        e409="Refused by the guardrails (`rules` names them), the fees are already these, the channel is not open "
        "or has a change of unknown outcome, or another change holds the lock",
    ),
)
async def api_set_policy(chan_id: str, data: PolicyIn, account: Account = Depends(check_super_user)) -> Any:
    return await _guarded(manual_policy(chan_id, data.base_msat, data.ppm, account.id, account.username))


# --- history and charts ----------------------------------------------------------------------


@feepilot_ext_api.get(
    "/earnings",
    response_model=EarningsOut,
    summary="Fees earned per day, node-wide and per channel",
    responses=answers("admin", 409, *NODE, e409="The stored settings are invalid (`errors`)"),
)
async def api_earnings(days: int = Query(30, ge=1, le=365), _: Account = Depends(check_admin)) -> Any:
    return await _guarded(earnings(days))


@feepilot_ext_api.get(
    "/channels/{chan_id}/history",
    response_model=ChannelHistoryOut,
    summary="A channel's fee, balance and score at every run, with its changes",
    responses=answers("admin", 404, e404="No channel with this id, on the node or in our records"),
)
async def api_channel_history(
    chan_id: str, days: int = Query(30, ge=1, le=365), _: Account = Depends(check_admin)
) -> Any:
    history = await _guarded(channel_history(chan_id, days))
    impacts = await insights.change_impacts(history["changes"])
    for change in history["changes"]:
        impact = impacts.out(change["id"])
        change["impact"] = impact.dict(by_alias=True) if impact else None
    # The points and scores are stored as the JSON answered here: concatenated, not validated and
    # encoded again (FastAPI's encoder took 300 ms for 90 days of hourly runs).
    body = (
        f'{{"chan_id":{json.dumps(chan_id)},"points":{history["points_json"]},'
        f'"changes":{json.dumps(jsonable_encoder(history["changes"]), separators=(",", ":"))},'
        f'"scores":{history["scores_json"]},"impact_error":{json.dumps(impacts.error)},'
        f'"failed_forwards":{json.dumps(history["failed_forwards"], separators=(",", ":"))}}}'
    )
    return Response(content=body, media_type="application/json")


@feepilot_ext_api.get(
    "/summary",
    response_model=SummaryOut,
    summary="Is it earning: fees over 1, 7 and 30 days against the windows before, yield, balance, activity",
    responses=answers("admin", 409, *NODE, e409="The stored settings are invalid (`errors`)"),
)
async def api_summary(
    since: Optional[int] = Query(
        None, ge=0, le=253_402_300_799, description="Start of `activity`, unix seconds (default: 7 days ago)"
    ),
    _: Account = Depends(check_admin),
) -> Any:
    return await _guarded(insights.summary(since))


@feepilot_ext_api.get(
    "/public/summary",
    response_model=PublicSummaryOut,
    summary="Aggregates for any logged-in user, when the super user turned the public summary on",
    responses=answers("user"),
)
async def api_public_summary(_: User = Depends(check_user_exists)) -> Any:
    try:
        summary = await public_summary()
    except StoredSettingsInvalid:
        summary = None  # shown only when valid settings turn it on (this was a 500)
    return {"enabled": False} if summary is None else {"enabled": True, **summary}


# --- Fee Autopilot's own node credential (issue 17) -----------------------------------------------
#
# The super user creates, rotates, revokes and verifies; admins see fingerprints and permissions.
# No answer ever carries the macaroon itself.

CREDENTIAL_REFUSED = {"model": CredentialRefusedOut, "description": "Refused, nothing was changed: `detail` says why "
                      "(no credential, one already active, not a macaroon, LNbits' macaroon cannot bake); a pasted "
                      "macaroon's `missing` and `extra` permissions and `warnings`"}


def credential_answers(who: str, *codes: int) -> dict[Union[int, str], dict[str, Any]]:
    chosen = answers(who, *codes)
    if 409 in codes:
        chosen[409] = CREDENTIAL_REFUSED
    chosen[501] = {"model": ErrorOut, "description": "The funding source is not LND (LndRestWallet)"}
    chosen[500] = {"model": ErrorOut, "description": "The vault's master secret cannot be read (key file or "
                                                     "FEEPILOT_VAULT_KEY)"}
    return chosen


async def _credential_guarded(coro):
    try:
        return await coro
    except CredentialRefusal as exc:
        if exc.status in (409,):
            return JSONResponse(status_code=exc.status, content={"detail": str(exc), **exc.details})
        raise HTTPException(exc.status, str(exc)) from exc
    except VaultError as exc:
        raise HTTPException(HTTPStatus.INTERNAL_SERVER_ERROR, f"The vault cannot be used: {exc}") from exc
    except (NodeUnavailable, NodeCallError) as exc:
        raise node_error(exc) from exc


@feepilot_ext_api.get(
    "/credential",
    response_model=CredentialOut,
    summary="Fee Autopilot's own node credential: in use, history, what it allows and how to bake it",
    description="Fingerprints, permissions and events only, never a macaroon. `bake_possible` asks the node whether "
                "LNbits' macaroon may bake (macaroon:generate).",
    responses=credential_answers("admin"),
)
async def api_credential(_: Account = Depends(check_admin)) -> Any:
    async def read() -> dict:
        out = await credential_overview()
        out["bake_possible"], out["bake_reason"] = await bake_possible()
        return out

    return await _credential_guarded(read())


@feepilot_ext_api.post(
    "/credential",
    status_code=HTTPStatus.CREATED,
    response_model=CredentialOut,
    summary="Get Fee Autopilot its own node credential: bake it, or paste one (checked, encrypted, then used)",
    responses=credential_answers("super", 409, 501, 502, 503),
)
async def api_create_credential(data: CredentialIn = Body(...), account: Account = Depends(check_super_user)) -> Any:
    return await _credential_guarded(create_credential(data.method, data.macaroon, account.id))


@feepilot_ext_api.post(
    "/credential/rotate",
    response_model=CredentialOut,
    summary="Replace the credential: the new one is checked and used, then the old root key id revoked if baked",
    responses=credential_answers("super", 409, 501, 502, 503),
)
async def api_rotate_credential(data: CredentialIn = Body(...), account: Account = Depends(check_super_user)) -> Any:
    return await _credential_guarded(rotate_credential(data.method, data.macaroon, account.id))


@feepilot_ext_api.post(
    "/credential/revoke",
    response_model=CredentialOut,
    summary="Revoke the credential: its root key id deleted on the node (if baked), its secret forgotten",
    description="Fee Autopilot then uses LNbits' macaroon, as without a credential of its own.",
    responses=credential_answers("super", 409, 501, 502, 503),
)
async def api_revoke_credential(account: Account = Depends(check_super_user)) -> Any:
    return await _credential_guarded(revoke_credential(account.id))


@feepilot_ext_api.post(
    "/credential/verify",
    response_model=CredentialOut,
    summary="Check the credential in use with the node now (clears a refusal once it passes)",
    responses=credential_answers("super", 409, 501, 502, 503),
)
async def api_verify_credential(account: Account = Depends(check_super_user)) -> Any:
    return await _credential_guarded(verify_credential(account.id))


@feepilot_ext_api.post(
    "/credential/check",
    response_model=CredentialCheckOut,
    summary="What the node says of a macaroon (missing and extra permissions), without storing it",
    responses=credential_answers("super", 409, 501, 502, 503),
)
async def api_check_credential(data: CredentialCheckIn = Body(...), _: Account = Depends(check_super_user)) -> Any:
    return await _credential_guarded(check_pasted(data.macaroon))


# --- 405 names every method of the path ------------------------------------------------------
#
# Starlette answers a method no route takes with the `Allow` of the first route whose path
# matched, so OPTIONS /settings said `Allow: GET` (PUT is allowed too) and OPTIONS /runs said
# `Allow: POST`. For each path served by more than one route, one more route (not in the
# schema) takes every other method and answers 405 with all of them. A JSONResponse, because
# LNbits' HTTPException handler drops an exception's headers.

OTHER_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _method_not_allowed(allow: str):
    async def method_not_allowed() -> JSONResponse:
        return JSONResponse({"detail": "Method Not Allowed"}, status_code=HTTPStatus.METHOD_NOT_ALLOWED,
                            headers={"Allow": allow})

    return method_not_allowed


def _answer_405_with_every_method(router: APIRouter) -> None:
    methods: dict[str, set[str]] = {}
    routes: dict[str, int] = {}
    for route in router.routes:
        path = getattr(route, "path", None)
        if path is None or not getattr(route, "methods", None):
            continue
        methods.setdefault(path, set()).update(route.methods)  # type: ignore[attr-defined]
        routes[path] = routes.get(path, 0) + 1
    for path, allowed in methods.items():
        if routes[path] < 2:
            continue
        others = [m for m in OTHER_METHODS if m not in allowed]
        router.add_api_route(path[len(router.prefix):], _method_not_allowed(", ".join(sorted(allowed))),
                             methods=others, include_in_schema=False)


_answer_405_with_every_method(feepilot_ext_api)
