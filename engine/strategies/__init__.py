"""Pricing strategies, registered by name (charge-lnd's shape): one module per way of choosing
a channel's fee, all with one signature,

    strategy(ctx: ChannelContext, score: Optional[float]) -> FeeIntent

called for an open channel whose policy is known and that is past the new-channel pricing step
(`decisions.decide_fee` does those for every strategy). The guardrails then cap or block the
intent. The operator picks one with `decisions.direction_source`; its names are
`engine.settings.DIRECTIONS` (a test keeps the two lists equal).

Kept are the ones that earn their keep on the tuning seeds (engine/README.md, "Strategies"):
`flow`, the default, and `score`, the original specification's mapping.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

from ..heuristics import ChannelContext
from ..intent import FeeIntent

Strategy = Callable[[ChannelContext, Optional[float]], FeeIntent]
_REGISTRY: Dict[str, Strategy] = {}


def register(name: str) -> Callable[[Strategy], Strategy]:
    def add(fn: Strategy) -> Strategy:
        if name in _REGISTRY:
            raise ValueError(f"pricing strategy {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn
    return add


def strategy(name: str) -> Strategy:
    """The strategy registered under `name`; settings validation keeps unknown names out."""
    return _REGISTRY[name]


def names() -> Tuple[str, ...]:
    return tuple(_REGISTRY)


from . import flow, score  # noqa: E402,F401  (each module registers itself)
