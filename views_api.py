"""REST API under /feepilot/api/v1. Thin: validation and auth here, work in services."""

from http import HTTPStatus

from fastapi import APIRouter, Depends, HTTPException
from lnbits.core.models import Account
from lnbits.decorators import check_admin

from .models import ChannelsOut, StatusOut
from .node import NodeCallError, NodeUnavailable
from .services import list_channels, node_status

feepilot_ext_api = APIRouter(prefix="/api/v1")


def node_error(exc: Exception) -> HTTPException:
    if isinstance(exc, NodeUnavailable):
        return HTTPException(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
    return HTTPException(HTTPStatus.BAD_GATEWAY, f"The node did not answer: {exc}")


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
