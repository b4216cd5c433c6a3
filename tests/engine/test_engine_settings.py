"""EngineSettings: defaults, validation, (de)serialisation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.settings import ChannelOverride, EngineSettings, SettingsError


def test_defaults_are_valid_and_documented_weights():
    s = EngineSettings()
    assert s.validate() == []
    assert s.weights.as_dict() == {
        "centrality": 0.20, "liquidity": 0.25, "activity": 0.20, "competitiveness": 0.15,
        "uptime": 0.10, "stability": 0.05, "peer_quality": 0.03, "network_position": 0.02}
    ao = s.anti_oscillation
    assert (ao.min_change_ppm, ao.min_change_pct, ao.cooldown_hours, ao.max_updates_per_day,
            ao.new_channel_grace_days) == (10, 0.05, 24.0, 2, 3.0)


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
    assert paths == {"guardrails.min_pmm": "unknown field", "guardrails.max_ppm": "expected an integer",
                     "colour": "unknown field"}
    with pytest.raises(SettingsError, match="guardrails.channel_overrides.7.nope"):
        EngineSettings.from_dict({"guardrails": {"channel_overrides": {"7": {"nope": 1}}}})
    with pytest.raises(SettingsError, match="guardrails.only_active: expected true or false"):
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
    ({"anti_oscillation": {"max_updates_per_day": 3}}, "anti_oscillation.max_updates_per_day"),
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
