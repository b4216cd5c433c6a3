"""The shortcuts a 2,000-channel run takes (issue 15) say what the general rules say.

- `Part.to_dict` is written out field by field: it must still be every field of the dataclass,
  in order, converted as `_plain` converts them, with `evidence_text` after `evidence`.
- `ChannelAssessment.proposal_dicts` is the part of `to_dict()["proposal"]` a score row shows.
- `channel_records` over the log grouped once is `records_for` over the whole log.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from engine.evaluate import Part, _plain
from engine.history import channel_records, records_by_channel, records_for
from engine.settings import EngineSettings
from engine.snapshot import Channel, ChangeRecord
from tests.engine.test_engine_properties import run, snapshots, with_history

NOW = 1_700_000_000


def expected_part_dict(part: Part) -> dict:
    out: dict = {}
    for f in dataclasses.fields(part):
        out[f.name] = _plain(getattr(part, f.name))
        if f.name == "evidence":
            out["evidence_text"] = part.evidence_text
    return out


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots().flatmap(with_history))
def test_the_written_out_dicts_are_the_general_ones(case):
    snapshot, history = case
    evaluation = run(snapshot, EngineSettings(), history)
    for assessment in evaluation.channels:
        for part in assessment.parts:
            written = part.to_dict()
            assert list(written) == list(expected_part_dict(part)) and written == expected_part_dict(part)
        full = assessment.to_dict()["proposal"]
        shown = assessment.proposal_dicts()
        if full is None:
            assert shown == {"old_policy": None, "new_policy": None, "notes": []}
        else:
            assert shown == {key: full[key] for key in ("old_policy", "new_policy", "notes")}


def test_a_part_with_a_nan_score_and_nested_evidence():
    part = Part(name="liquidity", score=float("nan"), weight=1, effective_weight=0.5,
                evidence={"ratio": 0.25, "window": (7, 30), "missing": None}, note="n")
    assert part.to_dict() == expected_part_dict(part)
    assert part.to_dict()["score"] is None and part.to_dict()["evidence"] == {"ratio": 0.25, "window": [7, 30], "missing": None}


NAMES = ["c1", "c2", "1xc1x0", "1xc2x0", "c3"]
records = st.lists(st.builds(ChangeRecord, chan_id=st.sampled_from(NAMES), at=st.integers(NOW - 5, NOW),
                             old_ppm=st.integers(0, 3), new_ppm=st.integers(0, 3)), max_size=30)


def a_channel(chan_id: str, short_id: str) -> Channel:
    return Channel(chan_id=chan_id, short_id=short_id, channel_point="x:0", peer_id="p", peer_alias="",
                   state="active", capacity_sat=1, local_sat=0, remote_sat=1)


@given(records, st.sampled_from(["c1", "c2", "c4"]), st.sampled_from(["", "1xc1x0", "1xc2x0", "c1"]))
def test_the_grouped_log_gives_each_channel_its_records_in_the_same_order(history, chan_id, short_id):
    # times and ppms repeat on purpose: ties keep the log's order in both
    channel = a_channel(chan_id, short_id)
    assert channel_records(records_by_channel(history), channel) == records_for(history, channel)
