"""Fee Autopilot engine: pure scoring, decisions and guardrails (stdlib + networkx, no I/O).

The shell calls, per cycle:
    key = metrics_key(snapshot.graph, snapshot.node_id, settings.graph)        # cache key
    metrics = compute_graph_metrics(snapshot.graph, snapshot.node_id, settings.graph)  # heavy: the worker process, cache by key
    evaluation = evaluate(snapshot, settings, history, metrics, now)           # cheap
    evaluation.to_dict()                                                       # JSON for storage / API
"""

from .evaluate import ChannelAssessment, Evaluation, evaluate
from .graph_metrics import GraphMetrics, compute_graph_metrics, metrics_key
from .settings import EngineSettings, SettingsError

__all__ = [
    "ChannelAssessment",
    "EngineSettings",
    "Evaluation",
    "GraphMetrics",
    "SettingsError",
    "compute_graph_metrics",
    "evaluate",
    "metrics_key",
]
