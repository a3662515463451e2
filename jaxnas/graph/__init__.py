"""Graph neural networks on ``jraph.GraphsTuple`` (used by NAL): multi-head GAT, padding masks,
link prediction."""

from jaxnas.graph.batching import GraphMasks, graph_masks, pad_graphs
from jaxnas.graph.gat import GATEncoder, GATLayer
from jaxnas.graph.link import LinkPredictor, masked_bce, masked_ce, roc_auc

__all__ = [
    "GATEncoder", "GATLayer", "GraphMasks", "LinkPredictor", "graph_masks", "masked_bce",
    "masked_ce", "pad_graphs", "roc_auc",
]
