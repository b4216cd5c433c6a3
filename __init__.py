"""Fee Autopilot: an LNbits extension that runs a routing node's channel fees."""

from fastapi import APIRouter
from loguru import logger

from .crud import db
from .tasks import start_background_work, stop_background_work
from .views import feepilot_ext_generic
from .views_api import feepilot_ext_api

feepilot_ext: APIRouter = APIRouter(prefix="/feepilot", tags=["Fee Autopilot"])
feepilot_ext.include_router(feepilot_ext_generic)
feepilot_ext.include_router(feepilot_ext_api)

feepilot_static_files = [
    {
        "path": "/feepilot/static",
        "name": "feepilot_static",
    }
]


def feepilot_start() -> None:
    # LNbits calls this without awaiting at startup: it must stay a plain def.
    start_background_work()


async def feepilot_stop() -> None:
    await stop_background_work()
    logger.info("feepilot: background work stopped")


__all__ = [
    "db",
    "feepilot_ext",
    "feepilot_start",
    "feepilot_static_files",
    "feepilot_stop",
]
