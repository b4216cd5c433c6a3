"""Tables and queries, nothing else.

LNbits' raw `execute`/`fetch*` strip anything that looks like an HTML tag or
entity from string values. Free text and JSON are therefore stored through
`encode()`, which escapes `<`, `>` and `&` as JSON unicode escapes: the stored
text is still valid JSON and decodes back to exactly what was written.
"""

from __future__ import annotations

import json
import time
from typing import Any, Optional

from lnbits.db import Database
from lnbits.helpers import urlsafe_short_hash

from .clock import now

db = Database("ext_feepilot")

SETTINGS_ROW_ID = "instance"


_last_seq = 0


def next_seq() -> int:
    """Strictly increasing within the process, and across restarts (nanoseconds)."""
    global _last_seq
    _last_seq = max(_last_seq + 1, time.time_ns())
    return _last_seq


def encode(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def decode(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


def new_id() -> str:
    return urlsafe_short_hash()


# --- who acted, by name -------------------------------------------------------------

# The requesters that are not LNbits users.
SYSTEM_NAMES = {
    "autopilot": "Fee Autopilot (schedule)",
    "node": "Outside Fee Autopilot",
    "restart": "Fee Autopilot (after a restart)",
}


def short_user(user_id: str) -> str:
    """The last resort: an account we cannot name (deleted, or never an LNbits user)."""
    return f"user {user_id[:4]}…"


async def person_name(user_id: Optional[str]) -> Optional[str]:
    """The name of whoever acted: the username of their LNbits account, else its e-mail,
    else "user 08a0…"; the schedule and the node by what they are."""
    if not user_id:
        return None
    if user_id in SYSTEM_NAMES:
        return SYSTEM_NAMES[user_id]
    try:
        from lnbits.core.crud import get_account

        account = await get_account(user_id, active_only=False)
    except Exception:  # naming never breaks what is being recorded or read
        account = None
    if account is not None and (account.username or account.email):
        return account.username or account.email
    return short_user(user_id)


async def _named(rows: list[dict], id_key: str = "requested_by", name_key: str = "requested_by_name") -> list[dict]:
    """Name the rows written before names were stored (one look-up per person)."""
    names: dict[str, Optional[str]] = {}
    for row in rows:
        if row.get(name_key) or not row.get(id_key):
            continue
        if row[id_key] not in names:
            names[row[id_key]] = await person_name(row[id_key])
        row[name_key] = names[row[id_key]]
    return rows


# --- settings ---------------------------------------------------------------------


async def get_settings_document() -> Optional[dict]:
    row = await db.fetchone("SELECT data FROM feepilot.settings WHERE id = :id", {"id": SETTINGS_ROW_ID})
    return decode(row["data"]) if row else None


async def save_settings_document(data: dict, changed_by: Optional[str]) -> None:
    """Store the settings and append who changed what to the history."""
    old = await get_settings_document()
    at = now()
    name = await person_name(changed_by)
    values = {"id": SETTINGS_ROW_ID, "data": encode(data), "at": at, "by": changed_by}
    if old is None:
        await db.execute(
            "INSERT INTO feepilot.settings (id, data, updated_at, updated_by) VALUES (:id, :data, :at, :by)",
            values,
        )
    else:
        await db.execute(
            "UPDATE feepilot.settings SET data = :data, updated_at = :at, updated_by = :by WHERE id = :id",
            values,
        )
    await db.execute(
        """
        INSERT INTO feepilot.settings_history (id, seq, changed_at, changed_by, changed_by_name, old_data, new_data)
        VALUES (:id, :seq, :at, :by, :name, :old, :new)
        """,
        {"id": new_id(), "seq": next_seq(), "at": at, "by": changed_by, "name": encode(name) if name else None,
         "old": encode(old) if old is not None else None, "new": encode(data)},
    )


async def list_settings_history(limit: int = 50) -> list[dict]:
    rows = await db.fetchall(
        "SELECT * FROM feepilot.settings_history ORDER BY seq DESC LIMIT :limit",
        {"limit": limit},
    )
    return await _named(
        [
            {
                "id": r["id"],
                "changed_at": r["changed_at"],
                "changed_by": r["changed_by"],
                "requested_by_name": decode(r["changed_by_name"]) if r["changed_by_name"] else None,
                "old": decode(r["old_data"]),
                "new": decode(r["new_data"]),
            }
            for r in rows
        ],
        id_key="changed_by",
    )


# --- runs ---------------------------------------------------------------------------


async def create_run(kind: str, requested_by: Optional[str], status: str = "running", reason: str = "") -> dict:
    name = await person_name(requested_by)
    run = {
        "id": new_id(),
        "seq": next_seq(),
        "created_at": now(),
        "kind": kind,
        "requested_by": requested_by,
        "requested_by_name": encode(name) if name else None,
        "status": status,
        "reason": encode(reason),
    }
    await db.execute(
        """
        INSERT INTO feepilot.runs (id, seq, created_at, kind, requested_by, requested_by_name, status, reason)
        VALUES (:id, :seq, :created_at, :kind, :requested_by, :requested_by_name, :status, :reason)
        """,
        run,
    )
    return await get_run(run["id"])  # type: ignore[return-value]


async def update_run(
    run_id: str,
    *,
    status: str,
    reason: Optional[str] = None,
    node_id: Optional[str] = None,
    counts: Optional[dict] = None,
    summary: Optional[dict] = None,
    finished: bool = True,
) -> None:
    sets = ["status = :status"]
    values: dict[str, Any] = {"id": run_id, "status": status}
    if reason is not None:
        sets.append("reason = :reason")
        values["reason"] = encode(reason)
    if node_id is not None:
        sets.append("node_id = :node_id")
        values["node_id"] = node_id
    if counts is not None:
        sets.append("counts = :counts")
        values["counts"] = encode(counts)
    if summary is not None:
        sets.append("summary = :summary")
        values["summary"] = encode(summary)
    if finished:
        sets.append("finished_at = :finished_at")
        values["finished_at"] = now()
    await db.execute(f"UPDATE feepilot.runs SET {', '.join(sets)} WHERE id = :id", values)


def _run(row: Any) -> dict:
    run = dict(row)
    run["reason"] = decode(run["reason"]) or ""
    run["counts"] = decode(run["counts"]) or {}
    run["summary"] = decode(run["summary"]) or {}
    run["requested_by_name"] = decode(run["requested_by_name"]) if run.get("requested_by_name") else None
    return run


async def get_run(run_id: str) -> Optional[dict]:
    row = await db.fetchone("SELECT * FROM feepilot.runs WHERE id = :id", {"id": run_id})
    return (await _named([_run(row)]))[0] if row else None


async def list_runs(limit: int, offset: int, kind: Optional[str] = None) -> tuple[list[dict], int]:
    where = "WHERE kind = :kind" if kind else ""
    values: dict[str, Any] = {"limit": limit, "offset": offset, "kind": kind}
    rows = await db.fetchall(
        f"SELECT * FROM feepilot.runs {where} ORDER BY seq DESC LIMIT :limit OFFSET :offset",
        values,
    )
    total = await db.fetchone(f"SELECT COUNT(*) AS n FROM feepilot.runs {where}", values)
    return await _named([_run(r) for r in rows]), int(total["n"])


async def last_run(kinds: tuple[str, ...]) -> Optional[dict]:
    placeholders = ", ".join(f":k{i}" for i in range(len(kinds)))
    row = await db.fetchone(
        f"SELECT * FROM feepilot.runs WHERE kind IN ({placeholders}) ORDER BY seq DESC LIMIT 1",
        {f"k{i}": kind for i, kind in enumerate(kinds)},
    )
    return (await _named([_run(row)]))[0] if row else None


async def fail_interrupted_runs(reason: str) -> int:
    rows = await db.fetchall("SELECT id FROM feepilot.runs WHERE status = 'running'")
    for row in rows:
        await update_run(row["id"], status="failed", reason=reason)
    return len(rows)


async def runs_with_status(statuses: tuple[str, ...]) -> list[dict]:
    placeholders = ", ".join(f":s{i}" for i in range(len(statuses)))
    rows = await db.fetchall(
        f"SELECT * FROM feepilot.runs WHERE status IN ({placeholders}) ORDER BY seq",
        {f"s{i}": status for i, status in enumerate(statuses)},
    )
    return [_run(r) for r in rows]


# --- scores, decisions, snapshots ----------------------------------------------------


async def insert_scores(run_id: str, at: int, scores: list[dict]) -> None:
    for score in scores:
        await db.execute(
            """
            INSERT INTO feepilot.scores (id, run_id, chan_id, created_at, total, confidence, data)
            VALUES (:id, :run_id, :chan_id, :at, :total, :confidence, :data)
            """,
            {
                "id": new_id(),
                "run_id": run_id,
                "chan_id": score["chan_id"],
                "at": at,
                "total": score.get("total"),
                "confidence": score.get("confidence", 0.0),
                "data": encode(score),
            },
        )


async def latest_scores() -> tuple[Optional[dict], list[dict]]:
    """The newest run that scored channels, and its scores."""
    row = await db.fetchone(
        """
        SELECT id FROM feepilot.runs WHERE id IN (SELECT DISTINCT run_id FROM feepilot.scores)
        ORDER BY seq DESC LIMIT 1
        """
    )
    if not row:
        return None, []
    run = await get_run(row["id"])
    rows = await db.fetchall(
        "SELECT data FROM feepilot.scores WHERE run_id = :run_id ORDER BY chan_id",
        {"run_id": row["id"]},
    )
    return run, [decode(r["data"]) for r in rows]


async def channel_score_history(chan_id: str, since: int) -> list[dict]:
    rows = await db.fetchall(
        """
        SELECT created_at, total, confidence FROM feepilot.scores
        WHERE chan_id = :chan_id AND created_at >= :since ORDER BY created_at
        """,
        {"chan_id": chan_id, "since": since},
    )
    return [dict(r) for r in rows]


async def insert_decisions(run_id: str, at: int, decisions: list[dict]) -> list[dict]:
    stored = []
    for decision in decisions:
        row = {
            "id": new_id(),
            "run_id": run_id,
            "chan_id": decision["chan_id"],
            "at": at,
            "action": decision["action"],
            "accepted": bool(decision.get("accepted", False)),
            "reason": encode(decision.get("reason", "")),
            "blocked_by": decision.get("blocked_by"),
            "old_policy": encode(decision.get("old_policy")),
            "new_policy": encode(decision.get("new_policy")),
            "data": encode(decision),
        }
        await db.execute(
            """
            INSERT INTO feepilot.decisions
                (id, run_id, chan_id, created_at, action, accepted, reason, blocked_by, old_policy, new_policy, data)
            VALUES (:id, :run_id, :chan_id, :at, :action, :accepted, :reason, :blocked_by, :old_policy, :new_policy, :data)
            """,
            row,
        )
        stored.append({**decision, "id": row["id"], "run_id": run_id, "created_at": at})
    return stored


def _decision(row: Any) -> dict:
    data = decode(row["data"])
    data.update({"id": row["id"], "run_id": row["run_id"], "created_at": row["created_at"]})
    return data


async def get_decision(decision_id: str) -> Optional[dict]:
    row = await db.fetchone("SELECT * FROM feepilot.decisions WHERE id = :id", {"id": decision_id})
    return _decision(row) if row else None


async def list_decisions(run_id: str) -> list[dict]:
    rows = await db.fetchall(
        "SELECT * FROM feepilot.decisions WHERE run_id = :run_id ORDER BY created_at, id",
        {"run_id": run_id},
    )
    decisions = [_decision(r) for r in rows]
    decisions.sort(key=lambda d: d.get("order", 0))
    return decisions


async def insert_snapshot(run_id: str, at: int, data: dict) -> None:
    await db.execute(
        "INSERT INTO feepilot.snapshots (id, run_id, taken_at, data) VALUES (:id, :run_id, :at, :data)",
        {"id": new_id(), "run_id": run_id, "at": at, "data": encode(data)},
    )


async def list_snapshots(since: int) -> list[dict]:
    rows = await db.fetchall(
        "SELECT run_id, taken_at, data FROM feepilot.snapshots WHERE taken_at >= :since ORDER BY taken_at",
        {"since": since},
    )
    return [{"run_id": r["run_id"], "taken_at": r["taken_at"], **decode(r["data"])} for r in rows]


async def prune_before(cutoff: int) -> dict[str, int]:
    """Drop scores and snapshots older than the cutoff; runs, decisions and changes stay."""
    counts = {}
    for table, column in (("scores", "created_at"), ("snapshots", "taken_at")):
        row = await db.fetchone(f"SELECT COUNT(*) AS n FROM feepilot.{table} WHERE {column} < :cutoff", {"cutoff": cutoff})
        counts[table] = int(row["n"])
        await db.execute(f"DELETE FROM feepilot.{table} WHERE {column} < :cutoff", {"cutoff": cutoff})
    return counts


# --- the change log ---------------------------------------------------------------------


async def insert_change(
    *,
    chan_id: str,
    channel_point: str,
    old_policy: dict,
    new_policy: dict,
    requested_by: str,
    source: str,
    reason: str,
    run_id: Optional[str] = None,
    decision_id: Optional[str] = None,
    batch_id: Optional[str] = None,
    rollback_of: Optional[str] = None,
) -> dict:
    """Write a change as `pending`. Called before the node is."""
    change_id = new_id()
    at = now()
    name = await person_name(requested_by)
    await db.execute(
        """
        INSERT INTO feepilot.changes
            (id, seq, created_at, chan_id, channel_point, old_policy, new_policy, requested_by, requested_by_name,
             source, run_id, decision_id, batch_id, rollback_of, reason, status)
        VALUES (:id, :seq, :at, :chan_id, :channel_point, :old_policy, :new_policy, :requested_by, :requested_by_name,
                :source, :run_id, :decision_id, :batch_id, :rollback_of, :reason, 'pending')
        """,
        {
            "id": change_id,
            "seq": next_seq(),
            "at": at,
            "chan_id": chan_id,
            "channel_point": channel_point,
            "old_policy": encode(old_policy),
            "new_policy": encode(new_policy),
            "requested_by": requested_by,
            "requested_by_name": encode(name) if name else None,
            "source": source,
            "run_id": run_id,
            "decision_id": decision_id,
            "batch_id": batch_id,
            "rollback_of": rollback_of,
            "reason": encode(reason),
        },
    )
    await _change_event(change_id, "pending", None, at)
    return await get_change(change_id)  # type: ignore[return-value]


async def settle_change(change_id: str, status: str, message: Optional[str] = None) -> bool:
    """pending -> applied | failed | conflict. A settled change is never changed again:
    False (and no event) when the row was not pending."""
    at = now()
    result = await db.execute(
        """
        UPDATE feepilot.changes SET status = :status, message = :message, settled_at = :at
        WHERE id = :id AND status = 'pending'
        """,
        {"id": change_id, "status": status, "message": encode(message) if message else None, "at": at},
    )
    if not result.rowcount:
        return False
    await _change_event(change_id, status, message, at)
    return True


async def insert_external_change(*, chan_id: str, channel_point: str, old_policy: dict, new_policy: dict, reason: str) -> dict:
    """A policy change somebody else made (found by drift detection): settled when written."""
    change_id = new_id()
    at = now()
    await db.execute(
        """
        INSERT INTO feepilot.changes
            (id, seq, created_at, chan_id, channel_point, old_policy, new_policy, requested_by, requested_by_name,
             source, reason, status, message, settled_at)
        VALUES (:id, :seq, :at, :chan_id, :channel_point, :old_policy, :new_policy, 'node', :requested_by_name,
                'external', :reason, 'applied', :reason, :at)
        """,
        {
            "requested_by_name": encode(SYSTEM_NAMES["node"]),
            "id": change_id,
            "seq": next_seq(),
            "at": at,
            "chan_id": chan_id,
            "channel_point": channel_point,
            "old_policy": encode(old_policy),
            "new_policy": encode(new_policy),
            "reason": encode(reason),
        },
    )
    await _change_event(change_id, "detected", reason, at)
    return await get_change(change_id)  # type: ignore[return-value]


async def latest_settled_changes() -> dict[str, dict]:
    """chan_id -> the newest change of the channel that is no longer pending (one query)."""
    rows = await db.fetchall(
        """
        SELECT * FROM feepilot.changes c WHERE c.seq = (
            SELECT MAX(c2.seq) FROM feepilot.changes c2 WHERE c2.chan_id = c.chan_id AND c2.status != 'pending'
        )
        """
    )
    return {row["chan_id"]: _change(row) for row in rows}


async def count_changes(*, source: str, since: int) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM feepilot.changes WHERE source = :source AND created_at >= :since",
        {"source": source, "since": since},
    )
    return int(row["n"])


async def _change_event(change_id: str, status: str, message: Optional[str], at: int) -> None:
    await db.execute(
        "INSERT INTO feepilot.change_events (id, seq, change_id, at, status, message) VALUES (:id, :seq, :change_id, :at, :status, :message)",
        {"id": new_id(), "seq": next_seq(), "change_id": change_id, "at": at, "status": status, "message": encode(message) if message else None},
    )


def _change(row: Any) -> dict:
    change = dict(row)
    change["old_policy"] = decode(change["old_policy"])
    change["new_policy"] = decode(change["new_policy"])
    change["reason"] = decode(change["reason"]) or ""
    change["message"] = decode(change["message"]) if change.get("message") else None
    change["requested_by_name"] = decode(change["requested_by_name"]) if change.get("requested_by_name") else None
    return change


async def get_change(change_id: str) -> Optional[dict]:
    row = await db.fetchone("SELECT * FROM feepilot.changes WHERE id = :id", {"id": change_id})
    return (await _named([_change(row)]))[0] if row else None


async def list_change_events(change_id: str) -> list[dict]:
    """Every status transition of one change, oldest first."""
    rows = await db.fetchall(
        "SELECT at, status, message FROM feepilot.change_events WHERE change_id = :id ORDER BY seq",
        {"id": change_id},
    )
    return [{"at": r["at"], "status": r["status"], "message": decode(r["message"]) if r["message"] else None}
            for r in rows]


async def list_changes(
    *,
    chan_id: Optional[str] = None,
    status: Optional[str] = None,
    run_id: Optional[str] = None,
    batch_id: Optional[str] = None,
    since: Optional[int] = None,
    until: Optional[int] = None,
    limit: int = 50,
    offset: int = 0,
    oldest_first: bool = False,
) -> tuple[list[dict], int]:
    clauses, values = [], {"limit": limit, "offset": offset}
    for column, value in (("chan_id", chan_id), ("status", status), ("run_id", run_id), ("batch_id", batch_id)):
        if value is not None:
            clauses.append(f"{column} = :{column}")
            values[column] = value
    if since is not None:
        clauses.append("created_at >= :since")
        values["since"] = since
    if until is not None:
        clauses.append("created_at <= :until")
        values["until"] = until
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "ASC" if oldest_first else "DESC"
    rows = await db.fetchall(
        f"SELECT * FROM feepilot.changes {where} ORDER BY seq {order} LIMIT :limit OFFSET :offset",
        values,
    )
    total = await db.fetchone(f"SELECT COUNT(*) AS n FROM feepilot.changes {where}", values)
    return await _named([_change(r) for r in rows]), int(total["n"])


async def applied_rollbacks_of(change_ids: list[str]) -> dict[str, str]:
    """change id -> id of the applied change that rolled it back (one query for a page)."""
    if not change_ids:
        return {}
    names = {f"c{i}": change_id for i, change_id in enumerate(change_ids)}
    rows = await db.fetchall(
        f"""
        SELECT id, rollback_of FROM feepilot.changes
        WHERE status = 'applied' AND rollback_of IN ({", ".join(f":{n}" for n in names)}) ORDER BY seq
        """,
        names,
    )
    undone: dict[str, str] = {}
    for row in rows:
        undone.setdefault(row["rollback_of"], row["id"])
    return undone


async def rollbacks_of(change_id: str) -> list[dict]:
    rows = await db.fetchall(
        "SELECT * FROM feepilot.changes WHERE rollback_of = :id ORDER BY seq", {"id": change_id}
    )
    return [_change(r) for r in rows]


async def has_pending_changes() -> bool:
    return await db.fetchone("SELECT id FROM feepilot.changes WHERE status = 'pending' LIMIT 1") is not None


async def pending_changes() -> list[dict]:
    rows = await db.fetchall("SELECT * FROM feepilot.changes WHERE status = 'pending' ORDER BY seq")
    return [_change(r) for r in rows]


async def applied_changes_since(since: int) -> list[dict]:
    rows = await db.fetchall(
        "SELECT * FROM feepilot.changes WHERE status = 'applied' AND created_at >= :since ORDER BY seq",
        {"since": since},
    )
    return [_change(r) for r in rows]


# --- insights: the summary's activity and the impact of changes (read only) ---------------------------


async def applied_changes_of_channels(chan_ids: list[str], since: int) -> list[dict]:
    """Applied changes (any source) of these channels created at or after `since`, oldest first:
    id, seq, chan_id, created_at, settled_at (what a later change needs for `superseded_at`)."""
    if not chan_ids:
        return []
    names = {f"c{i}": chan_id for i, chan_id in enumerate(chan_ids)}
    rows = await db.fetchall(
        f"""
        SELECT id, seq, chan_id, created_at, settled_at FROM feepilot.changes
        WHERE status = 'applied' AND created_at >= :since AND chan_id IN ({", ".join(f":{n}" for n in names)})
        ORDER BY seq
        """,
        {"since": since, **names},
    )
    return [dict(r) for r in rows]


async def snapshot_rows_between(since: int, until: int) -> list[tuple[int, str]]:
    """(taken_at, the stored JSON text) of the snapshots with since <= taken_at < until, oldest
    first; the caller decodes them (off the event loop)."""
    rows = await db.fetchall(
        "SELECT taken_at, data FROM feepilot.snapshots WHERE taken_at >= :since AND taken_at < :until ORDER BY taken_at",
        {"since": since, "until": until},
    )
    return [(int(r["taken_at"]), r["data"]) for r in rows]


async def change_counts_since(since: int) -> list[tuple[str, str, bool, int]]:
    """(source, status, is a rollback, count) of the changes created at or after `since`."""
    undo = "CASE WHEN rollback_of IS NULL THEN 0 ELSE 1 END"
    rows = await db.fetchall(
        f"""
        SELECT source, status, {undo} AS undo, COUNT(*) AS n FROM feepilot.changes
        WHERE created_at >= :since GROUP BY source, status, {undo}
        """,
        {"since": since},
    )
    return [(r["source"], r["status"], bool(r["undo"]), int(r["n"])) for r in rows]


async def count_runs_since(since: int) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM feepilot.runs WHERE created_at >= :since", {"since": since})
    return int(row["n"])


async def count_blocked_decisions_since(since: int, kinds: tuple[str, ...]) -> int:
    """Decisions of runs of these kinds, created at or after `since`, that a guardrail blocked."""
    placeholders = ", ".join(f":k{i}" for i in range(len(kinds)))
    row = await db.fetchone(
        f"""
        SELECT COUNT(*) AS n FROM feepilot.decisions d JOIN feepilot.runs r ON r.id = d.run_id
        WHERE d.created_at >= :since AND d.blocked_by IS NOT NULL AND r.kind IN ({placeholders})
        """,
        {"since": since, **{f"k{i}": kind for i, kind in enumerate(kinds)}},
    )
    return int(row["n"])


async def run_batches_since(created_since: int) -> list[dict]:
    """The recorded batches (summary["batches"]) of the runs created at or after `created_since`
    that have any."""
    rows = await db.fetchall(
        "SELECT summary FROM feepilot.runs WHERE created_at >= :since AND summary LIKE :batches",
        {"since": created_since, "batches": '%"batches":%'},
    )
    return [batch for r in rows for batch in (decode(r["summary"]) or {}).get("batches", [])]


# --- Fee Autopilot's node credential (the vault's rows; the secret is ciphertext) ----------------

CREDENTIAL_COLUMNS = (
    "id, created_at, created_by, created_by_name, method, fingerprint, root_key_id, permissions, warnings, "
    "status, activated_at, retired_at, revoked_at, revoked_by, revoked_by_name, revoke_note, refused_at, "
    "refused_reason"
)


def _credential(row: Any) -> dict:
    data = dict(row)
    data["permissions"] = decode(data["permissions"])
    data["warnings"] = decode(data["warnings"])
    data["has_secret"] = bool(data.pop("secret", None))
    return data


async def insert_credential(
    credential_id: str, *, created_by: str, method: str, fingerprint: str, root_key_id: Optional[str],
    permissions: list[str], warnings: list[str], secret: str,
) -> None:
    """A new credential, not active yet (activate_credential switches)."""
    await db.execute(
        """
        INSERT INTO feepilot.credentials (id, created_at, created_by, created_by_name, method, fingerprint,
            root_key_id, permissions, warnings, secret, status)
        VALUES (:id, :at, :by, :name, :method, :fp, :rk, :perms, :warnings, :secret, 'new')
        """,
        {"id": credential_id, "at": now(), "by": created_by, "name": await person_name(created_by),
         "method": method, "fp": fingerprint, "rk": root_key_id, "perms": encode(permissions),
         "warnings": encode(warnings), "secret": secret},
    )


async def activate_credential(credential_id: str) -> None:
    """This one becomes the active credential; the one active before is retired."""
    at = now()
    await db.execute(
        "UPDATE feepilot.credentials SET status = 'retired', retired_at = :at WHERE status = 'active' AND id != :id",
        {"at": at, "id": credential_id},
    )
    await db.execute(
        "UPDATE feepilot.credentials SET status = 'active', activated_at = :at WHERE id = :id",
        {"at": at, "id": credential_id},
    )


async def revoke_credential(credential_id: str, by: str, note: Optional[str]) -> None:
    """Revoked: the secret is forgotten (the row keeps what it was)."""
    await db.execute(
        """
        UPDATE feepilot.credentials SET status = 'revoked', secret = NULL, revoked_at = :at, revoked_by = :by,
            revoked_by_name = :name, revoke_note = :note WHERE id = :id
        """,
        {"at": now(), "by": by, "name": await person_name(by), "note": note, "id": credential_id},
    )


async def forget_credential_secret(credential_id: str, note: Optional[str]) -> None:
    """A retired credential: its secret is no longer needed."""
    await db.execute(
        "UPDATE feepilot.credentials SET secret = NULL, revoke_note = :note WHERE id = :id",
        {"note": note, "id": credential_id},
    )


async def set_credential_refused(credential_id: str, at: Optional[int], reason: Optional[str]) -> None:
    await db.execute(
        "UPDATE feepilot.credentials SET refused_at = :at, refused_reason = :reason WHERE id = :id",
        {"at": at, "reason": reason, "id": credential_id},
    )


async def active_credential() -> Optional[dict]:
    """The active credential's row with its ciphertext under `secret`."""
    row = await db.fetchone(
        f"SELECT {CREDENTIAL_COLUMNS}, secret FROM feepilot.credentials WHERE status = 'active' "
        "ORDER BY activated_at DESC LIMIT 1"
    )
    if row is None:
        return None
    data = dict(row)
    secret = data["secret"]
    data = _credential(data)
    data["secret"] = secret
    return data


async def list_credentials(limit: int = 50) -> list[dict]:
    rows = await db.fetchall(
        f"SELECT {CREDENTIAL_COLUMNS}, secret FROM feepilot.credentials WHERE status != 'new' "
        "ORDER BY created_at DESC, id LIMIT :limit",
        {"limit": limit},
    )
    return [_credential(row) for row in rows]


async def insert_credential_event(
    credential_id: str, action: str, by: Optional[str], message: Optional[str]
) -> None:
    await db.execute(
        """
        INSERT INTO feepilot.credential_events (id, seq, credential_id, at, action, by_user, by_name, message)
        VALUES (:id, :seq, :cid, :at, :action, :by, :name, :message)
        """,
        {"id": new_id(), "seq": next_seq(), "cid": credential_id, "at": now(), "action": action, "by": by,
         "name": await person_name(by), "message": encode(message) if message is not None else None},
    )


async def list_credential_events(limit: int = 50) -> list[dict]:
    rows = await db.fetchall(
        "SELECT credential_id, at, action, by_user, by_name, message FROM feepilot.credential_events "
        "ORDER BY seq DESC LIMIT :limit",
        {"limit": limit},
    )
    return [{**dict(row), "message": decode(row["message"])} for row in rows]
