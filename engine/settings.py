"""Engine settings: every knob of scoring, decisions and guardrails, with defaults.

Plain frozen dataclasses so the engine stays pure; the shell's pydantic model wraps
`to_dict()` / `from_dict()`. Field names are snake_case and stable (they are stored).
Defaults and the reasons behind them are explained in `engine/README.md`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from .settings_labels import engine_label, sentence, shown
from .snapshot import FLOW_WINDOWS_DAYS

HEURISTIC_NAMES = (
    "centrality",
    "liquidity",
    "activity",
    "competitiveness",
    "uptime",
    "stability",
    "peer_quality",
    "network_position",
)

# Inbound fees (LND >= 0.18): "off" preserves every channel's inbound fee untouched; "on" lets the
# engine set an inbound discount on every channel whose inbound fee is LND's default (0) or was set
# by Fee Autopilot itself; a channel's override opts it in (even over a hand-set value) or out.
INBOUND_OFF = "off"
INBOUND_ON = "on"
INBOUND_MODES = (INBOUND_OFF, INBOUND_ON)

# The pricing strategies' names (engine/strategies/ registers one module under each).
DIRECTION_SCORE = "score"
DIRECTION_FLOW = "flow"
DIRECTIONS = (DIRECTION_FLOW, DIRECTION_SCORE)
# Retired with issue 14 (they earned less than "flow" on the tuning seeds, engine/README.md): a
# stored document naming one is reported as invalid; their knobs are dropped when it is read.
RETIRED_DIRECTIONS = ("target", "signals")
RETIRED_DECISION_KEYS = (
    "target_reference_multiplier", "target_floor_ppm", "target_balance_base", "target_lookahead_days",
    "target_dead_band", "target_fill_lookahead_days", "target_recent_flow_weight", "target_reversal_dead_band",
    "target_surplus_base", "target_memory", "pressure_dead_band", "liquidity_signal_weight",
    "flow_signal_weight", "failed_signal_weight", "competitiveness_signal_weight", "net_flow_full",
    "failed_forwards_full", "idle_cut_pressure",
)


@dataclass(frozen=True)
class HeuristicWeights:
    """Weight of each heuristic in the total score; normalised over the known ones."""

    centrality: float = 0.20
    liquidity: float = 0.25
    activity: float = 0.20
    competitiveness: float = 0.15
    uptime: float = 0.10
    stability: float = 0.05  # age & stability
    peer_quality: float = 0.03
    network_position: float = 0.02

    def as_dict(self) -> Dict[str, float]:
        return {name: float(getattr(self, name)) for name in HEURISTIC_NAMES}


@dataclass(frozen=True)
class LiquiditySettings:
    # Local share (local / (local + remote)) inside [target_low, target_high] is healthy.
    target_low: float = 0.25
    target_high: float = 0.75


@dataclass(frozen=True)
class ActivitySettings:
    """The forwarding windows and what counts as "active"."""

    short_window_days: int = 7
    long_window_days: int = 30
    # weekly volume / capacity that scores 0.5 (saturating curve x / (x + half))
    turnover_half_weekly: float = 0.10
    # annualised fee yield on capacity that scores 0.5 (0.5 % a year)
    yield_half_annual: float = 0.005
    # share of "assisted" fees (earned elsewhere on flow that came in here) credited
    assisted_fee_weight: float = 0.5


@dataclass(frozen=True)
class DecisionSettings:
    """How the fee direction and step are chosen, and when to advise a close.

    direction_source "flow" (default): a daily feedback controller on the channel's own flows —
    the log of the fee moves by `flow_gain` x ln(outflow / inflow) over `flow_window_days`, plus
    `flow_balance_gain` x (0.5 - local share), plus `flow_anchor_pull` x ln(market reference / fee);
    a step inside `flow_dead_band` (log) is no action. It settles where the channel's outflow matches
    its inflow, i.e. on a price the channel can sustain, instead of one copied from the market.
    direction_source "score": the original spec's bands — score >= hold_score no
    action, < raise_below_score raise, [lower_from_score, lower_below_score) lower.
    """

    direction_source: str = DIRECTION_FLOW
    # "flow" mode (default): log step = gain·ln(out/in) + balance_gain·(0.5 − share) + anchor_pull·ln(anchor/fee)
    flow_window_days: int = 1  # one of the snapshot's flow windows (1, 7, 30); 1 = the flow at the current fee
    flow_gain: float = 1.0
    flow_balance_gain: float = 1.0
    flow_anchor_pull: float = 0.3
    flow_anchor_floor_ppm: int = 20  # markets priced near 0 still anchor here
    # added to both volumes, as a share of capacity, so a quiet day is not read as a strong imbalance
    flow_smoothing_share: float = 0.02
    # below this local share a low outflow only means "no balance to send" (and above 1 − it, a low
    # inflow means "no room to receive"): that side of the flow signal is ignored
    flow_censor_share: float = 0.15
    flow_dead_band: float = 0.10  # |log step| below this is no action (≈ 10 %)
    flow_max_step: float = 2.0  # at most ×2 or ÷2 per change, before the guardrails' own cap
    flow_min_ppm: int = 10  # multiplicative steps start from at least this effective fee
    # missed demand: this share of the last day's forwards that failed for lack of local balance
    # (their amount) is added to the outflow (0 = off). Tuning seeds: 1.0 cut the liquidity-failed
    # forwards 174 -> 132 (every seed) with fees 82.1 k -> 83.8 k sat (engine/README.md)
    flow_failed_weight: float = 1.0
    hold_score: float = 0.80  # "score" mode: at or above, leave the channel alone
    raise_below_score: float = 0.30  # "score" mode only
    lower_from_score: float = 0.30  # "score" mode only
    lower_below_score: float = 0.50  # "score" mode only
    # "score" mode: requested change at full pressure, as a share of the current ppm (guardrails cap it)
    step_gain: float = 0.30
    # ppm used as the base of a proportional step when the current fee is tiny
    step_base_floor_ppm: int = 100
    # CLOSE_CHANNEL advice
    close_below_score: float = 0.30
    close_idle_days: int = 30
    close_min_age_days: int = 60


@dataclass(frozen=True)
class AntiOscillationSettings:
    """How often one channel may change: the relay budget is the binding rule by default.

    Relay budget: Core Lightning's gossipd relays a channel direction's updates from a token
    bucket (+1 token an hour, 12 per update, at most 48: 2 a day sustained, a burst of 4); an
    update without 12 tokens reaches nobody through CLN nodes. The engine replays that bucket
    over the change history (every applied change, ours and external ones; full at the start of
    the history) and never proposes an update it would not relay. BOLT 7 asks nodes to accept
    the previous fees for a while after an update, hence a minimum spacing (10 min).
    The fixed cooldown is the controller's pacing on top (24 h by default): the flow controller
    reads the last day's flow, so a step more often than daily re-reads the same day and overshoots
    (tuning seeds, engine/README.md: bucket only −5 % fees, a 12 h cooldown −4 %). The daily count
    is off (0) by default: the budget already holds updates to 2 a day on average.
    """

    min_change_ppm: int = 10  # a change must move at least max(ppm, pct * old)
    min_change_pct: float = 0.05
    cooldown_hours: float = 24.0  # the daily controller's pacing; 0 = off (the relay budget alone paces)
    # A fast drain: at or below this local share a raise (at or above 1 - it, a cut) is urgent and
    # waits only `urgent_cooldown_hours` (the relay budget and the spacing still apply); 0 = off.
    # Tuning seeds: 0.10 / 2 h kept fees (82 k vs 84 k sat) and cut liquidity failures 296 → 174.
    urgent_share: float = 0.10
    urgent_cooldown_hours: float = 2.0
    urgent_max_step_pct: float = 0.0  # an urgent step's cap, a share of the fee (0 = the max step)
    max_updates_per_day: int = 0  # 0 = off; else at most this many changes in any 24 h
    relay_tokens_per_hour: float = 1.0  # CLN gossipd: one token an hour per channel direction …
    relay_tokens_per_update: float = 12.0  # … 12 tokens per relayed update (0 = no relay budget) …
    relay_bucket_max: float = 48.0  # … at most 48 in the bucket (a burst of 4)
    min_update_spacing_minutes: float = 10.0  # BOLT 7: nodes accept the previous fees ~10 min
    new_channel_grace_days: float = 3.0  # no cut for lack of flow while young
    max_reversals: int = 7  # direction flips allowed inside the window (a feedback controller must correct)
    reversal_window_days: float = 14.0


@dataclass(frozen=True)
class ChannelOverride:
    """Per-channel bounds (keyed by chan_id or short_id); None = use the global one."""

    min_ppm: Optional[int] = None
    max_ppm: Optional[int] = None
    min_base_msat: Optional[int] = None
    max_base_msat: Optional[int] = None
    pinned: bool = False
    # inbound discounts on this channel: None = follow `inbound.manage`; True = the operator opts it
    # in (its inbound fee may be overwritten even if set by hand); False = never touch its inbound fee
    manage_inbound: Optional[bool] = None


@dataclass(frozen=True)
class GuardrailSettings:
    min_ppm: int = 0
    max_ppm: int = 5000
    min_base_msat: int = 0
    max_base_msat: int = 5000
    max_step_pct: float = 0.25  # of the current ppm
    max_step_ppm: int = 500  # absolute
    # the percent cap never binds tighter than this, so 0-20 ppm channels can move
    step_floor_ppm: int = 25
    allow_channels: Tuple[str, ...] = ()  # non-empty: only these (or allow_peers)
    deny_channels: Tuple[str, ...] = ()
    allow_peers: Tuple[str, ...] = ()
    deny_peers: Tuple[str, ...] = ()
    pinned_channels: Tuple[str, ...] = ()  # never touched
    only_active: bool = True
    max_changes_per_run: int = 50
    channel_overrides: Mapping[str, ChannelOverride] = field(default_factory=dict)
    # inbound fees, when managed (`inbound.manage`): only discounts (0 or below), never below these,
    # and the inbound ppm moves at most `inbound_max_step_ppm` per update
    inbound_min_ppm: int = -1000
    inbound_min_base_msat: int = 0
    inbound_max_step_ppm: int = 100


@dataclass(frozen=True)
class NewChannelSettings:
    """Fees for channels in their grace period that were never priced by us."""

    set_initial_fee: bool = True
    default_ppm: int = 100  # when there is no competitor reference
    # initial fee = competitors' median * this (a reference, not a copy)
    reference_multiplier: float = 1.0
    # only reprice when our fee is below this share of the reference
    reprice_below_share: float = 0.5


@dataclass(frozen=True)
class RebalanceSettings:
    enabled: bool = True
    # pay at most this share of what the moved liquidity can earn back
    max_cost_fraction: float = 0.5
    payback_days: int = 30  # earnings horizon used to bound the fee
    min_amount_sat: int = 50_000
    max_amount_sat: int = 2_000_000
    max_sources: int = 3
    source_min_local_share: float = 0.60


@dataclass(frozen=True)
class InboundSettings:
    """Inbound discounts (LND >= 0.18), part of the same policy update as the outbound fee.

    manage "off" (default): every inbound fee is preserved exactly as it is (the behaviour before
    inbound management). "on": on a managed channel the inbound fee is set to
        inbound ppm = -round(discount_share x outbound ppm x need),  need = clamp((m - s) / m, 0, 1)
    with s the local share and m = `below_share` (1.0: need = the peer's share of the channel): a
    channel low on outbound pays up to `discount_share` (¼) of what it charges per sat for the
    liquidity that comes back in through it, a full one nothing (engine/README.md "Inbound discounts"). Bounds and step are
    guardrails (`guardrails.inbound_*`). A channel is managed when an override opts it in, or when
    the mode is on, no override opts it out, and its inbound fee is 0 (LND's default) or was set by
    Fee Autopilot (the shell's `inbound_ours`).
    """

    manage: str = INBOUND_OFF
    # tuning seeds (engine/README.md "Inbound discounts"): 0.25 / 1.0 was the only variant that did not
    # lose against "off" (84.4 k vs 83.8 k sat, seed noise); 0.5 / 0.5 lost 9 %
    discount_share: float = 0.25
    below_share: float = 1.0  # m: the local share under which a discount starts (need 1 at 0 % local)


@dataclass(frozen=True)
class GraphSettings:
    # pivots for sampled betweenness/closeness; >= node count means exact
    betweenness_samples: int = 500
    seed: int = 42
    # amount at which base + ppm are compared as one effective ppm
    reference_amount_sat: int = 100_000


@dataclass(frozen=True)
class EngineSettings:
    weights: HeuristicWeights = field(default_factory=HeuristicWeights)
    liquidity: LiquiditySettings = field(default_factory=LiquiditySettings)
    activity: ActivitySettings = field(default_factory=ActivitySettings)
    decisions: DecisionSettings = field(default_factory=DecisionSettings)
    anti_oscillation: AntiOscillationSettings = field(default_factory=AntiOscillationSettings)
    guardrails: GuardrailSettings = field(default_factory=GuardrailSettings)
    new_channels: NewChannelSettings = field(default_factory=NewChannelSettings)
    rebalance: RebalanceSettings = field(default_factory=RebalanceSettings)
    graph: GraphSettings = field(default_factory=GraphSettings)
    inbound: InboundSettings = field(default_factory=InboundSettings)

    def validate(self) -> List[Tuple[str, str]]:
        return validate(self)

    def to_dict(self) -> Dict[str, Any]:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EngineSettings":
        return _from_plain(cls, data, "")

    @classmethod
    def original_spec(cls) -> "EngineSettings":
        """The original spec's score mapping (>=0.7 hold, <0.3 raise, 0.3-0.5 lower,
        <0.1 and 30 days idle close)."""
        return dataclasses.replace(
            cls(),
            decisions=dataclasses.replace(
                DecisionSettings(),
                direction_source=DIRECTION_SCORE,
                hold_score=0.7,
                raise_below_score=0.3,
                lower_from_score=0.3,
                lower_below_score=0.5,
                close_below_score=0.1,
                close_idle_days=30,
            ),
        )


class SettingsError(ValueError):
    """Raised by from_dict; `errors` is a list of (field_path, message). The message reads
    after the field's label (settings_labels): "must be a whole number"."""

    def __init__(self, errors: List[Tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(sentence(engine_label(path), msg) for path, msg in errors))


# --- (de)serialisation --------------------------------------------------------


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise SettingsError([(path or "<root>", "must be an object (a group of settings)")])
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    errors: List[Tuple[str, str]] = []
    kwargs: Dict[str, Any] = {}
    for key in data:
        if key not in names:
            errors.append((_join(path, str(key)), "is not a setting"))
    for name in names:
        if name not in data:
            continue
        try:
            kwargs[name] = _convert(hints[name], data[name], _join(path, name))
        except SettingsError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SettingsError(errors)
    return cls(**kwargs)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _from_plain(hint, value, path)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _convert(inner, value, path)
    if origin in (tuple, Tuple):
        if not isinstance(value, (list, tuple)):
            raise SettingsError([(path, "must be a list")])
        return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            raise SettingsError([(path, "must be an object (channel id -> bounds)")])
        return {str(k): _convert(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise SettingsError([(path, "must be true or false")])
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()
        ):
            raise SettingsError([(path, "must be a whole number")])
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError([(path, "must be a number")])
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SettingsError([(path, "must be text")])
        return value
    return value


# --- bounds -------------------------------------------------------------------

# Inclusive [low, high] of every numeric setting, by path ("*" stands for any key of
# a mapping). The upper bounds are the most an operator could really need: they keep
# one cycle's work, the stored document and the arithmetic bounded (an unbounded
# betweenness_samples held the run lock for minutes). Stricter rules (open intervals,
# one setting below another) follow in validate(). engine/README.md lists these; a
# test keeps it true.
PPM_MAX = 100_000  # 10 %: also the bound of a manual change (models.PolicyIn)
BASE_MSAT_MAX = 100_000_000  # 100,000 sat, as models.PolicyIn
SAT_MAX = 1_000_000_000  # 10 BTC: above any amount a rebalance moves or fees are compared at
DAYS_MAX = 3650
GAIN_MAX = 10
MULTIPLIER_MAX = 100
# Cold metrics on the 2024 graph (16.9 k nodes) took 14 s for 500 pivots and 49 s for 2,000 on
# the development machine: 1,000 (~25 s) leaves room for slower CPUs inside a run's wait (120 s).
BETWEENNESS_SAMPLES_MAX = 1000
SHARE = (0, 1)

RANGES: Dict[str, Tuple[float, float]] = {
    **{f"weights.{name}": SHARE for name in HEURISTIC_NAMES},
    "liquidity.target_low": SHARE,
    "liquidity.target_high": SHARE,
    # longer windows have no data: the snapshot's longest forwarding window is 30 days
    "activity.short_window_days": (1, max(FLOW_WINDOWS_DAYS)),
    "activity.long_window_days": (1, max(FLOW_WINDOWS_DAYS)),
    "activity.turnover_half_weekly": (0, GAIN_MAX),
    "activity.yield_half_annual": SHARE,
    "activity.assisted_fee_weight": SHARE,
    "decisions.flow_window_days": (min(FLOW_WINDOWS_DAYS), max(FLOW_WINDOWS_DAYS)),
    "decisions.flow_gain": (0, GAIN_MAX),
    "decisions.flow_balance_gain": (0, GAIN_MAX),
    "decisions.flow_anchor_pull": SHARE,
    "decisions.flow_anchor_floor_ppm": (0, PPM_MAX),
    "decisions.flow_smoothing_share": SHARE,
    "decisions.flow_censor_share": (0, 0.5),
    "decisions.flow_dead_band": (0, 2),
    "decisions.flow_max_step": (1, GAIN_MAX),
    "decisions.flow_min_ppm": (1, PPM_MAX),
    "decisions.flow_failed_weight": (0, GAIN_MAX),
    "decisions.hold_score": SHARE,
    "decisions.raise_below_score": SHARE,
    "decisions.lower_from_score": SHARE,
    "decisions.lower_below_score": SHARE,
    "decisions.step_gain": (0, GAIN_MAX),
    "decisions.step_base_floor_ppm": (1, PPM_MAX),
    "decisions.close_below_score": SHARE,
    "decisions.close_idle_days": (1, DAYS_MAX),
    "decisions.close_min_age_days": (0, DAYS_MAX),
    "anti_oscillation.min_change_ppm": (0, PPM_MAX),
    "anti_oscillation.min_change_pct": SHARE,
    "anti_oscillation.cooldown_hours": (0, 24 * 365),
    "anti_oscillation.urgent_share": (0, 0.5),
    "anti_oscillation.urgent_cooldown_hours": (0, 24 * 365),
    "anti_oscillation.urgent_max_step_pct": (0, 10),
    # 0 = off; the relay budget's own ceiling is 5 in 24 h (a burst of 4 and one refill)
    "anti_oscillation.max_updates_per_day": (0, 48),
    "anti_oscillation.relay_tokens_per_hour": (0, 1000),
    "anti_oscillation.relay_tokens_per_update": (0, 1000),
    "anti_oscillation.relay_bucket_max": (0, 100_000),
    "anti_oscillation.min_update_spacing_minutes": (0, 7 * 24 * 60),
    "anti_oscillation.new_channel_grace_days": (0, 365),
    "anti_oscillation.max_reversals": (0, 1000),
    "anti_oscillation.reversal_window_days": (0, 365),
    "guardrails.min_ppm": (0, PPM_MAX),
    "guardrails.max_ppm": (0, PPM_MAX),
    "guardrails.min_base_msat": (0, BASE_MSAT_MAX),
    "guardrails.max_base_msat": (0, BASE_MSAT_MAX),
    "guardrails.max_step_pct": SHARE,  # a share of the current fee
    "guardrails.max_step_ppm": (0, PPM_MAX),
    "guardrails.step_floor_ppm": (0, PPM_MAX),
    "guardrails.max_changes_per_run": (0, 10_000),
    # inbound fees are discounts only: positive values make LND blame failures on the wrong channel
    # (lnd#9058), so 0 is the upper bound
    "guardrails.inbound_min_ppm": (-PPM_MAX, 0),
    "guardrails.inbound_min_base_msat": (-BASE_MSAT_MAX, 0),
    "guardrails.inbound_max_step_ppm": (0, PPM_MAX),
    "guardrails.channel_overrides.*.min_ppm": (0, PPM_MAX),
    "guardrails.channel_overrides.*.max_ppm": (0, PPM_MAX),
    "guardrails.channel_overrides.*.min_base_msat": (0, BASE_MSAT_MAX),
    "guardrails.channel_overrides.*.max_base_msat": (0, BASE_MSAT_MAX),
    "new_channels.default_ppm": (0, PPM_MAX),
    "new_channels.reference_multiplier": (0, MULTIPLIER_MAX),
    "new_channels.reprice_below_share": SHARE,
    "rebalance.max_cost_fraction": SHARE,
    "rebalance.payback_days": (1, 365),
    "rebalance.min_amount_sat": (1, SAT_MAX),
    "rebalance.max_amount_sat": (1, SAT_MAX),
    "rebalance.max_sources": (1, 100),
    "rebalance.source_min_local_share": SHARE,
    "graph.betweenness_samples": (1, BETWEENNESS_SAMPLES_MAX),
    "graph.seed": (0, 2**32 - 1),
    "graph.reference_amount_sat": (1, SAT_MAX),
    "inbound.discount_share": SHARE,
    "inbound.below_share": SHARE,
}

# Lists (and channel_overrides) hold at most this many entries, each at most ID_MAX_LEN
# characters; what an entry must look like is node_id_errors()' job.
LIST_MAX = 1000
ID_MAX_LEN = 100
LIST_FIELDS = ("allow_channels", "deny_channels", "allow_peers", "deny_peers", "pinned_channels")
CHANNEL_LIST_FIELDS = ("allow_channels", "deny_channels", "pinned_channels")
PEER_LIST_FIELDS = ("allow_peers", "deny_peers")


def numeric_patterns(cls: Optional[type] = None, prefix: str = "") -> Dict[str, type]:
    """Every numeric setting's RANGES pattern -> its type, read from the dataclasses."""
    cls = cls or EngineSettings
    hints = typing.get_type_hints(cls)
    out: Dict[str, type] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        path = _join(prefix, f.name)
        if typing.get_origin(hint) is typing.Union:
            hint = [a for a in typing.get_args(hint) if a is not type(None)][0]
        if dataclasses.is_dataclass(hint):
            out.update(numeric_patterns(hint, path))
        elif typing.get_origin(hint) in (dict, collections.abc.Mapping):
            out.update(numeric_patterns(typing.get_args(hint)[1], f"{path}.*"))
        elif hint in (int, float):
            out[path] = hint
    return out


def _numbers(value: Any, pattern: str, path: str) -> Iterator[Tuple[str, str, Any]]:
    """(pattern, path, value) of every number that has a range; mapping keys are "*" in the pattern."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from _numbers(getattr(value, f.name), _join(pattern, f.name), _join(path, f.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _numbers(item, f"{pattern}.*", f"{path}.{key}")
    elif pattern in RANGES and value is not None:
        yield pattern, path, value


# --- validation ---------------------------------------------------------------
#
# A message reads after the label of the field it is about ("must not exceed Maximum
# fee (ppm)"), and names any other setting by its label (engine/settings_labels.py),
# never by its path.


def L(path: str) -> str:  # noqa: N802 - short on purpose: used inside many messages
    """The label of another setting, for a message."""
    return engine_label(path)


def _or(items: Iterable[str]) -> str:
    words = list(items)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def validate(s: EngineSettings) -> List[Tuple[str, str]]:
    """Every problem as (field_path, message); empty when the settings are usable."""
    errors: List[Tuple[str, str]] = []
    out_of_range: set = set()

    for pattern, path, value in _numbers(s, "", ""):
        low, high = RANGES[pattern]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            errors.append((path, "must be a number (not infinite)"))
        elif value < low:
            errors.append((path, f"must be at least {low}"))
        elif value > high:
            errors.append((path, f"must be at most {high}"))
        else:
            continue
        out_of_range.add(path)

    def check(ok: bool, path: str, message: str) -> None:
        # one message per field: a value out of its range needs no second one
        if not ok and path not in out_of_range:
            errors.append((path, message))

    def usable(*paths: str) -> bool:
        return not out_of_range.intersection(paths)

    weights = s.weights.as_dict()
    if usable(*(f"weights.{name}" for name in weights)):
        check(sum(weights.values()) > 0, "weights", "must have at least one weight above 0")

    liq = s.liquidity
    if usable("liquidity.target_low", "liquidity.target_high"):
        check(liq.target_low < liq.target_high, "liquidity.target_low", f"must be below {L('liquidity.target_high')}")
        check(liq.target_low > 0, "liquidity.target_low", "must be above 0")
        check(liq.target_high < 1, "liquidity.target_high", "must be below 1")

    act = s.activity
    if usable("activity.short_window_days", "activity.long_window_days"):
        check(act.short_window_days <= act.long_window_days, "activity.short_window_days",
              f"must not exceed {L('activity.long_window_days')}")
    for name in ("turnover_half_weekly", "yield_half_annual"):
        check(getattr(act, name) > 0, f"activity.{name}", "must be above 0")

    dec = s.decisions
    check(dec.direction_source in DIRECTIONS, "decisions.direction_source",
          "must be one of: " + ", ".join(DIRECTIONS)
          + (f" (“{dec.direction_source}” was retired: it earned less than “flow” on the benchmark)"
             if dec.direction_source in RETIRED_DIRECTIONS else ""))
    check(dec.flow_window_days in FLOW_WINDOWS_DAYS, "decisions.flow_window_days",
          "must be one of the forwarding windows: " + _or(str(d) for d in FLOW_WINDOWS_DAYS) + " days")
    check(dec.flow_censor_share < 0.5, "decisions.flow_censor_share", "must be below 0.5")
    check(dec.flow_max_step > 1, "decisions.flow_max_step", "must be above 1 and at most 10")
    bands = ("decisions.raise_below_score", "decisions.lower_from_score", "decisions.lower_below_score",
             "decisions.hold_score")
    if usable(*bands):
        check(dec.lower_from_score <= dec.lower_below_score, "decisions.lower_from_score",
              f"must not exceed {L('decisions.lower_below_score')}")
        check(dec.raise_below_score <= dec.lower_from_score, "decisions.raise_below_score",
              f"must not exceed {L('decisions.lower_from_score')} (the bands would overlap)")
        check(dec.lower_below_score <= dec.hold_score, "decisions.lower_below_score",
              f"must not exceed {L('decisions.hold_score')}")
    check(dec.step_gain > 0, "decisions.step_gain", "must be above 0")

    ao = s.anti_oscillation
    budget = ("anti_oscillation.relay_tokens_per_hour", "anti_oscillation.relay_tokens_per_update",
              "anti_oscillation.relay_bucket_max")
    if usable(*budget) and ao.relay_tokens_per_update > 0:
        # a bucket that can never hold one update, or never refills, would stop every change for good
        check(ao.relay_bucket_max >= ao.relay_tokens_per_update, "anti_oscillation.relay_bucket_max",
              f"must be at least {L('anti_oscillation.relay_tokens_per_update')}")
        check(ao.relay_tokens_per_hour > 0, "anti_oscillation.relay_tokens_per_hour",
              f"must be above 0 (or set {L('anti_oscillation.relay_tokens_per_update')} to 0: no relay budget)")

    g = s.guardrails
    if usable("guardrails.min_ppm", "guardrails.max_ppm"):
        check(g.min_ppm <= g.max_ppm, "guardrails.min_ppm", f"must not exceed {L('guardrails.max_ppm')}")
    if usable("guardrails.min_base_msat", "guardrails.max_base_msat"):
        check(g.min_base_msat <= g.max_base_msat, "guardrails.min_base_msat",
              f"must not exceed {L('guardrails.max_base_msat')}")
    check(g.max_step_pct > 0, "guardrails.max_step_pct", "must be above 0")
    for name in LIST_FIELDS:
        entries = getattr(g, name)
        check(len(entries) <= LIST_MAX, f"guardrails.{name}", f"must have at most {LIST_MAX} entries")
        check(all(len(e) <= ID_MAX_LEN for e in entries), f"guardrails.{name}",
              f"must have no entry longer than {ID_MAX_LEN} characters")
    overrides = dict(g.channel_overrides)
    check(len(overrides) <= LIST_MAX, "guardrails.channel_overrides",
          f"must have at most {LIST_MAX} entries")
    check(all(len(k) <= ID_MAX_LEN for k in overrides), "guardrails.channel_overrides",
          f"must have no channel id longer than {ID_MAX_LEN} characters")
    for chan, override in overrides.items():
        path = f"guardrails.channel_overrides.{chan}"
        if not usable(*(f"{path}.{n}" for n in ("min_ppm", "max_ppm", "min_base_msat", "max_base_msat"))):
            continue
        lo = override.min_ppm if override.min_ppm is not None else g.min_ppm
        hi = override.max_ppm if override.max_ppm is not None else g.max_ppm
        check(lo <= hi, f"{path}.min_ppm", f"must not exceed the channel's {L('guardrails.max_ppm')}, {hi}")
        lo = override.min_base_msat if override.min_base_msat is not None else g.min_base_msat
        hi = override.max_base_msat if override.max_base_msat is not None else g.max_base_msat
        check(lo <= hi, f"{path}.min_base_msat", f"must not exceed the channel's {L('guardrails.max_base_msat')}, {hi}")

    check(s.new_channels.reference_multiplier > 0, "new_channels.reference_multiplier", "must be above 0")

    check(s.inbound.manage in INBOUND_MODES, "inbound.manage", "must be one of: " + ", ".join(INBOUND_MODES))
    check(s.inbound.below_share > 0, "inbound.below_share", "must be above 0")

    rb = s.rebalance
    if usable("rebalance.min_amount_sat", "rebalance.max_amount_sat"):
        check(rb.min_amount_sat <= rb.max_amount_sat, "rebalance.min_amount_sat",
              f"must not exceed {L('rebalance.max_amount_sat')}")
    return errors


# --- what ids look like (checked where an operator's document comes in) ----------

# The engine treats ids as opaque keys (it matches a channel by chan_id or short_id, so
# engine tests and the bench use made-up ones); an operator's entry that is not an id the
# node can give can never match, so the settings document refuses it.
_DECIMAL = re.compile(r"[0-9]{1,20}")  # LND chan_id, a uint64
_SHORT_ID = re.compile(r"([0-9]{1,8})x([0-9]{1,8})x([0-9]{1,5})")  # BLOCKxTXxOUT
_CLN_CHANNEL_ID = re.compile(r"[0-9a-f]{64}")
_OUTPOINT = re.compile(r"[0-9a-f]{64}:[0-9]{1,10}")  # how LND names a pending channel
_NODE_ID = re.compile(r"0[23][0-9a-f]{64}")
CHANNEL_ID_HELP = ("an LND chan_id (decimal), a short channel id BLOCKxTXxOUT, a CLN channel_id "
                   "(64 hex characters) or a funding outpoint TXID:INDEX")
NODE_ID_HELP = "a node public key (66 lowercase hex characters starting with 02 or 03)"


def is_channel_id(text: str) -> bool:
    if _DECIMAL.fullmatch(text):
        return int(text) < 2**64
    short = _SHORT_ID.fullmatch(text)
    if short:
        # the short channel id packs 3 bytes of block, 3 of transaction index, 2 of output
        block, tx, out = (int(part) for part in short.groups())
        return block < 2**24 and tx < 2**24 and out < 2**16
    return bool(_CLN_CHANNEL_ID.fullmatch(text) or _OUTPOINT.fullmatch(text))


def is_node_id(text: str) -> bool:
    return bool(_NODE_ID.fullmatch(text))


def node_id_errors(s: EngineSettings) -> List[Tuple[str, str]]:
    """Channel and peer lists with entries that are not ids a node gives, as (field_path, message):
    one message per list, naming its first bad entry."""
    g = s.guardrails
    channels = f"channel ids: {CHANNEL_ID_HELP}"
    peers = "node public keys: 66 lowercase hex characters starting with 02 or 03"
    lists = [(f"guardrails.{name}", getattr(g, name), is_channel_id, channels) for name in CHANNEL_LIST_FIELDS]
    lists += [(f"guardrails.{name}", getattr(g, name), is_node_id, peers) for name in PEER_LIST_FIELDS]
    lists.append(("guardrails.channel_overrides", tuple(g.channel_overrides), is_channel_id, channels))
    errors: List[Tuple[str, str]] = []
    for path, entries, ok, wanted in lists:
        bad = [e for e in entries if not ok(e)]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            errors.append((path, f"must list only {wanted}; {shown(bad[0])}{more} is not one"))
    return errors


def without_retired(engine_doc: Mapping[str, Any]) -> Dict[str, Any]:
    """A stored engine document without the knobs of retired strategies (they no longer do
    anything); a retired strategy's name is kept, so validation says it was retired."""
    doc = dict(engine_doc)
    decisions = doc.get("decisions")
    if isinstance(decisions, Mapping):
        doc["decisions"] = {k: v for k, v in decisions.items() if k not in RETIRED_DECISION_KEYS}
    return doc


def without_inbound_management(settings: EngineSettings) -> EngineSettings:
    """The settings with every inbound fee left as it is (`inbound.manage` off, no channel opted
    in): for a backend without inbound fees (Core Lightning), whatever the stored document says."""
    g = settings.guardrails
    overrides = {k: dataclasses.replace(o, manage_inbound=None) if o.manage_inbound else o
                 for k, o in g.channel_overrides.items()}
    return dataclasses.replace(
        settings,
        inbound=dataclasses.replace(settings.inbound, manage=INBOUND_OFF),
        guardrails=dataclasses.replace(g, channel_overrides=overrides),
    )
