"""The extension on LNbits with Postgres: migrations, runs, apply, rollback, history."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx
import pytest

from devtools.postgres import TempPostgres, _bin
from devtools.testenv import TEST_GRAPH_WORK, start_host_session


@pytest.fixture(scope="module")
def pg_session(simnode, tmp_path_factory):
    with TempPostgres() as postgres:
        session = start_host_session(
            tmp_path_factory.mktemp("lnbits-pg"),
            backend="LndRestWallet",
            lnd_endpoint=simnode.url,
            macaroon=simnode.macaroon,
            extra_env={"LNBITS_DATABASE_URL": postgres.url},
        )
        session.postgres = postgres  # type: ignore[attr-defined]
        yield session
        session.host.stop()


def test_the_whole_flow_on_postgres(pg_session, simnode):
    with pg_session.client(pg_session.super_token) as client:
        api = "/feepilot/api/v1"
        assert client.put(f"{api}/settings", json={"mode": "off", "interval_minutes": 30, **TEST_GRAPH_WORK}).status_code == 200
        history = client.get(f"{api}/settings/history").json()
        assert history[0]["new"]["interval_minutes"] == 30
        assert history[0]["requested_by_name"] == "admin"  # migration m004's columns, on Postgres too
        run = client.post(f"{api}/runs", json={"dry_run": True}, timeout=300)
        assert run.status_code == 201, run.text
        run = run.json()
        assert run["status"] == "completed" and run["requested_by_name"] == "admin"
        scores = client.get(f"{api}/scores").json()
        assert scores["run"]["id"] == run["id"] and scores["channels"]
        decision = next(d for d in run["decisions"] if d["accepted"])
        truth_before = {c["chan_id"]: c["policy"] for c in simnode.state()["channels"]}
        applied = client.post(f"{api}/decisions/{decision['id']}/apply").json()
        assert applied["outcomes"][0]["status"] == "applied", applied
        change_id = applied["outcomes"][0]["change_id"]
        assert client.get(f"{api}/changes?status=applied").json()["total"] >= 1
        rollback = client.post(f"{api}/changes/{change_id}/rollback", json={})
        assert rollback.status_code == 200 and rollback.json()["requested_by_name"] == "admin", rollback.text
        assert client.get(f"{api}/changes/{change_id}").json()["requested_by_name"] == "admin"
        truth_after = {c["chan_id"]: c["policy"] for c in simnode.state()["channels"]}
        chan = decision["chan_id"]
        assert {k: v for k, v in truth_after[chan].items() if k != "last_update"} == {
            k: v for k, v in truth_before[chan].items() if k != "last_update"
        }
        detail = client.get(f"{api}/runs/{run['id']}").json()
        assert {d["status"] for d in detail["decisions"] if d["id"] == decision["id"]} == {"restored"}
        assert client.get(f"{api}/channels/{chan}/history").json()["changes"]
        status = client.get(f"{api}/status").json()
        assert status["node_api_available"] and status["last_run"]["id"] == run["id"]


def test_the_node_credential_is_not_in_the_postgres_database(pg_session, simnode):
    """Issue 17: Fee Autopilot's macaroon is stored encrypted on Postgres too: neither its hex nor
    its bytes (nor base64) are in a dump of the database or in any file of the cluster."""
    api = "/feepilot/api/v1"
    with pg_session.client(pg_session.super_token) as client:
        created = client.post(f"{api}/credential", json={"method": "bake"}, timeout=120)
        assert created.status_code == 201, created.text
        root_key_id = int(created.json()["active"]["root_key_id"])
        status = client.get(f"{api}/status").json()
        assert status["credential"]["in_use"] == "fee_autopilot" and status["node_api_available"], status
        run = client.post(f"{api}/runs", json={"dry_run": True}, timeout=300)
        assert run.status_code == 201 and run.json()["status"] == "completed", run.text
    baked = httpx.get(f"{simnode.url}/sim/macaroons", timeout=30).json()["baked"]
    macaroon = next(b["macaroon"] for b in baked if b["root_key_id"] == root_key_id)
    raw = bytes.fromhex(macaroon)
    forms = [macaroon.encode(), macaroon.upper().encode(), raw, base64.b64encode(raw),
             base64.urlsafe_b64encode(raw).rstrip(b"=")]
    postgres = pg_session.postgres
    owner = ["runuser", "-u", "postgres", "--"] if postgres.as_root else []
    connect = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "lnbits"]
    subprocess.run([*owner, _bin("psql"), *connect, "-c", "CHECKPOINT"], check=True, capture_output=True)
    dump = subprocess.run([*owner, _bin("pg_dump"), *connect], check=True, capture_output=True).stdout
    assert b"feepilot.credentials" in dump and b"v1:" in dump  # the row is there, encrypted
    files = [p for p in Path(postgres.dir).rglob("*") if p.is_file()]
    assert len(files) > 100
    for form in forms:
        assert form not in dump
        for path in files:
            assert form not in path.read_bytes(), path
    with pg_session.client(pg_session.super_token) as client:
        assert client.post(f"{api}/credential/revoke", timeout=120).status_code == 200
