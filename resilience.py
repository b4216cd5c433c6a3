"""Retries with backoff and a circuit breaker around node calls.

A node that keeps failing is left alone: after `failure_threshold` consecutive
failed calls (each already retried) the breaker opens, nothing is applied, and
only after `cool_off_s` does one probe decide whether it closes again.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Optional, TypeVar

from loguru import logger

from .node import NodeCallError

T = TypeVar("T")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass
class RetryPolicy:
    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        # Full jitter: spreads retries of many channels apart.
        return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


class CircuitOpen(Exception):
    """The breaker is open: the node is not called until the cool-off is over."""


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    cool_off_s: float = 60.0
    state: str = CLOSED
    consecutive_failures: int = 0
    opened_at: Optional[float] = None
    last_error: Optional[str] = None
    # Called with the new state when the breaker opens or closes (notifications).
    listeners: list[Callable[[str, Optional[str]], Awaitable[None]]] = field(default_factory=list)

    def snapshot(self) -> dict:
        return {
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "opened_at": int(self.opened_at) if self.opened_at else None,
            "retry_after_s": self.retry_after_s(),
            "last_error": self.last_error,
        }

    def retry_after_s(self) -> Optional[int]:
        if self.state != OPEN or self.opened_at is None:
            return None
        return max(0, int(self.opened_at + self.cool_off_s - time.time()))

    def allow(self) -> bool:
        """May the node be called now? Moves an expired open breaker to half-open."""
        if self.state == OPEN and self.opened_at is not None and time.time() >= self.opened_at + self.cool_off_s:
            self.state = HALF_OPEN
        return self.state != OPEN

    async def record_success(self) -> None:
        was = self.state
        self.consecutive_failures = 0
        self.last_error = None
        self.state = CLOSED
        self.opened_at = None
        if was != CLOSED:
            logger.info("feepilot: circuit breaker closed: the node answers again")
            await self._notify(CLOSED, None)

    async def record_failure(self, error: str) -> None:
        self.consecutive_failures += 1
        self.last_error = error
        if self.state == HALF_OPEN or self.consecutive_failures >= self.failure_threshold:
            reopened = self.state == OPEN
            self.state = OPEN
            self.opened_at = time.time()
            if not reopened:
                logger.warning(f"feepilot: circuit breaker open after {self.consecutive_failures} failures: {error}")
                await self._notify(OPEN, error)

    async def _notify(self, state: str, error: Optional[str]) -> None:
        for listener in self.listeners:
            try:
                await listener(state, error)
            except Exception as exc:  # a notification must never break a node call
                logger.warning(f"feepilot: breaker listener failed: {exc}")


class ResilientCaller:
    """Calls the node with retries, through the breaker."""

    def __init__(self, breaker: CircuitBreaker, retry: Optional[RetryPolicy] = None, seed: Optional[int] = None):
        self.breaker = breaker
        self.retry = retry or RetryPolicy()
        self.rng = random.Random(seed)

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        if not self.breaker.allow():
            raise CircuitOpen(
                f"circuit breaker open after repeated node failures ({self.breaker.last_error}); "
                f"next try in {self.breaker.retry_after_s()} s"
            )
        last: Optional[NodeCallError] = None
        for attempt in range(self.retry.attempts):
            try:
                result = await fn()
            except NodeCallError as exc:
                last = exc
                if not exc.transient:
                    break
                if attempt + 1 < self.retry.attempts:
                    delay = self.retry.delay(attempt, self.rng)
                    logger.info(f"feepilot: {what} failed ({exc}); retry {attempt + 1} in {delay:.2f} s")
                    await asyncio.sleep(delay)
                continue
            await self.breaker.record_success()
            return result
        assert last is not None
        if last.transient:
            await self.breaker.record_failure(str(last))
        raise last


# One breaker and one retry policy for the node, shared by every path that calls it.
breaker = CircuitBreaker()
retry_policy = RetryPolicy()
