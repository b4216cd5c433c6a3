"""Issue 12, item 5: the OpenAPI description is true — schemathesis says so.

Schemathesis fuzzes every /feepilot/api/v1 operation of the schema the running LNbits
serves at /openapi.json, against a real LNbits and simnode (this module's own
`node_env`), with all its checks: no server error, the status code, content type,
headers and body of every answer as documented, schema-valid requests accepted,
schema-invalid ones rejected, unsupported methods refused, and more. It runs its
examples, coverage and fuzzing phases (and the stateful one when it can infer links),
first as an LNbits admin, then as the super user, within a bounded number of examples
per operation and a time budget.

Afterwards the change log and the node agree exactly: every change row but the ones
drift detection records (source `external`, which never called the node) was inserted
just before one policy write (change_service._write_change), and simnode counts each
write it applied; with no faults injected every write lands and reads back, so the
number of rows equals simnode's count, channel by channel.

The super user's fuzz could change what the rest of the module relies on: a PUT
/settings that turns the schedule on is kept in mode `off` (a hook), and the settings
are restored afterwards (pins included).

What the checks are told, and why (each is a documented behaviour, not a hidden one):
LNbits' `usr` parameter has the format uuid4 (registered); the "4XX" catch-all is left out
so every 4xx must be declared; a whole number is sent as 10, not 10.0 (our bodies refuse
10.0 on purpose, which JSON Schema cannot say); a schema-valid settings patch may get
the settings' own 422 (the engine part and cross-field rules are more than the schema
says); applying a decision the guardrails did not accept answers 400.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis  # requirements-dev.txt pins it: missing, the test fails rather than skips
from hypothesis import strategies as st
from schemathesis.engine import events

API = "/feepilot/api/v1"
MAX_EXAMPLES = 6  # per operation and phase
BUDGET_S = {"admin": 40, "super": 70}  # each role's run stops there, whatever is left
REQUEST_TIMEOUT_S = 60
SEED = 20260412  # seeded (what fits in the time budget still varies); FEEPILOT_FUZZ_SEED overrides it

pytestmark = pytest.mark.timeout(420)


def feepilot_schema(url: str) -> dict[str, Any]:
    """LNbits' /openapi.json with only our paths."""
    document = httpx.get(f"{url}/openapi.json", timeout=60).raise_for_status().json()
    paths = {path: item for path, item in document["paths"].items() if path.startswith(API + "/")}
    assert len(paths) >= 19, sorted(paths)
    for item in paths.values():
        for operation in item.values():
            # "4XX" documents LNbits' other client errors (429 when rate limited, which
            # the test hosts switch off); without it every 4xx we answer must be declared.
            operation["responses"].pop("4XX", None)
    return {**document, "paths": paths}


# schemathesis' default for positive_data_acceptance (config/_checks.py)
POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_floats_as_ints(item) for item in value]
    return value


@dataclass
class Finding:
    operation: str
    code: str
    title: str
    message: str
    curl: str
    answer: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.code} {self.title}\n{self.message}\n  {self.curl}\n  -> {self.answer}"


@dataclass
class Report:
    role: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    cases: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    phases: dict[str, str] = field(default_factory=dict)

    def codes(self) -> Counter:
        return Counter(f.code for f in self.findings)

    def summary(self) -> str:
        lines = [f"{self.role}: {self.cases} cases in {self.seconds:.0f} s ({self.stop_reason}); phases {self.phases}; "
                 f"answers {dict(sorted(self.statuses.items()))}; failures {dict(self.codes())}"]
        lines += [str(f) for f in self.findings[:25]]
        lines += [f"error: {e}" for e in self.errors[:10]]
        return "\n".join(lines)


def fuzz(url: str, token: str, role: str, seed: int) -> Report:
    # uuid4 is LNbits' format for its `usr` query parameter, unknown to JSON Schema: without
    # it schemathesis takes any string for a valid one, and LNbits rightly answers 400.
    schemathesis.openapi.format("uuid4", st.uuids(version=4).map(str))
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "max-time": BUDGET_S[role],
            "base-url": url,
            "headers": {"Authorization": f"Bearer {token}"},
            "workers": 1,
            "request-timeout": REQUEST_TIMEOUT_S,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
            "checks": {"enabled": True},
            "cache": {"enabled": False},  # no .schemathesis/ in the tree, nothing carried between runs
            "operations": [
                {
                    # The engine part of a settings patch is documented as an object (its
                    # sections, ranges and cross-field rules, e.g. weights adding up to 1, are
                    # more than a schema says): a schema-valid patch may still get the
                    # settings' own 422 naming the field.
                    "include-path": f"{API}/settings",
                    "include-method": "PUT",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE, "422"]}},
                },
                {
                    # A well-formed decision id of a decision the guardrails did not accept,
                    # or one not in the run, is refused with 400 (documented); schemathesis
                    # expects a refusal of schema-valid data to be 404 or 409.
                    "include-path-regex": r"/(runs/\{run_id\}|decisions/\{decision_id\})/apply$",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE, "400"]}},
                },
            ],
        }
    )
    schema = schemathesis.openapi.from_dict(feepilot_schema(url), config=config)

    @schema.hook("map_body")
    def integers_as_integers(context, body):
        # Our bodies take a whole number as 10, never 10.0 (issue 12 item 4, on purpose:
        # test_input_bounds); JSON Schema cannot say that, and schemathesis also spells
        # integers as whole floats. Those are sent as integers.
        return whole_floats_as_ints(body)

    @schema.hook("map_body").apply_to(method="PUT", path_regex=r"/settings$")
    def keep_the_schedule_off(context, body):
        # Shadow or autopilot cycles would start computing (and writing) behind the
        # fuzzer's back; every other valid value is fair game, and restored afterwards.
        body = whole_floats_as_ints(body)
        if isinstance(body, dict) and body.get("mode") in ("shadow", "autopilot"):
            return {**body, "mode": "off"}
        return body

    report = Report(role)
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            report.cases += len(recorder.cases)
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    report.statuses[interaction.response.status_code] += 1
            for case_id, nodes in recorder.checks.items():
                for node in nodes:
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    interaction = recorder.interactions.get(case_id)
                    answer = interaction.response if interaction else None
                    seen = f"{answer.status_code} {answer.text[:300]}" if answer is not None else "no answer"
                    report.findings.append(
                        Finding(recorder.label, failure.code, failure.title, failure.message, node.failure_info.code_sample, seen)
                    )
        elif isinstance(event, events.PhaseFinished):
            report.phases[str(event.phase.name.value)] = str(event.status.value)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason)
    report.seconds = time.monotonic() - started
    return report


@pytest.fixture(scope="module")
def prepared(node_env):
    """A dry run and one applied batch, so runs, decisions and changes exist to find."""
    settings = node_env.api("GET", "/settings").json()
    run = node_env.dry_run()
    assert run["counts"].get("accepted"), run["counts"]
    applied = node_env.api("POST", f"/runs/{run['id']}/apply", json={})
    assert applied.status_code == 200 and applied.json()["status"] == "applied", applied.text
    count = sum(1 for outcome in applied.json()["outcomes"] if outcome["status"] == "applied")
    return {"settings": settings, "run": run, "applied": count}


@pytest.mark.parametrize("role", ["admin", "super"])
def test_the_api_answers_as_documented(node_env, prepared, role):
    session = node_env.session
    token = session.admin_token if role == "admin" else session.super_token
    seed = int(os.environ.get("FEEPILOT_FUZZ_SEED") or SEED)
    try:
        report = fuzz(session.url, token, role, seed)
    finally:
        if role == "super":
            restored = node_env.api("PUT", "/settings", json=prepared["settings"])
            assert restored.status_code == 200, restored.text
    print(report.summary())
    assert report.cases > 0 and not report.errors, report.summary()
    for phase in ("coverage", "fuzzing"):
        assert report.phases.get(phase) in ("success", "failure"), report.summary()  # it ran
    server_errors = [f for f in report.findings if f.code == "ST101"]
    schema_violations = [f for f in report.findings if f.code == "ST108"]
    assert not server_errors, report.summary()
    assert not schema_violations, report.summary()
    assert not report.findings, report.summary()
    assert node_env.api("GET", "/settings").json() == prepared["settings"]


def test_every_error_answer_is_documented_with_its_model(node_env):
    document = httpx.get(f"{node_env.session.url}/openapi.json", timeout=60).raise_for_status().json()
    operations = [(path, method, op) for path, item in document["paths"].items() if path.startswith(API + "/")
                  for method, op in item.items()]
    assert len(operations) == 28  # 22, and the six of the node credential (issue 17)
    for path, method, operation in operations:
        responses = operation["responses"]
        # LNbits answers request-validation errors with 400; only the settings answer 422.
        assert {"400", "401", "403", "4XX"} <= set(responses), (method, path, sorted(responses))
        assert ("422" in responses) == (method == "put" and path == f"{API}/settings"), (method, path)
        for code, answer in responses.items():
            if code[0] in "45":
                assert answer["content"]["application/json"]["schema"], (method, path, code)
    bad_request = document["components"]["schemas"]["BadRequestOut"]["properties"]
    # one message in words, and (request validation) each parameter or field that did not validate
    assert bad_request["detail"]["type"] == "string" and bad_request["errors"]["type"] == "array", bad_request


def test_the_change_log_counts_every_write_the_node_saw(node_env, prepared):
    changes = node_env.api("GET", "/changes?limit=500").json()
    assert changes["total"] == len(changes["data"]) < 500
    # A row is inserted just before each write to the node (change_service._write_change);
    # drift detection records what somebody else did (source external) and writes nothing.
    written = [c for c in changes["data"] if c["source"] != "external"]
    # simnode has no faults here: every write lands and the read-back confirms it.
    assert {c["status"] for c in written} <= {"applied"}, [(c["id"], c["status"], c["message"]) for c in written]
    truth = node_env.state()
    our_writes = [p for p in truth["policy_log"] if p["source"] == "chanpolicy"]
    assert truth["totals"]["policy_updates"] == len(our_writes) == len(written), (truth["totals"], len(written))
    assert Counter(p["chan_id"] for p in our_writes) == Counter(c["chan_id"] for c in written)
    assert len(written) >= prepared["applied"], "the batch applied before the fuzz is in the log"
    print(f"{len(written)} changes written ({Counter(c['source'] for c in written)}), "
          f"{truth['totals']['policy_updates']} policy updates on the node")
    node_env.assert_log_matches_node()
