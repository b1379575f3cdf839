"""Channel-pruning API: QP-SNN's Table 9/11 model sizes after surgery, kept-count
rounding, stable ties, ratio validation and refusals, the zoo config and checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spikelite.errors import SpikeliteError
from spikelite.models import create, widths_from_ratios
from spikelite.prune.channels import (
    ChannelPlan,
    apply_channel_plan_,
    kept_count,
    plan_channel_pruning,
    prune_channels_,
    select_channels,
)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(("r1", "r2", "millions"), [(0.45, 0.51, 4.2461), (0.49, 0.80, 1.4193)])
def test_vgg16_table9_sizes_after_surgery(r1, r2, millions):
    """Table 9 (CIFAR-10): r1 on convs 1–7, r2 on convs 8–12, conv 13 whole (papers.md §1.14)."""
    model = create("vgg16")
    ratios = {f"conv{i}": r1 for i in range(1, 8)} | {f"conv{i}": r2 for i in range(8, 13)}
    report = apply_channel_plan_(model, plan_channel_pruning(model, ratios, "l1"))
    assert round(n_params(model) / 1e6, 4) == millions == round(report.params_after / 1e6, 4)
    assert list(report.widths) == widths_from_ratios("vgg16", [r1] * 7 + [r2] * 5 + [0.0])
    assert report.rebuildable
    assert model(torch.zeros(1, 1, 3, 32, 32)).shape == (1, 1, 10)


@pytest.mark.parametrize(("r1", "r2", "millions"),
                         [(0.5, 0.7, 1.4600), (0.5, 0.8, 0.9039), (0.82, 0.93, 0.2552)])
def test_vggsnn_table11_sizes_after_surgery(r1, r2, millions):
    """Table 11 settings a, b, c: layers 1, 2, 4 = convs 1–3, layers 5, 7, 8, 10 = convs 4–7;
    the last conv whole (by ``keep_last``, from one ratio per group)."""
    model = create("vggsnn")
    ratios = {f"conv{i}": r1 for i in range(1, 4)} | {f"conv{i}": r2 for i in range(4, 8)}
    prune_channels_(model, ratios, "random")
    assert round(n_params(model) / 1e6, 4) == millions
    assert model.spikelite_config["kwargs"]["widths"] == widths_from_ratios(
        "vggsnn", [r1] * 3 + [r2] * 4 + [0.0])


def test_kept_count_rounding():
    assert kept_count(64, 0.45) == 35 and kept_count(512, 0.8) == 102  # ⌊n(1−r)⌋
    assert kept_count(64, 0.49) == 32 and kept_count(64, 0.49, "round_removed") == 33
    assert kept_count(10, 0.25, "round_removed") == 7  # ⌊2.5 + ½⌋ = 3 removed
    assert kept_count(4, 0.99) == 1  # never empty
    with pytest.raises(SpikeliteError, match=r"in \[0, 1\)"):
        kept_count(8, 1.0)
    with pytest.raises(SpikeliteError, match="rounding"):
        kept_count(8, 0.5, "ceil")


def test_ties_keep_the_lower_index():
    s = torch.tensor([1.0, 2.0, 2.0, 1.0, 2.0, 0.0])
    assert select_channels(s, 2).tolist() == [1, 2]
    assert select_channels(s, 4).tolist() == [0, 1, 2, 4]
    assert select_channels(torch.zeros(5), 3).tolist() == [0, 1, 2]


def test_plan_float_ratio_keeps_last_conv_and_records_everything():
    model = create("csnn", input_size=8)
    scores = {"conv1": torch.arange(16.0).flip(0), "conv2.module": torch.arange(32.0)}
    plan = plan_channel_pruning(model, 0.5, "svs", scores=scores)
    assert plan["conv1"].keep == tuple(range(8)) and plan["conv1"].ratio == 0.5
    assert plan["conv2"].kept == 32 and plan["conv2"].ratio == 0.0  # last conv: whole
    assert plan.criterion == "svs" and plan.rounding == "floor"
    record = json.loads(json.dumps(plan.to_dict()))
    assert record["layers"][0]["keep"] == list(range(8))
    assert isinstance(plan, ChannelPlan) and model.conv1.module.out_channels == 16  # unchanged
    full = plan_channel_pruning(model, 0.5, "svs", scores=scores, keep_last=False)
    assert full["conv2"].keep == tuple(range(16, 32))


def test_ratio_errors_name_the_layer():
    model = create("csnn", input_size=8)
    with pytest.raises(SpikeliteError, match="unknown conv 'conv9'"):
        plan_channel_pruning(model, {"conv9": 0.5}, "l1")
    with pytest.raises(SpikeliteError, match="'conv2' is the last conv"):
        plan_channel_pruning(model, {"conv2": 0.5}, "l1")
    with pytest.raises(SpikeliteError, match=r"\[0, 1\)"):
        plan_channel_pruning(model, {"conv1": 1.5}, "l1")
    resnet = create("resnet20", widths=[4, *[8] * 6, *[16] * 6, *[32] * 6], input_size=8)
    with pytest.raises(SpikeliteError, match="same residual sum"):
        plan_channel_pruning(resnet, {"layer1.0.conv2": 0.5, "layer1.1.conv2": 0.25}, "l1")


def test_tcja_attention_is_refused():
    model = create("tcja-dvsgesture", widths=[4] * 5, input_size=32, time_steps=2)
    with pytest.raises(SpikeliteError, match="'conv4'.*tcja4.*attention mixes channels"):
        plan_channel_pruning(model, 0.5, "l1")
    plan = plan_channel_pruning(model, {"conv1": 0.5}, "l1")  # before any attention: fine
    apply_channel_plan_(model, plan)
    assert model(torch.zeros(2, 1, 2, 32, 32)).shape == (2, 1, 11)


def test_table10_resnet20_ratios_prune_consistently():
    """Table 10 config a: stage conv2 ratios agree within each residual sum; layer3's
    conv2 group holds the last conv and stays whole. Sizes as the zoo's widths_from_ratios
    (5.731 M with option A; the paper's 6.22 M does not reproduce, papers.md §1.14)."""
    model = create("resnet20", num_classes=10)
    ratios = {"conv0": 0.1}
    for s, (r1, r2) in enumerate([(0.3, 0.3), (0.6, 0.6), (0.6, 0.0)], start=1):
        for b in range(3):
            ratios[f"layer{s}.{b}.conv1"] = 0.6 if s == 1 and b > 0 else r1
            ratios[f"layer{s}.{b}.conv2"] = r2
    plan = plan_channel_pruning(model, ratios, "l1")
    report = apply_channel_plan_(model, plan, shortcut="zoo")
    a = [0.1, 0.3, 0.3] + [0.6, 0.3] * 2 + [0.6, 0.6] * 3 + [0.6, 0.0] * 3
    assert list(report.widths) == widths_from_ratios("resnet20", a)
    assert round(n_params(model) / 1e6, 3) == 5.731 and report.rebuildable


def test_checkpoint_of_pruned_model_rebuilds(tmp_path):
    from spikelite.train import load_model, save_checkpoint

    model = create("csnn", input_size=8)
    prune_channels_(model, {"conv1": 0.25}, "l1")
    save_checkpoint(tmp_path / "ck", model, {"model": model.spikelite_config})
    loaded, _ = load_model(tmp_path / "ck")
    x = torch.rand(3, 2, 2, 8, 8).round()
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model.eval()(x))
    assert loaded.conv1.module.out_channels == 12


def test_svs_end_to_end_and_plan_mismatch():
    torch.manual_seed(0)
    model = create("csnn", input_size=8)
    data = [((torch.rand(4, 3, 2, 8, 8) < 0.3).float(), None) for _ in range(2)]
    out = prune_channels_(model, 0.5, "svs", data, batches=2, rounding="round_removed")
    assert out is model and model.conv1.module.out_channels == 8
    stale = plan_channel_pruning(create("csnn", input_size=8), 0.5, "l1")
    with pytest.raises(SpikeliteError, match="plan again"):
        apply_channel_plan_(model, stale)
    with pytest.raises(SpikeliteError, match="shortcut must be"):
        apply_channel_plan_(model, stale, shortcut="pad")


def test_untraceable_models_are_refused_by_name():
    from spikelite.core import LIF, TimeDistributed

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = TimeDistributed(nn.Conv2d(2, 4, 3))
            self.lif = LIF()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lif(self.conv(x))

    with pytest.raises(SpikeliteError, match="convs sit inside Net, which channel surgery"):
        plan_channel_pruning(Net(), 0.5, "l1")
    tcja = create("tcja-dvsgesture", widths=[4] * 5, input_size=32, time_steps=2)
    with pytest.raises(SpikeliteError, match="'tcja4.conv_time' sits inside 'tcja4'"):
        plan_channel_pruning(tcja, {"tcja4.conv_time": 0.5}, "l1")


def test_checkpoint_of_pruned_resnet_keeps_its_shortcut_maps(tmp_path):
    """Exact surgery re-maps option-A shortcuts (IndexShortcut, an ``index`` buffer); the
    zoo rebuilds even padding, so load_model puts the stored maps back (a sweep's pruned
    ResNet20 checkpoint used to fail to load with 'Unexpected key(s) … shortcut.index')."""
    from spikelite.prune.surgery import IndexShortcut
    from spikelite.train import load_model, save_checkpoint

    torch.manual_seed(0)
    model = create("resnet20", widths=[4, *[8] * 6, *[16] * 6, *[32] * 6], input_size=8)
    ratios = {f"layer{s}.{b}.conv2": 0.5 for s in (1, 2) for b in range(3)}
    apply_channel_plan_(model, plan_channel_pruning(model, ratios, "l1"))
    assert isinstance(model.layer1[0].shortcut, IndexShortcut)
    save_checkpoint(tmp_path / "ck", model, {"model": model.spikelite_config})
    loaded, _ = load_model(tmp_path / "ck")
    assert isinstance(loaded.layer1[0].shortcut, IndexShortcut)
    assert torch.equal(loaded.layer1[0].shortcut.index, model.layer1[0].shortcut.index)
    x = torch.rand(2, 3, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model.eval()(x))
