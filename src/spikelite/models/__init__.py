"""Model zoo behind a registry: ``create(name, **kw)`` and ``list_models()``.

=================  ==========================================  ============================
name               model                                       reference
=================  ==========================================  ============================
mlp                Flatten → Linear → LIF … → Linear           demo
csnn               2×(Conv-BN-LIF-MaxPool) → Linear            demo (digits-dvs)
vgg16              VGG-16, 13 convs, single FC                 QP-SNN (Wei et al. 2025)
vggsnn             VGGSNN, 8 convs, FC 4608→10                 QP-SNN, DVS-CIFAR10
resnet20           Spiking ResNet20, option-A shortcuts        QP-SNN
tcja-dvsgesture    TCJA-SNN, voting read-out                   Schaefer et al. 2023
=================  ==========================================  ============================

All models map ``[T, B, *input_shape]`` to ``[T, B, num_classes]`` per time step and expose
``num_classes`` and ``input_shape``. See ``docs/models.md``.
"""

from spikelite.models import csnn as _csnn  # noqa: F401  (registers the models)
from spikelite.models import mlp as _mlp  # noqa: F401
from spikelite.models import resnet as _resnet  # noqa: F401
from spikelite.models import tcja as _tcja  # noqa: F401
from spikelite.models import vgg as _vgg  # noqa: F401
from spikelite.models.common import QPSNN_NEURON, SpikingSequential, TimeDropout
from spikelite.models.registry import (
    MODELS,
    create,
    default_widths,
    list_models,
    register_model,
    widths_from_ratios,
)
from spikelite.models.resnet import BasicBlock, PadShortcut
from spikelite.models.tcja import TCJA, TCJA_NEURON, Vote

__all__ = [
    "MODELS",
    "QPSNN_NEURON",
    "TCJA",
    "TCJA_NEURON",
    "BasicBlock",
    "PadShortcut",
    "SpikingSequential",
    "TimeDropout",
    "Vote",
    "create",
    "default_widths",
    "list_models",
    "register_model",
    "widths_from_ratios",
]
