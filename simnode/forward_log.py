"""Every HTLC that reached us to be forwarded, in arrival order: Core Lightning's `forwards` table.

LND's /v1/switch reads `SimNode.forwards` (settled only, and LND's DeleteForwardingHistory trims it);
CLN's listforwards also lists the forwards our node refused (`local_failed`) and never forgets one, so
it gets a log of its own.  Rows are the same event objects the node records (no copies): a `Forward`
(settled) or a `FailedForward` of our side (INSUFFICIENT_BALANCE, FEE_INSUFFICIENT).  An HTLC the peer
could not send (INCOMING_INSUFFICIENT) never reached us and is not a row.

Numbering follows CLN: `created_index` = position + 1; a settled forward was created "offered" and
updated to "settled" at once (forwards settle within the step), so it also has an `updated_index`, the
count of settled rows up to it; a local failure is written once and keeps updated_index 0.
"""

from __future__ import annotations

import bisect
from array import array
from typing import Union

from .events import FailedForward, Forward

Row = Union[Forward, FailedForward]


class ForwardLog:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.in_msat = array("q")  # what the incoming HTLC carried (a failure's Forward-less amount)
        self.settled_positions = array("q")  # position of the n-th settled row: updated_index n + 1
        self.fees_msat = 0  # CLN's fees_collected_msat: every settled forward's fee, never reduced

    def __len__(self) -> int:
        return len(self.rows)

    def add_settled(self, fwd: Forward) -> None:
        self.settled_positions.append(len(self.rows))
        self.rows.append(fwd)
        self.in_msat.append(fwd.amt_in_msat)
        self.fees_msat += fwd.fee_msat

    def add_local_failure(self, failed: FailedForward, in_msat: int) -> None:
        self.rows.append(failed)
        self.in_msat.append(in_msat)

    def updated_index(self, position: int) -> int:
        """0 for a row never updated (a local failure)."""
        if not isinstance(self.rows[position], Forward):
            return 0
        return bisect.bisect_left(self.settled_positions, position) + 1

    def positions_by_updated(self, start: int) -> list[int]:
        """Rows in CLN's `index=updated` order from `start`: updated_index >= start, then by
        updated_index (local failures have 0, so they come first when start is 0)."""
        if start > 0:
            return list(self.settled_positions[start - 1:])
        failures = [i for i, row in enumerate(self.rows) if not isinstance(row, Forward)]
        return failures + list(self.settled_positions)
