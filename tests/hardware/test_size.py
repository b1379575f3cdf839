"""Deployed size and QP-SNN's model-size convention (papers.md §1.14a, Table 1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.errors import SpikeliteError
from spikelite.hardware import model_size, neuron_counts
from spikelite.models import create, widths_from_ratios
from spikelite.prune import prune_channels_
from spikelite.quant import LayerQuant, bake, dequantize_, quantize_

from .helpers import symmetric_sidecar

VGG16 = [  # (r1, r2, classes, input size, paper MB at 8/4/2 bits)
    (0.45, 0.51, 10, 32, (4.28, 2.16, 1.10)),
    (0.49, 0.80, 10, 32, (1.45, 0.74, 0.39)),
    (0.45, 0.70, 100, 32, (2.48, 1.35, 0.79)),
    (0.45, 0.78, 100, 32, (1.85, 1.04, 0.63)),
    (0.45, 0.51, 200, 64, (5.90, 3.78, 2.72)),
    (0.45, 0.62, 200, 64, (4.67, 3.17, 2.41)),
]
VGGSNN = [  # (ratio convs 1–3, ratio convs 4–7, paper MB); conv 8 unpruned
    (0.50, 0.70, (1.61, 0.90, 0.55)),
    (0.50, 0.80, (1.05, 0.62, 0.41)),
    (0.82, 0.93, (0.40, 0.29, 0.24)),
]


def qpsnn_sizes(model: nn.Module, ratios: dict[str, float], baked_bits: int | None = None
                ) -> list[float]:
    """QP-SNN's pipeline on a zoo model: channel surgery with the per-layer ratios (l1
    criterion: the sizes do not depend on which channels go), every conv but the first
    quantized (first conv and last FC stay FP32, App. G), model size in MB at 8/4/2 bits.

    The sidecars carry the bits of the quantized layers; at ``baked_bits`` they come from
    the real ``quantize_(…, "rescaw") → bake`` instead (slower: bake copies the model)."""
    prune_channels_(model, ratios, "l1")
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    sizes = []
    for bits in (8, 4, 2):
        if bits == baked_bits:
            quantize_(model, "rescaw", bits, skip_first=True, skip_last=True)
            plain, layers = bake(model)
            dequantize_(model)
            assert layers["conv1.module"].codes is None and layers["fc.module"].codes is None
        else:
            plain = model
            layers = {n: LayerQuant(n, tuple(dict(model.named_modules())[n].weight.shape),
                                    "rescaw", bits) for n in convs[1:]}
        sizes.append(model_size(plain, layers, convention="qpsnn").mb)
    return sizes


@pytest.mark.parametrize(("r1", "r2", "classes", "size", "paper"), VGG16)
def test_qpsnn_table1_vgg16(r1: float, r2: float, classes: int, size: int, paper) -> None:
    model = create("vgg16", num_classes=classes, input_size=size)
    ratios = {f"conv{i}": r1 for i in range(1, 8)} | {f"conv{i}": r2 for i in range(8, 13)}
    got = qpsnn_sizes(model, ratios, baked_bits=4 if (r1, r2, classes) == (0.45, 0.51, 10)
                      else None)
    assert [round(mb, 2) for mb in got] == list(paper), got
    assert model.conv1.module.out_channels == widths_from_ratios("vgg16", [r1] * 13)[0]


@pytest.mark.parametrize(("ra", "rb", "paper"), VGGSNN)
def test_qpsnn_table1_vggsnn(ra: float, rb: float, paper) -> None:
    ratios = {f"conv{i}": ra for i in range(1, 4)} | {f"conv{i}": rb for i in range(4, 8)}
    got = qpsnn_sizes(create("vggsnn"), ratios, baked_bits=2 if ra == 0.82 else None)
    assert [round(mb, 2) for mb in got] == list(paper), got


def test_qpsnn_full_precision_vgg16() -> None:
    assert round(model_size(create("vgg16"), convention="qpsnn").mb, 2) == 58.90  # paper 58.88


def test_four_bit_weights_are_one_eighth() -> None:
    model = create("csnn")
    layers = {n: symmetric_sidecar(n, m.weight, 4) for n, m in model.named_modules()
              if isinstance(m, (nn.Conv2d, nn.Linear))}
    fp = model_size(model).by_component()
    q4 = model_size(model, layers).by_component()
    assert q4["weights"] * 8 == fp["weights"]
    assert q4["scales"] == 32 * len(layers) and fp["scales"] == 0
    assert q4["bias"] == fp["bias"] == 32 * 10  # the FC bias stays FP32
    assert fp["state"] == 16 * (16 * 34 * 34 + 32 * 17 * 17)
    assert fp["params"] > 0  # BN scale/shift and neuron parameters


def test_structured_pruning_is_smaller_shapes_and_masks_need_a_sparse_format() -> None:
    full, small = create("csnn"), create("csnn", widths=[8, 16])
    assert model_size(small).total_bits < model_size(full).total_bits
    fc = full.fc.module
    keep = torch.rand_like(fc.weight) < 0.1
    layers = {"fc.module": symmetric_sidecar("fc.module", fc.weight, 8, keep)}
    dense = model_size(full, layers).rows
    sparse = model_size(full, layers, weight_format="bitmask").rows
    row = next(r for r in dense if r.name == "fc.module")
    srow = next(r for r in sparse if r.name == "fc.module")
    assert row.bits["weights"] == fc.weight.numel() * 8  # dense storage ignores zeros
    nnz = layers["fc.module"].nonzero(fc.weight)  # mask + zeros the 8-bit grid rounds to
    assert nnz <= int(keep.sum())
    assert srow.bits["weights"] == nnz * 8 and srow.bits["metadata"] == keep.numel()


def test_neuron_counts_and_errors() -> None:
    assert neuron_counts(create("csnn")) == {"lif1": 16 * 34 * 34, "lif2": 32 * 17 * 17}
    with pytest.raises(SpikeliteError, match="convention"):
        model_size(create("csnn"), convention="bogus")
    bad = symmetric_sidecar("fc.module", torch.zeros(3, 3), 4)
    with pytest.raises(SpikeliteError, match="weight_shape"):
        model_size(create("csnn"), {"fc.module": bad})
    with pytest.raises(SpikeliteError, match="name no Linear/Conv"):
        model_size(create("csnn"), {"nope": bad})
