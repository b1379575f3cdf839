"""Channel surgery keeps the network function exactly when the removed channels are silent
(zero weights) — plain conv stacks, conv→pool→flatten→linear, residual nets, quantized
and masked layers — and yields a plain smaller model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.models import PadShortcut, create
from spikelite.prune import WeightMask, apply_mask_
from spikelite.prune.channels import ChannelPlan, apply_channel_plan_, plan_channel_pruning
from spikelite.prune.graph import trace_channels
from spikelite.prune.surgery import IndexShortcut, expand_index
from spikelite.quant import fake_quant_of, quant_spec, quantize_, synaptic_layers


def latent(m: nn.Module) -> torch.Tensor:
    plist = getattr(m, "parametrizations", None)
    return plist.weight.original if plist is not None else m.weight


def randomize_(model: nn.Module, seed: int = 0, thresholds: bool = True) -> nn.Module:
    """Non-trivial BN statistics/affine and per-channel neuron parameters; synaptic
    weights on a 1/64 grid, so that sums of spikes × weights are exact in float32 whatever
    the summation order (a smaller layer sums in another order)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                latent(m).copy_(torch.round(latent(m) * 64) / 64)
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean = torch.randn(c, generator=g) * 0.1
            m.running_var = torch.rand(c, generator=g) + 0.5
            m.weight.data = torch.rand(c, generator=g) + 0.5
            m.bias.data = torch.randn(c, generator=g) * 0.2
        if isinstance(m, LIF) and m.leak.dim() == 1:
            c = m.leak.numel()
            m.leak.data = torch.rand(c, generator=g) * 0.8 + 0.1
            if thresholds:  # (a model with these no longer rebuilds from its config)
                m.threshold = torch.rand(c, generator=g) * 0.5 + 0.5
    return model.eval()


def silence_(model: nn.Module, plan: ChannelPlan) -> None:
    """Zero the weights producing every removed channel (conv filter and BN affine), so
    the channel never spikes and contributes nothing downstream."""
    graph = trace_channels(model)
    with torch.no_grad():
        for lp in plan.layers:
            rm = list(lp.removed)
            if not rm:
                continue
            conv = graph.convs[lp.layer]
            latent(conv)[rm] = 0
            if conv.bias is not None:
                conv.bias[rm] = 0
            for name in graph.spaces[graph.space_of[lp.layer]].carriers:
                m = graph.modules[name]
                if isinstance(m, nn.BatchNorm2d):
                    m.weight[rm] = 0
                    m.bias[rm] = 0


def scores_removing(model: nn.Module, removed: dict[str, set[int]]) -> dict[str, torch.Tensor]:
    """Scores that make the planner remove exactly ``removed`` (1 = keep, 0 = remove)."""
    graph = trace_channels(model)
    out = {}
    for c, conv in graph.convs.items():
        s = torch.ones(conv.out_channels)
        s[sorted(removed.get(c, ()))] = 0
        out[c] = s
    return out


def prune_and_compare(model, ratios, removed, x, *, shortcut="exact", keep_last=True,
                      thresholds=False):
    randomize_(model, thresholds=thresholds)
    plan = plan_channel_pruning(model, ratios, "l1", scores=scores_removing(model, removed),
                                keep_last=keep_last)
    for layer, rm in removed.items():
        assert set(plan[layer].removed) == rm, layer
    silence_(model, plan)
    with torch.no_grad():
        before = model(x)
    report = apply_channel_plan_(model, plan, shortcut=shortcut)
    with torch.no_grad():
        after = model(x)
    return before, after, report


def spikes(shape, seed=1, p=0.5):
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def test_conv_stack_and_conv_to_linear_exact():
    model = create("csnn", neuron_kw={"learn_leak": True}, input_size=12)
    removed = {"conv1": {0, 5, 9, 15}, "conv2": set(range(0, 32, 2))}
    ratios = {"conv1": 0.25, "conv2": 0.5}
    x = spikes((4, 3, 2, 12, 12))
    before, after, report = prune_and_compare(model, ratios, removed, x, keep_last=False,
                                              thresholds=True)
    assert torch.equal(before, after) and before.abs().sum() > 0
    assert model.conv1.module.weight.shape == (12, 2, 3, 3)
    assert model.conv2.module.weight.shape == (16, 12, 3, 3)
    assert model.bn1.module.running_mean.shape == (12,) and model.lif1.leak.shape == (12,)
    assert model.lif2.threshold.shape == (16,)
    assert model.fc.module.weight.shape == (10, 16 * 3 * 3)  # flatten expands over 3×3
    assert report.widths == (12, 16)
    assert not report.rebuildable  # its per-channel thresholds were set outside the config
    assert report.params_after < report.params_before


def test_consumer_zero_weights_exact():
    """Removed channels may spike freely when the next layer ignores them."""
    model = randomize_(create("csnn", input_size=8))
    plan = plan_channel_pruning(model, {"conv1": 0.5}, "random")
    with torch.no_grad():
        model.conv2.module.weight[:, list(plan["conv1"].removed)] = 0
        x = spikes((3, 2, 2, 8, 8))
        before = model(x)
        apply_channel_plan_(model, plan)
        assert torch.equal(before, model(x))


def test_vgg_avgpool_flatten_linear_exact():
    widths = [8, 8, 16, 16, 16, 16, 16, 32]
    model = create("vggsnn", widths=widths, input_size=16, neuron_kw={"learn_leak": True})
    removed = {f"conv{i}": set(range(1, w, 4)) for i, w in enumerate(widths[:-1], start=1)}
    ratios = dict.fromkeys(removed, 0.25)
    before, after, report = prune_and_compare(model, ratios, removed, spikes((2, 2, 2, 16, 16)))
    assert torch.equal(before, after)
    assert report.widths == (6, 6, 12, 12, 12, 12, 12, 32) and report.rebuildable


def _resnet(shortcut: str = "pad") -> nn.Module:
    widths = [4, *[8] * 6, *[16] * 6, *[32] * 6]
    return create("resnet20", widths=widths, input_size=8, shortcut=shortcut,
                  neuron_kw={"learn_leak": True})


STREAM1 = ("layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2")
STREAM2 = ("layer2.0.conv2", "layer2.1.conv2", "layer2.2.conv2")


def test_residual_exact_with_index_shortcuts():
    model = _resnet()
    # stream channel p = off + j may only go if its shortcut source j went too
    removed = {"conv0": {1}, **{key: {3, 7} for key in STREAM1},
               **{key: {7, 11, 13, 15} for key in STREAM2},
               "layer1.1.conv1": {2, 5}, "layer3.0.conv1": set(range(16))}
    sizes = {"conv0": 4, "layer1": 8, "layer2": 16, "layer3": 32}
    ratios = {k: len(v) / sizes[k.split(".")[0]] for k, v in removed.items()}
    x = spikes((3, 2, 3, 8, 8))
    before, after, report = prune_and_compare(model, ratios, removed, x, thresholds=True)
    assert torch.equal(before, after) and before.abs().sum() > 0
    sc = model.layer1[0].shortcut
    assert isinstance(sc, IndexShortcut)
    assert sc.index.tolist() == [2, 3, 4]  # sources j = 0, 2, 3 → positions 2, 4, 5 → new
    assert model.layer2[0].shortcut.index.tolist() == [4, 5, 6, 7, 8, 9]
    assert isinstance(model.layer3[0].shortcut, IndexShortcut)
    assert not report.rebuildable and len(report.shortcuts) == 3
    assert model.layer1[1].shortcut.in_channels == 6  # identity shortcut inside the stream
    # trains: a backward pass reaches every parameter
    model.train()
    model(x).sum().backward()
    assert model.layer2[0].conv2.module.weight.grad.shape == (12, 16, 3, 3)


def test_residual_even_padding_stays_zoo_layout():
    model = _resnet()
    removed = {key: {0, 7} for key in STREAM1}  # one each side of the padded region [2, 6)
    before, after, report = prune_and_compare(model, dict.fromkeys(STREAM1, 0.25), removed,
                                              spikes((2, 2, 3, 8, 8)))
    assert torch.equal(before, after)
    sc = model.layer1[0].shortcut
    assert type(sc) is PadShortcut and (sc.in_channels, sc.out_channels) == (4, 6)
    assert report.rebuildable and report.shortcuts == ()


def test_residual_zoo_mode_is_rebuildable():
    model = _resnet()
    removed = {"conv0": {1}, **{key: {3, 7} for key in STREAM1}}
    ratios = {"conv0": 0.25, **dict.fromkeys(STREAM1, 0.25)}
    _, _, report = prune_and_compare(model, ratios, removed, spikes((2, 1, 3, 8, 8)),
                                     shortcut="zoo")
    assert report.rebuildable and "identity path changed" in report.shortcuts[0]
    assert all(type(b.shortcut) is PadShortcut for b in model.layer1)


def test_residual_option_b_conv_shortcut_exact():
    model = _resnet("conv")
    removed = {"conv0": {0, 3}, **{key: {1, 2, 3, 6} for key in STREAM1},
               **{key: set(range(8)) for key in STREAM2}}
    ratios = {"conv0": 0.5, **dict.fromkeys(STREAM1, 0.5), **dict.fromkeys(STREAM2, 0.5)}
    before, after, report = prune_and_compare(model, ratios, removed, spikes((2, 2, 3, 8, 8)))
    assert torch.equal(before, after)
    assert model.layer2[0].shortcut.conv.module.weight.shape == (8, 4, 1, 1)
    assert report.rebuildable


@pytest.mark.parametrize(("scheme", "opts"), [("symmetric", {"per_channel": True}),
                                                ("duq", {})])
def test_quantized_and_masked_layers_exact(scheme, opts):
    model = create("csnn", input_size=8)
    randomize_(model)
    quantize_(model, scheme, 2, **opts)  # 2 bits: quantized weights on a dyadic grid
    for _, m in synaptic_layers(model):
        if scheme == "duq":
            fake_quant_of(m).a.data.fill_(0.25)
            fake_quant_of(m).c.data.fill_(0.5)
    apply_mask_(model.conv2.module, torch.rand(32, 16, 3, 3) > 0.3)
    spec = quant_spec(model)
    before, after, _ = prune_and_compare(
        model, {"conv1": 0.5, "conv2": 0.125}, {"conv1": set(range(8)), "conv2": {0, 1, 30, 31}},
        spikes((3, 2, 2, 8, 8)), keep_last=False)
    assert torch.equal(before, after)
    conv2 = model.conv2.module
    assert conv2.parametrizations.weight.original.shape == (28, 8, 3, 3)
    assert conv2.weight.shape == (28, 8, 3, 3)
    assert next(p for p in conv2.parametrizations.weight if isinstance(p, WeightMask)).mask.shape \
        == (28, 8, 3, 3)
    assert fake_quant_of(conv2) is not None and quant_spec(model) == spec


def test_rescaw_is_resliced_and_recomputes_gamma():
    model = create("csnn", input_size=8)
    quantize_(model, "rescaw", 2)
    apply_channel_plan_(model, plan_channel_pruning(model, {"conv1": 0.5}, "l1"))
    assert model.conv1.module.weight.shape == (8, 2, 3, 3)
    assert model(spikes((2, 1, 2, 8, 8))).shape == (2, 1, 10)


def test_neuron_state_is_sliced():
    model = create("csnn", input_size=8)
    model.streaming = True
    model(spikes((2, 3, 2, 8, 8)))
    apply_channel_plan_(model, plan_channel_pruning(model, {"conv1": 0.25}, "l1"))
    assert model.lif1.mem.shape == (3, 12, 8, 8)


def test_unknown_parametrization_is_refused():
    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    model = create("csnn", input_size=8)
    torch.nn.utils.parametrize.register_parametrization(model.conv2.module, "weight", Double())
    plan = plan_channel_pruning(model, {"conv1": 0.5}, "l1")
    with pytest.raises(SpikeliteError, match="parametrized by Double"):
        apply_channel_plan_(model, plan)


def test_plain_sequential_and_expand_index():
    model = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 6, 3, padding=1)), TimeDistributed(nn.BatchNorm2d(6)),
        LIF(), TimeDistributed(nn.MaxPool2d(2)), Flatten(), TimeDistributed(nn.Linear(6 * 4, 3)),
    )
    report = apply_channel_plan_(model, plan_channel_pruning(model, 0.5, "l1", keep_last=False))
    assert model[5].module.in_features == 12 and report.widths is None
    assert expand_index(torch.tensor([0, 2]), 3, 6).tolist() == [0, 1, 4, 5]
    with pytest.raises(SpikeliteError, match="equal size"):
        expand_index(torch.tensor([0]), 4, 6)


def test_second_round_on_index_shortcut():
    model = _resnet()
    removed = {"conv0": {1}, **{key: {3, 7} for key in STREAM1}}
    ratios = {"conv0": 0.25, **dict.fromkeys(STREAM1, 0.25)}
    prune_and_compare(model, ratios, removed, spikes((2, 1, 3, 8, 8)))
    assert model.layer1[0].shortcut.index.tolist() == [2, 3, 4]
    before, after, report = prune_and_compare(model, dict.fromkeys(STREAM1, 0.5),
                                              {key: {0, 1, 5} for key in STREAM1},
                                              spikes((2, 1, 3, 8, 8)))
    assert torch.equal(before, after)
    sc = model.layer1[0].shortcut  # now the plain even padding again: 3 → 3 identity
    assert type(sc) is PadShortcut and sc.out_channels == 3
    assert [n.split(":")[0] for n in report.shortcuts] == ["layer2.0.shortcut"]
