"""simnode: an LND v0.21.2 REST emulator running a simulated routing node inside a real graph.

In-process use (no HTTP):

    from simnode import load_graph, SimNode, handle
    sim = SimNode(load_graph(), seed=7)
    handle(sim, "GET", "/v1/fees").json()
    sim.advance(hours=24)
    sim.state()

See simnode/README.md for the model, the endpoints and the CLI.
"""

from .graph import load_graph, resolve_graph_path
from .lnd_api import handle
from .node import SimNode
from .sim_api import handle_sim
from .traffic import TrafficParams

__all__ = ["load_graph", "resolve_graph_path", "SimNode", "handle", "handle_sim", "TrafficParams"]
