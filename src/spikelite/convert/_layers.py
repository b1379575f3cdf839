"""Walking a ReLU ``nn.Sequential`` ANN: flattening, support checks, BatchNorm folding."""

from __future__ import annotations

import copy

from torch import nn

from spikelite.core.batchnorm import BATCHNORMS, check_foldable, fold_batchnorm
from spikelite.core.synaptic import SYNAPTIC_TYPES
from spikelite.errors import SpikeliteError

#: the weighted (synaptic) layers a converted ANN may hold: the one synaptic-layer set
WEIGHTED = SYNAPTIC_TYPES
POOLS = (
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
)
DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
SUPPORTED = (
    "Linear, Conv1d/2d/3d, AvgPool*/AdaptiveAvgPool*, BatchNorm directly after Conv/Linear, "
    "ReLU, Flatten (start_dim=1), Dropout/Identity (removed), nested nn.Sequential"
)
_ACTIVATIONS = (
    nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.SELU, nn.CELU, nn.LeakyReLU, nn.PReLU,
    nn.ReLU6, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softplus, nn.Softsign,
    nn.RReLU, nn.Tanhshrink, nn.LogSigmoid,
)


def _unsupported(name: str, m: nn.Module) -> SpikeliteError:
    kind = type(m).__name__
    where = f"layer '{name}' ({kind})"
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                      nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        avg = kind.replace("Max", "Avg")
        fix = f"replace {kind} with {avg} (same kernel/stride) before training and retrain"
    elif isinstance(m, _ACTIVATIONS):
        fix = (f"{kind} has no rate-coded IF equivalent; replace it with nn.ReLU before "
               f"training and retrain")
    elif isinstance(m, (nn.Softmax, nn.LogSoftmax)):
        fix = (f"remove the final {kind} (argmax is unchanged) and apply it to the SNN's "
               f"time-averaged output if probabilities are needed")
    else:
        fix = (f"conversion supports only {SUPPORTED}; express the model as an nn.Sequential "
               f"of these (operations in a custom forward() cannot be converted)")
    return SpikeliteError(f"cannot convert {where} to a spiking layer: {fix}")


def flatten_sequential(ann: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf layers of a (nested) ``nn.Sequential`` with their qualified names, in order."""
    if not isinstance(ann, nn.Sequential):
        raise SpikeliteError(
            f"ann_to_snn needs an nn.Sequential ANN, got {type(ann).__name__}; rewrite the "
            f"model as nn.Sequential(...) of {SUPPORTED}, or convert it with "
            f"spikelite.convert.ann_to_snn_graph (residual additions, traced with torch.fx)"
        )
    out: list[tuple[str, nn.Module]] = []

    def walk(seq: nn.Sequential, prefix: str) -> None:
        for name, m in seq.named_children():
            qual = f"{prefix}{name}"
            if isinstance(m, nn.Sequential):
                walk(m, qual + ".")
            else:
                out.append((qual, m))

    walk(ann, "")
    if not out:
        raise SpikeliteError("the ANN is empty: nothing to convert")
    return out


def _fold_one(layer: nn.Module, bn: nn.Module, lname: str, bname: str) -> nn.Module:
    """A copy of ``layer`` with ``bn`` folded in (see :mod:`spikelite.core.batchnorm`)."""
    out_ch = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    check_foldable(bn, out_ch, lname, bname)
    new = copy.deepcopy(layer)
    w, b = fold_batchnorm(layer.weight, layer.bias, bn)
    new.weight = nn.Parameter(w.clone())
    new.bias = nn.Parameter(b.clone())
    return new


def fold_layers(ann: nn.Module, *, check: bool = True) -> list[tuple[str, nn.Module]]:
    """Flattened ``(name, layer)`` list with each BatchNorm folded into the preceding
    Conv/Linear (the folded layer keeps the Conv/Linear's name). With ``check``, any layer the
    conversion cannot handle raises :class:`SpikeliteError` naming it and the alternative.
    Dropout/Identity are removed (they are the identity in eval mode)."""
    layers = flatten_sequential(ann)
    out: list[tuple[str, nn.Module]] = []
    for name, m in layers:
        if isinstance(m, BATCHNORMS):
            if not out or not isinstance(out[-1][1], WEIGHTED):
                prev = f"'{out[-1][0]}' ({type(out[-1][1]).__name__})" if out else "the input"
                raise SpikeliteError(
                    f"cannot convert layer '{name}' ({type(m).__name__}): BatchNorm must "
                    f"directly follow a Conv/Linear layer to be folded, but it follows {prev}; "
                    f"move it right after a Conv/Linear layer"
                )
            pname, prev_layer = out[-1]
            out[-1] = (pname, _fold_one(prev_layer, m, pname, name))
        elif isinstance(m, DROPPED):
            continue
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise SpikeliteError(
                    f"cannot convert layer '{name}' (Flatten(start_dim={m.start_dim}, "
                    f"end_dim={m.end_dim})): only Flatten(start_dim=1, end_dim=-1) is supported"
                )
            out.append((name, m))
        elif isinstance(m, (*WEIGHTED, *POOLS, nn.ReLU)):
            out.append((name, copy.deepcopy(m)))
        elif check:
            raise _unsupported(name, m)
        else:
            out.append((name, copy.deepcopy(m)))
    return out


def fold_bn(ann: nn.Module) -> nn.Sequential:
    """Copy of ``ann`` (a nested ``nn.Sequential``) as one flat ``nn.Sequential`` in eval mode
    with every BatchNorm folded into the preceding Conv/Linear:

    ``W' = W·γ/√(σ²+ε)`` (per output channel), ``b' = (b − μ)·γ/√(σ²+ε) + β``.

    Exact up to float rounding for the eval-mode (running-statistics) function. Dropout and
    Identity are removed; other layers are copied unchanged (not checked for convertibility).
    """
    return nn.Sequential(*(m for _, m in fold_layers(ann, check=False))).eval()
