"""Tables and queries, nothing else.

LNbits' raw `execute`/`fetch*` strip anything that looks like an HTML tag or
entity from string values. Free text and JSON are therefore stored through
`encode()`, which escapes `<`, `>` and `&` as JSON unicode escapes: the stored
text is still valid JSON and decodes back to exactly what was written.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping, Optional

from lnbits.db import Database
from lnbits.helpers import urlsafe_short_hash

from . import series
from .clock import now
from .migrations import ROLLUP_FORWARD_DAYS
from .run_encoding import EncodedRun, decode_decisions, encode_decisions, encode_text, serialise_scores

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


async def latest_scores() -> tuple[Optional[dict], list[dict]]:
    """The newest run that scored channels, and its scores (decoded: for aggregates). A big node's
    are 12 MB of JSON: decoded in a thread, not on LNbits' event loop."""
    latest, run = await latest_scores_with_run()
    if latest is None:
        return None, []
    return run, await asyncio.to_thread(decode, latest.channels)


# A decision's fields that have columns of their own in the per-channel rows versions before
# m010 wrote (`feepilot.decisions`): kept there only, not again in `data`, by the last of them.
DECISION_COLUMNS = ("reason", "old_policy", "new_policy")


def run_decision_id(run_id: str, order: int) -> str:
    """A decision's id: its run's and its `order` in the run (ids of shortuuid's alphabet have no
    "-"; the ids of the rows in `feepilot.decisions` have none either)."""
    return f"{run_id}-{order}"


def _run_decisions(row: Any) -> list[dict]:
    decisions = decode_decisions(bytes(row["data"]))
    for decision in decisions:
        decision.update({"id": run_decision_id(row["run_id"], int(decision.get("order", 0))),
                         "run_id": row["run_id"], "created_at": int(row["created_at"])})
    return decisions


def _legacy_decision(row: Any) -> dict:
    data = decode(row["data"])
    for key in DECISION_COLUMNS:
        if key not in data:
            data[key] = decode(row[key])
    data.update({"id": row["id"], "run_id": row["run_id"], "created_at": row["created_at"]})
    return data


async def get_decision(decision_id: str) -> Optional[dict]:
    run_id, _, index = decision_id.rpartition("-")
    if run_id and index.isdigit():
        return next((d for d in await list_decisions(run_id) if d["id"] == decision_id), None)
    row = await db.fetchone("SELECT * FROM feepilot.decisions WHERE id = :id", {"id": decision_id})
    return _legacy_decision(row) if row else None


async def list_decisions(run_id: str) -> list[dict]:
    row = await db.fetchone("SELECT run_id, created_at, data FROM feepilot.run_decisions WHERE run_id = :run_id",
                            {"run_id": run_id})
    if row is not None:
        decisions = await asyncio.to_thread(_run_decisions, row)
    else:  # a run stored before m010
        rows = await db.fetchall(
            "SELECT * FROM feepilot.decisions WHERE run_id = :run_id ORDER BY created_at, id", {"run_id": run_id}
        )
        decisions = [_legacy_decision(r) for r in rows]
    decisions.sort(key=lambda d: d.get("order", 0))
    return decisions


# --- one transaction per run (issue 15) ----------------------------------------------------


EXECUTE_MANY_ROWS = 200


class Transaction:
    """Statements on one connection, committed together by `transaction()`. LNbits' own
    `execute` commits each statement; these do not, so a run's rows land all or none."""

    def __init__(self, conn: Any):
        self.conn = conn

    async def execute(self, query: str, values: Optional[dict] = None) -> Any:
        from sqlalchemy import text

        params = self.conn.rewrite_values(values) if values else {}
        return await self.conn.conn.execute(text(self.conn.rewrite_query(query)), params)

    async def execute_many(self, query: str, rows: list[dict]) -> None:
        """One statement for many rows (the driver's executemany), in slices of EXECUTE_MANY_ROWS:
        SQLAlchemy binds the parameters of an executemany on the event loop, about 17 ms for a
        run's 1,000 series rows at once; a slice takes a few, and the loop runs between them."""
        if not rows:
            return
        from sqlalchemy import text

        statement = text(self.conn.rewrite_query(query))
        for start in range(0, len(rows), EXECUTE_MANY_ROWS):
            chunk = rows[start:start + EXECUTE_MANY_ROWS]
            await self.conn.conn.execute(statement, [self.conn.rewrite_values(r) for r in chunk])

    async def fetchall(self, query: str, values: Optional[dict] = None) -> list[Any]:
        result = await self.execute(query, values)
        rows = result.mappings().all()
        result.close()
        return list(rows)


@asynccontextmanager
async def transaction() -> AsyncIterator[Transaction]:
    """Everything written through the yielded Transaction is committed at the end, or rolled
    back (the connection closes uncommitted) when the block raises."""
    async with db.connect() as conn:
        yield Transaction(conn)
        await conn.conn.commit()


@dataclass(frozen=True)
class SerialisedScores:
    run_id: str
    at: int
    etag: str
    channels: str  # the JSON array GET /scores serves as `channels`


SCORES_ROW_ID = "latest"
SNAPSHOT_ROW_ID = "latest"
UPSERT_LATEST_SNAPSHOT = """
    INSERT INTO feepilot.snapshots (id, run_id, taken_at, data) VALUES (:id, :run_id, :at, :data)
    ON CONFLICT (id) DO UPDATE SET run_id = :run_id, taken_at = :at, data = :data
"""
UPSERT_LATEST_SCORES = """
    INSERT INTO feepilot.scores_latest (id, run_id, at, etag, data) VALUES (:id, :run_id, :at, :etag, :data)
    ON CONFLICT (id) DO UPDATE SET run_id = :run_id, at = :at, etag = :etag, data = :data
"""


# Per channel, (day, fee and capacity) of the last point a run wrote: the next point of the same
# day that shares them is written short (series.py). Set only once a run's rows are committed;
# empty after a restart (the next points are then written whole).
_last_points: dict[str, tuple[int, tuple]] = {}


def day_rows(at: int, snapshot: dict, scored: tuple[tuple[str, Optional[float], float], ...],
             last: Mapping[str, tuple[int, tuple]]) -> tuple[list[dict], dict[str, tuple[int, tuple]]]:
    """What a run adds to each channel's day in channel_days: its point, and its score (chan_id,
    total, confidence) when the run scored the channel (series.py's compact items); and the new
    `_last_points`."""
    scores = {chan_id: (total, confidence) for chan_id, total, confidence in scored}
    day = series.day_of(at)
    rows, written = [], {}
    for channel in snapshot.get("channels", []):
        chan_id = str(channel["chan_id"])
        score = scores.get(channel["chan_id"])
        before = last.get(chan_id)
        rows.append(
            {
                "chan_id": chan_id,
                "day": day,
                "points": series.encode_point(at, channel, before[1] if before and before[0] == day else None),
                "scores": series.encode_score(at, *score) if score else "",
            }
        )
        written[chan_id] = (day, series.kept_values(channel))
    return rows, written


# A run appends to its day's texts: no read-modify-write, one statement for all channels.
APPEND_DAY = """
    INSERT INTO feepilot.channel_days AS d (chan_id, day, points, scores) VALUES (:chan_id, :day, :points, :scores)
    ON CONFLICT (chan_id, day) DO UPDATE SET
        points = CASE WHEN d.points = '' THEN excluded.points ELSE d.points || ',' || excluded.points END,
        scores = CASE WHEN excluded.scores = '' THEN d.scores WHEN d.scores = '' THEN excluded.scores
                      ELSE d.scores || ',' || excluded.scores END
"""


async def store_run(
    run_id: str,
    at: int,
    *,
    snapshot: dict,
    encoded: EncodedRun,
    node_id: str,
    counts: dict,
    summary: dict,
) -> None:
    """A computed run's snapshot (the latest only), its decisions (one compressed row), its points
    and scores in the channels' series, the serialised latest scores, and the run marked
    completed: one transaction (they land together or not at all). A run's whole scores (parts,
    evidence, reasons: ~6 KB a channel) are kept as the latest scores only, where GET /scores
    serves them; nothing reads an older run's. The scores and decisions come encoded from where
    the evaluation ran (run_encoding.py)."""
    # pure Python over every channel (hundreds of KB on a big node): in a thread
    global _last_points
    (days, written), snapshot_text = await asyncio.to_thread(
        lambda: (day_rows(at, snapshot, encoded.scored, dict(_last_points)), encode(snapshot)))
    async with transaction() as tx:
        # the latest snapshot only: a run's points are in channel_days, what else it saw is this run's
        await tx.execute(UPSERT_LATEST_SNAPSHOT, {"id": SNAPSHOT_ROW_ID, "run_id": run_id, "at": at,
                                                  "data": snapshot_text})
        await tx.execute(
            "INSERT INTO feepilot.run_decisions (run_id, created_at, data) VALUES (:run_id, :at, :data)",
            {"run_id": run_id, "at": at, "data": encoded.decisions},
        )
        await tx.execute_many(APPEND_DAY, days)
        if encoded.scored:  # GET /scores serves the newest run that scored channels
            await tx.execute(
                UPSERT_LATEST_SCORES,
                {"id": SCORES_ROW_ID, "run_id": run_id, "at": at, "etag": encoded.etag, "data": encoded.scores_packed},
            )
        await tx.execute(
            """
            UPDATE feepilot.runs SET status = 'completed', node_id = :node_id, counts = :counts, summary = :summary,
                finished_at = :finished_at WHERE id = :id
            """,
            {"id": run_id, "node_id": node_id, "counts": encode(counts), "summary": encode(summary),
             "finished_at": now()},
        )
    _last_points = written  # committed: the points the next run's short ones refer to


# The latest scores last read (a 2,000-channel node's are ~12 MB): a burst of GET /scores reads
# their tag, not the whole row, while they are unchanged.
_scores_cache: Optional[SerialisedScores] = None


LATEST_SCORES_WITH_RUN = """
SELECT l.run_id AS latest_run_id, l.at AS latest_at, l.etag AS latest_etag, r.*
FROM feepilot.scores_latest l LEFT JOIN feepilot.runs r ON r.id = l.run_id WHERE l.id = :id
"""


async def latest_scores_with_run() -> tuple[Optional[SerialisedScores], Optional[dict]]:
    """The latest scores as GET /scores serves them, and their run, in one query while the
    serialised scores are cached: every database call of an extension waits for LNbits' lock on
    its database, so a burst of GETs is as fast as its queries are few."""
    row = await db.fetchone(LATEST_SCORES_WITH_RUN, {"id": SCORES_ROW_ID})
    if row is None:
        latest = await latest_scores_serialised()
        return latest, (await get_run(latest.run_id) if latest else None)
    row = dict(row)
    head = (row.pop("latest_run_id"), int(row.pop("latest_at")), row.pop("latest_etag"))
    cached = _scores_cache
    latest = cached if cached is not None and (cached.run_id, cached.at, cached.etag) == head \
        else await latest_scores_serialised()
    run = (await _named([_run(row)]))[0] if row.get("id") else None
    return latest, run


async def latest_scores_serialised() -> Optional[SerialisedScores]:
    """The latest scores as GET /scores serves them. A database from before m006 has no row
    yet: it is built once from the newest run that scored channels."""
    global _scores_cache
    head = await db.fetchone("SELECT run_id, at, etag FROM feepilot.scores_latest WHERE id = :id", {"id": SCORES_ROW_ID})
    if head:
        cached = _scores_cache
        if cached is not None and (cached.run_id, cached.at, cached.etag) == (head["run_id"], int(head["at"]), head["etag"]):
            return cached
        row = await db.fetchone("SELECT run_id, at, etag, data FROM feepilot.scores_latest WHERE id = :id",
                                {"id": SCORES_ROW_ID})
        if row:
            channels = await asyncio.to_thread(lambda: zlib.decompress(bytes(row["data"])).decode())
            _scores_cache = SerialisedScores(row["run_id"], int(row["at"]), row["etag"], channels)
            return _scores_cache
    newest = await db.fetchone(
        """
        SELECT r.id, r.created_at FROM feepilot.runs r
        WHERE EXISTS (SELECT 1 FROM feepilot.scores s WHERE s.run_id = r.id) ORDER BY r.seq DESC LIMIT 1
        """
    )
    if not newest:
        return None
    rows = await db.fetchall("SELECT data FROM feepilot.scores WHERE run_id = :run_id", {"run_id": newest["id"]})
    channels, etag = serialise_scores([decode(r["data"]) for r in rows])
    values = {"id": SCORES_ROW_ID, "run_id": newest["id"], "at": int(newest["created_at"]), "etag": etag,
              "data": zlib.compress(channels.encode(), 6)}
    await db.execute(UPSERT_LATEST_SCORES, values)
    return SerialisedScores(newest["id"], values["at"], etag, channels)


@dataclass(frozen=True)
class SeriesJSON:
    """A channel's points and scores as JSON arrays, ready to be answered."""

    points: str
    scores: str
    empty: bool


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _series_json(rows: list[Any], since: int) -> SeriesJSON:
    points = [p for r in rows for p in series.decode_points(int(r["day"]), r["points"]) if p["at"] >= since]
    scores = [s for r in rows for s in series.decode_scores(int(r["day"]), r["scores"]) if s["created_at"] >= since]
    return SeriesJSON(encode_text(_compact(points)), encode_text(_compact(scores)), not (points or scores))


async def channel_series(chan_id: str, since: int) -> SeriesJSON:
    """The points and scores of one channel from `since` on, oldest first: one indexed read of
    a row per day, decoded in a thread (90 days of hourly runs: ~2,000 points, a few ms)."""
    rows = await db.fetchall(
        "SELECT day, points, scores FROM feepilot.channel_days WHERE chan_id = :chan_id AND day >= :first ORDER BY day",
        {"chan_id": chan_id, "first": series.day_of(since)},
    )
    return await asyncio.to_thread(_series_json, list(rows), since)


async def channel_shares(chan_ids: list[str], since: int, until: int) -> dict[str, list[tuple[int, int, int]]]:
    """(at, local_sat, remote_sat) of these channels' points with since <= at < until, oldest
    first, per channel (the impact of a change reads its channel's balance from them)."""
    out: dict[str, list[tuple[int, int, int]]] = {}
    for chan_id in chan_ids:
        rows = await db.fetchall(
            "SELECT day, points FROM feepilot.channel_days WHERE chan_id = :chan_id AND day >= :first AND day < :until "
            "ORDER BY day",
            {"chan_id": chan_id, "first": series.day_of(since), "until": until},
        )
        points = [p for r in rows for p in series.decode_points(int(r["day"]), r["points"])]
        out[chan_id] = [(p["at"], p["local_sat"], p["remote_sat"]) for p in points
                        if since <= p["at"] < until and p.get("local_sat") is not None and p.get("remote_sat") is not None]
    return out


# --- the forwarding history we keep (forwards_store.py) -------------------------------------

FORWARDS_SYNC_ID = "lnd"  # the one row, whatever the backend (a node change starts over)


async def forwards_sync_state() -> Optional[dict]:
    row = await db.fetchone("SELECT * FROM feepilot.forwards_sync WHERE id = :id", {"id": FORWARDS_SYNC_ID})
    return dict(row) if row else None


NS_PER_S = 1_000_000_000
# A forward's identity in forward_events (m010): its key columns, in order.
FORWARD_KEY = ("ts_ns", "chan_out", "chan_in", "htlc_out", "htlc_in", "amt_out_msat")


async def forward_keys_between(lo_ns: int, hi_ns: int) -> set[tuple[int, ...]]:
    """The keys (FORWARD_KEY) of the stored forwards with lo_ns <= timestamp_ns <= hi_ns (what a
    sync reads again)."""
    rows = await db.fetchall(
        f"SELECT {', '.join(FORWARD_KEY)} FROM feepilot.forward_events WHERE ts_ns >= :lo AND ts_ns <= :hi",
        {"lo": lo_ns, "hi": hi_ns},
    )
    return {tuple(int(r[k]) for k in FORWARD_KEY) for r in rows}


async def insert_forwards(rows: list[dict]) -> None:
    """One page of forwards (forwards_store.event_row), in one transaction with the daily sums of
    the days it touches; a forward stored before is left as it is."""
    if not rows:
        return
    async with transaction() as tx:
        await tx.execute_many(
            """
            INSERT INTO feepilot.forward_events (ts_ns, chan_out, chan_in, htlc_out, htlc_in, amt_out_msat, fee_msat)
            VALUES (:ts_ns, :chan_out, :chan_in, :htlc_out, :htlc_in, :amt_out_msat, :fee_msat)
            ON CONFLICT DO NOTHING
            """,
            rows,
        )
        await refresh_forward_days(tx, min(r["ts_ns"] for r in rows), max(r["ts_ns"] for r in rows))


DAY_NS = 86400 * NS_PER_S


async def refresh_forward_days(tx: "Transaction", lo_ns: int, hi_ns: int) -> None:
    """forward_days of the UTC days from lo_ns's to hi_ns's, summed again from the forwards."""
    first, last = lo_ns - lo_ns % DAY_NS, hi_ns - hi_ns % DAY_NS + DAY_NS
    await tx.execute("DELETE FROM feepilot.forward_days WHERE day >= :lo AND day < :hi",
                     {"lo": first // NS_PER_S, "hi": last // NS_PER_S})
    for statement in ROLLUP_FORWARD_DAYS:
        await tx.execute(statement, {"lo": first, "hi": last})


async def save_forwards_sync(*, node_id: str, synced_from: int, synced_until: int, reset: bool = False,
                             created_index: Optional[int] = None) -> None:
    """Where the sync stands. `reset`: another node; its forwards replace the ones we hold.
    `created_index` (m011): Core Lightning's position, the last listforwards entry read; None on LND."""
    async with transaction() as tx:
        if reset:
            await tx.execute("DELETE FROM feepilot.forward_events")
            await tx.execute("DELETE FROM feepilot.forward_days")
        values = {"id": FORWARDS_SYNC_ID, "node_id": node_id, "synced_from": synced_from,
                  "synced_until": synced_until, "synced_at": now(), "created_index": created_index}
        await tx.execute(
            """
            INSERT INTO feepilot.forwards_sync (id, node_id, synced_from, synced_until, synced_at, created_index)
            VALUES (:id, :node_id, :synced_from, :synced_until, :synced_at, :created_index)
            ON CONFLICT (id) DO UPDATE SET node_id = :node_id, synced_from = :synced_from,
                synced_until = :synced_until, synced_at = :synced_at, created_index = :created_index
            """,
            values,
        )


FORWARDS_READ_PAGE = 5000


async def forwards_between(lo_ns: int, hi_ns: int) -> list[dict]:
    """The stored forwards with lo_ns <= timestamp_ns <= hi_ns, oldest first, in the shape of
    LND's ForwardingEvent (the fields the engine reads). Read a page at a time (keyset on the
    key): the rows become Python objects on the event loop, so a year of forwards is read in
    slices with the loop free to serve between them."""
    events: list[dict] = []
    columns = ", ".join(FORWARD_KEY)
    after: Optional[tuple[int, ...]] = None
    while True:
        # rows after the last one read, in key order (a row value comparison: SQLite and Postgres)
        where = "ts_ns >= :lo" if after is None else f"({columns}) > ({', '.join(':k' + str(i) for i in range(len(FORWARD_KEY)))})"
        rows = await db.fetchall(
            f"""
            SELECT {columns}, fee_msat FROM feepilot.forward_events
            WHERE ts_ns <= :hi AND {where} ORDER BY {columns} LIMIT {FORWARDS_READ_PAGE}
            """,
            {"hi": hi_ns, **({f"k{i}": v for i, v in enumerate(after)} if after else {"lo": lo_ns})},
        )
        events += [
            {"timestamp_ns": int(r["ts_ns"]), "chan_id_in": str(r["chan_in"]), "chan_id_out": str(r["chan_out"]),
             "amt_in_msat": int(r["amt_out_msat"]) + int(r["fee_msat"]), "amt_out_msat": int(r["amt_out_msat"]),
             "fee_msat": int(r["fee_msat"])}
            for r in rows
        ]
        if len(rows) < FORWARDS_READ_PAGE:
            return events
        after = tuple(int(rows[-1][k]) for k in FORWARD_KEY)
        await asyncio.sleep(0)


async def forward_sums(windows: list[tuple[int, int]]) -> list[dict[str, list[int]]]:
    """For each (lo_ns, hi_ns) window, per channel, the sums of the stored forwards with lo_ns <=
    timestamp_ns <= hi_ns in the order of engine.ingest_lnd.FLOW_SUMS, as aggregate_forwards adds
    them (amounts in whole sat per forward). The window's whole UTC days from forward_days, its
    partial first and last day from the forwards: a cycle reads a row per channel and day and at
    most two days of forwards, not every forward of 30 days."""
    out: list[dict[str, list[int]]] = []
    # One connection for all the windows' queries: LNbits opens one per call, and aiosqlite starts
    # a thread for each, on the event loop (7 ms on average measured there during a cold cycle).
    async with db.connect() as conn:
        for lo, hi in windows:
            first_full = -(-lo // DAY_NS) * DAY_NS  # the first midnight at or after lo
            end_full = (hi + 1) // DAY_NS * DAY_NS  # the last midnight at or before hi + 1
            sums: dict[str, list[int]] = {}

            def add(chan: Any, direction: int, row: Any) -> None:
                totals = sums.setdefault(str(chan), [0] * 6)
                totals[direction] += int(row["n"])  # FLOW_SUMS: count, volume, fee; out at even places, in at odd
                totals[2 + direction] += int(row["volume"] or 0)
                totals[4 + direction] += int(row["fee"] or 0)

            if first_full < end_full:
                for row in await conn.fetchall(
                    """
                    SELECT chan, direction, SUM(forwards) AS n, SUM(volume_sat) AS volume, SUM(fee_msat) AS fee
                    FROM feepilot.forward_days WHERE day >= :lo AND day < :hi GROUP BY chan, direction
                    """,
                    {"lo": first_full // NS_PER_S, "hi": end_full // NS_PER_S},
                ):
                    add(row["chan"], int(row["direction"]), row)
                ranges = [(lo, first_full - 1), (end_full, hi)]
            else:
                ranges = [(lo, hi)]
            for start, end in ranges:
                if start > end:
                    continue
                for direction, column, amount in ((0, "chan_out", "amt_out_msat"), (1, "chan_in", "(amt_out_msat + fee_msat)")):
                    for row in await conn.fetchall(
                        f"""
                        SELECT {column} AS chan, COUNT(*) AS n, SUM({amount} / 1000) AS volume, SUM(fee_msat) AS fee
                        FROM feepilot.forward_events WHERE ts_ns >= :lo AND ts_ns <= :hi GROUP BY {column}
                        """,
                        {"lo": start, "hi": end},
                    ):
                        add(row["chan"], direction, row)
            out.append({chan: totals for chan, totals in sums.items() if totals[0] or totals[1]})
    return out


async def forward_totals(lo_ns: int, hi_ns: int) -> tuple[int, int, int]:
    """Node-wide, the stored forwards with lo_ns <= timestamp_ns < hi_ns: their count, fees
    (msat) and outgoing volume (whole sat per forward, as engine.impact.Totals adds them).
    Summed by the database, so GET /summary reads three numbers per window, not its forwards."""
    row = await db.fetchone(
        """
        SELECT COUNT(*) AS n, COALESCE(SUM(fee_msat), 0) AS fee, COALESCE(SUM(amt_out_msat / 1000), 0) AS volume
        FROM feepilot.forward_events WHERE ts_ns >= :lo AND ts_ns < :hi
        """,
        {"lo": lo_ns, "hi": hi_ns},
    )
    return int(row["n"]), int(row["fee"]), int(row["volume"])


# --- retention (retention.py) -----------------------------------------------------------------

PRUNE_BATCH = 2000


async def _prune_where(table: str, key: str, condition: str, values: dict) -> int:
    """Delete the rows matching `condition`, a batch (one short transaction) at a time, so a
    long backlog never holds the database for long."""
    total = 0
    while True:
        async with transaction() as tx:
            result = await tx.execute(
                f"""
                DELETE FROM feepilot.{table} WHERE {key} IN (
                    SELECT {key} FROM feepilot.{table} WHERE {condition} ORDER BY {key} LIMIT {PRUNE_BATCH})
                """,
                values,
            )
        deleted = int(result.rowcount or 0)
        total += deleted
        if deleted < PRUNE_BATCH:
            return total


async def prune_scores_and_snapshots(cutoff: int) -> dict[str, int]:
    """Scores, snapshots and the channels' history (channel_days) older than the cutoff."""
    counts = {
        "scores": await _prune_where("scores", "id", "created_at < :cutoff", {"cutoff": cutoff}),
        "snapshots": await _prune_where("snapshots", "id", "taken_at < :cutoff", {"cutoff": cutoff}),
    }
    async with transaction() as tx:
        # whole days first; then the day the cutoff falls in keeps only its points from the cutoff on
        result = await tx.execute("DELETE FROM feepilot.channel_days WHERE day + :day <= :cutoff",
                                  {"cutoff": cutoff, "day": series.DAY_S})
        counts["channel_days"] = int(result.rowcount or 0)
        for row in await tx.fetchall("SELECT chan_id, day, points, scores FROM feepilot.channel_days WHERE day < :cutoff",
                                     {"cutoff": cutoff}):
            day = int(row["day"])
            await tx.execute(
                "UPDATE feepilot.channel_days SET points = :points, scores = :scores WHERE chan_id = :chan_id AND day = :day",
                {"points": encode_text(series.points_since(day, row["points"], cutoff)),
                 "scores": encode_text(series.scores_since(day, row["scores"], cutoff)),
                 "chan_id": row["chan_id"], "day": row["day"]},
            )
        # GET /scores shows nothing older than what it keeps
        await tx.execute("DELETE FROM feepilot.scores_latest WHERE at < :cutoff", {"cutoff": cutoff})
    return counts


async def prune_runs(cutoff: int, in_flight: tuple[str, ...]) -> dict[str, int]:
    """Runs created before the cutoff and their decisions, except the runs the change log names
    (the change log and what it points at are the audit trail) and runs still in flight."""
    placeholders = ", ".join(f":s{i}" for i in range(len(in_flight)))
    condition = (
        f"r.created_at < :cutoff AND r.finished_at IS NOT NULL AND r.status NOT IN ({placeholders}) "
        "AND NOT EXISTS (SELECT 1 FROM feepilot.changes c WHERE c.run_id = r.id)"
    )
    values = {"cutoff": cutoff, **{f"s{i}": s for i, s in enumerate(in_flight)}}
    chosen = f"SELECT r.id FROM feepilot.runs r WHERE {condition} ORDER BY r.created_at, r.id LIMIT {PRUNE_BATCH}"
    runs = decisions = 0
    while True:
        async with transaction() as tx:
            # the same rows twice: the decisions' delete leaves the runs as they were
            result = await tx.execute(f"DELETE FROM feepilot.decisions WHERE run_id IN ({chosen})", values)
            decisions += int(result.rowcount or 0)
            await tx.execute(f"DELETE FROM feepilot.run_decisions WHERE run_id IN ({chosen})", values)
            result = await tx.execute(f"DELETE FROM feepilot.runs WHERE id IN ({chosen})", values)
        deleted = int(result.rowcount or 0)
        runs += deleted
        if deleted < PRUNE_BATCH:
            return {"runs": runs, "decisions": decisions}


DECISIONS_PRUNE_BATCH = 20  # runs per transaction: a run's decisions are up to a few hundred KB


def _trimmed(run_id: str, data: bytes, named: set[str]) -> Optional[bytes]:
    """A run's decisions blob with only the decisions in `named`; None when it keeps none."""
    kept = [d for d in decode_decisions(bytes(data)) if run_decision_id(run_id, int(d.get("order", 0))) in named]
    return encode_decisions(kept) if kept else None


async def prune_decisions(cutoff: int) -> dict[str, int]:
    """The decisions of runs created before the cutoff, except the ones the change log names: a
    run then keeps only those (trimmed), or none. Its run stays, with its counts, until
    prune_runs."""
    trimmed = 0
    while True:
        async with transaction() as tx:
            rows = await tx.fetchall(
                f"""
                SELECT run_id, data FROM feepilot.run_decisions WHERE created_at < :cutoff AND trimmed = 0
                ORDER BY created_at LIMIT {DECISIONS_PRUNE_BATCH}
                """,
                {"cutoff": cutoff},
            )
            for row in rows:
                named = {r["decision_id"] for r in await tx.fetchall(
                    "SELECT decision_id FROM feepilot.changes WHERE run_id = :run_id AND decision_id IS NOT NULL",
                    {"run_id": row["run_id"]})}
                data = await asyncio.to_thread(_trimmed, row["run_id"], row["data"], named) if named else None
                if data is None:
                    await tx.execute("DELETE FROM feepilot.run_decisions WHERE run_id = :run_id", {"run_id": row["run_id"]})
                else:
                    await tx.execute("UPDATE feepilot.run_decisions SET data = :data, trimmed = 1 WHERE run_id = :run_id",
                                     {"run_id": row["run_id"], "data": data})
        trimmed += len(rows)
        if len(rows) < DECISIONS_PRUNE_BATCH:
            break
    # the per-channel rows of runs stored before m010
    legacy = await _prune_where(
        "decisions", "id",
        "created_at < :cutoff AND NOT EXISTS (SELECT 1 FROM feepilot.changes c WHERE c.decision_id = feepilot.decisions.id)",
        {"cutoff": cutoff},
    )
    return {"run_decisions": trimmed, "decisions": legacy}


async def decisions_trimmed(run_id: str) -> bool:
    """Whether retention kept only the decisions of this run that the change log names."""
    row = await db.fetchone("SELECT trimmed FROM feepilot.run_decisions WHERE run_id = :run_id", {"run_id": run_id})
    return bool(row and row["trimmed"])


async def _prune_before(table: str, lo_ns: int) -> int:
    """Delete the rows of a table keyed by time first (ts_ns) older than lo_ns, a batch (one short
    transaction) at a time: up to the time of the batch's last row."""
    total = 0
    while True:
        row = await db.fetchone(
            f"SELECT ts_ns FROM feepilot.{table} WHERE ts_ns < :lo ORDER BY ts_ns LIMIT 1 OFFSET {PRUNE_BATCH}",
            {"lo": lo_ns},
        )
        below = min(int(row["ts_ns"]), lo_ns) if row else lo_ns
        async with transaction() as tx:
            result = await tx.execute(f"DELETE FROM feepilot.{table} WHERE ts_ns < :below", {"below": below})
            deleted = int(result.rowcount or 0)
            if row is not None and not deleted:  # a batch of one instant: the rest at once
                result = await tx.execute(f"DELETE FROM feepilot.{table} WHERE ts_ns < :lo", {"lo": lo_ns})
                deleted, row = int(result.rowcount or 0), None
        total += deleted
        if row is None:
            return total


async def prune_forwards(cutoff: int) -> int:
    """Forwards older than the cutoff (unix seconds), and their daily sums; the sync then holds
    history from there."""
    total = await _prune_before("forward_events", cutoff * NS_PER_S)
    async with transaction() as tx:
        await tx.execute("DELETE FROM feepilot.forward_days WHERE day < :day", {"day": cutoff - cutoff % 86400})
        await refresh_forward_days(tx, cutoff * NS_PER_S, cutoff * NS_PER_S)  # the day the cutoff falls in
    await db.execute(
        "UPDATE feepilot.forwards_sync SET synced_from = :cutoff WHERE synced_from < :cutoff", {"cutoff": cutoff}
    )
    return total



# --- forwards that failed on our side (htlc_listener.py) ------------------------------------


LINK_FAILURE_KEY = ("ts_ns", "chan_in", "htlc_in")


async def insert_failed_forwards(rows: list[dict]) -> int:
    """A batch of failed forwards (htlc_listener._row) in one transaction; one stored before is left
    as it is. The count of rows new to the table."""
    if not rows:
        return 0
    key = lambda r: tuple(int(r[k]) for k in LINK_FAILURE_KEY)  # noqa: E731
    async with transaction() as tx:
        # the stored ones of the batch's span (a reconnect may deliver one again)
        stored = await tx.fetchall(
            "SELECT ts_ns, chan_in, htlc_in FROM feepilot.link_failures WHERE ts_ns >= :lo AND ts_ns <= :hi",
            {"lo": min(r["ts_ns"] for r in rows), "hi": max(r["ts_ns"] for r in rows)},
        )
        known = {key(r) for r in stored}
        fresh = {key(r): r for r in rows if key(r) not in known}
        await tx.execute_many(
            """
            INSERT INTO feepilot.link_failures (ts_ns, chan_in, htlc_in, chan_out, amount_msat, wire_failure, failure_detail)
            VALUES (:ts_ns, :chan_in, :htlc_in, :chan_out, :amount_msat, :wire_failure, :failure_detail)
            ON CONFLICT DO NOTHING
            """,
            list(fresh.values()),
        )
    return len(fresh)


def _in_list(prefix: str, values: tuple[str, ...]) -> tuple[str, dict]:
    return ", ".join(f":{prefix}{i}" for i in range(len(values))), {f"{prefix}{i}": v for i, v in enumerate(values)}


async def failed_forward_sums(lo_ns: int, hi_ns: int, details: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Per outgoing channel, (count, amount in msat) of the stored failures with one of `details`
    and lo_ns <= timestamp_ns <= hi_ns."""
    listed, values = _in_list("d", details)
    rows = await db.fetchall(
        f"""
        SELECT chan_out, COUNT(*) AS n, SUM(amount_msat) AS amount FROM feepilot.link_failures
        WHERE ts_ns >= :lo AND ts_ns <= :hi AND failure_detail IN ({listed}) GROUP BY chan_out
        """,
        {"lo": lo_ns, "hi": hi_ns, **values},
    )
    return {str(r["chan_out"]): (int(r["n"]), int(r["amount"] or 0)) for r in rows}


def _chan_int(chan_id: str) -> int:
    """A channel id as link_failures keeps it; -1 (no channel) for one that is not a number."""
    return int(chan_id) if str(chan_id).isdigit() else -1


async def channel_failed_forwards(chan_id: str, lo_ns: int, limit: int) -> list[dict]:
    """The newest `limit` stored failures of one outgoing channel since lo_ns, newest first."""
    rows = await db.fetchall(
        f"""
        SELECT ts_ns, chan_in, amount_msat, wire_failure, failure_detail FROM feepilot.link_failures
        WHERE chan_out = :chan AND ts_ns >= :lo ORDER BY ts_ns DESC, chan_in DESC, htlc_in DESC LIMIT {int(limit)}
        """,
        {"chan": _chan_int(chan_id), "lo": lo_ns},
    )
    return [{"ts_ns": int(r["ts_ns"]), "chan_id_in": str(r["chan_in"]), "amount_msat": int(r["amount_msat"]),
             "wire_failure": r["wire_failure"], "failure_detail": r["failure_detail"]} for r in rows]


async def channel_failure_totals(chan_id: str, lo_ns: int, details: tuple[str, ...]) -> tuple[int, int]:
    """(count, amount in msat) of one outgoing channel's stored failures with one of `details`
    since lo_ns."""
    listed, values = _in_list("d", details)
    row = await db.fetchone(
        f"""
        SELECT COUNT(*) AS n, SUM(amount_msat) AS amount FROM feepilot.link_failures
        WHERE chan_out = :chan AND ts_ns >= :lo AND failure_detail IN ({listed})
        """,
        {"chan": _chan_int(chan_id), "lo": lo_ns, **values},
    )
    return (int(row["n"]), int(row["amount"] or 0)) if row else (0, 0)


async def count_failed_forwards(lo_ns: int) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM feepilot.link_failures WHERE ts_ns >= :lo", {"lo": lo_ns})
    return int(row["n"]) if row else 0


async def prune_failed_forwards(cutoff: int) -> int:
    return await _prune_before("link_failures", cutoff * 1_000_000_000)

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
    if status == "applied":
        change = await get_change(change_id)
        if change:
            await record_inbound_owner(change)
    return True


def _inbound(policy: dict) -> tuple[int, int]:
    return int(policy.get("inbound_base_msat") or 0), int(policy.get("inbound_ppm") or 0)


async def record_inbound_owner(change: dict) -> None:
    """An applied change decides whose a channel's inbound fee is: one of the engine's proposals
    that changed it makes it ours; any other change of it (by hand, a rollback, found outside) makes
    it the operator's. A change that leaves the inbound fee alone decides nothing."""
    old, new = _inbound(change["old_policy"]), _inbound(change["new_policy"])
    if old == new:
        return
    if change.get("decision_id") and not change.get("rollback_of") and change.get("source") != "external":
        await db.execute(
            """
            INSERT INTO feepilot.inbound_ours (chan_id, base_msat, ppm, change_id, set_at)
            VALUES (:chan_id, :base, :ppm, :change_id, :at)
            ON CONFLICT (chan_id) DO UPDATE SET base_msat = :base, ppm = :ppm, change_id = :change_id, set_at = :at
            """,
            {"chan_id": change["chan_id"], "base": new[0], "ppm": new[1], "change_id": change["id"], "at": now()},
        )
    else:
        await db.execute("DELETE FROM feepilot.inbound_ours WHERE chan_id = :chan_id", {"chan_id": change["chan_id"]})


async def inbound_ours() -> dict[str, tuple[int, int]]:
    """chan_id -> the inbound fee (base msat, ppm) Fee Autopilot's own last change of it wrote."""
    rows = await db.fetchall("SELECT chan_id, base_msat, ppm FROM feepilot.inbound_ours")
    return {str(r["chan_id"]): (int(r["base_msat"]), int(r["ppm"])) for r in rows}


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
    change = await get_change(change_id)
    await record_inbound_owner(change)  # type: ignore[arg-type]
    return change  # type: ignore[return-value]


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
    """Decisions of runs of these kinds, created at or after `since`, that a guardrail blocked:
    a run counts its own (counts["blocked"]); runs stored before m010, their decision rows."""
    placeholders = ", ".join(f":k{i}" for i in range(len(kinds)))
    values = {"since": since, **{f"k{i}": kind for i, kind in enumerate(kinds)}}
    runs = await db.fetchall(
        f"SELECT counts FROM feepilot.runs WHERE created_at >= :since AND kind IN ({placeholders}) AND counts LIKE :key",
        {**values, "key": '%"blocked":%'},
    )
    row = await db.fetchone(
        f"""
        SELECT COUNT(*) AS n FROM feepilot.decisions d JOIN feepilot.runs r ON r.id = d.run_id
        WHERE d.created_at >= :since AND d.blocked_by IS NOT NULL AND r.kind IN ({placeholders})
        """,
        values,
    )
    return sum(int((decode(r["counts"]) or {}).get("blocked", 0)) for r in runs) + int(row["n"])


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
