"""`python -m simnode --seed 7 --port 8080` — see simnode/README.md."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import socket
import sys
import time

from aiohttp import web

from .cln_server import ClnServer, bind_unix_socket
from .graph import GraphFormatError, check_room_for_node, load_graph
from .node import SimNode
from .regimes import REGIMES
from .server import SimServer
from .traffic import TrafficParams


def default_macaroon(seed: int) -> str:
    # shaped like an LND admin macaroon header (version 2, location "lnd"); any hex is accepted by clients
    return "0201036c6e6402f801030a10" + hashlib.sha256(f"simnode-macaroon:{seed}".encode()).hexdigest() * 2


def parse_start(value: str, graph) -> int | None:
    if value == "now":
        return None
    if value == "snapshot":
        return graph.snapshot_ts + 12 * 3600
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simnode", description="LND v0.21.2 REST emulator on a real LN graph")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    p.add_argument("--port", type=int, default=8080, help="0 = pick a free port")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--min-peer-degree", type=int, default=None,
                   help="peers are drawn from nodes with at least this many distinct channels into them "
                        "(default 40; lower it for thousands of channels: the 2024 graph has 2,613 nodes with >= 6)")
    p.add_argument("--graph", default=None,
                   help="shortcut 2024/2026, a file in refdata/lngraph/, or the path of any Core Lightning "
                        "listchannels dump ({\"channels\": [...]}, gzip or plain JSON; env SIMNODE_GRAPH)")
    p.add_argument("--macaroon", default=None, help="hex value clients must send (default derived from seed)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second; 0 = frozen clock")
    p.add_argument("--start", default="now", help="sim start time: now | snapshot | <unix seconds>")
    p.add_argument("--history-days", type=float, default=None, help="traffic simulated before the start")
    p.add_argument("--step-minutes", type=int, default=None)
    p.add_argument("--rate", type=float, default=None, help="base forwards/hour per 1M-weight channel")
    p.add_argument("--regime", choices=REGIMES, default="stationary",
                   help="market regime (README 'Market regimes'): stationary (default) | mission_control | "
                        "competitors_move | demand_shifts")
    p.add_argument("--regime-days", type=float, default=None,
                   help="days after the start that the regime's timed events fall in (default 30: the mid-run "
                        "demand change at day 15, the competitors' step changes within 30 days)")
    p.add_argument("--cln-socket", default=None, metavar="PATH",
                   help="also serve Core Lightning's JSON-RPC (lightningd v25.12) on this unix socket, for "
                        "pyln-client / LNbits' CoreLightningWallet; the HTTP port keeps /sim/* and the LND routes")
    return p


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before the graph loads, so a taken port fails in milliseconds, not seconds."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"simnode: cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


async def serve(args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    sock = bind_socket(args.host, args.port)
    cln_sock = bind_unix_socket(args.cln_socket) if args.cln_socket else None
    graph = load_graph(args.graph)
    check_room_for_node(graph, args.channels, args.min_peer_degree)
    if graph.snapshot_date_source != "meta.snapshot_date":
        print(f"simnode: {graph.path} has no meta.snapshot_date; snapshot date {graph.snapshot_date} "
              f"from the {graph.snapshot_date_source}", file=sys.stderr, flush=True)
    params = TrafficParams()
    if args.history_days is not None:
        params.history_days = args.history_days
    if args.step_minutes:
        params.step_minutes = args.step_minutes
    if args.rate is not None:
        params.base_forwards_per_hour = args.rate
    params.regime = args.regime
    if args.regime_days is not None:
        params.regime_days = args.regime_days
    start = parse_start(args.start, graph)
    if start is None:
        step = params.step_minutes * 60
        start = int(time.time()) // step * step
    sim = SimNode(graph, seed=args.seed, channels=args.channels, params=params, start_ts=start,
                  min_peer_degree=args.min_peer_degree)
    macaroon = (args.macaroon or default_macaroon(args.seed)).lower()
    server = SimServer(sim, macaroon, speed=args.speed)
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    cln = ClnServer(server, cln_sock) if cln_sock is not None else None
    if cln is not None:
        await cln.start()
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"simnode listening on http://{host}:{port} node={sim.pubkey} macaroon={macaroon} "
          f"startup={time.monotonic() - t0:.2f}s" + (f" regime={sim.regime}" if sim.regime != "stationary" else "")
          + (f" cln={cln.path}" if cln is not None else ""),
          flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        if cln is not None:
            await cln.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    except (FileNotFoundError, GraphFormatError) as exc:  # missing or unusable --graph: one line, the file named
        print(f"simnode: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
