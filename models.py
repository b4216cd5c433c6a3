"""API and storage models (pydantic v1, as LNbits uses)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel as PydanticModel
from pydantic import Field, StrictBool, conint, conlist, constr
from pydantic.errors import DictError

from .engine.settings import BASE_MSAT_MAX, PPM_MAX
from .engine.settings_labels import FIELD_LABELS
from .engine.impact import Impact, Window
from .engine.snapshot import Channel, Policy

# --- honest schemas --------------------------------------------------------------------
#
# pydantic v1 documents `Optional[X]` as plain X, so LNbits' /openapi.json (OpenAPI 3.1,
# JSON Schema 2020-12) said `"type": "integer"` for fields we answer with null. Every model
# here says so: an Optional field's schema becomes `anyOf: [X, {"type": "null"}]`. A field
# that is left out rather than sent as null (the extra keys of an error answer) is declared
# with `Field(None, absent_not_null=True)` and keeps its plain schema.

NULL = {"type": "null"}
_ANNOTATIONS = ("title", "description", "default", "examples")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        if NULL not in schema["anyOf"]:
            schema["anyOf"].append(NULL)
        return schema
    outer = {key: schema.pop(key) for key in _ANNOTATIONS if key in schema}
    if list(schema) == ["allOf"] and len(schema["allOf"]) == 1:
        schema = schema["allOf"][0]  # pydantic's wrapper around a $ref that has a description
    return {**outer, "anyOf": [schema, NULL]}


def nullable_optionals(schema: dict[str, Any], model: type) -> None:
    """pydantic v1 `schema_extra`: Optional fields are nullable in the JSON schema."""
    properties = schema.get("properties", {})
    for field in model.__fields__.values():  # type: ignore[attr-defined]
        prop = properties.get(field.alias)
        if prop is None:
            continue
        if prop.pop("absent_not_null", False) or not field.allow_none:
            continue
        if not set(prop) - set(_ANNOTATIONS):
            continue  # `Any`: the empty schema already allows null
        properties[field.alias] = _nullable(prop)


class BaseModel(PydanticModel):
    class Config:
        schema_extra = staticmethod(nullable_optionals)


NAME_DESCRIPTION = ("The requester's name: the username of their LNbits account, else its e-mail, else "
                    "\"user 08a0…\"; Fee Autopilot's own schedule and changes made outside it by what they are")


class RequestBody(BaseModel):
    """A request body: a JSON object, nothing else. pydantic v1 builds a model from anything
    `dict()` takes, so `""` and `[]` were read as `{}` — POST /changes/{id}/rollback with the
    body `""` rolled the change back (found by the schemathesis fuzz)."""

    @classmethod
    def validate(cls, value: Any) -> Any:
        if not isinstance(value, (dict, cls)):
            raise DictError()
        return super().validate(value)


# Request bodies are strict: a boolean is true or false (pydantic would read "no" as
# false, so {"dry_run": "no"} started a live run), a number is a number, id lists are bounded.
MAX_DECISION_IDS = 1000
DecisionId = constr(strict=True, min_length=1, max_length=64, regex=r"^[A-Za-z0-9_-]+$")
DecisionIds = conlist(DecisionId, max_items=MAX_DECISION_IDS)


def policy_dict(policy: Optional[Policy]) -> Optional[dict]:
    if policy is None:
        return None
    return {
        "base_msat": policy.base_msat,
        "ppm": policy.ppm,
        "cltv_delta": policy.cltv_delta,
        "min_htlc_msat": policy.min_htlc_msat,
        "max_htlc_msat": policy.max_htlc_msat,
        "disabled": policy.disabled,
        "inbound_base_msat": policy.inbound_base_msat,
        "inbound_ppm": policy.inbound_ppm,
    }


def policy_from_dict(data: dict) -> Policy:
    return Policy(
        base_msat=int(data["base_msat"]),
        ppm=int(data["ppm"]),
        cltv_delta=int(data["cltv_delta"]),
        min_htlc_msat=int(data["min_htlc_msat"]),
        max_htlc_msat=int(data["max_htlc_msat"]),
        disabled=bool(data.get("disabled", False)),
        inbound_base_msat=int(data.get("inbound_base_msat", 0)),
        inbound_ppm=int(data.get("inbound_ppm", 0)),
    )


class PolicyOut(BaseModel):
    base_msat: int = Field(..., description="Base fee in msat")
    ppm: int = Field(..., description="Proportional fee in parts per million")
    cltv_delta: int
    min_htlc_msat: int
    max_htlc_msat: int
    disabled: bool = False
    inbound_base_msat: int = 0
    inbound_ppm: int = 0

    @classmethod
    def of(cls, policy: Optional[Policy]) -> Optional["PolicyOut"]:
        if policy is None:
            return None
        return cls(
            base_msat=policy.base_msat,
            ppm=policy.ppm,
            cltv_delta=policy.cltv_delta,
            min_htlc_msat=policy.min_htlc_msat,
            max_htlc_msat=policy.max_htlc_msat,
            disabled=policy.disabled,
            inbound_base_msat=policy.inbound_base_msat,
            inbound_ppm=policy.inbound_ppm,
        )


class ChannelOut(BaseModel):
    id: str = Field(..., description="LND chan_id (decimal) or CLN channel_id; the outpoint for pending channels")
    short_id: str = Field(..., description="BLOCKxTXxOUT")
    channel_point: str
    peer_id: str
    peer_alias: str
    state: str = Field(..., description="active, inactive, pending or closed")
    capacity_sat: int
    local_sat: int
    remote_sat: int
    private: bool = False
    funding_height: Optional[int] = None
    policy: Optional[PolicyOut] = Field(None, description="Our fee policy toward the peer")
    peer_policy: Optional[PolicyOut] = Field(None, description="The peer's fee policy toward us")

    @classmethod
    def of(cls, channel: Channel) -> "ChannelOut":
        return cls(
            id=channel.chan_id,
            short_id=channel.short_id,
            channel_point=channel.channel_point,
            peer_id=channel.peer_id,
            peer_alias=channel.peer_alias,
            state=channel.state,
            capacity_sat=channel.capacity_sat,
            local_sat=channel.local_sat,
            remote_sat=channel.remote_sat,
            private=channel.private,
            funding_height=channel.funding_height,
            policy=PolicyOut.of(channel.local_policy),
            peer_policy=PolicyOut.of(channel.peer_policy),
        )


class ChannelsOut(BaseModel):
    node_id: str
    backend: str
    channels: list[ChannelOut]


class CredentialStatusOut(BaseModel):
    in_use: str = Field(..., description="Whose macaroon node calls send: fee_autopilot (its own), lnbits "
                                         "(the funding source's) or none (the credential cannot be decrypted)")
    state: str = Field(..., description="none, active, refused (the node refused it) or unusable (the vault cannot "
                                        "decrypt it)")
    fingerprint: Optional[str] = Field(None, description="The first 8 bytes of the macaroon's SHA-256")
    problem: Optional[str] = None
    fix: Optional[str] = Field(None, description="What to do about the problem")
    writes_paused: bool = Field(False, description="Fee changes are not sent until the credential is rotated or revoked")
    refused_at: Optional[int] = None


class WorkerStatusOut(BaseModel):
    mode: str = Field(..., description="process (Fee Autopilot's heavy-work process) or thread (LNbits' own process: "
                                       "the process could not start, or FEEPILOT_WORKER=thread)")
    running: bool = Field(..., description="Whether the heavy-work process runs now (it starts on first need)")
    pid: Optional[int] = None
    started_at: Optional[int] = None
    restarts: int = Field(0, description="Times it was started again after it had stopped")
    last_exit: Optional[str] = Field(None, description="How the last one stopped (e.g. killed by SIGKILL)")
    fallback_reason: Optional[str] = Field(None, description="Why heavy work runs in LNbits' own process")
    graph: Optional[dict] = Field(None, description="The network graph it holds: fingerprint, edges, nodes, taken_at")


class HtlcEventsOut(BaseModel):
    running: bool = Field(..., description="The listener runs (it does while the extension is enabled)")
    live: bool = Field(..., description="Subscribed to the node's HTLC event stream now")
    since: Optional[int] = Field(None, description="When the current subscription became live (unix seconds)")
    lost_at: Optional[int] = Field(None, description="When the last live subscription ended")
    last_event_at: Optional[int] = Field(None, description="When the last failed forward arrived")
    connects: int = Field(0, description="Subscriptions opened since the extension started")
    stored: int = Field(0, description="Failed forwards stored since the extension started")
    error: Optional[str] = Field(None, description="Why it is not live")
    error_at: Optional[int] = None
    failed_24h: int = Field(0, description="Failed forwards stored for the last 24 hours (every reason)")


class StatusOut(BaseModel):
    version: str
    backend: str = Field(..., description="LNbits funding source class")
    node_api_available: bool
    node_api_reason: Optional[str] = Field(None, description="Why the node API cannot be used, and what to do")
    node_id: Optional[str] = None
    alias: Optional[str] = None
    block_height: Optional[int] = None
    capabilities: dict[str, bool] = Field(
        default_factory=dict, description="What Fee Autopilot can do on this backend: reads_forwards, reads_graph, "
                                          "writes_fees, inbound_fees"
    )
    channel_counts: dict[str, int] = Field(default_factory=dict, description="Channels by state")
    sources: dict[str, bool] = Field(default_factory=dict, description="Data source -> usable")
    source_errors: dict[str, str] = Field(default_factory=dict)
    mode: str = Field("shadow", description="off, shadow or autopilot")
    schedule_running: bool = False
    cycle_running: bool = Field(False, description="A scheduled cycle is computing or applying now (its batch included)")
    interval_minutes: Optional[int] = None
    last_run: Optional[dict] = Field(None, description="Time, kind, status and counts of the newest run")
    settings_error: Optional[str] = Field(None, description="Why the stored settings are invalid (nothing runs until they are fixed)")
    schedule_error: Optional[str] = Field(None, description="Why the last scheduled cycle failed")
    schedule_error_at: Optional[int] = Field(None, description="When the last scheduled cycle failed (unix seconds)")
    external_changes_7d: int = Field(0, description="Policy changes made outside Fee Autopilot in the last 7 days")
    next_run_at: Optional[int] = None
    circuit_breaker: dict = Field(default_factory=dict, description="state closed, open or half_open")
    pending_changes: int = 0
    conflicts: int = Field(0, description="Changes whose outcome the reconciliation could not tell")
    notifications: list[dict] = Field(default_factory=list, description="Recent notifications, newest first")
    credential: Optional[CredentialStatusOut] = Field(
        None, description="Whose macaroon node calls send (Fee Autopilot's own credential or LNbits'), and whether "
                          "the node accepts it"
    )
    worker: Optional[WorkerStatusOut] = Field(
        None, description="Where heavy work (the graph, its metrics, the evaluation) runs"
    )
    htlc_events: Optional[HtlcEventsOut] = Field(
        None, description="The listener of LND's HTLC event stream: forwards that failed on our side"
    )


class Note(BaseModel):
    rule: str
    effect: str = Field(..., description="clamped or blocked")
    message: str


class Part(BaseModel):
    name: str
    score: Optional[float] = Field(None, description="0..1; null when the heuristic had no data")
    weight: float
    effective_weight: float
    evidence: dict
    evidence_text: list[dict] = []
    note: str


class ChannelScore(BaseModel):
    chan_id: str
    short_id: str
    peer_id: str
    peer_alias: str
    state: str
    capacity_sat: int
    total: Optional[float] = Field(None, description="Weighted score 0..1 over the heuristics with data")
    confidence: float = Field(..., description="Share of the heuristic weight that had data")
    parts: list[Part]
    action: str = Field(..., description="NO_ACTION, INCREASE_FEES, DECREASE_FEES, REBALANCE or CLOSE_CHANNEL")
    fee_action: str
    accepted: bool = Field(..., description="The fee proposal passed the guardrails")
    blocked_by: Optional[str] = None
    reason: str
    advice: list[dict] = []
    old_policy: Optional[dict] = None
    new_policy: Optional[dict] = None
    notes: list[dict] = []
    headline: str = ""
    limited_by: Optional[dict] = None
    advice_withheld: Optional[str] = None
    score_role: str = ""
    scored_policy: Optional[dict] = Field(None, description="Our policy when the channel was scored")
    local_sat: Optional[int] = Field(None, description="Our balance when the channel was scored")


class Decision(BaseModel):
    id: str
    run_id: str
    created_at: int
    order: int = 0
    chan_id: str
    short_id: str = ""
    peer_alias: str = ""
    action: str
    fee_action: str
    accepted: bool
    blocked_by: Optional[str] = None
    reason: str
    old_policy: Optional[dict] = None
    new_policy: Optional[dict] = None
    notes: list[Note] = []
    advice: list[dict] = []
    headline: str = ""
    limited_by: Optional[dict] = None
    advice_withheld: Optional[str] = None
    score_role: str = ""
    status: str = Field("proposed", description="proposed, would_apply, applied, failed, restored, skipped, blocked, no_action")
    change_id: Optional[str] = None
    message: Optional[str] = None


# --- insights: impact of applied changes, the summary band ------------------------------------------


class ImpactWindowOut(BaseModel):
    from_: int = Field(..., alias="from", description="Start, unix seconds (included)")
    to: int = Field(..., description="End, unix seconds (excluded)")
    fees_sat: float = Field(..., description="Fees of the forwards that went out through the channel (msat / 1000)")
    forwards: int
    volume_sat: int = Field(..., description="Amount forwarded out, sat")
    local_share: Optional[float] = Field(
        None, description="Time-average local / (local + remote) over the stored snapshots inside the window; null when none"
    )

    class Config:
        allow_population_by_field_name = True

    @classmethod
    def of(cls, window: Window) -> "ImpactWindowOut":
        return cls(
            from_=window.start,
            to=window.end,
            fees_sat=window.totals.fees_sat,
            forwards=window.totals.forwards,
            volume_sat=window.totals.volume_sat,
            local_share=window.local_share,
        )


class ImpactOut(BaseModel):
    """Before and after an applied change: the same length on both sides (engine/impact.py)."""

    at: int = Field(..., description="When the change was applied (settled_at, else created_at)")
    window_s: int = Field(..., description="min(7 days, now - at): the length of both windows")
    complete: bool = Field(..., description="The full 7 days after the change have passed")
    before: ImpactWindowOut = Field(..., description="[at - window_s, at)")
    after: ImpactWindowOut = Field(..., description="[at, at + window_s)")
    superseded_at: Optional[int] = Field(
        None,
        description="When a later applied change of the same channel fell inside the after-window (the window is "
        "not cut: it then shows part of that change's effect too); null when none did",
    )

    @classmethod
    def of(cls, impact: Optional[Impact]) -> Optional["ImpactOut"]:
        if impact is None:
            return None
        return cls(
            at=impact.at,
            window_s=impact.window_s,
            complete=impact.complete,
            before=ImpactWindowOut.of(impact.before),
            after=ImpactWindowOut.of(impact.after),
            superseded_at=impact.superseded_at,
        )


class RunImpactOut(ImpactOut):
    """A run's applied changes summed, each over windows of the smallest length among them."""

    at: int = Field(..., description="When the run's first applied change was applied")
    changes: int = Field(..., description="How many applied changes (rollbacks aside) are summed")

    @classmethod
    def of(cls, impact: Optional[Impact]) -> Optional["RunImpactOut"]:
        base = ImpactOut.of(impact)
        if base is None or impact is None:
            return None
        return cls(**base.dict(), changes=impact.changes)


IMPACT = "Before and after the change (null when it is not applied, was applied more than 365 days ago, or the " \
    "forwarding history could not be read: see `impact_error`); computed on the change log's reads, null in " \
    "the answers of writes"
IMPACT_ERROR = "Why impacts are null although changes are applied: the forwarding history could not be read"


class PeriodOut(BaseModel):
    key: str = Field(..., description="1d, 7d or 30d")
    label: str
    days: int
    fees_sat: float = Field(..., description="Fees earned in the window ending now (now included)")
    forwards: int
    volume_sat: int
    previous_fees_sat: float = Field(..., description="Fees earned in the equal window before it")
    previous_forwards: int
    previous_volume_sat: int
    change_pct: Optional[float] = Field(None, description="(fees - previous) / previous x 100; null when previous is 0")


class ChannelCountsOut(BaseModel):
    open: int = Field(..., description="Active and inactive channels")
    active: int
    drained: int = Field(..., description="Open channels with a local share below `drained_below`")
    full: int = Field(..., description="Open channels with a local share above `full_above`")


class ActivityOut(BaseModel):
    runs: int = Field(..., description="Runs created (every kind and status)")
    applied: int = Field(..., description="Changes Fee Autopilot applied (source autopilot or manual; rollbacks aside)")
    restored: int = Field(..., description="Rollbacks applied (by hand or a batch's automatic restore)")
    blocked: int = Field(..., description="blocked_at_apply + blocked_in_cycles")
    blocked_at_apply: int = Field(..., description="Proposals the apply-time re-check blocked (batches recorded since)")
    blocked_in_cycles: int = Field(..., description="Decisions of shadow and autopilot cycles a guardrail blocked")
    failed: int = Field(..., description="Changes that failed (any source)")
    external: int = Field(..., description="Policy changes made outside Fee Autopilot (found by drift detection)")


class SummaryOut(BaseModel):
    at: int = Field(..., description="Now (unix seconds): every window ends here")
    periods: list[PeriodOut] = Field(..., description="1d, 7d and 30d, in that order")
    capacity_sat: int = Field(..., description="Capacity of the open (active and inactive) channels")
    yield_annual_pct: Optional[float] = Field(
        None, description="30-day fees / capacity x 365/30 x 100; null when the capacity is 0"
    )
    channels: ChannelCountsOut = Field(..., description="Right now, from the live node")
    drained_below: float = Field(..., description="The engine's drained share (decisions.flow_censor_share)")
    full_above: float = Field(..., description="The engine's full share (1 - decisions.flow_censor_share)")
    since: Optional[int] = Field(None, description="The `since` asked for; null when not given")
    activity_since: int = Field(..., description="Where `activity` starts: `since`, or 7 days ago")
    activity: ActivityOut


class Run(BaseModel):
    id: str
    created_at: int
    finished_at: Optional[int] = None
    kind: str = Field(..., description="dry_run, manual, shadow or autopilot")
    requested_by: Optional[str] = None
    requested_by_name: Optional[str] = Field(None, description=NAME_DESCRIPTION)
    status: str = Field(..., description="running, completed, skipped, failed, applied, partially_applied, rolled_back")
    reason: str = ""
    node_id: Optional[str] = None
    counts: dict = {}
    summary: dict = {}


class RunDetail(Run):
    decisions: list[Decision] = []
    decisions_trimmed: bool = Field(
        False, description="Older than `decisions_retention_days`: `decisions` holds only the ones the change log names "
        "(the rest were pruned); `counts` still counts them all"
    )
    impact: Optional[RunImpactOut] = Field(
        None, description="GET /runs/{id}: its applied changes' impact summed (null when none is applied, and in "
        "the answer of POST /runs)"
    )
    impact_error: Optional[str] = Field(None, description=IMPACT_ERROR)


class RunPage(BaseModel):
    data: list[Run]
    total: int


class ScoresOut(BaseModel):
    run: Optional[Run] = None
    channels: list[ChannelScore] = []


class CreateRun(RequestBody):
    dry_run: StrictBool = Field(True, description="true: compute and store, apply nothing")

    class Config:
        extra = "forbid"


class Change(BaseModel):
    id: str
    created_at: int
    chan_id: str
    channel_point: str
    old_policy: dict
    new_policy: dict
    requested_by: str
    requested_by_name: Optional[str] = Field(None, description=NAME_DESCRIPTION)
    source: str = Field(..., description="autopilot, manual or rollback")
    run_id: Optional[str] = None
    decision_id: Optional[str] = None
    batch_id: Optional[str] = None
    rollback_of: Optional[str] = Field(None, description="The change this one undoes")
    reason: str = ""
    status: str = Field(..., description="pending, applied, failed or conflict")
    message: Optional[str] = None
    settled_at: Optional[int] = None
    rolled_back_by: Optional[str] = None
    impact: Optional[ImpactOut] = Field(None, description=IMPACT)


class ChangePage(BaseModel):
    data: list[Change]
    total: int
    impact_error: Optional[str] = Field(None, description=IMPACT_ERROR)


class ChangeEvent(BaseModel):
    at: int
    status: str = Field(..., description="pending, applied, failed or conflict")
    message: Optional[str] = None


class ChangeDetail(Change):
    events: list[ChangeEvent] = Field(
        default_factory=list, description="Every status the change went through, oldest first (append-only)"
    )
    impact_error: Optional[str] = Field(None, description=IMPACT_ERROR)


class Outcome(BaseModel):
    chan_id: str
    status: str = Field(
        ...,
        description="applied, failed, unknown (the node did not confirm: left pending until reconcile), "
        "restored, blocked (a guardrail at apply time, see `rule`), skipped or unchanged",
    )
    message: str = ""
    change_id: Optional[str] = None
    decision_id: Optional[str] = None
    rollback_change_id: Optional[str] = None
    rule: Optional[str] = Field(None, description="The guardrail that blocked it")


class ReconcileOut(BaseModel):
    settled: list[Change] = Field(..., description="Changes of unknown outcome settled now (applied, failed or conflict)")
    external: list[Change] = Field(..., description="Policy changes found that Fee Autopilot did not make, recorded now")
    interrupted_runs: list[str] = Field(..., description="Runs whose batch a crash cut off, now marked interrupted")


class BatchOut(BaseModel):
    batch_id: str
    status: str = Field(
        ..., description="applied, partially_applied, rolled_back, failed, interrupted (restored after an error) or nothing_to_do"
    )
    outcomes: list[Outcome]
    error: Optional[str] = Field(None, description="What interrupted the batch")


class ApplyRun(RequestBody):
    decision_ids: Optional[DecisionIds] = Field(
        None, description=f"Apply only these decisions of the run, at most {MAX_DECISION_IDS} (default: every accepted one)"
    )

    class Config:
        extra = "forbid"


class Rollback(RequestBody):
    force: StrictBool = Field(False, description="Restore even if the channel was changed since")

    class Config:
        extra = "forbid"


class RunRollbackOut(BaseModel):
    run_id: str
    status: str
    changes: list[dict]


class PinIn(RequestBody):
    pinned: StrictBool = True

    class Config:
        extra = "forbid"


class PinOut(BaseModel):
    chan_id: str
    pinned: bool


class PolicyIn(RequestBody):
    base_msat: conint(strict=True, ge=0, le=BASE_MSAT_MAX) = Field(..., description="Base fee in msat")
    ppm: conint(strict=True, ge=0, le=PPM_MAX) = Field(..., description="Fee rate in parts per million")

    class Config:
        extra = "forbid"


class EarningsOut(BaseModel):
    days: list[dict] = Field(..., description="[{day (unix, UTC midnight), fees_msat, forwards, volume_sat}], oldest first")
    per_channel: dict[str, list[int]] = Field(..., description="chan_id -> fees_msat per day, aligned with `days`")


class FailureTotalOut(BaseModel):
    count: int
    amount_sat: int


class FailedForwardOut(BaseModel):
    at: int
    amount_sat: int = Field(..., description="What would have left through this channel")
    chan_id_in: str
    wire_failure: str
    failure_detail: str = Field(..., description="LND's reason (e.g. INSUFFICIENT_BALANCE), or FAILED_DOWNSTREAM when "
                                "it left through this channel and failed further along the route")


class ChannelFailuresOut(BaseModel):
    heard: bool = Field(..., description="The node's HTLC event stream is heard now (else recent failures may be missing)")
    error: Optional[str] = Field(None, description="Why the stream is not live")
    lack_of_balance_24h: FailureTotalOut = Field(..., description="Forwards that failed here for lack of our balance, last 24 h")
    lack_of_balance: FailureTotalOut = Field(..., description="The same over the history's days")
    recent: list[FailedForwardOut] = Field(..., description="The newest failed forwards here (every reason), newest first")


class ChannelHistoryOut(BaseModel):
    chan_id: str
    points: list[dict]
    changes: list[dict] = Field(..., description="The channel's changes, oldest first, each with `impact` as in GET /changes")
    scores: list[dict]
    impact_error: Optional[str] = Field(None, description=IMPACT_ERROR)
    failed_forwards: ChannelFailuresOut = Field(
        ..., description="Forwards that failed on this outgoing channel, from the node's HTLC event stream"
    )


class PublicSummaryOut(BaseModel):
    enabled: bool = Field(..., description="false: the super user has not turned the public summary on (nothing else is given)")
    alias: Optional[str] = None
    channel_count: Optional[int] = None
    score_distribution: Optional[dict[str, int]] = None
    mode: Optional[str] = None
    last_run: Optional[dict] = None


class SettingsDocument(BaseModel):
    mode: str = Field(..., description="off, shadow or autopilot")
    interval_minutes: int = Field(..., description="Minutes between cycles (at least 5)")
    graph_refresh_minutes: int = Field(..., description="How long the network graph is reused")
    retention_days: int = Field(..., description="Scores and the channels' series older than this are pruned")
    runs_retention_days: int = Field(
        365, description="Runs older than this are pruned, with what is left of their decisions, except the runs the "
        "change log names; the change log itself never is"
    )
    decisions_retention_days: int = Field(
        5, description="Every decision of a run is kept this long; afterwards the run keeps only the decisions the "
        "change log names (the ones applied)"
    )
    forwards_retention_days: int = Field(400, description="The forwarding history Fee Autopilot keeps (days)")
    batch_rollback: bool = Field(..., description="Restore a batch when one of its changes fails")
    public_summary: bool = Field(..., description="Let non-admin users see aggregates")
    notifications: bool
    notification_min_interval_minutes: int
    history_days: int = Field(..., description="Change history the engine considers (cooldowns, reversals)")
    node_timeout_seconds: int
    retry_attempts: int
    breaker_failure_threshold: int
    breaker_cool_off_seconds: int
    engine: dict = Field(..., description="Heuristic weights, thresholds, guardrails, lists (see engine/README.md)")
    labels: dict[str, str] = Field(
        default_factory=lambda: dict(FIELD_LABELS),
        description="Read-only (ignored when sent back): what the page calls each setting, by its path "
        "(`*` stands for a channel id, `{channel}` in its label for the id); every message names a setting by it",
    )


class SettingsChange(BaseModel):
    id: str
    changed_at: int
    changed_by: Optional[str] = None
    requested_by_name: Optional[str] = Field(None, description=f"Who changed them: {NAME_DESCRIPTION}")
    old: Optional[dict] = None
    new: dict


# --- error answers (documentation: the bodies are LNbits' or views_api's JSON) --------------------


class ErrorOut(BaseModel):
    """LNbits' shape for every HTTP error: 401, 403, 404, 501, 502, 503, …"""

    detail: str


class RequestError(BaseModel):
    """One request-validation error, in words."""

    field: str = Field(..., description="The parameter or body field as the API names it (`body`: the body itself)")
    location: str = Field(..., description="query, path, body, header or cookie")
    message: str = Field(..., description="What is wrong, as a sentence: days must be between 1 and 365")


class BadRequestOut(BaseModel):
    """400: a request that does not validate (LNbits answers FastAPI's validation errors with
    400, not 422): `detail` says what is wrong with each parameter or field, in words, and
    `errors` lists them; a request the rules refuse (e.g. decision ids not in the run) gets
    `detail` alone."""

    detail: str = Field(..., description="What is wrong, in words: status must be one of: pending, applied, failed, conflict.")
    errors: list[RequestError] = Field(
        None, absent_not_null=True, description="Each parameter or field that did not validate (request validation only)"
    )


class FieldError(BaseModel):
    field: str = Field(..., description="Dotted path of the setting, e.g. engine.guardrails.max_step_pct")
    label: str = Field(..., description="What the page calls the setting, e.g. Largest step (share of the fee, 0–1)")
    message: str = Field(..., description="What is wrong, in words that follow the label: must be at most 1")


class SettingsErrorOut(BaseModel):
    """422: the settings document is invalid; nothing was stored."""

    detail: str = Field(..., description="Every error in one line, each setting named by its label")
    errors: list[FieldError]


class PolicyDifference(BaseModel):
    expected: Any = Field(..., description="What our change set")
    live: Any = Field(..., description="What the node has now")


class RefusedOut(BaseModel):
    """409: a well-formed request the rules refuse; nothing was changed. Only the key that
    explains the refusal is present."""

    detail: str
    conflicts: dict[str, dict[str, PolicyDifference]] = Field(
        None, absent_not_null=True, description="Run rollback: chan_id -> policy field -> expected and live value"
    )
    differences: dict[str, PolicyDifference] = Field(
        None, absent_not_null=True, description="Change rollback: policy field -> expected and live value"
    )
    rules: list[str] = Field(None, absent_not_null=True, description="Manual fee change: the guardrails that refuse it")
    errors: list[FieldError] = Field(
        None, absent_not_null=True, description="The stored settings are invalid: each field to fix (PUT /settings)"
    )


# --- Fee Autopilot's own node credential (issue 17): never the secret, only what names it ------------

MACAROON_HEX_MAX = 2 * 8192 + 512  # hex of LND's largest macaroon we take, with room for line breaks
MacaroonHex = constr(strict=True, min_length=1, max_length=MACAROON_HEX_MAX)
CredentialMethod = constr(strict=True, regex="^(bake|paste)$")


class CredentialInfo(BaseModel):
    id: str
    created_at: int
    created_by_name: Optional[str] = None
    method: str = Field(..., description="baked (by Fee Autopilot) or pasted")
    fingerprint: str
    root_key_id: Optional[str] = Field(None, description="LND's root key id it was baked under")
    permissions: list[str] = Field(default_factory=list, description="entity:action, as its identifier says")
    warnings: list[str] = Field(default_factory=list)
    status: str = Field(..., description="active, retired (rotated out) or revoked")
    activated_at: Optional[int] = None
    retired_at: Optional[int] = None
    revoked_at: Optional[int] = None
    revoked_by_name: Optional[str] = None
    revoke_note: Optional[str] = Field(None, description="What became of it on the node")
    refused_at: Optional[int] = None
    refused_reason: Optional[str] = None


class CredentialEventOut(BaseModel):
    credential_id: str
    at: int
    action: str = Field(..., description="created, rotated, revoked, verified or refused (by the node)")
    by_user: Optional[str] = None
    by_name: Optional[str] = None
    message: Optional[str] = None


class NeededPermission(BaseModel):
    method: str = Field(..., description="The RPC, e.g. /lnrpc.Lightning/UpdateChannelPolicy")
    why: str
    permission: str = Field(..., description="The permission to bake: uri:<method>")


class ForbiddenPermission(BaseModel):
    method: str
    what: str = Field(..., description="What a macaroon that allows it could do")


class CredentialOut(BaseModel):
    status: CredentialStatusOut
    active: Optional[CredentialInfo] = None
    history: list[CredentialInfo] = Field(default_factory=list, description="Earlier credentials, newest first")
    events: list[CredentialEventOut] = Field(default_factory=list, description="Newest first")
    needed: list[NeededPermission] = Field(default_factory=list, description="Exactly what Fee Autopilot's macaroon "
                                                                             "allows: the RPCs it calls")
    never: list[ForbiddenPermission] = Field(default_factory=list, description="What it must not allow")
    lncli_command: str = Field(..., description="The command that bakes it on the node")
    suggested_root_key_id: str
    note: Optional[str] = Field(None, description="What the last action did on the node, or what is left to do")
    bake_possible: Optional[bool] = Field(None, description="LNbits' macaroon may bake (macaroon:generate)")
    bake_reason: Optional[str] = None


class CredentialIn(RequestBody):
    method: CredentialMethod = Field(  # type: ignore[valid-type]
        ..., description="bake: Fee Autopilot bakes it with LNbits' macaroon; paste: the hex of one baked with "
                         "lncli_command"
    )
    macaroon: Optional[MacaroonHex] = Field(  # type: ignore[valid-type]
        None, description="paste: the macaroon's hex (never stored in clear, never shown again)"
    )


class CredentialCheckIn(RequestBody):
    macaroon: MacaroonHex  # type: ignore[valid-type]


class CredentialCheckOut(BaseModel):
    fingerprint: str
    root_key_id: Optional[str] = None
    permissions: list[str] = Field(default_factory=list)
    usable: bool
    problem: Optional[str] = None
    missing: list[str] = Field(default_factory=list, description="Needed RPCs it does not allow")
    extra: list[str] = Field(default_factory=list, description="RPCs it allows and should not")
    warnings: list[str] = Field(default_factory=list)


class CredentialRefusedOut(BaseModel):
    """409: refused, nothing was changed."""

    detail: str
    missing: list[str] = Field(None, absent_not_null=True, description="Needed RPCs the macaroon does not allow")
    extra: list[str] = Field(None, absent_not_null=True, description="RPCs it allows and should not")
    warnings: list[str] = Field(None, absent_not_null=True)
