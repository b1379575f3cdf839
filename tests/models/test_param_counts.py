"""Parameter counts against the papers (papers.md §1.12, §1.14, §2.3)."""

from __future__ import annotations

import pytest
from torch import nn

from spikelite.models import create, widths_from_ratios


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def split_bn(m: nn.Module) -> tuple[int, int]:
    """(weights of convs/linears, BN affine parameters)."""
    bn = sum(
        p.numel()
        for mod in m.modules()
        if isinstance(mod, nn.BatchNorm2d)
        for p in mod.parameters()
    )
    return n_params(m) - bn, bn


def test_tcja_dvsgesture_schaefer_count() -> None:
    model = create("tcja-dvsgesture")
    weights, bn = split_bn(model)
    assert weights == 1_831_296 and bn == 1_280
    convs = [m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [2_304] + [147_456] * 4
    tcja = [m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert tcja == [1_600, 65_536] * 2
    fcs = [m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)]
    assert fcs == [1_048_576, 56_320]
    assert all(m.bias is None for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_vgg16_full_precision_cifar10() -> None:
    n = n_params(create("vgg16", num_classes=10))
    assert n == 14_724_106  # convs + first-conv bias + FC + BN affine
    assert round(n / 1e6, 3) == 14.724 and round(n / 1e6, 2) == 14.72


def test_vgg16_heads() -> None:
    assert create("vgg16", num_classes=100).fc.module.in_features == 512
    tiny = create("vgg16", num_classes=200, input_size=64)
    assert tiny.fc.module.in_features == 2048 and tiny.fc.module.out_features == 200
    assert create("vggsnn").fc.module.in_features == 4608


def vgg16_widths(r1: float, r2: float) -> list[int]:
    """Table 9: r1 on convs 1–7, r2 on convs 8–12, conv 13 unpruned."""
    return widths_from_ratios("vgg16", [r1] * 7 + [r2] * 5 + [0.0])


@pytest.mark.parametrize(
    ("r1", "r2", "classes", "size", "millions"),
    [
        (0.45, 0.51, 10, 32, 4.2461),
        (0.49, 0.80, 10, 32, 1.4193),
        (0.45, 0.70, 100, 32, 2.3148),
        (0.45, 0.78, 100, 32, 1.6827),
        (0.45, 0.51, 200, 64, 4.6507),
        (0.45, 0.62, 200, 64, 3.4265),
    ],
)
def test_vgg16_pruned_sizes(r1: float, r2: float, classes: int, size: int, millions: float) -> None:
    model = create("vgg16", num_classes=classes, input_size=size, widths=vgg16_widths(r1, r2))
    assert round(n_params(model) / 1e6, 4) == millions


def test_vgg16_pruned_quantized_split() -> None:
    """§1.14: quantized = every conv weight but the first; the rest is FP32."""
    model = create("vgg16", widths=vgg16_widths(0.45, 0.51))
    quantized = sum(
        m.module.weight.numel()
        for name, m in model.named_children()
        if name.startswith("conv") and name != "conv1"
    )
    assert round(quantized / 1e6, 4) == 4.2352
    assert round((n_params(model) - quantized) / 1e6, 4) == 0.0109


@pytest.mark.parametrize(
    ("r1", "r2", "millions"), [(0.5, 0.7, 1.4600), (0.5, 0.8, 0.9039), (0.82, 0.93, 0.2552)]
)
def test_vggsnn_pruned_sizes(r1: float, r2: float, millions: float) -> None:
    # Table 11 layers 1, 2, 4 = convs 1–3 (r1); layers 5, 7, 8, 10 = convs 4–7 (r2);
    # layer 11 = conv 8, not pruned.
    widths = widths_from_ratios("vggsnn", [r1] * 3 + [r2] * 4 + [0.0])
    assert round(n_params(create("vggsnn", widths=widths)) / 1e6, 4) == millions


def test_resnet20_full_precision() -> None:
    assert n_params(create("resnet20", num_classes=100)) == 17_095_076  # paper: 17.095 M
    assert round(n_params(create("resnet20", num_classes=10)) / 1e6, 2) == 17.05
    option_b = create("resnet20", num_classes=100, shortcut="conv")
    assert n_params(option_b) - 17_095_076 == 173_824


def test_resnet20_pruned_sizes_do_not_match_paper() -> None:
    """Table 10 ratios on the option-A layout give 5.731 M / 3.467 M, not 6.22 M / 3.87 M
    (papers.md §1.14 finding 2): pinned so that a layout change is noticed."""
    a = [0.1, 0.3, 0.3] + [0.6, 0.3] * 2 + [0.6, 0.6] * 3 + [0.6, 0.0] * 3
    b = [0.1, 0.35, 0.35] + [0.75, 0.35] * 2 + [0.75, 0.75] * 3 + [0.75, 0.0] * 3
    n_a = n_params(create("resnet20", widths=widths_from_ratios("resnet20", a)))
    n_b = n_params(create("resnet20", widths=widths_from_ratios("resnet20", b)))
    assert round(n_a / 1e6, 3) == 5.731 and round(n_b / 1e6, 3) == 3.467
