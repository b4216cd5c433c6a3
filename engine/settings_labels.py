"""What every setting is called where an operator sees it: the settings dialog's labels.

One map, keyed by the setting's path in the settings document (`interval_minutes`,
`engine.guardrails.min_ppm`): the page's settings dialog shows these texts (it takes
them from `GET /settings`, `labels`), and every validation message names a setting by
its label, never by its path. The labels of the fields the dialog shows are exactly
its texts (static/js/components/settings.js; a test keeps them equal); the others are
worded the same way. In `engine.guardrails.channel_overrides.*`, `*` stands for a
channel id and `{channel}` in the label is replaced by it.

Pure data and string handling: no I/O, nothing of LNbits.
"""

from __future__ import annotations

import re
from typing import Dict

# --- the document's own settings (app_settings.py) --------------------------------------------

APP_LABELS: Dict[str, str] = {
    "settings": "The settings document",
    "mode": "Mode",
    "interval_minutes": "Run every (minutes)",
    "graph_refresh_minutes": "Refresh the network graph every (minutes)",
    "retention_days": "Keep scores and history (days)",
    "runs_retention_days": "Keep runs (days)",
    "decisions_retention_days": "Keep every decision of a run (days)",
    "forwards_retention_days": "Keep forwarding history (days)",
    "batch_rollback": "Roll a batch back when one of its changes fails",
    "public_summary": "Show a public summary (aggregates only) to every LNbits user",
    "notifications": "Send LNbits admin notifications",
    "notification_min_interval_minutes": "Minutes between notifications",
    "history_days": "History used for decisions (days)",
    "node_timeout_seconds": "Node call timeout (seconds)",
    "retry_attempts": "Attempts per node call",
    "breaker_failure_threshold": "Failed node calls before changes stop",
    "breaker_cool_off_seconds": "Pause after the node kept failing (seconds)",
    "engine": "Engine settings",
    "labels": "The labels",  # read-only: GET /settings serves them, a document sent back may carry them
}

# --- the engine's settings (engine/settings.py), by their path inside `engine` -----------------

HEURISTIC_LABELS: Dict[str, str] = {  # static/js/common.js, FeePilot.HEURISTICS
    "centrality": "Centrality",
    "liquidity": "Liquidity",
    "activity": "Activity",
    "competitiveness": "Competitiveness",
    "uptime": "Uptime",
    "stability": "Age & stability",
    "peer_quality": "Peer quality",
    "network_position": "Network position",
}
WEIGHTS_LABEL = "Score weights"

OVERRIDE_LABELS: Dict[str, str] = {
    "min_ppm": "Minimum fee (ppm)",
    "max_ppm": "Maximum fee (ppm)",
    "min_base_msat": "Minimum base fee (msat)",
    "max_base_msat": "Maximum base fee (msat)",
    "pinned": "Pinned",
    "manage_inbound": "Manage the inbound fee",
}

ENGINE_LABELS: Dict[str, str] = {
    "weights": WEIGHTS_LABEL,
    **{f"weights.{name}": f"{WEIGHTS_LABEL} — {text}" for name, text in HEURISTIC_LABELS.items()},
    "liquidity": "Liquidity",
    "liquidity.target_low": "Healthy local share from (0–1)",
    "liquidity.target_high": "Healthy local share up to (0–1)",
    "activity": "Activity",
    "activity.short_window_days": "Short forwarding window (days)",
    "activity.long_window_days": "Long forwarding window (days)",
    "activity.turnover_half_weekly": "Weekly turnover that scores half (share of capacity)",
    "activity.yield_half_annual": "Yearly fee yield that scores half (share of capacity)",
    "activity.assisted_fee_weight": "Credit for fees earned on flow that came in here (0–1)",
    "decisions": "Decisions",
    "decisions.direction_source": "Pricing strategy",
    "decisions.flow_window_days": "Flow window of the fee controller (days)",
    "decisions.flow_gain": "Fee controller: gain on the flow imbalance",
    "decisions.flow_balance_gain": "Fee controller: pull toward a half-full channel",
    "decisions.flow_anchor_pull": "Fee controller: pull toward the market fee (0–1)",
    "decisions.flow_anchor_floor_ppm": "Fee controller: lowest market fee used (ppm)",
    "decisions.flow_smoothing_share": "Fee controller: flow smoothing (share of capacity)",
    "decisions.flow_censor_share": "Fee controller: local share below which low outflow is ignored",
    "decisions.flow_dead_band": "Fee controller: dead band",
    "decisions.flow_max_step": "Fee controller: largest step (factor)",
    "decisions.flow_min_ppm": "Fee controller: smallest fee a step starts from (ppm)",
    "decisions.flow_failed_weight": "Fee controller: weight of forwards failed for lack of balance (0: off)",
    "decisions.hold_score": "Leave alone from score (0–1)",
    "decisions.raise_below_score": "Raise the fee below score (0–1)",
    "decisions.lower_from_score": "Lower the fee from score (0–1)",
    "decisions.lower_below_score": "Lower the fee below score (0–1)",
    "decisions.step_gain": "Score mode: step at full pressure (share of the fee)",
    "decisions.step_base_floor_ppm": "Score mode: smallest fee a step starts from (ppm)",
    "decisions.close_below_score": "Advise closing below score (0–1)",
    "decisions.close_idle_days": "Advise closing after idle days",
    "decisions.close_min_age_days": "Advise closing only channels older than (days)",
    "anti_oscillation": "Anti-oscillation",
    "anti_oscillation.min_change_ppm": "Smallest change (ppm)",
    "anti_oscillation.min_change_pct": "Smallest change (share, 0–1)",
    "anti_oscillation.cooldown_hours": "Cooldown after a change (hours, 0: off)",
    "anti_oscillation.urgent_share": "Urgent below local share (0–0.5, 0: off)",
    "anti_oscillation.urgent_cooldown_hours": "Cooldown of an urgent step (hours)",
    "anti_oscillation.urgent_max_step_pct": "Largest urgent step (share of the fee, 0: the largest step)",
    "anti_oscillation.max_updates_per_day": "Updates per channel per day (0: no limit)",
    "anti_oscillation.relay_tokens_per_hour": "Relay budget: tokens gained per hour",
    "anti_oscillation.relay_tokens_per_update": "Relay budget: tokens per update (0: off)",
    "anti_oscillation.relay_bucket_max": "Relay budget: most tokens held",
    "anti_oscillation.min_update_spacing_minutes": "Least time between two updates (minutes)",
    "anti_oscillation.new_channel_grace_days": "Grace period of new channels (days)",
    "anti_oscillation.max_reversals": "Direction reversals allowed",
    "anti_oscillation.reversal_window_days": "Reversal window (days)",
    "guardrails": "Guardrails",
    "guardrails.min_ppm": "Minimum fee (ppm)",
    "guardrails.max_ppm": "Maximum fee (ppm)",
    "guardrails.min_base_msat": "Minimum base fee (msat)",
    "guardrails.max_base_msat": "Maximum base fee (msat)",
    "guardrails.max_step_pct": "Largest step (share of the fee, 0–1)",
    "guardrails.max_step_ppm": "Largest step (ppm)",
    "guardrails.step_floor_ppm": "Smallest step cap (ppm)",
    "guardrails.allow_channels": "Only these channels (empty: all)",
    "guardrails.deny_channels": "Never these channels",
    "guardrails.allow_peers": "Only channels with these peers (empty: all)",
    "guardrails.deny_peers": "Never channels with these peers",
    "guardrails.pinned_channels": "Pinned channels (never touched)",
    "guardrails.only_active": "Only change active channels",
    "guardrails.max_changes_per_run": "Changes per run at most",
    "guardrails.inbound_min_ppm": "Deepest inbound discount (ppm, 0 or below)",
    "guardrails.inbound_min_base_msat": "Deepest inbound base discount (msat, 0 or below)",
    "guardrails.inbound_max_step_ppm": "Largest inbound step (ppm)",
    "guardrails.channel_overrides": "Per-channel bounds",
    "guardrails.channel_overrides.*": "Per-channel bounds of channel {channel}",
    **{f"guardrails.channel_overrides.*.{name}": f"{text} of channel {{channel}}"
       for name, text in OVERRIDE_LABELS.items()},
    "new_channels": "New channels",
    "new_channels.set_initial_fee": "Price new channels",
    "new_channels.default_ppm": "Fee of a new channel without a market reference (ppm)",
    "new_channels.reference_multiplier": "New channel fee: market fee multiplier",
    "new_channels.reprice_below_share": "Reprice a new channel below this share of the market fee (0–1)",
    "rebalance": "Rebalancing",
    "rebalance.enabled": "Advise rebalances",
    "rebalance.max_cost_fraction": "Rebalance: most of the expected earnings to pay (0–1)",
    "rebalance.payback_days": "Rebalance: earnings horizon (days)",
    "rebalance.min_amount_sat": "Rebalance: smallest amount (sat)",
    "rebalance.max_amount_sat": "Rebalance: largest amount (sat)",
    "rebalance.max_sources": "Rebalance: source channels at most",
    "rebalance.source_min_local_share": "Rebalance: source channels from local share (0–1)",
    "graph": "Network graph",
    "graph.betweenness_samples": "Centrality samples",
    "graph.seed": "Centrality sampling seed",
    "graph.reference_amount_sat": "Payment size fees are compared at (sat)",
    "inbound": "Inbound fees",
    "inbound.manage": "Manage inbound fees (off: keep them as they are)",
    "inbound.discount_share": "Inbound discount of a drained channel (share of its fee, 0–1)",
    "inbound.below_share": "Inbound discount below local share (0–1)",
}

# Every setting by its path in the settings document, as GET /settings serves it.
FIELD_LABELS: Dict[str, str] = {**APP_LABELS, **{f"engine.{path}": text for path, text in ENGINE_LABELS.items()}}

_OVERRIDES = "engine.guardrails.channel_overrides."
_INDEX = re.compile(r"^(.*)\[(\d+)\]$")
KEY_SHOWN = 40  # characters of an operator's key (a channel id, an unknown name) shown in a label


def shown(text: str) -> str:
    """An operator's own text (a key, a list entry) inside a message: quoted, and cut when long."""
    text = str(text)
    return "“" + (text if len(text) <= KEY_SHOWN else text[:KEY_SHOWN] + "…") + "”"


def label(path: str) -> str:
    """The label of a document path (`engine.guardrails.min_ppm` -> "Minimum fee (ppm)").

    A list entry (`…pinned_channels[2]`) is "entry 3 of" its list; a channel override's
    key is put into its label; a path that is no setting (a name the operator made up)
    is the quoted name, with the section it was found in."""
    if path in FIELD_LABELS:
        return FIELD_LABELS[path]
    index = _INDEX.match(path)
    if index:
        return f"entry {int(index.group(2)) + 1} of {label(index.group(1))}"
    if path.startswith(_OVERRIDES):
        key, dot, name = path[len(_OVERRIDES):].rpartition(".")
        if not dot:  # the channel's own group
            return FIELD_LABELS[_OVERRIDES + "*"].format(channel=shown(name))
        if name in OVERRIDE_LABELS:
            return FIELD_LABELS[f"{_OVERRIDES}*.{name}"].format(channel=shown(key))
        return f"{shown(name)} in {label(_OVERRIDES + key)}"
    parent, _, name = path.rpartition(".")
    if parent:
        return f"{shown(name)} in {label(parent)}"
    return shown(path)


def engine_label(path: str) -> str:
    """The label of a path inside the engine's settings (`guardrails.min_ppm`)."""
    if path in ("", "<root>"):
        return APP_LABELS["engine"]
    return label(f"engine.{path}")


def sentence(subject: str, message: str) -> str:
    """"Minimum fee (ppm)" + "must not exceed Maximum fee (ppm)": one sentence, first letter up."""
    text = f"{subject} {message}".strip()
    return text[:1].upper() + text[1:]
