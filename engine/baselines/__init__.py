"""Baseline fee strategies re-implemented from their published descriptions
(§2 of the project's prior-art notes, `prior-art.md`, kept with the design documents outside
this repository), for the strategy benchmark (`bench/strategies.py`).

Pure functions over the engine's snapshot types, like the rest of `engine/`: each module takes
what the real tool can see (channels with balances, policies and forwarding windows; the graph;
for LNDg the failed HTLCs it records) and returns the complete fees it would set. The harness
reads the node and writes `/v1/chanpolicy` bodies (`--backend cln`: `setchannel` calls); nothing
here does I/O.

| module | tool | natural cadence (benchmark) |
|---|---|---|
| `static` | the node's initial policy, never changed | – |
| `charge_lnd` | charge-lnd `proportional` | hourly (cron) |
| `lndg` | LNDg auto-fees (AF) | hourly check, 24 h per-channel update interval |
| `clboss` | CLN feeadjuster / CLBOSS balance modder | hourly |
| `clboss_budget` | the same rule, skipping an update while CLN's relay bucket lacks 12 tokens | hourly |
| `feeadjuster` | Core Lightning's feeadjuster plugin, median strategy (in the `--backend cln` set) | at start, then the channels of the hour's settled forwards |
| `lndmanage` | lndmanage `update-fees` | weekly |
"""

from .common import FeeSetting, competitor_medians, weighted_median

__all__ = ["FeeSetting", "competitor_medians", "weighted_median"]
