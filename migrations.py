"""Tables of the extension, in LNbits' database (schema `feepilot`).

Append only: LNbits runs each `mNNN_*` once, in order. Times are unix seconds
(big integers) so SQLite and Postgres compare and return them alike; JSON
documents are TEXT.
"""

from typing import Optional

from lnbits.db import SQLITE, Database


def create_index(db: Database, name: str, table: str, columns: str) -> str:
    # SQLite attaches the schema as a database: the index name carries it.
    if db.type == SQLITE:
        return f"CREATE INDEX feepilot.{name} ON {table} ({columns});"
    return f"CREATE INDEX {name} ON feepilot.{table} ({columns});"


async def m001_settings(db: Database) -> None:
    # One row per instance; the settings are a validated JSON document so that
    # adding a setting never needs a migration.
    await db.execute(
        f"""
        CREATE TABLE feepilot.settings (
            id TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            updated_at {db.big_int} NOT NULL,
            updated_by TEXT
        );
        """
    )
    # Every change of settings: who, when, old -> new. Never pruned.
    await db.execute(
        f"""
        CREATE TABLE feepilot.settings_history (
            id TEXT PRIMARY KEY,
            seq {db.big_int} NOT NULL,
            changed_at {db.big_int} NOT NULL,
            changed_by TEXT,
            old_data TEXT,
            new_data TEXT NOT NULL
        );
        """
    )


async def m002_runs_scores_decisions(db: Database) -> None:
    # A run: one pass of snapshot -> scores -> decisions (dry-run, shadow,
    # autopilot or a manual run). Never pruned. `seq` orders rows written within
    # the same second (runs and changes alike).
    await db.execute(
        f"""
        CREATE TABLE feepilot.runs (
            id TEXT PRIMARY KEY,
            seq {db.big_int} NOT NULL,
            created_at {db.big_int} NOT NULL,
            finished_at {db.big_int},
            kind TEXT NOT NULL,
            requested_by TEXT,
            status TEXT NOT NULL,
            reason TEXT,
            node_id TEXT,
            counts TEXT NOT NULL DEFAULT '{{}}',
            summary TEXT NOT NULL DEFAULT '{{}}'
        );
        """
    )
    # Scores of each channel in a run, with the eight parts and their evidence.
    # Pruned after the retention period.
    await db.execute(
        f"""
        CREATE TABLE feepilot.scores (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            chan_id TEXT NOT NULL,
            created_at {db.big_int} NOT NULL,
            total REAL,
            confidence REAL NOT NULL,
            data TEXT NOT NULL
        );
        """
    )
    await db.execute(create_index(db, "feepilot_scores_run", "scores", "run_id"))
    await db.execute(create_index(db, "feepilot_scores_chan", "scores", "chan_id, created_at"))
    # What the engine proposed for each channel in a run. Never pruned.
    await db.execute(
        f"""
        CREATE TABLE feepilot.decisions (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            chan_id TEXT NOT NULL,
            created_at {db.big_int} NOT NULL,
            action TEXT NOT NULL,
            accepted BOOLEAN NOT NULL,
            reason TEXT NOT NULL,
            blocked_by TEXT,
            old_policy TEXT,
            new_policy TEXT,
            data TEXT NOT NULL
        );
        """
    )
    await db.execute(create_index(db, "feepilot_decisions_run", "decisions", "run_id"))
    # Compact node state per run, for history and charts. Pruned after retention.
    await db.execute(
        f"""
        CREATE TABLE feepilot.snapshots (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            taken_at {db.big_int} NOT NULL,
            data TEXT NOT NULL
        );
        """
    )


async def m003_change_log(db: Database) -> None:
    # The change log. A row is written before the node is called and its intent
    # (old/new policy, who, why) never changes; `status` only moves forward from
    # `pending`. A rollback is a new row pointing at what it undoes.
    await db.execute(
        f"""
        CREATE TABLE feepilot.changes (
            id TEXT PRIMARY KEY,
            seq {db.big_int} NOT NULL,
            created_at {db.big_int} NOT NULL,
            chan_id TEXT NOT NULL,
            channel_point TEXT NOT NULL,
            old_policy TEXT NOT NULL,
            new_policy TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            source TEXT NOT NULL,
            run_id TEXT,
            decision_id TEXT,
            batch_id TEXT,
            rollback_of TEXT,
            reason TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            message TEXT,
            settled_at {db.big_int}
        );
        """
    )
    await db.execute(create_index(db, "feepilot_changes_chan", "changes", "chan_id, created_at"))
    await db.execute(create_index(db, "feepilot_changes_status", "changes", "status"))
    # Every status transition of a change, append-only.
    await db.execute(
        f"""
        CREATE TABLE feepilot.change_events (
            id TEXT PRIMARY KEY,
            seq {db.big_int} NOT NULL,
            change_id TEXT NOT NULL,
            at {db.big_int} NOT NULL,
            status TEXT NOT NULL,
            message TEXT
        );
        """
    )


async def m004_requester_names(db: Database) -> None:
    # Who acted, by name: the username (else the e-mail) of their LNbits account when they
    # did, or what Fee Autopilot calls its own schedule. Rows written before have none and
    # are named when read; no row is rewritten.
    await db.execute("ALTER TABLE feepilot.changes ADD COLUMN requested_by_name TEXT;")
    await db.execute("ALTER TABLE feepilot.runs ADD COLUMN requested_by_name TEXT;")
    await db.execute("ALTER TABLE feepilot.settings_history ADD COLUMN changed_by_name TEXT;")


async def m005_node_credentials(db: Database) -> None:
    # Fee Autopilot's own LND credential (issue 17). `secret` is the vault's AES-256-GCM
    # ciphertext (vault.py), bound to the row's id; the key is never in the database.
    # A revoked credential keeps its row (fingerprint, permissions, who and when) and
    # loses its secret. At most one row is active.
    await db.execute(
        f"""
        CREATE TABLE feepilot.credentials (
            id TEXT PRIMARY KEY,
            created_at {db.big_int} NOT NULL,
            created_by TEXT NOT NULL,
            created_by_name TEXT,
            method TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            root_key_id TEXT,
            permissions TEXT NOT NULL,
            warnings TEXT NOT NULL,
            secret TEXT,
            status TEXT NOT NULL,
            activated_at {db.big_int},
            retired_at {db.big_int},
            revoked_at {db.big_int},
            revoked_by TEXT,
            revoked_by_name TEXT,
            revoke_note TEXT,
            refused_at {db.big_int},
            refused_reason TEXT
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE feepilot.credential_events (
            id TEXT PRIMARY KEY,
            seq {db.big_int} NOT NULL,
            credential_id TEXT NOT NULL,
            at {db.big_int} NOT NULL,
            action TEXT NOT NULL,
            by_user TEXT,
            by_name TEXT,
            message TEXT
        );
        """
    )


async def m006_storage(db: Database) -> None:
    # Issue 15. Forwarding history kept by the extension (forwards_store.py): synced
    # incrementally from the node, so a cycle reads only what is new and our windows survive
    # a node whose history was pruned. `id` is the event's identity (forwards_store.event_key),
    # so an event read twice (the overlap of two syncs) is stored once.
    await db.execute(
        f"""
        CREATE TABLE feepilot.forwards (
            id TEXT PRIMARY KEY,
            ts_ns {db.big_int} NOT NULL,
            chan_id_in TEXT NOT NULL,
            chan_id_out TEXT NOT NULL,
            amt_in_msat {db.big_int} NOT NULL,
            amt_out_msat {db.big_int} NOT NULL,
            fee_msat {db.big_int} NOT NULL
        );
        """
    )
    await db.execute(create_index(db, "feepilot_forwards_ts", "forwards", "ts_ns"))
    # Where the sync stands: the node it read (another node starts over), and the span of
    # its history we hold, [synced_from, synced_until] in unix seconds.
    await db.execute(
        f"""
        CREATE TABLE feepilot.forwards_sync (
            id TEXT PRIMARY KEY,
            node_id TEXT NOT NULL,
            synced_from {db.big_int} NOT NULL,
            synced_until {db.big_int} NOT NULL,
            synced_at {db.big_int} NOT NULL
        );
        """
    )
    # What GET /channels/{id}/history shows, without decoding whole snapshots: per channel and
    # UTC day, the points of that day's runs (`points`: fee, balance, capacity) and of the runs
    # that scored it (`scores`), each as the JSON objects the route answers, comma-separated: a
    # run appends to them (crud.store_run) and the route concatenates them (crud.channel_series).
    await db.execute(
        f"""
        CREATE TABLE feepilot.channel_days (
            chan_id TEXT NOT NULL,
            day {db.big_int} NOT NULL,
            points TEXT NOT NULL,
            scores TEXT NOT NULL,
            PRIMARY KEY (chan_id, day)
        );
        """
    )
    await db.execute(create_index(db, "feepilot_channel_days_day", "channel_days", "day"))
    # The latest scores as GET /scores serves them, serialised once per run; `etag` changes
    # with them.
    await db.execute(
        f"""
        CREATE TABLE feepilot.latest_scores (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            at {db.big_int} NOT NULL,
            etag TEXT NOT NULL,
            channels TEXT NOT NULL
        );
        """
    )
    # An index for every query the API and the schedule run (crud.py), and for pruning.
    for name, table, columns in (
        ("feepilot_runs_seq", "runs", "seq"),
        ("feepilot_runs_kind", "runs", "kind, seq"),
        ("feepilot_runs_created", "runs", "created_at"),
        ("feepilot_runs_status", "runs", "status"),
        ("feepilot_changes_seq", "changes", "seq"),
        ("feepilot_changes_chan_seq", "changes", "chan_id, seq"),
        ("feepilot_changes_run", "changes", "run_id"),
        ("feepilot_changes_batch", "changes", "batch_id"),
        ("feepilot_changes_rollback", "changes", "rollback_of"),
        ("feepilot_changes_created", "changes", "created_at"),
        ("feepilot_changes_source", "changes", "source, created_at"),
        ("feepilot_change_events_change", "change_events", "change_id, seq"),
        ("feepilot_decisions_created", "decisions", "created_at"),
        ("feepilot_scores_created", "scores", "created_at"),
        ("feepilot_snapshots_taken", "snapshots", "taken_at"),
        ("feepilot_snapshots_run", "snapshots", "run_id"),
        ("feepilot_settings_history_seq", "settings_history", "seq"),
        ("feepilot_credentials_status", "credentials", "status"),
        ("feepilot_credential_events_seq", "credential_events", "seq"),
    ):
        await db.execute(create_index(db, name, table, columns))


SERIES_BACKFILL_PAGE = 200


async def m007_channel_days_from_snapshots(db: Database) -> None:
    # The runs stored before m006 get their days in channel_days from their snapshots and scores,
    # so a channel's history reads the same after the upgrade. A page of snapshots at a time.
    import json

    # the score as the run computed it (its JSON), not the REAL columns: Postgres keeps those in
    # single precision
    scores: dict[tuple[str, str], tuple[Optional[float], float]] = {}
    for row in await db.fetchall("SELECT run_id, chan_id, data FROM feepilot.scores"):
        data = json.loads(row["data"])
        scores[(row["run_id"], row["chan_id"])] = (data.get("total"), data.get("confidence", 0.0))
    days: dict[tuple[str, int], tuple[list[str], list[str]]] = {}
    offset = 0
    while True:
        rows = await db.fetchall(
            "SELECT run_id, taken_at, data FROM feepilot.snapshots ORDER BY taken_at, id LIMIT :limit OFFSET :offset",
            {"limit": SERIES_BACKFILL_PAGE, "offset": offset},
        )
        if not rows:
            break
        offset += len(rows)
        for row in rows:
            at = int(row["taken_at"])
            for channel in (json.loads(row["data"]) or {}).get("channels", []):
                chan_id = str(channel["chan_id"])
                points, scored = days.setdefault((chan_id, at - at % 86400), ([], []))
                points.append(json.dumps({"at": at, **{k: channel.get(k) for k in SERIES_FIELDS}}, separators=(",", ":")))
                score = scores.get((row["run_id"], chan_id))
                if score is not None:
                    scored.append(json.dumps({"created_at": at, "total": score[0], "confidence": score[1]},
                                             separators=(",", ":")))
    for (chan_id, day), (points, scored) in days.items():
        await db.execute(
            "INSERT INTO feepilot.channel_days (chan_id, day, points, scores) VALUES (:chan_id, :day, :points, :scores)",
            {"chan_id": chan_id, "day": day, "points": ",".join(points), "scores": ",".join(scored)},
        )



async def m008_failed_forwards(db: Database) -> None:
    # Issue 16. Forwards that failed on our side, from LND's HTLC event stream (htlc_listener.py):
    # the stream has no backlog, so what the listener sees is kept here. `id` is the event's
    # identity (engine.ingest_htlc.LinkFailure.key): an event seen twice is stored once.
    await db.execute(
        f"""
        CREATE TABLE feepilot.failed_forwards (
            id TEXT PRIMARY KEY,
            ts_ns {db.big_int} NOT NULL,
            chan_id_out TEXT NOT NULL,
            chan_id_in TEXT NOT NULL,
            amount_msat {db.big_int} NOT NULL,
            wire_failure TEXT NOT NULL,
            failure_detail TEXT NOT NULL
        );
        """
    )
    await db.execute(create_index(db, "feepilot_failed_forwards_ts", "failed_forwards", "ts_ns"))
    await db.execute(create_index(db, "feepilot_failed_forwards_chan", "failed_forwards", "chan_id_out, ts_ns"))


async def m009_inbound_ours(db: Database) -> None:
    # Issue 16. The inbound fees Fee Autopilot itself set (crud.record_inbound_owner): a channel's
    # row is written when one of the engine's proposals changed its inbound fee, and deleted when
    # anything else (a manual change, a rollback, a change found outside) did. A channel whose live
    # inbound fee is not its row's was set by hand: the engine keeps it (engine/inbound.py).
    await db.execute(
        f"""
        CREATE TABLE feepilot.inbound_ours (
            chan_id TEXT PRIMARY KEY,
            base_msat {db.big_int} NOT NULL,
            ppm {db.big_int} NOT NULL,
            change_id TEXT NOT NULL,
            set_at {db.big_int} NOT NULL
        );
        """
    )

# The fields of a point of a channel's history (GET /channels/{id}/history), beside `at`.
SERIES_FIELDS = ("ppm", "base_msat", "local_sat", "remote_sat", "capacity_sat")


async def m010_compact_storage(db: Database) -> None:
    # Issue 15: bounded storage on a big node (2,000 channels, hourly runs, < 200 MB in 30 days).
    #
    # A run's decisions, one row per run: the list as bz2-compressed JSON (run_encoding.py). A
    # row per channel and run was most of the database (~1.6 KB a channel, ~70 B compressed).
    # `trimmed`: retention kept only the decisions the change log names (retention.py).
    await db.execute(
        f"""
        CREATE TABLE feepilot.run_decisions (
            run_id TEXT PRIMARY KEY,
            created_at {db.big_int} NOT NULL,
            trimmed INTEGER NOT NULL DEFAULT 0,
            data {db.blob} NOT NULL
        );
        """
    )
    await db.execute(create_index(db, "feepilot_run_decisions_created", "run_decisions", "created_at"))
    # The forwards, keyed by what identifies one (its time first: every reader asks a time range),
    # in integers: no text id and no second index. SQLite keeps the rows in that key's order
    # (WITHOUT ROWID): about 50 B a forward instead of about 290. The incoming amount is the
    # outgoing one plus the fee. HTLC ids are -1 for events that have none (LND before 0.17).
    without_rowid = " WITHOUT ROWID" if db.type == SQLITE else ""
    await db.execute(
        f"""
        CREATE TABLE feepilot.forward_events (
            ts_ns {db.big_int} NOT NULL,
            chan_out {db.big_int} NOT NULL,
            chan_in {db.big_int} NOT NULL,
            htlc_out {db.big_int} NOT NULL,
            htlc_in {db.big_int} NOT NULL,
            amt_out_msat {db.big_int} NOT NULL,
            fee_msat {db.big_int} NOT NULL,
            PRIMARY KEY (ts_ns, chan_out, chan_in, htlc_out, htlc_in, amt_out_msat)
        ){without_rowid};
        """
    )
    # Per UTC day, channel and direction (0 out, 1 in), the sums of that day's forwards as the
    # engine's flows add them (crud.refresh_forward_days keeps them, in the transaction that adds
    # the forwards): a 30-day window reads 30 rows a channel and the forwards of its two partial days.
    await db.execute(
        f"""
        CREATE TABLE feepilot.forward_days (
            day {db.big_int} NOT NULL,
            chan {db.big_int} NOT NULL,
            direction INTEGER NOT NULL,
            forwards {db.big_int} NOT NULL,
            volume_sat {db.big_int} NOT NULL,
            fee_msat {db.big_int} NOT NULL,
            PRIMARY KEY (day, chan, direction)
        ){without_rowid};
        """
    )
    from sqlalchemy import text

    insert = text(db.rewrite_query(
        """
        INSERT INTO feepilot.forward_events (ts_ns, chan_out, chan_in, htlc_out, htlc_in, amt_out_msat, fee_msat)
        VALUES (:ts, :out, :in, :htlc_out, :htlc_in, :amt_out, :fee) ON CONFLICT DO NOTHING
        """
    ))
    after = ""
    while True:  # a page at a time, keyset on the old id
        rows = await db.fetchall(
            "SELECT id, ts_ns, chan_id_in, chan_id_out, amt_out_msat, fee_msat FROM feepilot.forwards "
            "WHERE id > :after ORDER BY id LIMIT :limit",
            {"after": after, "limit": FORWARDS_COPY_PAGE},
        )
        if not rows:
            break
        after = rows[-1]["id"]
        copied = [copy for copy in map(_forward_event, rows) if copy is not None]
        if copied:
            await db.conn.execute(insert, copied)
    await db.execute("DROP TABLE feepilot.forwards")
    for statement in ROLLUP_FORWARD_DAYS:
        await db.execute(statement, {"lo": 0, "hi": 2**62})
    # The latest scores (m006's latest_scores), zlib-compressed: a 2,000-channel node's are 12 MB of
    # JSON, and every run rewrites them (SQLite keeps the old pages free for the next one).
    await db.execute(
        f"""
        CREATE TABLE feepilot.scores_latest (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            at {db.big_int} NOT NULL,
            etag TEXT NOT NULL,
            data {db.blob} NOT NULL
        );
        """
    )
    import zlib

    for row in await db.fetchall("SELECT id, run_id, at, etag, channels FROM feepilot.latest_scores"):
        await db.execute(
            "INSERT INTO feepilot.scores_latest (id, run_id, at, etag, data) VALUES (:id, :run_id, :at, :etag, :data)",
            {"id": row["id"], "run_id": row["run_id"], "at": row["at"], "etag": row["etag"],
             "data": zlib.compress(row["channels"].encode(), 6)},
        )
    await db.execute("DROP TABLE feepilot.latest_scores")
    # The forwards that failed on our side (m008's failed_forwards), the same way: keyed by time,
    # incoming channel and HTLC id (the event's identity), channels in integers; about 110 B a
    # failure with its index instead of about 250.
    await db.execute(
        f"""
        CREATE TABLE feepilot.link_failures (
            ts_ns {db.big_int} NOT NULL,
            chan_in {db.big_int} NOT NULL,
            htlc_in {db.big_int} NOT NULL,
            chan_out {db.big_int} NOT NULL,
            amount_msat {db.big_int} NOT NULL,
            wire_failure TEXT NOT NULL,
            failure_detail TEXT NOT NULL,
            PRIMARY KEY (ts_ns, chan_in, htlc_in)
        ){without_rowid};
        """
    )
    await db.execute(create_index(db, "feepilot_link_failures_chan", "link_failures", "chan_out, ts_ns"))
    failures = await db.fetchall(
        "SELECT id, ts_ns, chan_id_out, chan_id_in, amount_msat, wire_failure, failure_detail FROM feepilot.failed_forwards"
    )
    copied = []
    for row in failures:  # the old id is "chan_in:htlc_in:ts" (engine.ingest_htlc.LinkFailure.key)
        parts = str(row["id"]).split(":")
        if len(parts) == 3 and all(p.isdigit() for p in parts[:2]) and str(row["chan_id_out"]).isdigit():
            copied.append({"ts": int(row["ts_ns"]), "in": int(parts[0]), "htlc": int(parts[1]),
                           "out": int(row["chan_id_out"]), "amount": int(row["amount_msat"]),
                           "wire": row["wire_failure"], "detail": row["failure_detail"]})
    if copied:
        await db.conn.execute(text(db.rewrite_query(
            """
            INSERT INTO feepilot.link_failures (ts_ns, chan_in, htlc_in, chan_out, amount_msat, wire_failure, failure_detail)
            VALUES (:ts, :in, :htlc, :out, :amount, :wire, :detail) ON CONFLICT DO NOTHING
            """
        )), copied)
    await db.execute("DROP TABLE feepilot.failed_forwards")


FORWARDS_COPY_PAGE = 5000
# forward_days of the forwards with lo <= ts_ns < hi (whole days: the caller deletes their rows
# first), as engine.ingest_lnd.FLOW_SUMS adds them (amounts in whole sat per forward). Also
# crud.refresh_forward_days's.
# (no "%": LNbits doubles it for Postgres' driver)
_DAY_OF_NS = "(ts_ns / 86400000000000 * 86400)"
ROLLUP_FORWARD_DAYS = tuple(
    f"""
    INSERT INTO feepilot.forward_days (day, chan, direction, forwards, volume_sat, fee_msat)
    SELECT {_DAY_OF_NS} AS d, {chan}, {direction}, COUNT(*), SUM({amount} / 1000), SUM(fee_msat)
    FROM feepilot.forward_events WHERE ts_ns >= :lo AND ts_ns < :hi GROUP BY {_DAY_OF_NS}, {chan}
    """
    for chan, direction, amount in (("chan_out", 0, "amt_out_msat"), ("chan_in", 1, "(amt_out_msat + fee_msat)"))
)


def _forward_event(row) -> Optional[dict]:
    """A forwards row (m006) as a forward_events row; None for a channel id that is not LND's."""
    # the old id is "ts|in|out|in_htlc|out_htlc|amt_in|amt_out" (forwards_store.event_key then)
    parts = str(row["id"]).split("|")
    htlcs = [int(p) if p.isdigit() else -1 for p in parts[3:5]] if len(parts) >= 5 else [-1, -1]
    if not (str(row["chan_id_in"]).isdigit() and str(row["chan_id_out"]).isdigit()):
        return None
    return {"ts": int(row["ts_ns"]), "out": int(row["chan_id_out"]), "in": int(row["chan_id_in"]),
            "htlc_in": htlcs[0], "htlc_out": htlcs[1], "amt_out": int(row["amt_out_msat"]), "fee": int(row["fee_msat"])}


async def m011_cln_forwards_position(db: Database) -> None:
    # Issue 18. Core Lightning's forwarding history is read by position, not by time:
    # `listforwards index=created start=N`. `created_index` is the last entry read (NULL on LND,
    # whose sync keeps only the span of time it holds), so a cycle after the first asks only for
    # the entries after it.
    await db.execute(f"ALTER TABLE feepilot.forwards_sync ADD COLUMN created_index {db.big_int};")
