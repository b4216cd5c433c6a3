"""The CLBOSS/feeadjuster balance rule within Core Lightning's relay budget (issue 14).

The same rule and hourly cadence as `clboss`, but an update is skipped while the channel's
gossip token bucket (+1 token an hour, 12 per update, at most 48, full at the start) holds
fewer than 12 tokens: every update it sends is one CLN nodes relay. It shows what a
gossip-polite balance rule earns, beside the hourly one that spends updates the network drops.

Choices:
- The bucket is replayed over the updates this strategy sent (the node's own log), with the
  engine's `relay_budget` at the default settings (the same rule Fee Autopilot obeys).
- A skipped update is simply not sent; the rule tries again next hour with the balance then.
"""

from __future__ import annotations

from typing import List, Mapping, Sequence, Tuple

from ..guardrails import relay_budget
from ..settings import EngineSettings
from ..snapshot import ChangeRecord, Channel
from . import clboss
from .common import FeeSetting

CADENCE_HOURS = clboss.CADENCE_HOURS
_DEFAULTS = EngineSettings()


def propose(channels: Sequence[Channel], medians: Mapping[str, Tuple[float, float, int]],
            sent: Mapping[str, Sequence[ChangeRecord]], now: int) -> List[FeeSetting]:
    """`sent`: per chan_id, the updates this strategy sent so far."""
    out = []
    for setting in clboss.propose(channels, medians):
        if relay_budget(sent.get(setting.chan_id, ()), now, _DEFAULTS).allows():
            out.append(setting)
    return out
