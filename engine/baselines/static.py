"""Static fees: the node keeps the policy it started with (the do-nothing baseline)."""

from __future__ import annotations

from typing import List, Sequence

from ..snapshot import Channel
from .common import FeeSetting


def propose(channels: Sequence[Channel]) -> List[FeeSetting]:
    return []
