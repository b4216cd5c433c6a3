"""Use cases: what the API and the schedule do, built from node, crud and engine."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

from loguru import logger

from .models import ChannelOut, ChannelsOut, StatusOut
from .node import NodeCallError, NodeGateway, NodeUnavailable, backend_name

DATA_SOURCES = ("channels", "policies", "forwards", "graph")


def extension_version() -> str:
    config = Path(__file__).parent / "config.json"
    return json.loads(config.read_text()).get("version", "0.0")


def networkx_installed() -> bool:
    return importlib.util.find_spec("networkx") is not None


async def node_status() -> StatusOut:
    status = StatusOut(
        version=extension_version(),
        backend=backend_name(),
        node_api_available=False,
        sources={source: False for source in DATA_SOURCES},
        networkx_installed=networkx_installed(),
    )
    try:
        gateway = NodeGateway.current()
    except NodeUnavailable as exc:
        status.node_api_reason = str(exc)
        return status
    try:
        result = await gateway.channels()
    except NodeCallError as exc:
        logger.warning(f"feepilot: status: {exc}")
        status.node_api_reason = f"The node did not answer: {exc}"
        return status
    status.node_api_available = True
    status.node_id = result.info.node_id
    status.alias = result.info.alias
    status.block_height = result.info.block_height
    status.channel_counts = dict(Counter(channel.state for channel in result.channels))
    status.sources.update(result.sources)
    status.sources["forwards"] = gateway.can_read_forwards
    status.sources["graph"] = gateway.can_read_graph and status.networkx_installed
    status.source_errors = dict(result.source_errors)
    if not gateway.can_read_forwards:
        status.source_errors["forwards"] = f"{gateway.backend}: forwarding history is not supported"
    if not status.networkx_installed:
        status.source_errors["graph"] = "networkx is not installed in LNbits' environment"
    return status


async def list_channels() -> ChannelsOut:
    """Every channel with its policy; raises NodeUnavailable / NodeCallError."""
    gateway = NodeGateway.current()
    result = await gateway.channels()
    return ChannelsOut(
        node_id=result.info.node_id,
        backend=gateway.backend,
        channels=[ChannelOut.of(channel) for channel in result.channels],
    )
