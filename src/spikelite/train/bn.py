"""BatchNorm re-estimation: recompute running statistics with the weights a model holds now
(e.g. after quantization or pruning changed them), without any gradient step."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from spikelite.core.neurons import reset_states
from spikelite.errors import SpikeliteError


@torch.no_grad()
def reestimate_bn_(model: nn.Module, data: Dataset, *, batches: int = 8, batch_size: int = 32,
                   seed: int = 0) -> int:
    """Reset every BatchNorm's running mean/variance and recompute them as the cumulative
    (equal-weight) average over ``batches`` shuffled training batches (``seed``) of the
    per-batch statistics, the rest of the model in eval mode. Items are ``(x [T, ...], y)``.
    Returns the number of batches used (0 when the model has no BatchNorm)."""
    if batches < 1:
        raise SpikeliteError(f"BatchNorm re-estimation needs batches >= 1, got {batches}")
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    was_training = model.training
    saved = [(bn, bn.momentum) for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
        bn.train()
    p = next(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    used = 0
    try:
        for x, _ in DataLoader(data, batch_size=batch_size, shuffle=True, generator=gen):
            if used >= batches:
                break
            reset_states(model)
            model(x.to(p.device, p.dtype).transpose(0, 1).contiguous())
            used += 1
    finally:
        for bn, momentum in saved:
            bn.momentum = momentum
        reset_states(model)
        model.train(was_training)
    return used
