"""Strategy evaluation: Fee Autopilot against the fee tools people use today, on simnode.

    .venv/bin/python bench/strategies.py            # the report: 4 regimes x (2024 seeds 6-15 + 2026 seeds 1-10), 30 days
    .venv/bin/python bench/strategies.py --quick    # harness check: 2024 seed 1, 7 days, stationary, no chart
    .venv/bin/python bench/strategies.py --tuning   # 2024 seeds 1-5 (the only seeds used for tuning), stationary, 30 days
    .venv/bin/python bench/strategies.py --regime mission_control,demand_shifts   # some regimes only
    .venv/bin/python bench/strategies.py --no-gossip   # simnode without gossip realism, for comparison
    .venv/bin/python bench/strategies.py --graph today.json --seeds 1,2,3   # any listchannels snapshot
    .venv/bin/python bench/strategies.py --backend cln --tuning   # the same on Core Lightning semantics (+ feeadjuster)

Market regimes (`--regime NAME[,NAME...]`, simnode/README.md "Market regimes"): `stationary` (the model
before regimes: fixed graph and demand, senders without memory), `mission_control` (a sender that failed
on our channel avoids it, LND's 1 h penalty half-life), `competitors_move` (a share of the competing last
hops into each peer re-price over the run), `demand_shifts` (a daily UTC rhythm and, mid-run, three peers'
demand changing size or direction). The report runs all four, each on the same seeds, and reports each
separately (a verdict and tables per regime). A report run is REPORT_DAYS = 30 simulated days, the
tuning runs' length, for every regime and all 20 report seeds. What keeps it inside `make bench`'s 30
minutes on a 2-core machine: each strategy keeps its forwarding history as the extension does
(`ForwardBook`: a tick reads only the new `/v1/switch` events; re-reading 30 days every hour was most of
a run's time), and a seed's graph context is built once for its four regimes. Measured on a quiet 2-core
machine: 2026 seed 2, 30 days, all four regimes and seven strategies, 79 s on one core (10 s of it the
seed's setup; 2024 seeds: 21 s); `make bench` 16.2 min with two workers, `--quick` 37 s, `--tuning` 98 s. `--quick` and `--tuning` run `stationary` unless
`--regime` says otherwise (quick stays under 2 minutes; tuning numbers stay comparable with earlier ones);
`--days` overrides the length. Each regime acts the same whoever sets the fees: its draws come from seeded
RNGs of its own, never from the traffic stream.

`--graph` takes `2024` / `2026` (the committed snapshots in refdata/lngraph/) or the path of any Core
Lightning `listchannels` dump, e.g. `lightning-cli listchannels > today.json` on your own node:
`{"channels": [...]}`, gzip-compressed or plain JSON (decided by the file's first bytes, not its
name), `meta` and `aliases` optional, older dumps' `"1000msat"` strings, `amount_msat` instead of
`satoshis` and absent `htlc_maximum_msat` accepted. Without `meta.snapshot_date` the snapshot date
(simnode's clock starts at 12:00 UTC on it) is the UTC date of the newest `last_update` in the file,
else of the file's modification time; the report says which. The file needs at least 16 nodes with
>= 40 distinct active channels into them (simnode's peers); a file that cannot be used stops the
run at once with one line naming it and what is wrong (exit 2). `--quick --graph FILE` runs seed 1
of that file for 7 days.

For every (graph, seed, regime) each strategy gets its own SimNode built from the same seed (same node,
peers, balances, policies and traffic RNG) under that regime and runs for `--days` simulated days, called
at its natural cadence. Strategies see the node only through one face of it, a `Node` (below), and the
harness reads simnode's ground truth only to measure.

`--backend lnd` (the default): LND REST answers (simnode's `handle`, in-process, class `Lnd`); every write
is a complete `/v1/chanpolicy` body. LNDg and Fee Autopilot additionally read the `link_fail_event`s LND's
HTLC event stream would have delivered (LNDg records failed HTLCs that way; Fee Autopilot's snapshot gets
`failed_out_*` of the last 24 h from them through `engine.ingest_htlc.link_failure` /
`failed_out_by_channel`, as the shell's listener parses them).

`--backend cln`: Core Lightning v25.12 JSON-RPC (simnode's `handle_cln`, in-process, class `Cln`), read as
the extension reads CLN: `getinfo`, `listpeerchannels` (our policies from `updates.local`), `listnodes`
(aliases, once per run), `listforwards index=created` from the entry after the last created_index read (a
strategy's Node keeps the rows `engine.ingest_cln.forward_page` makes of them, as forwards_store keeps
them: settled forwards, and failed ones — `local_failed` failcode 4103 → INSUFFICIENT_BALANCE, the
amount the HTLC's in_msat), `listchannels source=<us>` (LNDg's last update times) and the graph from
`listchannels` + `listnodes`. Every write is one `setchannel` with the fee fields and the channel's
current htlcmin/htlcmax (passed so they stay exactly as they are); no cltv delta (CLN's is node-wide:
lndmanage's 40 is not written) and no inbound fee (CLN has none: `fee_autopilot_inbound` is refused);
`enforcedelay` is lightningd's default, so after a raise the old fee is still accepted for 600 simulated
seconds, and a setchannel that changes nothing is no channel_update. The default set adds CLN's own
`feeadjuster` plugin (engine/baselines/feeadjuster.py; it runs on `--backend lnd` too when named in
`--strategies`, but is not in LND's default set). simnode's relay bucket applies to both faces: CLN
v24.02+ has no token bucket of its own, and simnode keeps the bucket as the network's behaviour (the
older CLN relays part of the senders depend on; simnode/README.md "What differs per face, and gossip").
Its cost: `--quick --backend cln` 29 s where `--quick` took 24 s on the same machine, `--tuning --backend
cln` 205 CPU-seconds to LND's 178 (an eighth strategy; a CLN seed's setup decodes listchannels instead).

A `Node` is the strategies' one interface to either face: `info`, `channels`, `forwards(now, since)`,
`liquidity_failures(now, since)`, `policy` (the live one, read back), `policy_times`, `graph`, and
`write_fees` (the live policy with only what may change replaced, sent by `send`).

Fee Autopilot is the extension's own cycle: the snapshot is assembled by the same ingest functions
as the shell (LND, as `node.py`: six channel calls, `/v1/switch` pages over 30 days, the
describegraph; CLN, as `cln_node.py`: `channels_from_listpeerchannels`, `forward_page`, `graph_from_cln`,
and its settings through `without_inbound_management`, as services.py passes them on CLN), graph
metrics are computed once per seed (the graph does not change in a run apart from our own policies,
which the metrics exclude), `evaluate()` runs at default `EngineSettings()` every 60 minutes with the
applied changes of the last 30 days as history, and each accepted proposal is applied as
`live.with_fees(base, ppm)` on the policy read back (LND: `/v1/graph/edge/<chan_id>`; CLN:
listpeerchannels' `updates.local` of that short channel id).
`--strategies fee_autopilot_inbound` runs it with inbound management on (`inbound.manage` "on"; not in the
default set, never counted as a baseline; LND only): a proposal's inbound fee goes into the same
`/v1/chanpolicy` body (`inbound_fee {base_fee_msat, fee_rate_ppm}`), and the channels whose live inbound
fee is the one it last wrote are passed as `inbound_ours` (simnode's two hand-set inbound fees stay untouched).

Writes `bench/results/strategies.md`, `bench/results/strategies.json` and
`bench/results/strategies_revenue.png` (or `--out DIR`); `--backend cln` writes `strategies_cln.md`,
`strategies_cln.json` and `strategies_cln_revenue.png` beside them.
"""

from __future__ import annotations

import abc
import argparse
import bisect
import json
import math
import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.baselines import charge_lnd, clboss, clboss_budget, feeadjuster, lndg, lndmanage  # noqa: E402
from engine.baselines.common import FeeSetting, competitor_medians  # noqa: E402
from engine.evaluate import evaluate  # noqa: E402
from engine.graph_metrics import compute_graph_metrics  # noqa: E402
from engine.ingest_cln import (  # noqa: E402
    aliases_from_listnodes,
    chan_id_from_scid,
    channels_from_listpeerchannels,
    forward_page,
    graph_from_cln,
    is_setchannel_answer,
    scid_from_chan_id,
    setchannel_left_out,
    setchannel_params,
    setchannel_problem,
)
from engine.ingest_htlc import (  # noqa: E402
    FAILED_OUT_WINDOW_S,
    LinkFailure,
    failed_out_by_channel,
    link_failure,
    with_failed_out,
)
from engine.ingest_lnd import (  # noqa: E402
    channels_from_lnd,
    chanpolicy_body,
    edge_policies,
    flows_from_sums,
    graph_from_describegraph,
    with_flows,
)
from engine.settings import EngineSettings, without_inbound_management  # noqa: E402
from engine.snapshot import (  # noqa: E402
    ACTIVE,
    FLOW_WINDOWS_DAYS,
    INACTIVE,
    ChangeRecord,
    Channel,
    NetworkGraph,
    NodeSnapshot,
    Policy,
)
from simnode.regimes import REGIMES  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STRATEGIES = ("fee_autopilot", "static", "charge_lnd", "lndg", "clboss", "lndmanage", "clboss_budget")
# `--backend cln`: the same strategies on Core Lightning semantics, and CLN's own feeadjuster plugin
CLN_STRATEGIES = STRATEGIES + ("feeadjuster",)
BACKENDS = ("lnd", "cln")
RESULT_STEM = {"lnd": "strategies", "cln": "strategies_cln"}  # bench/results/<stem>.md, .json, _revenue.png
LABELS = {
    "fee_autopilot": "Fee Autopilot",
    "static": "static fees",
    "charge_lnd": "charge-lnd proportional",
    "lndg": "LNDg auto-fees",
    "clboss": "CLBOSS/feeadjuster balance",
    "lndmanage": "lndmanage update-fees",
    "clboss_budget": "CLBOSS balance within the relay budget",
    "feeadjuster": "feeadjuster plugin (median)",
    "fee_autopilot_inbound": "Fee Autopilot, inbound discounts on",
}
# Fee Autopilot's own variants: run on request (`--strategies`), never counted as a baseline
FA_VARIANTS = ("fee_autopilot_inbound",)
CADENCE_HOURS = {
    "fee_autopilot": 1,  # the extension's default schedule (interval 60 min)
    "static": 10**9,
    "charge_lnd": charge_lnd.CADENCE_HOURS,
    "lndg": lndg.CADENCE_HOURS,
    "clboss": clboss.CADENCE_HOURS,
    "lndmanage": lndmanage.CADENCE_HOURS,
    "clboss_budget": clboss_budget.CADENCE_HOURS,
    "feeadjuster": feeadjuster.CADENCE_HOURS,  # event-driven: the hour's settled forwards, at its end
    "fee_autopilot_inbound": 1,
}
REPORT_SETS = (("2024", tuple(range(6, 16))), ("2026", tuple(range(1, 11))))
SIM_CHANNELS = 16  # simnode's default: 16 channels (15 active)
TUNING_SETS = (("2024", tuple(range(1, 6))),)
REPORT_DAYS = 30  # 4 regimes x 20 seeds x 7 strategies in < 30 min on 2 cores (measured: see the top)
TUNING_DAYS = 30
QUICK_DAYS = 7
REGIME_NOTES = {
    "stationary": "the model before regimes: the snapshot's competitors, fixed demand per peer, senders without "
                  "memory (they keep trying a drained channel).",
    "mission_control": "LND's default mission control at the senders: after a failure on our channel, the failing "
                       "sender class ({classes} classes, equal shares of demand) offers that channel only "
                       "1 − s·2^(−age/{half_life:g} min) of its demand for amounts at or above the failed one (s = 1 for "
                       "a liquidity failure, {fee_penalty:g} for a fee failure); it recovers with LND's one-hour "
                       "penalty half-life.",
    "competitors_move": "{balance:g} % of the competing last hops into each peer re-price by a balance rule every "
                        "{balance_h:g} h, {walk:g} % take a slow random walk once a day, and one of the five largest "
                        "steps its ppm ×0.5 or ×2 at a random time in the run; seeded and time-driven, the same for "
                        "every strategy. /v1/graph keeps serving the snapshot's competitor policies, so strategies "
                        "see the moves only through their own flow.",
    "demand_shifts": "demand × (1 + {amp:g}·cos(2π(hour − {peak:g})/24)) over UTC hours (an assumption), and at mid-run "
                     "(day {mid:g}) {peers} peers change: the direction of their demand flips or its size is halved "
                     "or doubled.",
}
SWITCH_PAGE_SIZE = 5000  # as node.py
LISTFORWARDS_PAGE = 5000  # as cln_node.py
ALIASES_FILTER = {"nodes": [{"nodeid": True, "alias": True}]}  # as cln_node.py
HISTORY_DAYS = 30  # the extension's history_days default
# Tuning only (`--fa-settings`): overrides for Fee Autopilot's EngineSettings; the report uses defaults.
FA_OVERRIDES: Dict[str, Any] = {}
# simnode's gossip realism (delayed, rate-limited policy propagation; simnode/README.md). On by default,
# the same for every strategy; `--no-gossip` turns it off (every update reaches every sender at once).
GOSSIP_REALISM: List[bool] = [True]


# --- the node, as a client sees it ---------------------------------------------------------
#
# A strategy reads and writes its node through one `Node`: LND REST (`Lnd`, simnode's `handle`) or
# Core Lightning JSON-RPC (`Cln`, simnode's `handle_cln`), both in-process. A Node also keeps what
# it has read, as the extension's store does: the forwarding history (LND: /v1/switch by time; CLN:
# listforwards by created_index) and the failed forwards (LND: the HTLC stream's link_fail_events;
# CLN: listforwards' local_failed entries, read with the same pages as the settled ones).

# (ts s, chan in, chan out, amt in sat, amt out sat, fee msat): a settled forward as ForwardBook keeps it
Event = Tuple[int, str, str, int, int, int]


class Node(abc.ABC):
    """One strategy's client of its SimNode: the reads the strategies need and the one write."""

    backend = ""  # "lnd" | "cln"
    wallet = ""  # the LNbits funding source the extension would run on (NodeSnapshot.backend)

    def __init__(self, sim: Any):
        self.sim = sim

    @abc.abstractmethod
    def info(self) -> Tuple[str, str, Optional[int]]:
        """(node id, alias, block height)."""

    @abc.abstractmethod
    def channels(self, our_id: str) -> List[Channel]:
        """Every channel with its complete local policy, as the extension reads them."""

    @abc.abstractmethod
    def forwards(self, now: int, since: int) -> List[Event]:
        """The settled forwards of [since, now] (seconds), oldest first."""

    @abc.abstractmethod
    def liquidity_failures(self, now: int, since: int) -> List[LinkFailure]:
        """The forwards that failed on our outgoing channel for lack of balance in [since, now]."""

    @abc.abstractmethod
    def policy(self, channel: Channel) -> Policy:
        """The channel's live local policy, read back before a write."""

    @abc.abstractmethod
    def policy_times(self, our_id: str) -> Dict[str, int]:
        """Per chan_id, when our policy was last updated, as the node tells (LNDg starts from it)."""

    @abc.abstractmethod
    def graph(self) -> NetworkGraph:
        """The public graph, as the extension reads it on this backend."""

    @abc.abstractmethod
    def send(self, channel: Channel, new: Policy) -> None:
        """Write `new` (the live policy with only what may change replaced); raise if refused."""

    def settings(self, settings: EngineSettings) -> EngineSettings:
        """Fee Autopilot's settings on this backend, as the shell (services.py) passes them."""
        return settings

    def write_fees(self, channel: Channel, base_msat: int, ppm: int, cltv_delta: Optional[int] = None,
                   inbound: Optional[Tuple[int, int]] = None) -> Tuple[Policy, Policy]:
        """Read the live policy, write it back with only the fees (and, where the backend has them,
        the cltv delta and the inbound fee) replaced; (live, written)."""
        from dataclasses import replace

        live = self.policy(channel)
        new = live.with_fees(base_msat, ppm)
        if cltv_delta is not None:
            new = replace(new, cltv_delta=cltv_delta)
        if inbound is not None:
            new = replace(new, inbound_base_msat=inbound[0], inbound_ppm=inbound[1])
        self.send(channel, new)
        return live, new


class Lnd(Node):
    """LND REST over simnode's in-process dispatcher; raises on an error answer."""

    backend = "lnd"
    wallet = "LndRestWallet"

    def __init__(self, sim: Any):
        from simnode import handle

        super().__init__(sim)
        self._handle = handle

    def get(self, path: str, query: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        q = {k: [v] for k, v in (query or {}).items()}
        return self._ok(self._handle(self.sim, "GET", path, q), path)

    def post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        return self._ok(self._handle(self.sim, "POST", path, body=body), path)

    @staticmethod
    def _ok(response: Any, path: str) -> Dict[str, Any]:
        data = response.json()
        if response.status >= 400:
            raise RuntimeError(f"{path}: HTTP {response.status} {data}")
        return data

    # the link_fail_events LND's HTLC event stream would have delivered since `since`, newest first
    def link_fail_events(self, since: int) -> List[Dict[str, Any]]:
        from simnode.lnd_api import htlc_event_json

        out = []
        for failure in reversed(self.sim.failed):
            if failure.ts_ns < since * 10**9:
                break
            if failure.reason != "INSUFFICIENT_BALANCE":
                continue
            out.append(htlc_event_json("link_fail", failure))
        return out

    # what LNDg's HTLC stream listener would have stored since `since`
    def link_failures(self, since: int) -> List[Tuple[int, str, int]]:
        return [(int(event["timestamp_ns"]) // 10**9, event["outgoing_channel_id"],
                 int(event["link_fail_event"]["info"]["outgoing_amt_msat"]) // 1000)
                for event in self.link_fail_events(since)]

    def info(self) -> Tuple[str, str, Optional[int]]:
        info = self.get("/v1/getinfo")
        return info["identity_pubkey"], info.get("alias", ""), info.get("block_height")

    def channels(self, our_id: str) -> List[Channel]:
        return read_channels(self, our_id)

    def forwards(self, now: int, since: int) -> List[Event]:
        return [(int(raw.get("timestamp_ns") or 0) // 10**9 or int(raw.get("timestamp") or 0),
                 str(raw.get("chan_id_in")), str(raw.get("chan_id_out")), int(raw["amt_in_msat"]) // 1000,
                 int(raw["amt_out_msat"]) // 1000, int(raw.get("fee_msat") or 0))
                for raw in read_forwards(self, now, start=since)]

    def liquidity_failures(self, now: int, since: int) -> List[LinkFailure]:
        return [f for f in (link_failure(e) for e in self.link_fail_events(since)) if f is not None and f.at <= now]

    def policy(self, channel: Channel) -> Policy:
        our_id = self.sim.pubkey
        live, _ = edge_policies(self.get(f"/v1/graph/edge/{channel.chan_id}"), our_id)
        return live

    def policy_times(self, our_id: str) -> Dict[str, int]:
        return {c.chan_id: c.local_policy.last_update or 0 for c in read_channels(self, our_id)
                if c.local_policy is not None}

    def graph(self) -> NetworkGraph:
        return graph_from_describegraph(self.get("/v1/graph"), int(self.sim.now))

    def send(self, channel: Channel, new: Policy) -> None:
        result = self.post("/v1/chanpolicy", chanpolicy_body(channel.channel_point, new))
        if result.get("failed_updates"):
            raise RuntimeError(f"chanpolicy {channel.chan_id}: {result['failed_updates']}")


def read_channels(lnd: Lnd, our_id: str) -> list:
    return channels_from_lnd(
        our_id,
        lnd.get("/v1/channels", {"peer_alias_lookup": "true"}),
        lnd.get("/v1/channels/pending"),
        lnd.get("/v1/channels/closed"),
        lnd.get("/v1/fees"),
        lnd.get(f"/v1/graph/node/{our_id}", {"include_channels": "true"}),
        lnd.get("/v1/peers"),
    )


def read_forwards(lnd: Lnd, now: int, start: int) -> list:
    """The forwarding events of [start, now], page by page."""
    events: list = []
    offset = 0
    while True:
        page = lnd.post("/v1/switch", {"start_time": str(start), "end_time": str(now),
                                       "index_offset": offset, "num_max_events": SWITCH_PAGE_SIZE})
        batch = page.get("forwarding_events", []) or []
        events += batch
        if len(batch) < SWITCH_PAGE_SIZE:
            return events
        offset = int(page.get("last_offset_index", offset + len(batch)))


class Cln(Node):
    """Core Lightning v25.12 JSON-RPC over simnode's in-process dispatcher (`handle_cln`), read as
    the extension reads it (cln_node.py, engine/ingest_cln.py); raises on an error answer.

    The forwarding history is synced as `forwards_store.sync_by_index` does: each read asks
    listforwards only for the entries after the last created_index read (pages of
    LISTFORWARDS_PAGE), `forward_page` turns them into the rows the extension stores (settled
    forwards; failed ones, `local_failed` failcode 4103 → INSUFFICIENT_BALANCE), and the time
    windows are answered from those rows (a settled forward at its resolved_time; amounts in sat
    per forward, the incoming one = out + fee, as crud.forward_sums adds them). simnode never lists
    an `offered` forward (they settle within its step), so the position is always the last entry."""

    backend = "cln"
    wallet = "CoreLightningWallet"

    def __init__(self, sim: Any):
        from simnode import handle_cln

        super().__init__(sim)
        self._handle = handle_cln
        self.position = 0  # the last created_index read
        self._settled: List[Tuple[int, Event]] = []  # (ts ns, event), by time
        self._failed: List[LinkFailure] = []  # by time
        self._aliases: Optional[Dict[str, str]] = None
        self.listforwards_starts: List[int] = []  # every listforwards page's `start` (the tests read them)

    def call(self, method: str, params: Optional[Dict[str, Any]] = None, filter: Any = None) -> Dict[str, Any]:
        reply = self._handle(self.sim, method, params or {}, filter=filter).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def info(self) -> Tuple[str, str, Optional[int]]:
        info = self.call("getinfo")
        return info["id"], info.get("alias", ""), info.get("blockheight")

    def aliases(self) -> Dict[str, str]:
        """listnodes filtered to ids and aliases (ALIASES_FILTER), read once: the extension reads it
        every cycle, but simnode's graph (and so every alias) is fixed for a run, and the whole
        node list on every tick of every strategy would be most of a run's time."""
        if self._aliases is None:
            self._aliases = aliases_from_listnodes(self.call("listnodes", filter=ALIASES_FILTER))
        return self._aliases

    def channels(self, our_id: str) -> List[Channel]:
        return channels_from_listpeerchannels(self.call("listpeerchannels"), self.aliases())

    def sync(self) -> None:
        """Read the listforwards entries after the last one read, page by page."""
        while True:
            start = self.position + 1
            self.listforwards_starts.append(start)
            entries = self.call("listforwards", {"index": "created", "start": start,
                                                 "limit": LISTFORWARDS_PAGE}).get("forwards") or []
            if entries:
                page = forward_page(entries)
                for row in page.settled:
                    self._add(self._settled, (row.ts_ns, (
                        row.ts_ns // 10**9, str(row.chan_in), str(row.chan_out),
                        (row.amt_out_msat + row.fee_msat) // 1000, row.amt_out_msat // 1000, row.fee_msat)))
                for f in page.failed:
                    self._add(self._failed, LinkFailure(
                        key=f"{f.chan_in}:{f.htlc_in}:{f.ts_ns}", ts_ns=f.ts_ns, chan_id_out=str(f.chan_out),
                        chan_id_in=str(f.chan_in), amount_msat=f.amount_msat, wire_failure=f.wire_failure,
                        failure_detail=f.failure_detail, htlc_in=f.htlc_in))
                self.position = max(self.position, page.last_index)
            if len(entries) < LISTFORWARDS_PAGE:
                return

    @staticmethod
    def _add(rows: list, row: Any) -> None:
        key = (lambda r: r[0]) if isinstance(row, tuple) else (lambda r: r.ts_ns)
        if rows and key(rows[-1]) > key(row):
            bisect.insort(rows, row, key=key)
        else:
            rows.append(row)

    def forwards(self, now: int, since: int) -> List[Event]:
        self.sync()
        lo = bisect.bisect_left(self._settled, since * 10**9, key=lambda r: r[0])
        hi = bisect.bisect_right(self._settled, now * 10**9, key=lambda r: r[0])
        return [event for _, event in self._settled[lo:hi]]

    def liquidity_failures(self, now: int, since: int) -> List[LinkFailure]:
        self.sync()
        lo = bisect.bisect_left(self._failed, since * 10**9, key=lambda f: f.ts_ns)
        hi = bisect.bisect_right(self._failed, now * 10**9, key=lambda f: f.ts_ns)
        return [f for f in self._failed[lo:hi] if f.lack_of_balance]

    def policy(self, channel: Channel) -> Policy:
        """listpeerchannels' `updates.local` of the one channel (the extension's read-back)."""
        scid = scid_from_chan_id(channel.chan_id)
        rows = channels_from_listpeerchannels(self.call("listpeerchannels", {"short_channel_id": scid}), {})
        live = next((c.local_policy for c in rows if c.chan_id == channel.chan_id), None)
        if live is None:
            raise RuntimeError(f"listpeerchannels {scid}: no policy of ours")
        return live

    def policy_times(self, our_id: str) -> Dict[str, int]:
        """listchannels of our own directions: listpeerchannels has no update time."""
        return {chan_id_from_scid(e["short_channel_id"]): int(e.get("last_update") or 0)
                for e in self.call("listchannels", {"source": our_id}).get("channels", [])}

    def graph(self) -> NetworkGraph:
        return graph_from_cln(self.call("listchannels"), self.call("listnodes"), int(self.sim.now))

    def settings(self, settings: EngineSettings) -> EngineSettings:
        return without_inbound_management(settings)

    def send(self, channel: Channel, new: Policy) -> None:
        """setchannel as the extension sends it (engine.ingest_cln.setchannel_params: the fee fields and
        the HTLC limits as they are; no cltv, no inbound fee; enforcedelay lightningd's default, 600 s),
        its answer read as the extension reads it: the channel listed at what was asked, unclamped."""
        if new.inbound_base_msat or new.inbound_ppm:
            raise RuntimeError("Core Lightning has no inbound fees")
        scid = scid_from_chan_id(channel.chan_id)
        answer = self.call("setchannel", setchannel_params(scid, new))
        if not is_setchannel_answer(answer) or setchannel_left_out(answer, scid):
            raise RuntimeError(f"setchannel {scid}: {answer}")
        problem = setchannel_problem(answer, scid, new)
        if problem:
            raise RuntimeError(f"setchannel {scid}: {problem}")

    def write_fees(self, channel: Channel, base_msat: int, ppm: int, cltv_delta: Optional[int] = None,
                   inbound: Optional[Tuple[int, int]] = None) -> Tuple[Policy, Policy]:
        """As for LND, without a cltv delta (a baseline's, e.g. lndmanage's 40, is not written:
        Core Lightning sets it node-wide); an inbound fee is refused."""
        if inbound is not None:
            raise RuntimeError("Core Lightning has no inbound fees")
        return super().write_fees(channel, base_msat, ppm)


NODES = {cls.backend: cls for cls in (Lnd, Cln)}


class ForwardBook:
    """The forwarding history a strategy keeps, as the extension (forwards_store.py) and LNDg keep
    theirs: each tick asks its Node only for the new events, [last read, now] (LND: a `/v1/switch`
    window; CLN: the rows of the listforwards entries after the last created_index read), and keeps
    the sums of every flow window up to date (events enter at the front, leave at the back). Its
    flows are `aggregate_forwards` of a full read of the window at the same second (a test checks
    it); re-reading 30 days every hour was most of a run's time."""

    def __init__(self) -> None:
        self.windows = sorted(FLOW_WINDOWS_DAYS)
        self.read_to: Optional[int] = None
        # (ts s, chan in, chan out, amt in sat, amt out sat, fee msat), oldest first
        self.events: List[Tuple[int, str, str, int, int, int]] = []
        self.start = {days: 0 for days in self.windows}  # first event inside each window
        self.sums: Dict[int, Dict[str, List[int]]] = {days: {} for days in self.windows}

    def _add(self, days: int, event: Tuple[int, str, str, int, int, int], sign: int) -> None:
        _, chan_in, chan_out, amt_in, amt_out, fee = event
        sums = self.sums[days]
        for chan, deltas in ((chan_out, (1, 0, amt_out, 0, fee, 0)), (chan_in, (0, 1, 0, amt_in, 0, fee))):
            acc = sums.setdefault(chan, [0, 0, 0, 0, 0, 0])
            for i, d in enumerate(deltas):
                acc[i] += sign * d
            if acc[0] == 0 and acc[1] == 0:  # no forward left in the window: as if never seen
                del sums[chan]

    def flows(self, node: Node, now: int) -> Dict[str, Dict[int, Any]]:
        since = now - max(self.windows) * 86400 if self.read_to is None else self.read_to
        known = len(self.events)
        self.events += node.forwards(now, since)
        self.read_to = now
        # Events are oldest first. A window's sums hold the known events from start[days] on: the
        # ones it has passed leave them, then the new ones still inside it enter.
        for days in self.windows:
            i, edge = self.start[days], now - days * 86400
            while i < known and self.events[i][0] < edge:
                self._add(days, self.events[i], -1)
                i += 1
            if i == known:  # every known event has left: skip the new ones already outside
                while i < len(self.events) and self.events[i][0] < edge:
                    i += 1
            for event in self.events[max(i, known):]:
                self._add(days, event, +1)
            self.start[days] = i
        per_chan: Dict[str, Dict[int, List[int]]] = {}
        for days, sums in self.sums.items():
            for chan, acc in sums.items():
                per_chan.setdefault(chan, {})[days] = acc
        return flows_from_sums(per_chan)


def take_snapshot(node: Node, graph: Optional[NetworkGraph], failed_forwards: bool = False,
                  book: Optional[ForwardBook] = None) -> NodeSnapshot:
    """What `node.NodeGateway.snapshot` builds on the Node's backend, from the same answers; with
    `failed_forwards`, the channels' `failed_out_*` of the last 24 h, through the engine's own
    rule (`failed_out_by_channel`): on LND from the HTLC stream's link_fail_events (the ones LNDg's
    baseline reads, parsed by `link_failure` as the shell's listener does), on CLN from listforwards'
    local_failed entries (`forward_page`, as the shell's sync stores them). With a `book`, the
    forwards come from it (only the new ones are read); without, the whole window is read."""
    our_id, alias, block_height = node.info()
    now = int(node.sim.now)
    channels = node.channels(our_id)
    flows = (book if book is not None else ForwardBook()).flows(node, now)
    channels = with_flows(channels, flows, FLOW_WINDOWS_DAYS)
    if failed_forwards:
        failures = node.liquidity_failures(now, now - FAILED_OUT_WINDOW_S)
        channels = with_failed_out(channels, failed_out_by_channel(failures, now))
    return NodeSnapshot(
        node_id=our_id, alias=alias, taken_at=now, block_height=block_height,
        channels=tuple(channels), graph=graph, backend=node.wallet,
        sources={"channels": True, "policies": True, "forwards": True, "graph": graph is not None,
                 **({"htlc_events": True} if failed_forwards else {})},
    )


# --- strategies -----------------------------------------------------------------------------


class Strategy(abc.ABC):
    name = ""

    def __init__(self, node: Node, ctx: "SeedContext"):
        self.node = node
        self.ctx = ctx
        self.our_id = ctx.node_id
        self.book = ForwardBook()

    @abc.abstractmethod
    def tick(self, now: int) -> None:
        """Called at the strategy's cadence: read the node, write policies."""

    def apply(self, settings: Sequence[FeeSetting], channels: Sequence[Channel]) -> None:
        by_id = {c.chan_id: c for c in channels}
        for s in settings:
            self.node.write_fees(by_id[s.chan_id], s.base_msat, s.ppm, s.cltv_delta)


class StaticFees(Strategy):
    name = "static"

    def tick(self, now: int) -> None:
        pass


class ChargeLnd(Strategy):
    name = "charge_lnd"

    def tick(self, now: int) -> None:
        channels = self.node.channels(self.our_id)
        self.apply(charge_lnd.propose(channels), channels)


class Lndg(Strategy):
    name = "lndg"

    def __init__(self, node: Node, ctx: "SeedContext"):
        super().__init__(node, ctx)
        self.fees_updated: Dict[str, int] = {}

    def tick(self, now: int) -> None:
        snap = take_snapshot(self.node, None, book=self.book)
        if any(c.chan_id not in self.fees_updated and c.local_policy is not None for c in snap.channels):
            times = self.node.policy_times(self.our_id)
            for c in snap.channels:
                if c.chan_id not in self.fees_updated and c.local_policy is not None:
                    self.fees_updated[c.chan_id] = times.get(c.chan_id, 0)
        failures = [(f.at, f.chan_id_out, f.amount_msat // 1000)
                    for f in self.node.liquidity_failures(now, now - lndg.UPDATE_HOURS * 3600)]
        settings = lndg.propose(snap.channels, self.fees_updated, failures, now)
        self.apply(settings, snap.channels)
        for s in settings:
            self.fees_updated[s.chan_id] = now


class Clboss(Strategy):
    name = "clboss"

    def tick(self, now: int) -> None:
        channels = self.node.channels(self.our_id)
        self.apply(clboss.propose(channels, self.ctx.medians), channels)


class ClbossBudget(Strategy):
    name = "clboss_budget"

    def __init__(self, node: Node, ctx: "SeedContext"):
        super().__init__(node, ctx)
        self.sent: Dict[str, List[ChangeRecord]] = {}

    def tick(self, now: int) -> None:
        channels = self.node.channels(self.our_id)
        settings = clboss_budget.propose(channels, self.ctx.medians, self.sent, now)
        self.apply(settings, channels)
        for s in settings:
            # only the times count for the bucket
            self.sent.setdefault(s.chan_id, []).append(ChangeRecord(s.chan_id, now, 0, s.ppm))


class FeeAdjuster(Strategy):
    """CLN's feeadjuster plugin: every channel at the first tick (the plugin's start), then the
    channels that had a settled forward since the previous tick (its forward_event), each at its
    balance now; a channel's balance at its last change is the plugin's state."""

    name = "feeadjuster"

    def __init__(self, node: Node, ctx: "SeedContext"):
        super().__init__(node, ctx)
        self.last_local: Dict[str, int] = {}
        self.read_to: Optional[int] = None
        self.competitors: Optional[Dict[str, List[Tuple[int, int]]]] = None

    def tick(self, now: int) -> None:
        channels = self.node.channels(self.our_id)
        if self.competitors is None:  # listchannels destination=<peer>: other nodes' fees stay as gossiped
            self.competitors = feeadjuster.competitor_fees(self.ctx.graph, self.our_id, {c.peer_id for c in channels})
        touched = None if self.read_to is None else \
            {chan for event in self.node.forwards(now, self.read_to) for chan in (event[1], event[2])}
        self.read_to = now
        settings = feeadjuster.propose(channels, self.competitors, self.last_local, touched)
        self.apply(settings, channels)
        local = {c.chan_id: c.local_sat for c in channels}
        for s in settings:
            self.last_local[s.chan_id] = local[s.chan_id]


class Lndmanage(Strategy):
    name = "lndmanage"

    def tick(self, now: int) -> None:
        snap = take_snapshot(self.node, None, book=self.book)
        self.apply(lndmanage.propose(snap.channels), snap.channels)


class FeeAutopilot(Strategy):
    name = "fee_autopilot"
    extra_settings: Dict[str, Any] = {}

    def __init__(self, node: Node, ctx: "SeedContext"):
        super().__init__(node, ctx)
        overrides = _merge(self.extra_settings, FA_OVERRIDES)
        settings = EngineSettings.from_dict(_merge(EngineSettings().to_dict(), overrides)) \
            if overrides else EngineSettings()
        self.settings = node.settings(settings)
        self.history: List[ChangeRecord] = []
        self.inbound_written: Dict[str, Tuple[int, int]] = {}  # chan_id -> the inbound fee our last change wrote

    def tick(self, now: int) -> None:
        snap = take_snapshot(self.node, self.ctx.graph, failed_forwards=True, book=self.book)
        history = [r for r in self.history if r.at >= now - HISTORY_DAYS * 86400]
        # what the shell passes: channels whose live inbound fee is the one we wrote last
        ours = frozenset(c.chan_id for c in snap.channels if c.local_policy is not None
                         and self.inbound_written.get(c.chan_id) == (c.local_policy.inbound_base_msat,
                                                                     c.local_policy.inbound_ppm))
        evaluation = evaluate(snap, self.settings, history, self.ctx.metrics, now, inbound_ours=ours)
        by_id = {c.chan_id: c for c in snap.channels}
        for a in evaluation.accepted:
            new = a.new_policy
            inbound = (new.inbound_base_msat, new.inbound_ppm) if a.proposal.inbound_changed else None
            live, written = self.node.write_fees(by_id[a.chan_id], new.base_msat, new.ppm, inbound=inbound)
            if inbound is not None:
                self.inbound_written[a.chan_id] = inbound
            self.history.append(ChangeRecord(chan_id=a.chan_id, at=now, old_ppm=live.ppm, new_ppm=written.ppm,
                                             old_base_msat=live.base_msat, new_base_msat=written.base_msat))


class FeeAutopilotInbound(FeeAutopilot):
    """Fee Autopilot with inbound management on (`inbound.manage` "on"): hand-set inbound fees
    (simnode gives two channels one) stay; the others get the engine's inbound discount."""

    name = "fee_autopilot_inbound"
    extra_settings = {"inbound": {"manage": "on"}}


def _merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


CLASSES = {cls.name: cls for cls in (FeeAutopilot, StaticFees, ChargeLnd, Lndg, Clboss, Lndmanage, ClbossBudget,
                                     FeeAdjuster, FeeAutopilotInbound)}


# --- one seed -------------------------------------------------------------------------------


@dataclass
class SeedContext:
    graph_name: str
    seed: int
    node_id: str
    graph: NetworkGraph
    metrics: Any
    medians: Dict[str, Tuple[float, float, int]]
    backend: str = "lnd"  # the face every strategy of the seed reads and writes through (NODES)


_GRAPHS: Dict[str, Any] = {}


def sim_graph(name: str) -> Any:
    """`name`: a shortcut (`2024`, `2026`), a file in refdata/lngraph/ or a snapshot's path (see the top)."""
    from simnode import load_graph, resolve_graph_path

    if name not in _GRAPHS:
        _GRAPHS[name] = load_graph(resolve_graph_path(name))
    return _GRAPHS[name]


def check_graph(name: str) -> Optional[str]:
    """Load `--graph` once, before any worker starts: None if simnode can use it, else the one-line reason."""
    from simnode.graph import GraphFormatError, check_room_for_node

    try:
        check_room_for_node(sim_graph(name), SIM_CHANNELS)
    except (FileNotFoundError, GraphFormatError) as exc:
        return str(exc)
    return None


def graph_label(name: str) -> str:
    """How the report names a graph: the shortcut, or the snapshot file's name."""
    from simnode.graph import GRAPH_SHORTCUTS

    return name if name in GRAPH_SHORTCUTS else Path(name).name


def graph_note(name: str) -> str:
    """A line for the report about a graph that is not one of the committed snapshots."""
    import hashlib

    g = sim_graph(name)
    digest = hashlib.sha256(Path(g.path).read_bytes()).hexdigest()[:16]
    return (f"Graph `{graph_label(name)}`: {len(g.edges):,} channels, {len(g.node_edges):,} nodes, sha256 {digest}…, "
            f"snapshot date {g.snapshot_date} (from the {g.snapshot_date_source}).")


def cache_key(name: str) -> str:
    """`--cache` file-name part for a graph: the shortcut, or the snapshot file's name and content hash."""
    import hashlib
    import re

    from simnode.graph import GRAPH_SHORTCUTS

    if name in GRAPH_SHORTCUTS:
        return name
    path = Path(sim_graph(name).path)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)[:40]
    return f"{stem}-{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def new_sim(graph_name: str, seed: int, regime: str = "stationary", days: float = 30.0) -> Any:
    """The seed's SimNode under `regime`; `days` places the regime's timed events (mid-run = days / 2)."""
    from simnode import SimNode, TrafficParams

    return SimNode(sim_graph(graph_name), seed=seed, channels=SIM_CHANNELS,
                   params=TrafficParams(history_days=14, gossip_realism=GOSSIP_REALISM[0], regime=regime,
                                        regime_days=days))


CACHE_DIR: List[str] = []  # `--cache DIR`: keep seed contexts (graph, metrics) between runs while tuning


def _read_only(data: Dict[Any, Any]) -> Any:
    import types

    return types.MappingProxyType(data)


def seed_context(graph_name: str, seed: int, with_metrics: bool, backend: str = "lnd") -> SeedContext:
    if CACHE_DIR:
        import copyreg
        import pickle
        import types

        # the graph and metrics hold read-only mappings (MappingProxyType), which pickle cannot store as such
        copyreg.pickle(types.MappingProxyType, lambda m: (_read_only, (dict(m),)))
        face = "" if backend == "lnd" else f"{backend}-"
        path = Path(CACHE_DIR[0]) / f"ctx-{face}{cache_key(graph_name)}-{seed}-{int(with_metrics)}.pickle"
        if path.exists():
            return pickle.loads(path.read_bytes())
        ctx = _seed_context(graph_name, seed, with_metrics, backend)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(ctx))
        return ctx
    return _seed_context(graph_name, seed, with_metrics, backend)


def _seed_context(graph_name: str, seed: int, with_metrics: bool, backend: str = "lnd") -> SeedContext:
    """The seed's graph as the backend's face serves it (LND: describegraph; CLN: listchannels +
    listnodes), its metrics and the competitors' medians into our peers."""
    node = NODES[backend](new_sim(graph_name, seed))
    our_id = node.info()[0]
    graph = node.graph()
    metrics = compute_graph_metrics(graph, our_id, EngineSettings().graph) if with_metrics else None
    peers = [c.peer_id for c in node.channels(our_id) if c.state in (ACTIVE, INACTIVE)]
    medians = competitor_medians(graph, our_id, peers)
    return SeedContext(graph_name, seed, our_id, graph, metrics, medians, backend)


def measure(sim: Any) -> Dict[str, int]:
    """Ground truth now (cumulative counters; shares of active channels)."""
    low = high = 0
    for c in sim.channels:
        if not c.active:
            continue
        total = c.local_msat + c.remote_msat
        share = c.local_msat / total if total else 0.0
        low += share < 0.10
        high += share > 0.90
    return {
        "revenue_msat": sum(c.revenue_msat for c in sim.channels),
        "volume_msat": sum(c.fwd_out_msat for c in sim.channels),
        "forwards": sum(c.fwd_out for c in sim.channels),
        "failed_out": sum(c.failed_out for c in sim.channels),
        "failed_fee": sum(c.failed_fee for c in sim.channels),
        "suppressed": sum(c.gossip_suppressed for c in sim.channels),
        "low": low,
        "high": high,
        "active": sum(1 for c in sim.channels if c.active),
    }


def update_stats(sim: Any, start: int, end: int) -> Dict[str, float]:
    active = [c for c in sim.channels if c.active]
    days = (end - start) / 86400
    total = 0
    max24 = 0
    for c in sim.channels:
        times = sorted(t for t in c.update_times if t >= start)
        total += len(times)
        j = 0
        for i, t in enumerate(times):
            while times[j] <= t - 86400:
                j += 1
            max24 = max(max24, i - j + 1)
    reversals = 0
    last: Dict[str, int] = {}
    for entry in sim.policy_log:
        if entry["time"] < start:
            continue
        d = (entry["new"]["ppm"] > entry["old"]["ppm"]) - (entry["new"]["ppm"] < entry["old"]["ppm"])
        if d == 0:
            continue
        prev = last.get(entry["chan_id"])
        if prev is not None and prev != d:
            reversals += 1
        last[entry["chan_id"]] = d
    return {
        "updates": total,
        "updates_per_channel_day": total / max(1, len(active)) / days if days > 0 else 0.0,
        "max_updates_24h": max24,
        "reversals": reversals,
    }


def run_strategy(name: str, ctx: SeedContext, days: float, regime: str = "stationary") -> Dict[str, Any]:
    sim = new_sim(ctx.graph_name, ctx.seed, regime, days)
    strategy = CLASSES[name](NODES[ctx.backend](sim), ctx)
    start = int(sim.now)
    base = measure(sim)
    cadence = CADENCE_HOURS[name]
    hours = int(round(days * 24))
    low_hours = high_hours = channel_hours = 0
    revenue_curve = [0.0]
    t0, c0 = time.time(), time.process_time()
    for hour in range(hours):
        if hour % cadence == 0:
            strategy.tick(int(sim.now))
        sim.advance(hours=1)
        m = measure(sim)
        low_hours += m["low"]
        high_hours += m["high"]
        channel_hours += m["active"]
        revenue_curve.append((m["revenue_msat"] - base["revenue_msat"]) / 1000)
    end = int(sim.now)
    m = measure(sim)
    result = {
        "strategy": name, "graph": ctx.graph_name, "seed": ctx.seed, "days": days, "regime": regime,
        **({} if ctx.backend == "lnd" else {"backend": ctx.backend}),
        "fees_sat": (m["revenue_msat"] - base["revenue_msat"]) / 1000,
        "volume_sat": (m["volume_msat"] - base["volume_msat"]) / 1000,
        "forwards": m["forwards"] - base["forwards"],
        "failed_out": m["failed_out"] - base["failed_out"],
        "failed_fee": m["failed_fee"] - base["failed_fee"],
        "updates_not_relayed": m["suppressed"] - base["suppressed"],
        "hours_below_10": low_hours,
        "hours_above_90": high_hours,
        "revenue_curve": revenue_curve,
        "seconds": round(time.time() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),  # the simnode and strategy work, whatever else runs
    }
    result.update(update_stats(sim, start, end))
    result["pct_hours_below_10"] = 100 * low_hours / channel_hours if channel_hours else 0.0
    result["pct_hours_above_90"] = 100 * high_hours / channel_hours if channel_hours else 0.0
    # None without updates (static fees): a ratio with nothing to divide by
    result["fees_per_update"] = result["fees_sat"] / result["updates"] if result["updates"] else None
    return result


def run_seed(job: Tuple[Any, ...]) -> List[Dict[str, Any]]:
    """Every regime and strategy of one (graph, seed); the context (graph, metrics) is built once for all.
    `job`: (graph, seed, days, strategies, regimes[, backend]), the backend "lnd" unless named."""
    graph_name, seed, days, names, regimes, *rest = job
    backend = rest[0] if rest else "lnd"
    t0, c0 = time.time(), time.process_time()
    ctx = seed_context(graph_name, seed, with_metrics=any(n == "fee_autopilot" or n in FA_VARIANTS for n in names),
                       backend=backend)
    setup, setup_cpu = time.time() - t0, time.process_time() - c0
    results: List[Dict[str, Any]] = []
    for regime in regimes:
        rows = [run_strategy(name, ctx, days, regime) for name in names]
        for r in rows:
            r["setup_cpu_seconds"] = round(setup_cpu, 2)  # once per seed, shared by its regimes
        results += rows
        face = "" if backend == "lnd" else f" ({backend})"
        print(f"  {graph_label(graph_name)} seed {seed} {regime}{face}: setup {setup:.0f} s (cpu {setup_cpu:.0f} s), "
              + ", ".join(f"{r['strategy']} {r['fees_sat']:.0f} sat ({r['seconds']:.0f} s, cpu {r['cpu_seconds']:.0f} s)"
                          for r in rows), flush=True)
    return results


# --- report -----------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> Tuple[float, float, float]:
    return statistics.fmean(values), min(values), max(values)


def fmt(x: float, digits: int = 0) -> str:
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


METRICS = (
    ("fees_sat", "fees earned (sat)", 0),
    ("volume_sat", "forwarded volume (sat)", 0),
    ("failed_out", "liquidity-failed forwards", 0),
    ("failed_fee", "fee-insufficient failures", 0),
    ("hours_below_10", "channel-hours < 10 % local", 0),
    ("hours_above_90", "channel-hours > 90 % local", 0),
    ("pct_hours_below_10", "% of channel-hours < 10 % local", 1),
    ("pct_hours_above_90", "% of channel-hours > 90 % local", 1),
    ("updates_per_channel_day", "updates / channel / day", 2),
    ("max_updates_24h", "max updates, one channel, 24 h", 0),
    ("updates_not_relayed", "updates not relayed (CLN budget)", 0),
    ("fees_per_update", "fees per update (sat)", 0),
    ("reversals", "direction reversals", 0),
)


def by_strategy(results: Sequence[Dict[str, Any]], graph: Optional[str] = None) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for r in results:
        if graph is None or r["graph"] == graph:
            out.setdefault(r["strategy"], []).append(r)
    for rows in out.values():
        rows.sort(key=lambda r: (r["graph"], r["seed"]))
    return out


def table(results: Sequence[Dict[str, Any]], names: Sequence[str], title: str) -> List[str]:
    groups = by_strategy(results)
    lines = [f"### {title}", "", "mean [min – max] over seeds", ""]
    header = "| strategy | " + " | ".join(label for _, label, _ in METRICS) + " |"
    lines += [header, "|" + "---|" * (len(METRICS) + 1)]
    for name in names:
        rows = groups.get(name)
        if not rows:
            continue
        cells = []
        for key, _, digits in METRICS:
            values = [r[key] for r in rows if r.get(key) is not None]
            if not values:  # e.g. fees per update of a strategy that never updates
                cells.append("–")
                continue
            mean, lo, hi = spread(values)
            cells.append(f"{fmt(mean, digits)} [{fmt(lo, digits)} – {fmt(hi, digits)}]")
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    lines.append("")
    if "fee_autopilot" in groups:
        fa = {(r["graph"], r["seed"]): r for r in groups["fee_autopilot"]}
        lines += ["Fee Autopilot ÷ baseline, per seed (fees earned): mean [min – max], seeds where it earns more", "",
                  "| baseline | ratio of fees | FA earns more | ratio of liquidity-failed forwards |", "|---|---|---|---|"]
        for name in names:
            if name == "fee_autopilot" or name not in groups:
                continue
            ratios, failed_ratios, wins = [], [], 0
            for r in groups[name]:
                mine = fa.get((r["graph"], r["seed"]))
                if mine is None:
                    continue
                ratios.append(mine["fees_sat"] / r["fees_sat"] if r["fees_sat"] > 0 else math.inf)
                failed_ratios.append(mine["failed_out"] / r["failed_out"] if r["failed_out"] > 0 else math.inf)
                wins += mine["fees_sat"] > r["fees_sat"]
            finite = [x for x in ratios if math.isfinite(x)] or [0.0]
            ffinite = [x for x in failed_ratios if math.isfinite(x)] or [0.0]
            lines.append(f"| {LABELS[name]} | {statistics.fmean(finite):.2f} [{min(finite):.2f} – {max(finite):.2f}] | "
                         f"{wins}/{len(ratios)} | {statistics.fmean(ffinite):.2f} [{min(ffinite):.2f} – {max(ffinite):.2f}] |")
        lines.append("")
    return lines


def verdict(results: Sequence[Dict[str, Any]], names: Sequence[str]) -> List[str]:
    groups = by_strategy(results)
    if "fee_autopilot" not in groups:
        return []
    means = {n: statistics.fmean(r["fees_sat"] for r in groups[n]) for n in names if n in groups}
    failed = {n: statistics.fmean(r["failed_out"] for r in groups[n]) for n in names if n in groups}
    baselines = [n for n in means if n != "fee_autopilot" and n not in FA_VARIANTS]
    if not baselines:
        return []
    best = max(baselines, key=lambda n: means[n])
    fa = means["fee_autopilot"]
    upd = statistics.fmean(r["updates_per_channel_day"] for r in groups["fee_autopilot"])
    unrelayed = sum(r["updates_not_relayed"] for r in groups["fee_autopilot"])
    ratio = fa / means[best] if means[best] > 0 else math.inf
    return [
        f"- best baseline on mean fees: **{LABELS[best]}** ({fmt(means[best])} sat); Fee Autopilot {fmt(fa)} sat → "
        f"**{ratio:.2f}×** (goal ≥ 1.25×: {'met' if ratio >= 1.25 else 'NOT met'})",
        f"- Fee Autopilot updates per channel per day: {upd:.2f} (goal ≤ 2: {'met' if upd <= 2 else 'NOT met'})",
        f"- Fee Autopilot updates CLN would not relay: {unrelayed} over all seeds (goal 0: "
        f"{'met' if unrelayed == 0 else 'NOT met'})",
        f"- liquidity-failed forwards: Fee Autopilot {fmt(failed['fee_autopilot'])} vs best baseline {fmt(failed[best])} "
        f"(goal ≤: {'met' if failed['fee_autopilot'] <= failed[best] else 'NOT met'})",
    ]


CLN_GOSSIP_NOTE = (" On Core Lightning the node's own updates are not rate-limited by its own gossipd (v24.02 and later "
                   "have no token bucket, v25.12 relays every valid update): simnode's bucket stands for the older CLN "
                   "relays in the network that part of the senders depend on, the same for both faces.")


def gossip_note(backend: str = "lnd") -> str:
    from simnode import TrafficParams

    if not GOSSIP_REALISM[0]:
        return "Gossip realism OFF (`--no-gossip`): every policy update reaches every sender at once."
    if backend != "lnd":
        return gossip_note() + CLN_GOSSIP_NOTE
    p = TrafficParams()
    lags = " / ".join(f"{m:g} min" for m in p.gossip_lag_minutes)
    shares = " / ".join(f"{w * 100:g}" for w in p.gossip_lag_weights)
    return (f"Gossip realism ON (simnode default, identical for every strategy): a policy update reaches senders after "
            f"{lags} ({shares} % of demand); {p.gossip_limited_share * 100:g} % of senders learn only the updates "
            f"CLN's per-channel token bucket relays (+{p.gossip_tokens_per_hour:g} token/h, {p.gossip_update_cost:g} per "
            f"update, max {p.gossip_bucket_max:g}: 2/day, burst 4); senders route by the fee they believe; a fee below "
            f"ours fails FEE_INSUFFICIENT and {p.fee_retry_share * 100:g} % of those senders retry once with our policy "
            "from the error; overpayments are kept. See `simnode/README.md`.")


def backend_note(backend: str) -> str:
    """What `--backend cln` changes (nothing to say for LND, the harness's original face)."""
    if backend == "lnd":
        return ""
    return ("Core Lightning semantics (`--backend cln`): every strategy reads and writes its node through simnode's "
            "Core Lightning v25.12 JSON-RPC face (in-process, `simnode.handle_cln`), as the extension reads CLN "
            "(`cln_node.py`, `engine/ingest_cln.py`): `getinfo`, `listpeerchannels` (balances and our complete policies "
            "from `updates.local`), `listforwards index=created` from the entry after the last one read (settled "
            "forwards, and `local_failed` ones: failcode 4103 `WIRE_TEMPORARY_CHANNEL_FAILURE` counts as lack of "
            "balance, its amount the HTLC's `in_msat`), `listchannels source=<us>` (LNDg's last update times), and "
            "the graph from `listchannels` + `listnodes` once per seed. Every write is one `setchannel` with the fee "
            "fields and the channel's current `htlcmin`/`htlcmax` (so they stay exactly as they are), no cltv delta "
            "(node-wide on CLN: lndmanage's cltv 40 is not written) and no inbound fee (CLN has none; Fee Autopilot "
            "runs with inbound management off, as the shell does on CLN); `enforcedelay` stays at lightningd's "
            "default: after a raise the previous fee is still accepted for 600 simulated seconds (LND: the new fee "
            "holds at once), and a setchannel that changes nothing is no channel_update (not counted as an update). "
            "Fee Autopilot's snapshot comes from the extension's CLN ingest (`channels_from_listpeerchannels`, "
            "`forward_page`) and the engine's `failed_out_by_channel`. CLBOSS and the feeadjuster plugin are Core "
            "Lightning's own tools; charge-lnd, LNDg and lndmanage are LND tools, run with their rules on this node. "
            "feeadjuster runs with its defaults except the fee strategy `median` (the peer's other channels' median "
            "ppm × 50^(0.5 − our share), base fee lightningd's 1000 msat) and fuzz off, at the start and then on the "
            "channels of each hour's settled forwards once their balance moved 5 % or 0.001 BTC "
            "(`engine/baselines/feeadjuster.py`).")


def regime_note(regime: str, days: float) -> str:
    """One sentence on what the regime changes, with simnode's default parameters."""
    from simnode import TrafficParams

    p = TrafficParams()
    return REGIME_NOTES[regime].format(
        classes=p.mc_sender_classes, half_life=p.mc_penalty_half_life_minutes, fee_penalty=p.mc_fee_failure_penalty,
        balance=p.comp_balance_share * 100, balance_h=p.comp_balance_hours, walk=p.comp_walk_share * 100,
        amp=p.rhythm_amplitude, peak=p.rhythm_peak_hour_utc, mid=p.shift_at_fraction * days, peers=p.shift_peers)


def summary_table(results: Sequence[Dict[str, Any]], names: Sequence[str], regimes: Sequence[str]) -> List[str]:
    """One row per regime: the best baseline on mean fees, Fee Autopilot against it and the other goals."""
    lines = ["| regime | best baseline (mean fees, sat) | Fee Autopilot (sat) | ratio (goal ≥ 1.25) | "
             "FA updates / channel / day (≤ 2) | FA updates not relayed (0) | liquidity-failed: FA vs best (≤) |",
             "|---|---|---|---|---|---|---|"]
    for regime in regimes:
        groups = by_strategy([r for r in results if r.get("regime") == regime])
        if "fee_autopilot" not in groups or len(groups) < 2:
            continue
        means = {n: statistics.fmean(r["fees_sat"] for r in groups[n]) for n in names if n in groups}
        others = [n for n in means if n != "fee_autopilot" and n not in FA_VARIANTS]
        if not others:
            continue
        best = max(others, key=lambda n: means[n])
        fa = groups["fee_autopilot"]
        ratio = means["fee_autopilot"] / means[best] if means[best] > 0 else math.inf
        failed_fa = statistics.fmean(r["failed_out"] for r in fa)
        failed_best = statistics.fmean(r["failed_out"] for r in groups[best])
        lines.append(f"| `{regime}` | {LABELS[best]} ({fmt(means[best])}) | {fmt(means['fee_autopilot'])} | "
                     f"**{ratio:.2f}×** | {statistics.fmean(r['updates_per_channel_day'] for r in fa):.2f} | "
                     f"{sum(r['updates_not_relayed'] for r in fa)} | {fmt(failed_fa)} vs {fmt(failed_best)} |")
    return lines + [""]


def regime_section(results: Sequence[Dict[str, Any]], names: Sequence[str], graphs: Sequence[str],
                   regime: str, days: float) -> List[str]:
    """The goal check and the tables of one regime."""
    rows = [r for r in results if r.get("regime") == regime]
    lines = [f"## Regime `{regime}`", "", regime_note(regime, days), "", "### Goal check", ""]
    lines += verdict(rows, names)
    lines.append("")
    if len(graphs) > 1:
        lines += table(rows, names, f"{regime}: all seeds")
    for g in graphs:
        lines += table([r for r in rows if r["graph"] == g], names, f"{regime}: {graph_label(g)} graph")
    for g in graphs:
        lines += [f"### {regime}: fees earned per seed, {graph_label(g)} graph (sat)", "",
                  "| seed | " + " | ".join(LABELS[n] for n in names) + " |", "|" + "---|" * (len(names) + 1)]
        groups = by_strategy(rows, g)
        for seed in sorted({r["seed"] for r in rows if r["graph"] == g}):
            cells = []
            for n in names:
                match = [r for r in groups.get(n, []) if r["seed"] == seed]
                cells.append(fmt(match[0]["fees_sat"]) if match else "–")
            lines.append(f"| {seed} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def write_markdown(results: Sequence[Dict[str, Any]], names: Sequence[str], sets: Sequence[Tuple[str, Sequence[int]]],
                   days: float, elapsed: float, path: Path, command: str,
                   regimes: Sequence[str] = ("stationary",), backend: str = "lnd") -> None:
    from simnode.graph import GRAPH_SHORTCUTS

    report_length = (f" All {len(REGIMES)} regimes run on all 20 report seeds for {REPORT_DAYS} days, the tuning runs' "
                     "length." if tuple(sets) == REPORT_SETS and days == REPORT_DAYS else "")
    title = "# Fee Autopilot vs baseline fee strategies on simnode" + \
        ("" if backend == "lnd" else ", Core Lightning semantics")
    lines = [title, "",
             f"Generated by `{command}` in {elapsed / 60:.1f} min. {days:g} simulated days per run, the same SimNode "
             "seed for every strategy (same node, peers, balances, initial policies and traffic RNG), "
             "16 channels (15 active). Fee Autopilot runs `engine.evaluate` at default `EngineSettings()` every hour; "
             "baselines at their natural cadence (see `engine/baselines/`)." + report_length, "",
             gossip_note(backend), "",
             *([backend_note(backend), ""] if backend != "lnd" else []),
             "Market regimes (simnode `TrafficParams.regime`, sources in `simnode/README.md` \"Market regimes\"), "
             "each run on the same seeds and reported separately: " + ", ".join(f"`{r}`" for r in regimes) + ". "
             "A regime is a rule of the market, the same whoever sets the fees; the 14 days of history before the "
             "start run under it too (timed events — competitor moves, the mid-run change — start at the start).", "",
             "Seeds: " + "; ".join(f"{graph_label(g)} graph seeds {s[0]}–{s[-1]}" for g, s in sets) +
             (" (report seeds; seeds 1–5 of 2024 were the only ones used for tuning)." if tuple(sets) == REPORT_SETS else "."),
             ""]
    lines += [graph_note(g) + "\n" for g, _ in sets if g not in GRAPH_SHORTCUTS]
    lines += ["## Verdict per regime (all seeds of the run)", ""]
    lines += summary_table(results, names, regimes)
    graphs = [g for g, _ in sets]
    for regime in regimes:
        lines += regime_section(results, names, graphs, regime, days)
    lines += ["Metric definitions: fees and volume are summed over our outgoing forwards after the start; "
              "liquidity-failed forwards are forwards that failed on our outgoing channel for lack of local balance "
              "(`INSUFFICIENT_BALANCE`); fee-insufficient failures are HTLCs offered with the fee of a policy the sender "
              "believed (stale gossip) below our current one (`FEE_INSUFFICIENT`, counted apart; the sender's retry at "
              "our fee may still come through us); channel-hours count active channels at each simulated hour; updates are "
              "policy updates simnode counted (gossip), per active channel per day; updates not relayed exceeded CLN's "
              "token bucket (stored by CLN nodes, not passed on); the shares of channel-hours are those counts over all "
              "active channel-hours; fees per update are the fees earned divided by the updates sent; reversals are consecutive ppm "
              "moves of one channel in opposite directions.", ""]
    path.write_text("\n".join(lines))


def write_chart(results: Sequence[Dict[str, Any]], names: Sequence[str], graphs: Sequence[str], path: Path,
                regimes: Sequence[str] = ("stationary",)) -> None:
    """Cumulative fees: one row of panels per regime, one column per graph."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(regimes), len(graphs), figsize=(7 * len(graphs), 4.6 * len(regimes)), squeeze=False)
    for row, regime in zip(axes, regimes):
        for ax, g in zip(row, graphs):
            rows = [r for r in results if r.get("regime") == regime]
            groups = by_strategy(rows, g)
            for n in names:
                runs = groups.get(n)
                if not runs:
                    continue
                curves = [r["revenue_curve"] for r in runs]
                length = min(len(c) for c in curves)
                xs = [i / 24 for i in range(length)]
                mean = [statistics.fmean(c[i] for c in curves) for i in range(length)]
                lo = [min(c[i] for c in curves) for i in range(length)]
                hi = [max(c[i] for c in curves) for i in range(length)]
                line, = ax.plot(xs, mean, label=LABELS[n], linewidth=2.2 if n == "fee_autopilot" else 1.3)
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.12)
            seeds = len({r["seed"] for r in rows if r["graph"] == g})
            ax.set_title(f"{regime}, {graph_label(g)} graph, {seeds} seeds: mean, band = min–max", fontsize=10)
            ax.set_xlabel("simulated day")
            ax.set_ylabel("cumulative fees earned (sat)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def reproducible_args(args: List[str]) -> List[str]:
    """The arguments that shape the results; where files go (`--out`, `--cache`) is a machine's business."""
    kept: List[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--out", "--cache"):
            skip = True
        elif not arg.startswith(("--out=", "--cache=")):
            kept.append(arg)
    return kept


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one seed (2024 seed 1, or --graph's seed 1), 7 days, stationary unless --regime")
    parser.add_argument("--tuning", action="store_true", help="2024 seeds 1-5 (tuning seeds), stationary unless --regime")
    parser.add_argument("--graph", metavar="2024|2026|FILE",
                        help="only this graph (with --seeds): a committed snapshot, or the path of any Core Lightning "
                             "listchannels dump (gzip or plain JSON; see the top)")
    parser.add_argument("--seeds", help="comma-separated seeds (with --graph)")
    parser.add_argument("--days", type=float, default=None,
                        help=f"simulated days per run (default {REPORT_DAYS}; --tuning {TUNING_DAYS}, --quick {QUICK_DAYS})")
    parser.add_argument("--regime", default=None, metavar="NAME[,NAME...]",
                        help=f"market regimes to run, each reported separately: {', '.join(REGIMES)} "
                             "(default: all four; --quick and --tuning: stationary)")
    parser.add_argument("--backend", choices=BACKENDS, default="lnd",
                        help="the node's face every strategy reads and writes through: lnd (REST, /v1/chanpolicy) or "
                             "cln (JSON-RPC, setchannel with enforcedelay); cln writes bench/results/strategies_cln.*")
    parser.add_argument("--strategies", default=None,
                        help=f"comma-separated (default lnd: {','.join(STRATEGIES)}; cln: the same and feeadjuster)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS), help="output folder")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--fa-settings", default="", help="tuning only: JSON overrides of Fee Autopilot's EngineSettings")
    parser.add_argument("--no-gossip", action="store_true",
                        help="simnode without gossip realism: every policy update reaches every sender at once")
    parser.add_argument("--cache", default="", help="tuning only: cache graph metrics per seed in this folder")
    args = parser.parse_args(argv)
    CACHE_DIR[:] = [args.cache] if args.cache else []
    GOSSIP_REALISM[0] = not args.no_gossip
    FA_OVERRIDES.clear()
    if args.fa_settings:
        FA_OVERRIDES.update(json.loads(args.fa_settings))

    backend = args.backend
    default_names = CLN_STRATEGIES if backend == "cln" else STRATEGIES
    names = tuple(n.strip() for n in (args.strategies or ",".join(default_names)).split(",") if n.strip())
    for n in names:
        if n not in CLASSES:
            parser.error(f"unknown strategy {n}")
    if backend == "cln" and "fee_autopilot_inbound" in names:
        parser.error("fee_autopilot_inbound is not available on --backend cln: Core Lightning has no inbound fees "
                     "(setchannel sets outbound fees only)")
    if args.graph:
        problem = check_graph(args.graph)  # loaded here once; forked workers inherit it
        if problem:
            print(f"bench/strategies.py: {problem}", file=sys.stderr, flush=True)
            return 2
    regimes = tuple(r.strip() for r in (args.regime or "").split(",") if r.strip()) or \
        (("stationary",) if args.quick or args.tuning else REGIMES)
    for r in regimes:
        if r not in REGIMES:
            parser.error(f"unknown regime {r} (one of {', '.join(REGIMES)})")
    if args.quick:
        sets: Sequence[Tuple[str, Sequence[int]]] = ((args.graph or "2024", (1,)),)
        days = args.days or QUICK_DAYS
    elif args.tuning:
        sets, days = TUNING_SETS, args.days or TUNING_DAYS
    elif args.graph:
        seeds = tuple(int(s) for s in (args.seeds or "1").split(","))
        sets, days = ((args.graph, seeds),), args.days or REPORT_DAYS
    else:
        sets, days = REPORT_SETS, args.days or REPORT_DAYS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(g, seed, days, names, regimes, backend) for g, seeds in sets for seed in seeds]
    t0 = time.time()
    print(f"{len(jobs)} seed runs x {len(regimes)} regimes x {len(names)} strategies, {days:g} days, "
          f"{args.workers} workers" + ("" if backend == "lnd" else f", {backend} semantics"), flush=True)
    results: List[Dict[str, Any]] = []
    if args.workers > 1 and len(jobs) > 1:
        # Jobs sorted by graph so each worker mostly keeps one graph loaded.
        with multiprocessing.get_context("fork").Pool(args.workers, maxtasksperchild=None) as pool:
            for rows in pool.imap_unordered(run_seed, jobs):
                results += rows
    else:
        for job in jobs:
            results += run_seed(job)
    elapsed = time.time() - t0
    command = " ".join(["bench/strategies.py", *reproducible_args(list(argv) if argv is not None else sys.argv[1:])])
    results.sort(key=lambda r: (regimes.index(r["regime"]), r["graph"], r["seed"], names.index(r["strategy"])))
    stem = RESULT_STEM[backend]
    write_markdown(results, names, sets, days, elapsed, out / f"{stem}.md", command, regimes, backend)
    (out / f"{stem}.json").write_text(json.dumps(
        {**({} if backend == "lnd" else {"backend": backend, "backend_note": backend_note(backend)}),
         "days": days, "sets": [[g, list(s)] for g, s in sets], "regimes": list(regimes),
         "regime_notes": {r: regime_note(r, days) for r in regimes}, "elapsed_s": round(elapsed, 1),
         "gossip_realism": GOSSIP_REALISM[0], "fa_overrides": FA_OVERRIDES,
         "results": [{k: v for k, v in r.items() if k != "revenue_curve"} for r in results]}, indent=1))
    if not args.no_chart and not args.quick:
        write_chart(results, names, [g for g, _ in sets], out / f"{stem}_revenue.png", regimes)
    print(f"done in {elapsed:.0f} s -> {out / (stem + '.md')}", flush=True)
    for regime in regimes:
        lines = verdict([r for r in results if r["regime"] == regime], names)
        if lines:
            print(f"{regime}:\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
