"""The autopilot's schedule, on LNbits' task manager.

One cycle per interval, never two at once. The loop ticks every few seconds so a
change of mode or interval takes effect without a restart, and so that
`feepilot_stop` (extension deactivated) ends it promptly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Optional

from lnbits.task_manager import task_manager
from loguru import logger

from . import crud
from .clock import now
from .fee_changes import Refused, apply_run, reconcile_pending
from .node import NodeCallError, NodeUnavailable
from .resilience import CircuitOpen
from .services import compute_run, load_settings, probe_breaker, run_lock

CYCLE_TASK_NAME = "ext_feepilot_cycle"
TICK_S = 2.0
# LNbits starts its funding source after the extensions: the first cycle waits
# for the node (at most this long) instead of recording a pointless skipped run.
STARTUP_GRACE_S = 60


@dataclass
class ScheduleState:
    running: bool = False
    started_at: Optional[int] = None
    last_cycle_at: Optional[int] = None
    next_run_at: Optional[int] = None
    last_error: Optional[str] = None


schedule = ScheduleState()


async def _reconcile_after_start() -> bool:
    """True once pending changes left by a crash are settled.

    LNbits starts extensions before its funding source, so this is retried on
    every tick until the node answers.
    """
    settled = await reconcile_pending()
    if settled is None:
        return False
    if settled:
        logger.info(f"feepilot: reconciled {len(settled)} pending change(s) after a restart")
    return True


async def cycle_loop() -> None:
    schedule.running = True
    schedule.started_at = now()
    interrupted = await crud.fail_interrupted_runs("interrupted: LNbits stopped while the run was computing")
    if interrupted:
        logger.info(f"feepilot: {interrupted} interrupted run(s) marked failed")
    last = await crud.last_run(("shadow", "autopilot"))
    schedule.last_cycle_at = last["created_at"] if last else None
    reconciled = False
    try:
        while True:
            if not reconciled:
                try:
                    reconciled = await _reconcile_after_start()
                except Exception as exc:  # the schedule must survive a node that is not up yet
                    logger.warning(f"feepilot: reconciliation after start failed: {exc}")
            await probe_breaker()
            document = await load_settings()
            waiting_for_node = not reconciled and now() - (schedule.started_at or 0) < STARTUP_GRACE_S
            if document["mode"] == "off" or waiting_for_node:
                schedule.next_run_at = None
            else:
                interval = document["interval_minutes"] * 60
                due = (schedule.last_cycle_at or 0) + interval
                schedule.next_run_at = max(due, schedule.started_at or 0)
                if now() >= schedule.next_run_at:
                    schedule.last_cycle_at = now()
                    try:
                        await scheduled_cycle()
                        schedule.last_error = None
                    except Exception as exc:
                        schedule.last_error = str(exc)
                        logger.exception(f"feepilot: cycle failed: {exc}")
                    continue
            await asyncio.sleep(TICK_S)
    finally:
        schedule.running = False
        schedule.next_run_at = None


async def scheduled_cycle() -> Optional[dict]:
    """One cycle of the schedule: reconcile, compute, and in autopilot mode apply.

    Shadow mode never writes to the node: it stores the run with its decisions
    marked "would apply".
    """
    document = await load_settings()
    mode = document["mode"]
    if mode == "off":
        return None
    if run_lock.locked():
        logger.info("feepilot: cycle skipped: a run is in progress")
        return None
    await reconcile_pending()
    run = await compute_run(mode, "autopilot")
    if mode == "autopilot" and run["status"] == "completed" and run["counts"].get("accepted"):
        try:
            await apply_run(run["id"], "autopilot", source="autopilot")
        except (Refused, NodeUnavailable, NodeCallError, CircuitOpen) as exc:
            await crud.update_run(run["id"], status="failed_apply", reason=str(exc), finished=False)
            logger.warning(f"feepilot: autopilot could not apply run {run['id']}: {exc}")
        run = await crud.get_run(run["id"])  # type: ignore[assignment]
    pruned = await crud.prune_before(now() - document["retention_days"] * 86400)
    if any(pruned.values()):
        logger.info(f"feepilot: pruned {pruned}")
    return run


def start_background_work() -> None:
    task_manager.create_task(cycle_loop(), name=CYCLE_TASK_NAME)
    logger.info("feepilot: schedule started")


async def stop_background_work() -> None:
    task = task_manager.get_task(CYCLE_TASK_NAME)
    if task:
        task_manager.cancel_task(task)
