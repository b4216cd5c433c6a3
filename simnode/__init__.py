"""simnode: an LND v0.21.2 REST emulator running a simulated routing node inside a real graph,
with a Core Lightning v25.12 JSON-RPC face over the same node.

In-process use (no HTTP):

    from simnode import load_graph, SimNode, handle, handle_cln
    sim = SimNode(load_graph(), seed=7)
    handle(sim, "GET", "/v1/fees").json()
    handle_cln(sim, "listpeerchannels", {}).json()
    sim.advance(hours=24)
    sim.state()

See simnode/README.md for the model, the endpoints and the CLI.
"""

from .cln_api import handle_cln
from .graph import load_graph, resolve_graph_path
from .lnd_api import handle
from .node import SimNode
from .sim_api import handle_sim
from .traffic import TrafficParams

__all__ = ["load_graph", "resolve_graph_path", "SimNode", "handle", "handle_cln", "handle_sim", "TrafficParams"]
