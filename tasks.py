"""Background work: the autopilot's schedule (LNbits task manager)."""

from __future__ import annotations

from lnbits.task_manager import task_manager
from loguru import logger

CYCLE_TASK_NAME = "ext_feepilot_cycle"


def start_background_work() -> None:
    logger.info("feepilot: background work started")


async def stop_background_work() -> None:
    task = task_manager.get_task(CYCLE_TASK_NAME)
    if task:
        task_manager.cancel_task(task)
