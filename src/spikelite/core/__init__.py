"""SNN core: neuron step functions, surrogate gradients, fused kernels, time wrappers."""

from spikelite.core.functional import charge, lif_multistep_eager, lif_step, reset
from spikelite.core.fused import FusedLIF, lif_multistep_fused
from spikelite.core.layers import Flatten, FoldedTime, MeanOverTime, TimeDistributed
from spikelite.core.neurons import IF, LIF, NEURONS, create_neuron, reset_states
from spikelite.core.params import LIFParams
from spikelite.core.pooling import MaxPool2d, max_pool2x2
from spikelite.core.surrogates import SURROGATES, Surrogate, get_surrogate, spike

__all__ = [
    "IF", "LIF", "NEURONS", "SURROGATES", "Flatten", "FoldedTime", "FusedLIF", "LIFParams",
    "MaxPool2d", "MeanOverTime",
    "Surrogate", "TimeDistributed", "charge", "create_neuron", "get_surrogate",
    "lif_multistep_eager", "lif_multistep_fused", "lif_step", "max_pool2x2", "reset",
    "reset_states", "spike",
]
