"""EngineSettings: defaults, validation, (de)serialisation."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import types
from pathlib import Path

import pytest

from engine.settings import (
    LIST_MAX,
    RANGES,
    ChannelOverride,
    EngineSettings,
    SettingsError,
    is_channel_id,
    is_node_id,
    node_id_errors,
    numeric_patterns,
)


def test_defaults_are_valid_and_documented_weights():
    s = EngineSettings()
    assert s.validate() == []
    assert s.weights.as_dict() == {
        "centrality": 0.20, "liquidity": 0.25, "activity": 0.20, "competitiveness": 0.15,
        "uptime": 0.10, "stability": 0.05, "peer_quality": 0.03, "network_position": 0.02}
    ao = s.anti_oscillation
    assert (ao.min_change_ppm, ao.min_change_pct, ao.cooldown_hours, ao.max_updates_per_day,
            ao.new_channel_grace_days) == (10, 0.05, 24.0, 0, 3.0)
    # CLN gossipd's bucket (+1 token an hour, 12 an update, at most 48) and BOLT 7's 10 minutes
    assert (ao.relay_tokens_per_hour, ao.relay_tokens_per_update, ao.relay_bucket_max,
            ao.min_update_spacing_minutes) == (1.0, 12.0, 48.0, 10.0)


def test_round_trip_through_json():
    s = dataclasses.replace(EngineSettings(), guardrails=dataclasses.replace(
        EngineSettings().guardrails, pinned_channels=("1x2x3",),
        channel_overrides={"42": ChannelOverride(min_ppm=5, max_ppm=900, pinned=False)}))
    again = EngineSettings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s


def test_unknown_and_mistyped_fields_are_named():
    with pytest.raises(SettingsError) as err:
        EngineSettings.from_dict({"guardrails": {"min_pmm": 3, "max_ppm": "lots"}, "colour": "red"})
    paths = dict(err.value.errors)
    assert paths == {"guardrails.min_pmm": "is not a setting", "guardrails.max_ppm": "must be a whole number",
                     "colour": "is not a setting"}
    # the exception's text names each field by its label, an unknown one by the name given
    assert str(err.value).split("; ") == ["“colour” in Engine settings is not a setting",
                                          "“min_pmm” in Guardrails is not a setting",
                                          "Maximum fee (ppm) must be a whole number"]
    with pytest.raises(SettingsError) as err:
        EngineSettings.from_dict({"guardrails": {"channel_overrides": {"7": {"nope": 1}}}})
    assert err.value.errors == [("guardrails.channel_overrides.7.nope", "is not a setting")]
    assert str(err.value) == "“nope” in Per-channel bounds of channel “7” is not a setting"
    with pytest.raises(SettingsError, match="^Only change active channels must be true or false$"):
        EngineSettings.from_dict({"guardrails": {"only_active": 1}})


def test_partial_dict_keeps_defaults():
    s = EngineSettings.from_dict({"weights": {"centrality": 0.5}})
    assert s.weights.centrality == 0.5 and s.weights.liquidity == 0.25


@pytest.mark.parametrize("patch,path", [
    ({"weights": {"uptime": -0.1}}, "weights.uptime"),
    ({"weights": {k: 0 for k in EngineSettings().weights.as_dict()}}, "weights"),
    ({"guardrails": {"min_ppm": 600, "max_ppm": 500}}, "guardrails.min_ppm"),
    ({"guardrails": {"min_base_msat": 6000}}, "guardrails.min_base_msat"),
    ({"guardrails": {"channel_overrides": {"9": {"min_ppm": 10, "max_ppm": 5}}}},
     "guardrails.channel_overrides.9.min_ppm"),
    ({"anti_oscillation": {"max_updates_per_day": 49}}, "anti_oscillation.max_updates_per_day"),
    ({"anti_oscillation": {"relay_bucket_max": 11}}, "anti_oscillation.relay_bucket_max"),
    ({"anti_oscillation": {"relay_tokens_per_hour": 0}}, "anti_oscillation.relay_tokens_per_hour"),
    ({"anti_oscillation": {"min_update_spacing_minutes": -1}}, "anti_oscillation.min_update_spacing_minutes"),
    ({"liquidity": {"target_low": 0.8}}, "liquidity.target_low"),
    ({"decisions": {"direction_source": "vibes"}}, "decisions.direction_source"),
    ({"decisions": {"hold_score": 1.5}}, "decisions.hold_score"),
    ({"decisions": {"flow_window_days": 3}}, "decisions.flow_window_days"),
    ({"decisions": {"flow_max_step": 1.0}}, "decisions.flow_max_step"),
    ({"decisions": {"flow_censor_share": 0.5}}, "decisions.flow_censor_share"),
    ({"rebalance": {"max_cost_fraction": 2.0}}, "rebalance.max_cost_fraction"),
    ({"guardrails": {"max_step_pct": 0.0}}, "guardrails.max_step_pct"),
])
def test_validate_names_the_field(patch, path):
    s = EngineSettings.from_dict(patch)
    assert path in [p for p, _ in s.validate()]


# --- bounds (issue 12): every number has a documented range, ids look like ids --------------

ROOT = Path(__file__).resolve().parents[2]
LND_ID = "869219018406150145"
PUBKEY = "02" + "ab" * 32


def app_settings():
    """app_settings imports `.engine.settings`: load it as part of a package of its own."""
    if "feepilot_pure" not in sys.modules:
        package = types.ModuleType("feepilot_pure")
        package.__path__ = [str(ROOT)]
        sys.modules["feepilot_pure"] = package
    return importlib.import_module("feepilot_pure.app_settings")


def nested(path: str, value) -> dict:
    """{"a": {"b": value}} for "a.b"; "*" (a mapping key) becomes the channel id LND_ID."""
    keys = [LND_ID if k == "*" else k for k in path.split(".")]
    doc = value
    for key in reversed(keys):
        doc = {key: doc}
    return doc


def document_errors(patch: dict) -> dict:
    app = app_settings()
    try:
        app.validate_document(app.deep_merge(app.defaults(), patch))
    except app.InvalidSettings as exc:
        return dict(exc.errors)
    return {}


def test_every_numeric_setting_has_a_range():
    assert set(numeric_patterns()) == set(RANGES)
    for pattern, (low, high) in {**RANGES, **app_settings().RANGES}.items():
        assert low < high, pattern


def test_defaults_and_the_original_spec_pass_every_bound():
    for s in (EngineSettings(), EngineSettings.original_spec()):
        assert s.validate() == [] and node_id_errors(s) == []
    app = app_settings()
    app.validate_document(app.defaults())
    assert document_errors({"engine": EngineSettings.original_spec().to_dict()}) == {}


@pytest.mark.parametrize("pattern", sorted(RANGES))
def test_each_engine_number_is_refused_above_its_bound_and_below_it(pattern):
    low, high = RANGES[pattern]
    kind = numeric_patterns()[pattern]
    path = pattern.replace("*", LND_ID)
    at_bound = {p for p, m in EngineSettings.from_dict(nested(pattern, kind(high))).validate() if "must be at" in m}
    assert path not in at_bound
    for value, message in ((kind(high + 1), f"must be at most {high}"), (kind(10**18), f"must be at most {high}"),
                           (kind(low - 1), f"must be at least {low}")):
        assert (path, message) in EngineSettings.from_dict(nested(pattern, value)).validate()
        assert document_errors({"engine": nested(pattern, value)}).get(f"engine.{path}") == message


@pytest.mark.parametrize("name", sorted(app_settings().RANGES))
def test_each_app_number_is_refused_above_its_bound_and_below_it(name):
    low, high = app_settings().RANGES[name]
    assert name not in document_errors({name: high})
    assert document_errors({name: high + 1}) == {name: f"must be at most {high}"}
    assert document_errors({name: 10**18}) == {name: f"must be at most {high}"}
    assert document_errors({name: low - 1}) == {name: f"must be at least {low}"}


@pytest.mark.parametrize("patch,field,message", [
    ({"engine": {"graph": {"betweenness_samples": 10**9}}}, "engine.graph.betweenness_samples", "must be at most 1000"),
    ({"engine": {"guardrails": {"max_step_pct": 1.5}}}, "engine.guardrails.max_step_pct", "must be at most 1"),
    ({"engine": {"guardrails": {"max_ppm": 10**12}}}, "engine.guardrails.max_ppm", "must be at most 100000"),
    ({"interval_minutes": 10**18}, "interval_minutes", "must be at most 10080"),
    ({"node_timeout_seconds": 10**12}, "node_timeout_seconds", "must be at most 300"),
    ({"retry_attempts": 10**9}, "retry_attempts", "must be at most 10"),
    ({"history_days": 10**9}, "history_days", "must be at most 3650"),
])
def test_named_bounds(patch, field, message):
    assert document_errors(patch) == {field: message}


def test_nonsense_in_a_channel_list_is_refused_naming_the_list():
    errors = document_errors({"engine": {"guardrails": {"pinned_channels": [LND_ID, "nonsense", "x"]}}})
    assert list(errors) == ["engine.guardrails.pinned_channels"]
    assert errors["engine.guardrails.pinned_channels"].startswith("must list only channel ids: an LND chan_id")
    assert errors["engine.guardrails.pinned_channels"].endswith("; “nonsense” (and 1 more) is not one")
    for field in ("allow_channels", "deny_channels"):
        assert f"engine.guardrails.{field}" in document_errors({"engine": {"guardrails": {field: ["nonsense"]}}})
    for field in ("allow_peers", "deny_peers"):
        errors = document_errors({"engine": {"guardrails": {field: [LND_ID]}}})
        assert errors[f"engine.guardrails.{field}"] == (
            f"must list only node public keys: 66 lowercase hex characters starting with 02 or 03; “{LND_ID}” is not one")
    errors = document_errors({"engine": {"guardrails": {"channel_overrides": {"nonsense": {"max_ppm": 10}}}}})
    assert errors["engine.guardrails.channel_overrides"].startswith("must list only channel ids: ")


GOOD_CHANNELS = [LND_ID, "0", str(2**64 - 1), "869219x1234x1", f"{2**24 - 1}x{2**24 - 1}x{2**16 - 1}",
                 "ab" * 32, "ab" * 32 + ":1"]
BAD_CHANNELS = ["nonsense", "", " 1", "-1", "1.5", str(2**64), "869219x1234", f"{2**24}x0x0", f"1x{2**24}x0",
                f"1x1x{2**16}", "AB" * 32, "ab" * 31, "ab" * 32 + ":", "ab" * 32 + ":x", "1x2x3x4"]
GOOD_PEERS = [PUBKEY, "03" + "0f" * 32]
BAD_PEERS = ["04" + "ab" * 32, "02" + "AB" * 32, "02" + "ab" * 31, "02" + "ab" * 33, PUBKEY + " ", "nonsense"]


def test_channel_and_node_id_shapes():
    assert all(is_channel_id(c) for c in GOOD_CHANNELS)
    assert not any(is_channel_id(c) for c in BAD_CHANNELS)
    assert all(is_node_id(p) for p in GOOD_PEERS)
    assert not any(is_node_id(p) for p in BAD_PEERS)
    good = EngineSettings.from_dict({"guardrails": {"pinned_channels": GOOD_CHANNELS, "deny_peers": GOOD_PEERS,
                                                    "channel_overrides": {c: {} for c in GOOD_CHANNELS}}})
    assert node_id_errors(good) == [] and good.validate() == []


def test_lists_and_entries_have_sizes():
    ids = [str(i) for i in range(LIST_MAX + 1)]
    for field in ("pinned_channels", "allow_channels", "deny_channels", "allow_peers", "deny_peers"):
        s = EngineSettings.from_dict({"guardrails": {field: ids}})
        assert (f"guardrails.{field}", f"must have at most {LIST_MAX} entries") in s.validate()
        assert EngineSettings.from_dict({"guardrails": {field: ids[:LIST_MAX]}}).validate() == []
        s = EngineSettings.from_dict({"guardrails": {field: ["1" * 101]}})
        assert (f"guardrails.{field}", "must have no entry longer than 100 characters") in s.validate()
    s = EngineSettings.from_dict({"guardrails": {"channel_overrides": {i: {} for i in ids}}})
    assert ("guardrails.channel_overrides", f"must have at most {LIST_MAX} entries") in s.validate()


def test_the_document_has_a_size_limit_that_real_lists_fit():
    app = app_settings()
    assert document_errors({"engine": {"guardrails": {"pinned_channels": [LND_ID] * 1000}}}) == {}
    errors = document_errors({"engine": {"guardrails": {"pinned_channels": [LND_ID] * 1000,
                                                        "deny_channels": ["ab" * 32] * 1000}}})
    assert list(errors) == ["settings"] and "at most 65,536" in errors["settings"]
    # alone: an oversized document's parts are not echoed back
    assert list(document_errors({"x" * app.MAX_DOCUMENT_BYTES: 1})) == ["settings"]


def test_the_readme_lists_every_bound():
    readme = (ROOT / "engine" / "README.md").read_text()

    def row(section: str, items) -> str:
        return f"| {section} | " + " · ".join(f"`{n}` {lo:,}–{hi:,}" for n, (lo, hi) in items) + " |"

    sections: dict = {}
    for pattern, bounds in RANGES.items():
        section, name = pattern.rsplit(".", 1)
        sections.setdefault(section, []).append((name, bounds))
    expected = [row("(top level)", app_settings().RANGES.items())]
    expected += [row(f"`{section}`", items) for section, items in sections.items()]
    for line in expected:
        assert line in readme, f"engine/README.md should have this row:\n{line}"
    assert f"at most {LIST_MAX:,} entries" in readme and "at most 64 KiB" in readme
