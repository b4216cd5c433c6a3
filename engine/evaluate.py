"""The engine's entry point: snapshot + settings + history + graph metrics -> Evaluation.

Pure and deterministic. Cheap (milliseconds per channel) when `metrics` is given;
the expensive part, `compute_graph_metrics`, is done by the caller (in its worker
process) and cached by `metrics_key`. Without metrics the graph-based heuristics are
marked unknown and the rest still works.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import AbstractSet, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .decisions import (
    CLOSE_CHANNEL,
    DECREASE_FEES,
    INCREASE_FEES,
    NO_ACTION,
    REBALANCE,
    Advice,
    FeeIntent,
    advise_close,
    advise_rebalance,
    decide_fee,
    competitor_reference,
    refill_sources,
)
from .graph_metrics import GraphMetrics, Reach
from .guardrails import FeeProposal, LimitedBy, block_for_run_limit, check, inbound_managed, limited_by
from .inbound import inbound_target
from .heuristics import ChannelContext, HeuristicResult, run_all
from .history import channel_records, records_by_channel
from .labels import evidence_text
from .plain import headline, not_scored_headline, score_role
from .settings import EngineSettings
from .snapshot import ACTIVE, INACTIVE, Channel, ChangeRecord, NodeSnapshot, Policy

ENGINE_VERSION = "1"


@dataclass(frozen=True)
class Part:
    """One heuristic's contribution to the total."""

    name: str
    score: Optional[float]
    weight: float  # configured weight
    effective_weight: float  # share of the total after re-weighting the known ones
    evidence: Dict[str, Any]  # raw numbers, keys as the heuristic names them (API users rely on them)
    note: str

    @property
    def evidence_text(self) -> List[Dict[str, str]]:
        """The evidence as {"label", "value"} rows in plain units (made when serialised: the cycle
        itself never reads it)."""
        return evidence_text(self.name, self.evidence)

    def to_dict(self) -> Dict[str, Any]:
        # its fields in order, `evidence_text` after `evidence`; written out, as a 2,000-channel
        # run has 16,000 parts (tests/engine/test_evaluate_dicts.py holds it to the fields)
        return {
            "name": self.name, "score": _plain(self.score), "weight": _plain(self.weight),
            "effective_weight": _plain(self.effective_weight), "evidence": _plain(self.evidence),
            "evidence_text": self.evidence_text, "note": self.note,
        }


@dataclass(frozen=True)
class ChannelAssessment:
    chan_id: str
    short_id: str
    peer_id: str
    peer_alias: str
    state: str
    capacity_sat: int
    score: Optional[float]  # None when no heuristic had data (or not scored)
    confidence: float  # share of the configured weight that had data
    parts: Tuple[Part, ...]
    action: str  # the headline: fee action, else CLOSE_CHANNEL / REBALANCE advice, else NO_ACTION
    fee_action: str  # NO_ACTION / INCREASE_FEES / DECREASE_FEES as decided (before guardrails)
    proposal: Optional[FeeProposal]
    advice: Tuple[Advice, ...]
    reason: str  # the formula with its numbers (the page's detail)
    pressure: float = 0.0
    signals: Dict[str, float] = field(default_factory=dict)
    headline: str = ""  # one plain sentence: the situation and what happens, e.g. "Full and idle for 30 days: lower to 441 ppm"
    limited_by: Optional[LimitedBy] = None  # the guardrail that capped or blocked the proposal
    score_role: str = ""  # what the score does for this channel under the fee mode
    advice_withheld: Optional[str] = None  # why a refill the channel needs is not advised

    @property
    def accepted(self) -> bool:
        return self.proposal is not None and self.proposal.accepted

    @property
    def blocked_by(self) -> Optional[str]:
        return self.proposal.blocked_by if self.proposal is not None else None

    @property
    def old_policy(self) -> Optional[Policy]:
        return self.proposal.old_policy if self.proposal is not None else None

    @property
    def new_policy(self) -> Optional[Policy]:
        return self.proposal.new_policy if self.proposal is not None else None

    def advice_dicts(self) -> Dict[str, Any]:
        """`advice` and `limited_by` as to_dict has them, without the parts' cost (a decision needs no more)."""
        return {"advice": _plain(self.advice), "limited_by": _plain(self.limited_by)}

    def proposal_dicts(self) -> Dict[str, Any]:
        """`old_policy`, `new_policy` and `notes` as to_dict has them under `proposal` (none: None,
        None and [])."""
        proposal = self.proposal
        if proposal is None:
            return {"old_policy": None, "new_policy": None, "notes": []}
        return {"old_policy": _plain(proposal.old_policy), "new_policy": _plain(proposal.new_policy),
                "notes": _plain(proposal.notes)}

    def to_dict(self) -> Dict[str, Any]:
        data = {f.name: [p.to_dict() for p in self.parts] if f.name == "parts" else _plain(getattr(self, f.name))
                for f in dataclasses.fields(self)}
        data["accepted"] = self.accepted
        data["blocked_by"] = self.blocked_by
        return data


@dataclass(frozen=True)
class Evaluation:
    node_id: str
    taken_at: int
    now: int
    engine_version: str
    graph_fingerprint: Optional[str]
    channels: Tuple[ChannelAssessment, ...]
    warnings: Tuple[str, ...] = ()

    def channel(self, chan_id: str) -> Optional[ChannelAssessment]:
        for a in self.channels:
            if a.chan_id == chan_id:
                return a
        return None

    @property
    def accepted(self) -> Tuple[ChannelAssessment, ...]:
        return tuple(a for a in self.channels if a.accepted)

    def counts(self) -> Dict[str, int]:
        out: Dict[str, int] = {"channels": len(self.channels), "accepted": len(self.accepted)}
        for a in self.channels:
            out[a.action] = out.get(a.action, 0) + 1
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {
            "node_id": self.node_id,
            "taken_at": self.taken_at,
            "now": self.now,
            "engine_version": self.engine_version,
            "graph_fingerprint": self.graph_fingerprint,
            "counts": self.counts(),
            "warnings": list(self.warnings),
            "channels": [a.to_dict() for a in self.channels],
        }


_SCALARS = (str, int, type(None))  # bool is an int


def _plain(value: Any) -> Any:
    # the common cases first: typing's isinstance check against Mapping is slow, and a run of a
    # 2,000-channel node makes millions of these calls
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        return None if value != value else value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# --- scoring ------------------------------------------------------------------


def combine(results: Sequence[HeuristicResult], settings: EngineSettings) -> Tuple[Optional[float], float, Tuple[Part, ...]]:
    """Weighted mean over the known heuristics; confidence = known weight / all weight."""
    weights = settings.weights.as_dict()
    total_weight = sum(max(0.0, w) for w in weights.values())
    known_weight = sum(max(0.0, weights[r.name]) for r in results if r.known)
    parts = []
    for r in results:
        w = max(0.0, weights[r.name])
        eff = w / known_weight if (r.known and known_weight > 0) else 0.0
        parts.append(Part(r.name, r.score, w, round(eff, 4), r.evidence, r.note))
    if known_weight <= 0:
        return None, 0.0, tuple(parts)
    score = sum(max(0.0, weights[r.name]) * (r.score or 0.0) for r in results if r.known) / known_weight
    confidence = known_weight / total_weight if total_weight > 0 else 0.0
    return round(score, 4), round(confidence, 4), tuple(parts)


# --- the cycle ----------------------------------------------------------------


def evaluate(
    snapshot: NodeSnapshot,
    settings: EngineSettings,
    history: Sequence[ChangeRecord],
    metrics: Optional[GraphMetrics],
    now: int,
    inbound_ours: AbstractSet[str] = frozenset(),
) -> Evaluation:
    """`inbound_ours`: the chan_ids (or short ids) whose current inbound fee is the one Fee Autopilot's
    own last change wrote (the shell knows it from its change log and the live policy). With
    `inbound.manage` "on" only those and channels at LND's default inbound fee (0 / 0) are managed;
    any other inbound fee was set by hand and is kept unless the channel's override opts it in."""
    warnings: List[str] = []
    if metrics is not None and metrics.our_node_id != snapshot.node_id:
        warnings.append("graph metrics were computed for another node id: ignored")
        metrics = None
    if metrics is not None and snapshot.graph is not None and snapshot.graph.fingerprint \
            and metrics.fingerprint != snapshot.graph.fingerprint:
        warnings.append("graph metrics are from an older graph snapshot")
    if metrics is None:
        warnings.append("no graph metrics: centrality, competitiveness, peer quality and position are unknown")
    for source, error in sorted((snapshot.source_errors or {}).items()):
        warnings.append(f"source {source} unavailable: {error}")

    scorable = [c for c in snapshot.channels if c.state in (ACTIVE, INACTIVE)]
    reach: Dict[str, Reach] = metrics.reach_through(c.peer_id for c in scorable) if metrics else {}
    sources = refill_sources(snapshot.channels, settings)

    assessments: List[ChannelAssessment] = []
    # what the headline restates; it is written after the run limit, which may block a proposal
    contexts: Dict[str, Tuple[ChannelContext, FeeIntent]] = {}
    grouped = records_by_channel(history)
    for channel in snapshot.channels:
        chan_history = channel_records(grouped, channel)
        if channel.state not in (ACTIVE, INACTIVE):
            assessments.append(_not_scored(channel))
            continue
        ctx = ChannelContext(
            channel=channel,
            settings=settings,
            now=now,
            block_height=snapshot.block_height,
            history=chan_history,
            metrics=metrics,
            peer=metrics.node(channel.peer_id) if metrics else None,
            reach=reach.get(channel.peer_id),
        )
        score, confidence, parts = combine(run_all(ctx), settings)
        intent = decide_fee(ctx, score)
        inbound = inbound_target(ctx) if inbound_managed(channel, settings, inbound_ours) else None
        proposal = check(intent, channel, chan_history, settings, now, inbound)
        refill = advise_rebalance(ctx, sources)
        advice = tuple(a for a in (advise_close(ctx, score), refill.advice) if a)
        contexts[channel.chan_id] = (ctx, intent)
        assessments.append(
            ChannelAssessment(
                chan_id=channel.chan_id, short_id=channel.short_id, peer_id=channel.peer_id,
                peer_alias=channel.peer_alias or (metrics.node(channel.peer_id).alias
                                                  if metrics and metrics.node(channel.peer_id) else ""),
                state=channel.state, capacity_sat=channel.capacity_sat,
                score=score, confidence=confidence, parts=parts,
                action=_headline(intent, proposal, advice), fee_action=intent.action,
                proposal=proposal, advice=advice, reason="",
                pressure=intent.pressure, signals=dict(intent.signals),
                score_role=score_role(settings, competitor_reference(ctx) is not None),
                advice_withheld=refill.withheld,
            )
        )
        assessments[-1] = dataclasses.replace(assessments[-1], reason=explain(intent, proposal, advice, score))

    assessments = _apply_run_limit(assessments, settings)
    for i, a in enumerate(assessments):
        if a.chan_id in contexts:
            ctx, intent = contexts[a.chan_id]
            assessments[i] = dataclasses.replace(
                a, headline=headline(ctx, intent, a.proposal, a.advice),
                limited_by=limited_by(a.proposal, ctx.channel, settings))
    return Evaluation(
        node_id=snapshot.node_id,
        taken_at=snapshot.taken_at,
        now=now,
        engine_version=ENGINE_VERSION,
        graph_fingerprint=metrics.fingerprint if metrics else None,
        channels=tuple(assessments),
        warnings=tuple(warnings),
    )


def _not_scored(channel: Channel) -> ChannelAssessment:
    return ChannelAssessment(
        chan_id=channel.chan_id, short_id=channel.short_id, peer_id=channel.peer_id,
        peer_alias=channel.peer_alias, state=channel.state, capacity_sat=channel.capacity_sat,
        score=None, confidence=0.0, parts=(), action=NO_ACTION, fee_action=NO_ACTION,
        proposal=None, advice=(), reason=f"{channel.state.capitalize()} channel: not scored, no fee proposal",
        headline=not_scored_headline(channel),
    )


def _headline(intent: FeeIntent, proposal: Optional[FeeProposal], advice: Sequence[Advice]) -> str:
    if proposal is not None and proposal.accepted:
        return INCREASE_FEES if proposal.direction > 0 else DECREASE_FEES if proposal.direction < 0 else intent.action
    kinds = [a.kind for a in advice]
    if CLOSE_CHANNEL in kinds:
        return CLOSE_CHANNEL
    if REBALANCE in kinds:
        return REBALANCE
    return NO_ACTION


def _apply_run_limit(assessments: List[ChannelAssessment], settings: EngineSettings) -> List[ChannelAssessment]:
    """Keep the most important accepted changes: strongest pressure, then largest capacity."""
    limit = settings.guardrails.max_changes_per_run
    accepted = [a for a in assessments if a.accepted]
    if len(accepted) <= limit:
        return assessments
    ranked = sorted(accepted, key=lambda a: (-abs(a.pressure), -a.capacity_sat, a.chan_id))
    dropped = {a.chan_id for a in ranked[limit:]}
    out = []
    for a in assessments:
        if a.chan_id in dropped and a.proposal is not None:
            proposal = block_for_run_limit(a.proposal, limit)
            a = dataclasses.replace(a, proposal=proposal, action=NO_ACTION if not a.advice else a.advice[0].kind)
            a = dataclasses.replace(a, reason=_blocked_reason_suffix(a.reason, proposal))
        out.append(a)
    return out


# --- reasons ------------------------------------------------------------------


def explain(intent: FeeIntent, proposal: Optional[FeeProposal], advice: Sequence[Advice], score: Optional[float]) -> str:
    """One or two sentences with the numbers, e.g.
    "Outbound 8 % and 1.2 M sat net outflow in 7 days: raise 400 → 460 ppm (+15 %, capped by the max step)"."""
    score_words = f"score {score:.2f}" if score is not None else "no score"
    if intent.why.startswith("Score") or intent.hold_reason.startswith("score"):
        score_words = ""
    if proposal is None:
        text = (intent.why + ": " if intent.why else "") + (intent.hold_reason or "no action")
        text = f"{text[0].upper()}{text[1:]}" + (f" ({score_words})" if score_words else "")
    elif not proposal.outbound_changed and proposal.inbound_changed and intent.action not in (INCREASE_FEES, DECREASE_FEES):
        # an inbound change alone: the outbound fee stays
        held = (intent.why + ": " if intent.why else "") + (intent.hold_reason or "no action")
        keep = f"keep {proposal.old_policy.ppm} ppm; " if proposal.accepted else ""
        text = f"{held[:1].upper()}{held[1:]}; {keep}{_inbound_words(proposal)}"
        if not proposal.accepted:
            text = _blocked_reason_suffix(text, proposal)
        if proposal.accepted and proposal.relay_left is not None:
            left = proposal.relay_left
            text += f". Relay budget: {left} update{'' if left == 1 else 's'} left today"
    else:
        old, new = proposal.old_policy.ppm, proposal.new_policy.ppm
        verb = "raise" if intent.action == INCREASE_FEES else "lower"
        if proposal.accepted:
            change = f"{verb} {old} → {new} ppm ({_signed_pct(old, new)}"
            clamps = [n.message for n in proposal.notes if n.effect == "clamped" and not n.rule.startswith("inbound")]
            change += (", " + "; ".join(clamps) if clamps else "") + ")"
            if proposal.new_policy.base_msat != proposal.old_policy.base_msat:
                change += f", base {proposal.old_policy.base_msat} → {proposal.new_policy.base_msat} msat"
        else:
            # what the guardrails would have let through, not the uncapped request (unless nothing was)
            shown = new if new != old else proposal.requested_ppm
            change = f"would {verb} {old} → {shown} ppm ({_signed_pct(old, shown)}"
            clamps = [n.message for n in proposal.notes if n.effect == "clamped" and not n.rule.startswith("inbound")]
            change += (", " + "; ".join(clamps) if clamps else "") + ")"
        text = f"{intent.why[:1].upper()}{intent.why[1:]}: {change}" + (f" ({score_words})" if score_words else "")
        if proposal.inbound_changed:
            text += f"; {_inbound_words(proposal)}"
        if not proposal.accepted:
            text = _blocked_reason_suffix(text, proposal)
        if proposal.accepted and proposal.urgent_share is not None:
            text += (f". A fast drain: {proposal.urgent_share * 100:.0f} % local, so this raise comes before the "
                     f"daily pace would allow it")
        if proposal.accepted and proposal.relay_left is not None:
            left = proposal.relay_left
            text += f". Relay budget: {left} update{'' if left == 1 else 's'} left today"
    for a in advice:
        text += f". {a.kind.replace('_', ' ').capitalize()} advised: {a.reason}"
    return text


def _inbound_words(proposal: FeeProposal) -> str:
    """"inbound -20 → -60 ppm (outbound 12 %, below 100 %: …)", with the inbound clamps."""
    old, new = proposal.old_policy, proposal.new_policy
    verb = "inbound" if proposal.accepted else "would set inbound"
    text = f"{verb} {old.inbound_ppm} → {new.inbound_ppm} ppm"
    if new.inbound_base_msat != old.inbound_base_msat:
        text += f", inbound base {old.inbound_base_msat} → {new.inbound_base_msat} msat"
    clamps = [n.message for n in proposal.notes if n.effect == "clamped" and n.rule.startswith("inbound")]
    why = "; ".join(([proposal.inbound_why] if proposal.inbound_why else []) + clamps)
    return text + (f" ({why})" if why else "")


def _signed_pct(old: int, new: int) -> str:
    if old == 0:
        return f"+{new} ppm"
    return f"{(new - old) / old * 100:+.0f} %"


def _blocked_reason_suffix(text: str, proposal: FeeProposal) -> str:
    blocking = [n for n in proposal.notes if n.effect == "blocked"]
    if not blocking:
        return text
    last = blocking[-1]
    return f"{text} — blocked by {last.rule}: {last.message}"
