"""Model zoo: registry, forward contract, config round-trip, building blocks."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spikelite.core import LIF, TimeDistributed, reset_states
from spikelite.errors import SpikeliteError
from spikelite.models import (
    TCJA,
    BasicBlock,
    PadShortcut,
    SpikingSequential,
    TimeDropout,
    Vote,
    create,
    default_widths,
    list_models,
    widths_from_ratios,
)

# Tiny builds of every registered model: (kwargs, input_shape, T).
TINY: dict[str, tuple[dict, tuple[int, ...], int]] = {
    "mlp": ({"input_shape": (2, 6, 6), "hidden": (8, 8)}, (2, 6, 6), 2),
    "csnn": ({"input_size": 8, "widths": [4, 4]}, (2, 8, 8), 2),
    "vgg16": ({"widths": [4] * 13}, (3, 32, 32), 2),
    "vggsnn": ({"widths": [4] * 8, "input_size": 16}, (2, 16, 16), 2),
    "resnet20": ({"widths": [4] * 19, "input_size": 8}, (3, 8, 8), 2),
    "tcja-dvsgesture": (
        {"time_steps": 2, "input_size": 32, "widths": [4] * 5, "fc_hidden": 8},
        (2, 32, 32),
        2,
    ),
}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_all_models_listed() -> None:
    assert set(list_models()) == set(TINY)
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward_contract(name: str) -> None:
    kw, shape, T = TINY[name]
    torch.manual_seed(0)
    model = create(name, **kw)
    assert isinstance(model, SpikingSequential)
    assert model.input_shape == shape
    x = torch.rand(T, 3, *shape)
    y = model(x)
    assert y.shape == (T, 3, model.num_classes)
    assert y.dtype == torch.float32
    y.float().mean().backward()
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert convs and all(m.weight.grad is not None for m in convs)
    assert any(float(m.weight.grad.abs().sum()) > 0 for m in convs)


@pytest.mark.parametrize("name", sorted(TINY))
def test_config_round_trip(name: str) -> None:
    kw, _, _ = TINY[name]
    model = create(name, **kw)
    cfg = model.spikelite_config
    assert cfg["name"] == name
    restored = json.loads(json.dumps(cfg))
    assert restored == cfg
    twin = create(**restored)
    assert n_params(twin) == n_params(model)
    assert twin.spikelite_config == cfg
    assert n_params(create(cfg["name"], **cfg["kwargs"])) == n_params(model)
    assert [type(m).__name__ for m in twin.modules()] == [type(m).__name__ for m in model.modules()]


def test_unknown_model_lists_names() -> None:
    with pytest.raises(SpikeliteError, match="unknown model 'vgg17'") as err:
        create("vgg17")
    for name in list_models():
        assert name in str(err.value)


def test_bad_kwarg_names_model_and_parameters() -> None:
    with pytest.raises(SpikeliteError, match="model 'vgg16' has no parameter") as err:
        create("vgg16", num_clases=10)
    msg = str(err.value)
    assert "num_clases" in msg and "num_classes" in msg and "widths" in msg


def test_bad_values_raise() -> None:
    with pytest.raises(SpikeliteError, match="13 widths"):
        create("vgg16", widths=[64] * 12)
    with pytest.raises(SpikeliteError, match="positive int"):
        create("csnn", widths=[16, 0])
    with pytest.raises(SpikeliteError, match="too small"):
        create("vgg16", input_size=16)
    with pytest.raises(SpikeliteError, match="shortcut"):
        create("resnet20", shortcut="B")
    with pytest.raises(SpikeliteError, match="beta must lie"):
        create("csnn", neuron_kw={"beta": 2.0})
    with pytest.raises(SpikeliteError, match="unknown neuron"):
        create("csnn", neuron="izhikevich")
    with pytest.raises(SpikeliteError, match="JSON"):
        create("mlp", neuron_kw={"threshold": torch.tensor(1.0)})
    with pytest.raises(SpikeliteError, match="hidden or widths"):
        create("mlp", hidden=[8], widths=[16])


def test_input_shape_and_time_checks() -> None:
    kw, shape, _ = TINY["csnn"]
    model = create("csnn", **kw)
    with pytest.raises(SpikeliteError, match=r"\[T, B, 2, 8, 8\]"):
        model(torch.rand(2, 1, 2, 9, 9))
    kw, shape, _ = TINY["tcja-dvsgesture"]
    tcja = create("tcja-dvsgesture", **kw)
    with pytest.raises(SpikeliteError, match="time_steps=2"):
        tcja(torch.rand(3, 1, *shape))


def test_each_forward_starts_from_rest_unless_streaming() -> None:
    kw, shape, _ = TINY["csnn"]
    torch.manual_seed(0)
    model = create("csnn", **kw).eval()
    x = torch.rand(3, 2, *shape) * 4
    with torch.no_grad():
        a, b = model(x), model(x)
        assert torch.equal(a, b)
        model.streaming = True  # chunks of one stream continue from the stored membranes
        reset_states(model)
        chunked = torch.cat([model(x[:1]), model(x[1:])])
    assert torch.allclose(chunked, a)


def test_neuron_defaults_and_overrides() -> None:
    vgg = create("vgg16", widths=[4] * 13)
    lif = vgg.lif1
    assert isinstance(lif, LIF) and lif.form == "beta" and float(lif.leak) == 0.5
    assert lif.surrogate.name == "triangle" and lif.surrogate.width == 1.0
    assert lif.reset_mode == "zero" and float(lif.threshold) == 1.0
    tcja = create("tcja-dvsgesture", **TINY["tcja-dvsgesture"][0])
    assert tcja.lif1.form == "tau" and float(tcja.lif1.leak) == 2.0
    assert tcja.lif1.surrogate.name == "atan" and tcja.lif1.detach_reset
    demo = create("csnn")
    assert float(demo.lif1.leak) == pytest.approx(0.9) and demo.lif1.surrogate.name == "atan"
    # overrides: tau replaces the default beta; IF drops the leak; learn_leak is per channel
    assert create("vgg16", widths=[4] * 13, neuron_kw={"tau": 3.0}).lif2.form == "tau"
    assert float(create("csnn", neuron="if").lif1.beta) == 1.0
    learned = create("csnn", neuron_kw={"learn_leak": True})
    assert isinstance(learned.lif2.leak, nn.Parameter) and learned.lif2.leak.shape == (32,)


def test_structure_is_walkable() -> None:
    vgg = create("vgg16", widths=[4] * 13)
    names = [n for n, _ in vgg.named_children()]
    assert names[:4] == ["conv1", "bn1", "lif1", "conv2"]
    assert [n for n in names if n.startswith("pool")] == ["pool2", "pool4", "pool7", "pool10"]
    assert names[-3:] == ["avgpool", "flatten", "fc"]
    assert isinstance(vgg.conv1, TimeDistributed) and isinstance(vgg.conv1.module, nn.Conv2d)
    assert vgg.conv1.module.bias is not None and vgg.conv2.module.bias is None
    resnet = create("resnet20", **TINY["resnet20"][0])
    block = resnet.layer2[0]
    assert isinstance(block, BasicBlock)
    assert [n for n, _ in block.named_children()] == [
        "conv1",
        "bn1",
        "lif1",
        "conv2",
        "bn2",
        "shortcut",
        "lif2",
    ]
    assert isinstance(block.shortcut, PadShortcut) and block.shortcut.stride == 2
    assert "layer3.2.conv2.module" in dict(resnet.named_modules())
    conv_b = create("resnet20", widths=[4] * 7 + [8] * 12, input_size=8, shortcut="conv")
    assert isinstance(conv_b.layer2[0].shortcut.conv.module, nn.Conv2d)
    assert isinstance(conv_b.layer2[1].shortcut, nn.Identity)


def test_pad_shortcut() -> None:
    x = torch.rand(2, 3, 4, 8, 8)
    y = PadShortcut(4, 8, stride=2)(x)
    assert y.shape == (2, 3, 8, 4, 4)
    assert torch.equal(y[:, :, 2:6], x[..., ::2, ::2])
    assert y[:, :, :2].abs().sum() == 0 and y[:, :, 6:].abs().sum() == 0
    assert PadShortcut(4, 4)(x) is x
    assert torch.equal(PadShortcut(4, 2)(x), x[:, :, 1:3])  # crop when channels shrink


def test_tcja_same_padding_is_one_before_two_after() -> None:
    att = TCJA(time_steps=3, channels=5, kernel_size=4)
    z = torch.rand(3, 2, 5)
    with torch.no_grad():
        att.conv_channel.weight.zero_()
        att.conv_time.weight.zero_()
        for t in range(3):
            att.conv_channel.weight[t, t, 0] = 1.0  # tap 0 reads index i − 1
        for c in range(5):
            att.conv_time.weight[c, c, 3] = 1.0  # tap 3 reads index i + 2
    x = z[..., None, None].expand(3, 2, 5, 2, 2).clone()
    shift_c = torch.nn.functional.pad(z, (1, 0))[..., :5]  # z[t, b, c − 1]
    shift_t = torch.nn.functional.pad(z, (0, 0, 0, 0, 0, 2))[2:]  # z[t + 2, b, c]
    expected = x * torch.sigmoid(shift_c * shift_t)[..., None, None]
    assert torch.allclose(att(x), expected)


def test_vote_and_time_dropout() -> None:
    x = torch.arange(2 * 3 * 20, dtype=torch.float32).reshape(2, 3, 20)
    assert torch.equal(Vote(10)(x), x.reshape(2, 3, 2, 10).mean(-1))
    torch.manual_seed(0)
    ones = torch.ones(4, 8, 500)
    drop = TimeDropout(0.5)  # per step, no rescale
    y = drop(ones)
    assert set(y.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(y[0], y[1])
    assert abs(float(y.mean()) - 0.5) < 0.02
    shared = TimeDropout(0.5, per_step=False, rescale=True)(ones)
    assert torch.equal(shared[0], shared[3]) and set(shared.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(drop.eval()(ones), ones)
    with pytest.raises(SpikeliteError):
        TimeDropout(1.0)


def test_widths_helpers() -> None:
    assert default_widths("vgg16") == [64, 64, 128, 128, 256, 256, 256] + [512] * 6
    assert default_widths("resnet20") == [64] + [128] * 6 + [256] * 6 + [512] * 6
    assert widths_from_ratios("csnn", 0.5) == [8, 16]
    with pytest.raises(SpikeliteError, match="8 convs"):
        widths_from_ratios("vggsnn", [0.5] * 7)
    with pytest.raises(SpikeliteError, match=r"\[0, 1\)"):
        widths_from_ratios("csnn", [0.5, 1.0])
    with pytest.raises(SpikeliteError, match="no per-layer widths"):
        default_widths("mlp")
