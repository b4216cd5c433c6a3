"""The autopilot's schedule, on LNbits' task manager.

One cycle per interval, never two at once. The loop ticks every few seconds so a
change of mode or interval takes effect without a restart, and so that
`feepilot_stop` (extension deactivated) ends it promptly.

The schedule never dies: every tick is supervised. An error anywhere (the node, the
database, a bug) is recorded as a failed run with its reason when it happened in a
cycle, shown in status, notified (rate-limited), and the next cycle runs on time.
The loop is a permanent task of LNbits' task manager, which restarts it should
anything escape the supervision.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Optional

from lnbits.task_manager import task_manager
from loguru import logger

from . import crud, htlc_listener
from .change_service import IN_FLIGHT_RUN_STATUSES, Refused, apply_run, reconcile_and_check_drift
from .clock import now
from .node import NodeCallError, NodeUnavailable
from .notify import notify
from .resilience import CircuitOpen
from .retention import maybe_prune
from .services import compute_lock, compute_run, load_settings, probe_breaker
from .worker import heavy_worker

CYCLE_TASK_NAME = "ext_feepilot_cycle"
TICK_S = 2.0
# LNbits starts its funding source after the extensions: the first cycle waits
# for the node (at most this long) instead of recording a pointless skipped run.
STARTUP_GRACE_S = 60
# The first cycle after a start waits this long: LNbits finishes its own start (funding
# source, other extensions, first requests) before our heaviest work, and an operator who
# enables the extension has time to set the mode before a cycle uses the defaults.
FIRST_CYCLE_DELAY_S = 30
# While a change is pending, each tick tries to settle it, unless a change holds the lock.
PENDING_RECONCILE_WAIT_S = 1.0


@dataclass
class ScheduleState:
    running: bool = False
    cycle_running: bool = False  # a scheduled cycle is computing or applying now
    started_at: Optional[int] = None
    last_cycle_at: Optional[int] = None
    next_run_at: Optional[int] = None
    last_error: Optional[str] = None
    last_error_at: Optional[int] = None
    reconciled: bool = False
    prepared: bool = False


schedule = ScheduleState()


async def _prepare() -> None:
    """Once per start: close runs a crash interrupted, find when the last cycle was."""
    interrupted = await crud.fail_interrupted_runs("interrupted: LNbits stopped while the run was computing")
    if interrupted:
        logger.info(f"feepilot: {interrupted} interrupted run(s) marked failed")
    last = await crud.last_run(("shadow", "autopilot"))
    schedule.last_cycle_at = last["created_at"] if last else None
    schedule.prepared = True


async def _reconcile_after_start() -> None:
    """Pending changes left by a crash are settled before the first cycle.

    LNbits starts extensions before its funding source, so this is retried on every
    tick until the node answers.
    """
    result = await reconcile_and_check_drift()
    if result is None:
        return
    if result["settled"]:
        logger.info(f"feepilot: reconciled {len(result['settled'])} pending change(s) after a restart")
    schedule.reconciled = True


def _describe(exc: BaseException) -> str:
    """An error in words for a notification: its message, its kind only when it has none."""
    return str(exc) or f"an unexpected {exc.__class__.__name__}"


async def _failed(what: str, exc: BaseException, mode: Optional[str]) -> None:
    """Record an error of the schedule where the operator sees it; never raises."""
    message = f"{what}: {_describe(exc)}"
    repeated = message == schedule.last_error
    schedule.last_error = message
    schedule.last_error_at = now()
    if repeated:  # the same error every tick (invalid settings, a node that is down): logged once
        logger.debug(f"feepilot: {message}")
    else:
        logger.opt(exception=exc).error(f"feepilot: {message}")
    if mode in ("shadow", "autopilot"):
        try:
            await crud.create_run(mode, "autopilot", status="failed", reason=message)
        except Exception as record_exc:  # the database may be what failed
            logger.warning(f"feepilot: could not record the failed cycle: {record_exc}")
    try:
        await notify("schedule", f"Fee Autopilot: {message}. The next cycle runs on time.")
    except Exception as notify_exc:
        logger.warning(f"feepilot: could not notify: {notify_exc}")


async def tick() -> None:
    """One supervised step of the schedule: a cycle if one is due."""
    mode: Optional[str] = None
    try:
        if not schedule.prepared:
            await _prepare()
        if not schedule.reconciled:
            await _reconcile_after_start()
        elif await crud.has_pending_changes() or await crud.runs_with_status(IN_FLIGHT_RUN_STATUSES):
            # A write of unknown outcome: settled as soon as the node proves it either way.
            await reconcile_and_check_drift(wait_s=PENDING_RECONCILE_WAIT_S)
        await probe_breaker()
        document = await load_settings()
        try:  # pruning has its own schedule, in every mode ("off" too)
            await maybe_prune(document)
        except Exception as exc:  # never stops the schedule; tried again at the next tick
            logger.warning(f"feepilot: pruning failed: {exc}")
        mode = document["mode"]
        waiting_for_node = not schedule.reconciled and now() - (schedule.started_at or 0) < STARTUP_GRACE_S
        if mode == "off" or waiting_for_node:
            schedule.next_run_at = None
            return
        interval = document["interval_minutes"] * 60
        first_allowed = (schedule.started_at or 0) + FIRST_CYCLE_DELAY_S
        schedule.next_run_at = max((schedule.last_cycle_at or 0) + interval, first_allowed)
        if now() < schedule.next_run_at:
            return
        # Due: whatever happens now, the next cycle is one interval away.
        schedule.last_cycle_at = now()
        schedule.next_run_at = schedule.last_cycle_at + interval
        schedule.cycle_running = True
        try:
            await scheduled_cycle()
        finally:
            schedule.cycle_running = False
        schedule.last_error = None
        schedule.last_error_at = None
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        await _failed("the scheduled cycle failed" if mode else "the schedule could not start a cycle", exc, mode)


async def cycle_loop() -> None:
    schedule.running = True
    schedule.started_at = now()
    try:
        while True:
            await tick()
            await asyncio.sleep(TICK_S)
    finally:
        schedule.running = False
        schedule.next_run_at = None


async def scheduled_cycle() -> Optional[dict]:
    """One cycle of the schedule: reconcile and check drift, compute, and in autopilot mode apply.

    Shadow mode never writes to the node: it stores the run with its decisions
    marked "would apply".
    """
    document = await load_settings()
    mode = document["mode"]
    if mode == "off":
        return None
    if compute_lock.locked():
        logger.info("feepilot: cycle skipped: a run is in progress")
        return None
    await reconcile_and_check_drift()
    run = await compute_run(mode, "autopilot")
    if mode == "autopilot" and run["status"] == "completed" and run["counts"].get("accepted"):
        try:
            await apply_run(run["id"], "autopilot", source="autopilot", wait_s=None)
        except (Refused, NodeUnavailable, NodeCallError, CircuitOpen) as exc:
            await crud.update_run(run["id"], status="failed_apply", reason=str(exc), finished=False)
            logger.warning(f"feepilot: autopilot could not apply run {run['id']}: {exc}")
        run = await crud.get_run(run["id"])  # type: ignore[assignment]
    return run


def start_background_work() -> None:
    task_manager.create_permanent_task(cycle_loop, name=CYCLE_TASK_NAME)
    htlc_listener.start()
    logger.info("feepilot: schedule and HTLC event listener started")


async def stop_background_work() -> None:
    task = task_manager.get_task(CYCLE_TASK_NAME)
    if task:
        task_manager.cancel_task(task)
    htlc_listener.stop()
    # The heavy-work process ends with the extension (a request in flight fails cleanly);
    # the next need after a restart of the extension starts a new one.
    await heavy_worker.stop()
