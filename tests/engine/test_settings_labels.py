"""Issue 13: every setting has one label (engine/settings_labels.py), the page's own, and every
message the settings validation can emit names settings by their labels, in plain words."""

from __future__ import annotations

import dataclasses
import math
import re
import typing

import pytest

from engine.settings import RANGES, EngineSettings, numeric_patterns
from engine.settings_labels import APP_LABELS, ENGINE_LABELS, FIELD_LABELS, HEURISTIC_LABELS, label

from .test_engine_settings import LND_ID, ROOT, app_settings, nested

SETTINGS_JS = ROOT / "static" / "js" / "components" / "settings.js"
COMMON_JS = ROOT / "static" / "js" / "common.js"
FORBIDDEN = ("engine.", "guardrails.", "{'", "'}", "regex", "UNPROCESSABLE", "<root>", "None", "[0", "expected a",
             "expected true", "unknown field")
# words with an underscore a message may use: the node's own names in the channel id help
ALLOWED_IDENTIFIERS = {"chan_id", "channel_id"}


def page_fields() -> dict[str, str]:
    """path -> label of every field in settings.js's lists."""
    text = SETTINGS_JS.read_text()
    fields = re.findall(r"\{path: '([^']+)', label: '([^']+)'", text)
    assert len(fields) == text.count("{path: '") >= 29, fields  # every entry of the five lists was read
    return dict(fields)


def engine_paths(cls: type = EngineSettings, prefix: str = "") -> list[str]:
    """Every field of the engine's settings, sections included; a mapping's key is `*`."""
    paths = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path, hint = f"{prefix}{f.name}", hints[f.name]
        paths.append(path)
        if dataclasses.is_dataclass(hint):
            paths += engine_paths(hint, path + ".")
        elif typing.get_origin(hint) in (dict, typing.get_origin(typing.Mapping[str, int])):
            value = typing.get_args(hint)[1]
            paths.append(f"{path}.*")
            paths += engine_paths(value, f"{path}.*.")
    return paths


def test_the_page_shows_the_servers_labels():
    fields = page_fields()
    for path, text in fields.items():
        assert FIELD_LABELS.get(path) == text, (path, text, FIELD_LABELS.get(path))
    # the weights: "Score weights — " and the heuristic's name as the page shows it
    heuristics = dict(re.findall(r"^\s+(\w+): '([^']+)',?$", COMMON_JS.read_text().split("const HEURISTICS")[1]
                                 .split("}")[0], re.M))
    assert heuristics == HEURISTIC_LABELS
    for name, text in heuristics.items():
        assert FIELD_LABELS[f"engine.weights.{name}"] == f"Score weights — {text}"


def test_settings_js_takes_the_labels_from_the_server():
    text = SETTINGS_JS.read_text()
    assert "data.labels" in text and "labelOf(" in text
    # every list the dialog lays out is shown through the server's labels
    for name in ("FP_GENERAL_FIELDS", "FP_TOGGLES", "FP_GUARDRAIL_FIELDS", "FP_OSCILLATION_FIELDS", "FP_LISTS"):
        assert f"this.labelled({name})" in text, name


def test_every_setting_has_a_label_and_every_label_a_setting():
    app = app_settings()
    paths = set(app.APP_DEFAULTS) | {"engine", "settings", "labels"} | {f"engine.{p}" for p in engine_paths()}
    assert set(FIELD_LABELS) == paths, (paths - set(FIELD_LABELS), set(FIELD_LABELS) - paths)
    for pattern in list(RANGES) + list(numeric_patterns()):
        assert pattern in ENGINE_LABELS, pattern
    for name in app.RANGES:
        assert name in APP_LABELS, name
    for path, text in FIELD_LABELS.items():
        assert text and text == text.strip() and text[0].isupper(), (path, text)
        assert not re.search(r"[a-z]_[a-z]", text), (path, text)
    # labels are unique, so a message naming one is never ambiguous
    texts = [t for p, t in FIELD_LABELS.items() if "*" not in p]
    duplicates = {t for t in texts if texts.count(t) > 1}
    assert duplicates <= {"Liquidity", "Activity"}, duplicates  # a heuristic's section and its weight's name


def test_labels_of_entries_overrides_and_unknown_names():
    assert label("engine.guardrails.min_ppm") == "Minimum fee (ppm)"
    assert label(f"engine.guardrails.channel_overrides.{LND_ID}.max_ppm") == f"Maximum fee (ppm) of channel “{LND_ID}”"
    assert label(f"engine.guardrails.channel_overrides.{LND_ID}") == f"Per-channel bounds of channel “{LND_ID}”"
    assert label("engine.guardrails.pinned_channels[2]") == "entry 3 of Pinned channels (never touched)"
    assert label("engine.guardrails.max_pmm") == "“max_pmm” in Guardrails"
    assert label("colour") == "“colour”"
    assert label("x" * 100) == "“" + "x" * 40 + "…”"


# --- every message the validation can emit -----------------------------------------------------

CROSS_FIELD = [
    ({"engine": {"guardrails": {"min_ppm": 600, "max_ppm": 500}}},
     "engine.guardrails.min_ppm", "must not exceed Maximum fee (ppm)"),
    ({"engine": {"guardrails": {"min_base_msat": 6000, "max_base_msat": 5000}}},
     "engine.guardrails.min_base_msat", "must not exceed Maximum base fee (msat)"),
    ({"engine": {"guardrails": {"channel_overrides": {LND_ID: {"min_ppm": 10, "max_ppm": 5}}}}},
     f"engine.guardrails.channel_overrides.{LND_ID}.min_ppm", "must not exceed the channel's Maximum fee (ppm), 5"),
    ({"engine": {"guardrails": {"channel_overrides": {LND_ID: {"min_base_msat": 6000}}}}},
     f"engine.guardrails.channel_overrides.{LND_ID}.min_base_msat",
     "must not exceed the channel's Maximum base fee (msat), 5000"),
    ({"engine": {"liquidity": {"target_low": 0.8}}},
     "engine.liquidity.target_low", "must be below Healthy local share up to (0–1)"),
    ({"engine": {"liquidity": {"target_low": 0}}}, "engine.liquidity.target_low", "must be above 0"),
    ({"engine": {"liquidity": {"target_high": 1}}}, "engine.liquidity.target_high", "must be below 1"),
    ({"engine": {"activity": {"short_window_days": 20, "long_window_days": 7}}},
     "engine.activity.short_window_days", "must not exceed Long forwarding window (days)"),
    ({"engine": {"activity": {"turnover_half_weekly": 0}}}, "engine.activity.turnover_half_weekly", "must be above 0"),
    ({"engine": {"activity": {"yield_half_annual": 0}}}, "engine.activity.yield_half_annual", "must be above 0"),
    ({"engine": {"decisions": {"direction_source": "vibes"}}},
     "engine.decisions.direction_source", "must be one of: flow, score"),
    ({"engine": {"decisions": {"direction_source": "target"}}}, "engine.decisions.direction_source",
     "must be one of: flow, score (“target” was retired: it earned less than “flow” on the benchmark)"),
    ({"engine": {"decisions": {"flow_window_days": 3}}},
     "engine.decisions.flow_window_days", "must be one of the forwarding windows: 1, 7 or 30 days"),
    ({"engine": {"decisions": {"flow_censor_share": 0.5}}}, "engine.decisions.flow_censor_share", "must be below 0.5"),
    ({"engine": {"decisions": {"flow_max_step": 1.0}}},
     "engine.decisions.flow_max_step", "must be above 1 and at most 10"),
    ({"engine": {"decisions": {"lower_from_score": 0.6, "lower_below_score": 0.5}}},
     "engine.decisions.lower_from_score", "must not exceed Lower the fee below score (0–1)"),
    ({"engine": {"decisions": {"raise_below_score": 0.4, "lower_from_score": 0.3}}},
     "engine.decisions.raise_below_score", "must not exceed Lower the fee from score (0–1) (the bands would overlap)"),
    ({"engine": {"decisions": {"lower_below_score": 0.9, "hold_score": 0.8}}},
     "engine.decisions.lower_below_score", "must not exceed Leave alone from score (0–1)"),
    ({"engine": {"decisions": {"step_gain": 0}}}, "engine.decisions.step_gain", "must be above 0"),
    ({"engine": {"guardrails": {"max_step_pct": 0}}}, "engine.guardrails.max_step_pct", "must be above 0"),
    ({"engine": {"new_channels": {"reference_multiplier": 0}}},
     "engine.new_channels.reference_multiplier", "must be above 0"),
    ({"engine": {"rebalance": {"min_amount_sat": 3_000_000}}},
     "engine.rebalance.min_amount_sat", "must not exceed Rebalance: largest amount (sat)"),
    ({"engine": {"weights": {name: 0 for name in HEURISTIC_LABELS}}},
     "engine.weights", "must have at least one weight above 0"),
    ({"engine": {"weights": {"centrality": 0.9}}}, "engine.weights", "must add up to 1, or 100 % (they add up to 1.700)"),
    ({"mode": "vibes"}, "mode", "must be one of: off, shadow, autopilot"),
    ({"interval_minutes": 1}, "interval_minutes", "must be at least 5"),
    ({"interval_minutes": "5"}, "interval_minutes", "must be a whole number"),
    ({"notifications": "yes"}, "notifications", "must be true or false"),
    ({"engine": []}, "engine", "must be an object (a group of settings)"),
    ({"colour": 1}, "colour", "is not a setting"),
    ({"labels": "x"}, "labels", "are read-only: send them back as GET /settings gave them, or leave them out"),
    ({"engine": {"guardrails": {"max_pmm": 1}}}, "engine.guardrails.max_pmm", "is not a setting"),
    ({"engine": {"guardrails": {"pinned_channels": "123"}}}, "engine.guardrails.pinned_channels", "must be a list"),
    ({"engine": {"guardrails": {"pinned_channels": [1]}}}, "engine.guardrails.pinned_channels[0]", "must be text"),
    ({"engine": {"guardrails": {"channel_overrides": []}}},
     "engine.guardrails.channel_overrides", "must be an object (channel id -> bounds)"),
    ({"engine": {"guardrails": {"pinned_channels": ["1" * 101]}}}, "engine.guardrails.pinned_channels",
     "must have no entry longer than 100 characters"),
    ({"engine": {"guardrails": {"channel_overrides": {"1" * 101: {}}}}}, "engine.guardrails.channel_overrides",
     "must have no channel id longer than 100 characters"),
    ({"engine": {"guardrails": {"deny_peers": ["nonsense", LND_ID]}}}, "engine.guardrails.deny_peers",
     "must list only node public keys: 66 lowercase hex characters starting with 02 or 03; "
     "“nonsense” (and 1 more) is not one"),
]


@pytest.mark.parametrize("patch,field,message", CROSS_FIELD, ids=[c[1] + ":" + c[2][:30] for c in CROSS_FIELD])
def test_each_rule_says_what_is_wrong_by_the_labels(patch, field, message):
    errors = all_errors(patch)
    assert (field, message) in errors, errors


def all_errors(patch: dict) -> list[tuple[str, str]]:
    """Every (field, message), a field's second message too."""
    app = app_settings()
    try:
        app.validate_document(app.deep_merge(app.defaults(), patch))
    except app.InvalidSettings as exc:
        return list(exc.errors)
    return []


def test_labels_sent_back_are_ignored():
    app = app_settings()
    document, _ = app.validate_document({**app.defaults(), "labels": {"mode": "Something else"}})
    assert "labels" not in document and document == app.validate_document(app.defaults())[0]


def test_the_whole_message_reads_as_a_sentence():
    app = app_settings()
    with pytest.raises(app.InvalidSettings) as err:
        app.validate_document(app.deep_merge(app.defaults(), {"engine": {"guardrails": {"min_ppm": 600, "max_ppm": 500}}}))
    assert str(err.value) == "Minimum fee (ppm) must not exceed Maximum fee (ppm)"
    assert app.described(err.value.errors) == [
        {"field": "engine.guardrails.min_ppm", "label": "Minimum fee (ppm)", "message": "must not exceed Maximum fee (ppm)"}
    ]


def bad_values(path: str, kind: type) -> list:
    low, high = RANGES.get(path, (0, 1))
    wrong_type = ["lots", None, [], {}, True] + ([1.5] if kind is int else [])
    return [kind(high) + 1, kind(low) - 1, 10**30, math.inf, -math.inf, math.nan] + wrong_type


def every_message() -> list[tuple[str, str]]:
    """(field, message) of every refusal: each bound, each type, each cross-field rule, the size."""
    app = app_settings()
    found = []
    for pattern, kind in numeric_patterns().items():
        for value in bad_values(pattern, kind):
            found += all_errors({"engine": nested(pattern, value)})
    for path in engine_paths():
        if path.endswith("*") or "*." in path:
            continue
        for value in ("lots", 7, None, [1], {"x": 1}, True):
            found += all_errors({"engine": nested(path, value)})
    for name in app.APP_DEFAULTS:
        for value in ("lots", -1, 10**12, None, [], True):
            found += all_errors({name: value})
    for patch, _, _ in CROSS_FIELD:
        found += all_errors(patch)
    found += all_errors({"x" * app.MAX_DOCUMENT_BYTES: 1})
    return found


def test_no_message_shows_a_path_a_repr_or_validator_text():
    app = app_settings()
    found = every_message()
    assert len({message for _, message in found}) >= 40, "the refusals were made"
    for field, message in found:
        whole = app.InvalidSettings([(field, message)]).args[0]
        for text in (message, whole):
            for fragment in FORBIDDEN:
                assert fragment not in text, (field, text, fragment)
            identifiers = set(re.findall(r"[A-Za-z]+_[A-Za-z_]+", text)) - ALLOWED_IDENTIFIERS
            # an unknown key the operator typed is quoted back as given; nothing else is an identifier
            assert all(f"“{word}”" in text or f"“{word}" in text for word in identifiers), (field, text)
        assert message == message.strip() and message[0].islower(), (field, message)
        assert whole[0].isupper() or whole[0] == "“", whole
