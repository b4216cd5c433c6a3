"""GET /channels/{id}/history?days=90 against 90 days of hourly runs (issue 15, item 2).

Starts simnode and a real LNbits 1.6.2 with the extension (SQLite), runs one dry run, then
fills the extension's database with 90 days of hourly runs (`--channels` channels each: the
simnode channels and copies of them) the way a cycle stores them: a snapshot row, a score row
per channel and the compact channel series. Then it times

- the route over HTTP (what an operator's page waits for: auth, query, JSON), and, on the same
  database in this process,
- the old path (issue 15's baseline): read every snapshot of the window and decode it to find
  the channel, plus the score query, and
- the new path: one indexed read of a row per day, the stored JSON concatenated,

and prints the medians and the ratio old / new. Usage:

    .venv/bin/python bench/history.py [--days 90] [--channels 100] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import series as series_encoding  # noqa: E402  (the extension's pure series.py)
from devtools.testenv import start_host_session  # noqa: E402
from simnode.testing import start_simnode  # noqa: E402

API = "/feepilot/api/v1"
HOUR = 3600


def seed(db_path: Path, snapshot: dict, chan_ids: list[str], days: int, now: int) -> int:
    """Hourly runs over `days`: snapshots and scores rows, and each channel's days in channel_days,
    as crud.store_run writes them (series.py's compact items)."""
    base = snapshot["channels"]
    channels = [{**base[i % len(base)], "chan_id": chan} for i, chan in enumerate(chan_ids)]
    text = json.dumps(dict(snapshot, channels=channels), sort_keys=True, separators=(",", ":"))
    score = json.dumps({"chan_id": "x", "total": 0.5, "confidence": 1.0, "parts": [{"name": "activity"}] * 8})
    runs = days * 24
    series: dict[tuple[str, int], tuple[list[str], list[str]]] = {}
    conn = sqlite3.connect(db_path, timeout=30)
    with conn:
        for table in ("snapshots", "scores", "channel_days"):  # only the seeded runs: both paths see the same
            conn.execute(f"DELETE FROM {table}")
        for r in range(runs):
            at = now - (runs - r) * HOUR
            run_id = f"bench{r:06d}"
            conn.execute("INSERT INTO snapshots (id, run_id, taken_at, data) VALUES (?, ?, ?, ?)",
                         (secrets.token_hex(11), run_id, at, text))
            conn.executemany(
                "INSERT INTO scores (id, run_id, chan_id, created_at, total, confidence, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(secrets.token_hex(11), run_id, c["chan_id"], at, 0.5, 1.0, score) for c in channels],
            )
            for c in channels:
                points, scores = series.setdefault((c["chan_id"], at - at % 86400), ([], []))
                points.append(series_encoding.encode_point(at, c))
                scores.append(series_encoding.encode_score(at, 0.5, 1.0))
        conn.executemany(
            "INSERT INTO channel_days (chan_id, day, points, scores) VALUES (?, ?, ?, ?)",
            [(chan, day, ",".join(p), ",".join(sc)) for (chan, day), (p, sc) in series.items()],
        )
    conn.close()
    return runs


def old_path(conn: sqlite3.Connection, chan_id: str, since: int) -> tuple[list, list]:
    """What services.channel_history did before issue 15: decode every snapshot of the window."""
    points = []
    for taken_at, text in conn.execute("SELECT taken_at, data FROM snapshots WHERE taken_at >= ? ORDER BY taken_at", (since,)):
        for channel in json.loads(text).get("channels", []):
            if channel["chan_id"] == chan_id:
                points.append({"at": taken_at, "ppm": channel.get("ppm"), "local_sat": channel.get("local_sat")})
    scores = conn.execute(
        "SELECT created_at, total, confidence FROM scores WHERE chan_id = ? AND created_at >= ? ORDER BY created_at",
        (chan_id, since),
    ).fetchall()
    return points, scores


def new_path(conn: sqlite3.Connection, chan_id: str, since: int) -> str:
    """crud.channel_series: a row per day, its compact items decoded (series.py)."""
    rows = conn.execute(
        "SELECT day, points, scores FROM channel_days WHERE chan_id = ? AND day >= ? ORDER BY day",
        (chan_id, since - since % 86400),
    ).fetchall()
    points = [p for day, text, _ in rows for p in series_encoding.decode_points(day, text) if p["at"] >= since]
    scores = [s for day, _, text in rows for s in series_encoding.decode_scores(day, text) if s["created_at"] >= since]
    return json.dumps(points, separators=(",", ":")) + json.dumps(scores, separators=(",", ":"))


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="feepilot-bench-history-"))
    with start_simnode(seed=7, speed=0) as node:
        session = start_host_session(workdir, backend="LndRestWallet", lnd_endpoint=node.url, macaroon=node.macaroon)
        try:
            with session.client(session.super_token) as client:
                client.put(f"{API}/settings", json={"mode": "off"}).raise_for_status()
                client.post(f"{API}/runs", json={"dry_run": True}, timeout=300).raise_for_status()
                db_path = session.host.data_folder / "ext_feepilot.sqlite3"
                conn = sqlite3.connect(db_path, timeout=30)
                (text,) = conn.execute("SELECT data FROM snapshots ORDER BY taken_at DESC LIMIT 1").fetchone()
                conn.close()
                snapshot = json.loads(text)
                real = [c["chan_id"] for c in snapshot["channels"]]
                chan_ids = real + [f"{900000000000000000 + i}" for i in range(max(0, args.channels - len(real)))]
                now = int(node.state()["now"])
                runs = seed(db_path, snapshot, chan_ids, args.days, now)
                chan = real[0]
                url = f"{API}/channels/{chan}/history?days={args.days}"
                first = client.get(url)
                first.raise_for_status()
                points = len(first.json()["points"])
                http = timed(lambda: client.get(url).raise_for_status(), args.repeat)
                # the floor: an authenticated route that reads one small row
                floor = timed(lambda: client.get(f"{API}/settings/history?limit=1").raise_for_status(), args.repeat)
            conn = sqlite3.connect(db_path, timeout=30)
            since = now - args.days * 86400
            old = timed(lambda: old_path(conn, chan, since), max(3, args.repeat // 5))
            new = timed(lambda: new_path(conn, chan, since), args.repeat)
            conn.close()
        finally:
            session.host.stop()
    print(f"history of 1 channel over {args.days} days: {runs:,} runs x {len(chan_ids)} channels stored, "
          f"{points:,} points answered")
    print(f"GET {url.split('?')[0].replace(chan, '{id}')}?days={args.days} over HTTP: "
          f"median {statistics.median(http):.1f} ms, max {max(http):.1f} ms ({args.repeat} requests)")
    print(f"the floor (GET /settings/history?limit=1, auth and one row): median {statistics.median(floor):.1f} ms")
    print(f"storage, old path (decode every snapshot): median {statistics.median(old):.1f} ms")
    print(f"storage, new path (channel days):          median {statistics.median(new):.2f} ms")
    print(f"ratio old / new: {statistics.median(old) / statistics.median(new):.0f}x")
    print("goal: the route under 50 ms:", "met" if statistics.median(http) < 50 else "NOT met")


if __name__ == "__main__":
    main()
