"""ANN-to-SNN conversion: BatchNorm folding, threshold balancing, IF (reset-by-subtraction)
networks and input coding. See docs/convert.md."""

from spikelite.convert._layers import fold_bn
from spikelite.convert.convert import (
    ConvertedSNN,
    ann_to_snn,
    calibrate_thresholds,
    encode_input,
)
from spikelite.convert.graph import ConvertedGraphSNN, ann_to_snn_graph
from spikelite.core.converted import ConvertedIF  # the neuron lives with the others in core

__all__ = [
    "ConvertedGraphSNN", "ConvertedIF", "ConvertedSNN", "ann_to_snn", "ann_to_snn_graph",
    "calibrate_thresholds", "encode_input", "fold_bn",
]
