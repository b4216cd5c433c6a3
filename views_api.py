"""REST API under /feepilot/api/v1. Thin: auth and validation here, work in services.

Reads need an LNbits admin; anything that changes the node or the settings needs
the super user, as LNbits' own node API does.
"""

from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from lnbits.core.models import Account
from lnbits.decorators import check_admin, check_super_user

from . import crud
from .app_settings import InvalidSettings
from .models import ChannelsOut, CreateRun, RunDetail, RunPage, ScoresOut, StatusOut
from .node import NodeCallError, NodeUnavailable
from .services import RunInProgress, compute_run, list_channels, load_settings, node_status, update_settings

feepilot_ext_api = APIRouter(prefix="/api/v1")


def node_error(exc: Exception) -> HTTPException:
    if isinstance(exc, NodeUnavailable):
        return HTTPException(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
    return HTTPException(HTTPStatus.BAD_GATEWAY, f"The node did not answer: {exc}")


def invalid(errors: list[tuple[str, str]]) -> JSONResponse:
    """422 naming every field that is wrong; the page shows each beside its field."""
    return JSONResponse(
        status_code=HTTPStatus.UNPROCESSABLE_ENTITY,
        content={
            "detail": "; ".join(f"{field}: {message}" for field, message in errors),
            "errors": [{"field": field, "message": message} for field, message in errors],
        },
    )


@feepilot_ext_api.get(
    "/status",
    response_model=StatusOut,
    summary="Extension and node status",
    description="Version, backend, node identity, channel counts and usable data sources.",
)
async def api_status(_: Account = Depends(check_admin)) -> StatusOut:
    return await node_status()


@feepilot_ext_api.get(
    "/channels",
    response_model=ChannelsOut,
    summary="The node's channels with their fee policies",
    responses={503: {"description": "The funding source has no node API"}},
)
async def api_channels(_: Account = Depends(check_admin)) -> ChannelsOut:
    try:
        return await list_channels()
    except (NodeUnavailable, NodeCallError) as exc:
        raise node_error(exc) from exc


# --- settings ---------------------------------------------------------------------


@feepilot_ext_api.get("/settings", summary="Instance settings: mode, schedule, engine and guardrails")
async def api_get_settings(_: Account = Depends(check_admin)) -> dict:
    return await load_settings()


@feepilot_ext_api.put(
    "/settings",
    summary="Change settings (partial documents are merged)",
    responses={422: {"description": "A setting is invalid; `errors` names each field"}},
)
async def api_put_settings(
    patch: dict[str, Any] = Body(..., description="Any part of the settings document"),
    account: Account = Depends(check_super_user),
) -> Any:
    try:
        return await update_settings(patch, account.id)
    except InvalidSettings as exc:
        return invalid(exc.errors)


@feepilot_ext_api.get("/settings/history", summary="Who changed which settings, when")
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
    responses={409: {"description": "A run is already in progress"}},
)
async def api_create_run(data: CreateRun, account: Account = Depends(check_admin)) -> RunDetail:
    if not data.dry_run:
        raise HTTPException(HTTPStatus.BAD_REQUEST, "dry_run must be true")
    try:
        run = await compute_run("dry_run", account.id)
    except RunInProgress as exc:
        raise HTTPException(HTTPStatus.CONFLICT, str(exc)) from exc
    return RunDetail(**run, decisions=await crud.list_decisions(run["id"]))


@feepilot_ext_api.get("/runs", response_model=RunPage, summary="Runs, newest first")
async def api_list_runs(
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0),
    _: Account = Depends(check_admin),
) -> RunPage:
    runs, total = await crud.list_runs(limit, offset)
    return RunPage(data=runs, total=total)


@feepilot_ext_api.get("/runs/{run_id}", response_model=RunDetail, summary="One run with its decisions")
async def api_get_run(run_id: str, _: Account = Depends(check_admin)) -> RunDetail:
    run = await crud.get_run(run_id)
    if not run:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"No run with id {run_id}")
    return RunDetail(**run, decisions=await crud.list_decisions(run_id))


@feepilot_ext_api.get("/scores", response_model=ScoresOut, summary="Latest scores per channel, with reasons")
async def api_scores(_: Account = Depends(check_admin)) -> ScoresOut:
    run, scores = await crud.latest_scores()
    return ScoresOut(run=run, channels=scores)
