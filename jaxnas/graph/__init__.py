"""Graph neural networks on ``jraph.GraphsTuple``: multi-head GAT, padding masks, link
prediction, and the NAL model (dense cells, training, scoring, decoding, transfer)."""

from jaxnas.graph.batching import GraphMasks, graph_masks, pad_graphs
from jaxnas.graph.cells import (
    NB101_VOCAB, NB201_VOCAB, Cells, Vocab, expert_indices, is_pruned, make_cells, nb201_cells,
    prune_cell,
)
from jaxnas.graph.gat import GATEncoder, GATLayer
from jaxnas.graph.generation import (
    decode_beam, decode_links, decode_one, decode_ops, generate, generate_from_pool,
    gumbel_top_k, link_log_likelihood, op_log_likelihood, score_cells, select, size_log_prior,
    vertex_count_log_prior,
)
from jaxnas.graph.link import LinkPredictor, masked_bce, masked_ce, roc_auc
from jaxnas.graph.nal_model import (
    DECODES, SCORES, NALConfig, NALModel, forward, link_predictor, middle_mask, pair_graph,
    pair_mask, predict,
)
from jaxnas.graph.training import masked_loss, train, train_contrast
from jaxnas.graph.transfer import (
    DARTS_TO_NB101, NB101_PATH_TO_DARTS, NB101_TO_DARTS, NB101_TO_NB201, darts_as_nb101_graph,
    darts_edge_op, decode_nb201_transfer, generate_darts, generate_darts_cell,
    generate_nb201_transfer, nb201_as_nb101_graph, nb201_pool, nb201_size_log_prior,
    nb201_transfer_scores,
)

__all__ = [
    "Cells", "DARTS_TO_NB101", "DECODES", "GATEncoder", "GATLayer", "GraphMasks", "LinkPredictor",
    "NALConfig", "NALModel", "NB101_PATH_TO_DARTS", "NB101_TO_DARTS", "NB101_TO_NB201",
    "NB101_VOCAB", "NB201_VOCAB", "SCORES", "Vocab", "darts_as_nb101_graph", "darts_edge_op",
    "decode_beam", "decode_links", "decode_nb201_transfer", "decode_one", "decode_ops",
    "expert_indices", "forward", "generate", "generate_darts", "generate_darts_cell",
    "generate_from_pool", "generate_nb201_transfer", "graph_masks", "gumbel_top_k", "is_pruned",
    "link_log_likelihood", "link_predictor", "make_cells", "masked_bce", "masked_ce",
    "masked_loss", "middle_mask", "nb201_as_nb101_graph", "nb201_cells", "nb201_pool",
    "nb201_size_log_prior", "nb201_transfer_scores", "op_log_likelihood", "pad_graphs",
    "pair_graph", "pair_mask", "predict", "prune_cell", "roc_auc", "score_cells", "select",
    "size_log_prior", "train", "train_contrast", "vertex_count_log_prior",
]
