"""quantize_, calibrate_, bake: layer selection, overrides, masks, exact round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.models import create
from spikelite.prune import WeightMask, apply_mask_
from spikelite.quant import (
    FakeQuant,
    bake,
    calibrate_,
    dequantize_,
    fake_quant_of,
    quant_spec,
    quantize_,
    quantize_state_,
    synaptic_layers,
)

SCHEMES = [("uniform", 4), ("rescaw", 4), ("duq", 2), ("symmetric", 8), ("ternary", 2),
           ("binary", 1), ("lsq", 4)]


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), TimeDistributed(nn.BatchNorm2d(4)),
        LIF(beta=0.5), Flatten(), TimeDistributed(nn.Linear(4 * 6 * 6, 8)), LIF(beta=0.5),
        TimeDistributed(nn.Linear(8, 3)),
    )


def _x() -> torch.Tensor:
    return (torch.rand(3, 2, 2, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()


def test_quantizes_every_synaptic_layer_by_default():
    model = quantize_(_net(), "duq", 2)
    names = [n for n, _ in synaptic_layers(model)]
    assert names == ["0.module", "4.module", "6.module"]
    assert all(fake_quant_of(m) is not None for _, m in synaptic_layers(model))
    bn = model[1].module
    assert not parametrize.is_parametrized(bn)


def test_skip_first_and_last_like_qpsnn():
    model = quantize_(_net(), "rescaw", 4, skip_first=True, skip_last=True)
    got = {n: fake_quant_of(m) is not None for n, m in synaptic_layers(model)}
    assert got == {"0.module": False, "4.module": True, "6.module": False}


def test_per_layer_overrides():
    model = quantize_(_net(), "uniform", 8,
                      overrides={"0.module": None, "4.module": 2,
                                 "6.module": {"scheme": "duq", "bits": 3}})
    spec = quant_spec(model)
    assert "0.module" not in spec
    assert spec["4.module"]["scheme"] == "uniform" and spec["4.module"]["bits"] == 2
    assert spec["6.module"]["scheme"] == "duq" and spec["6.module"]["bits"] == 3


def test_unknown_override_and_double_quantization_are_errors():
    with pytest.raises(SpikeliteError, match="unknown layers \\['conv9'\\]"):
        quantize_(_net(), overrides={"conv9": 4})
    model = quantize_(_net(), "uniform", 4)
    with pytest.raises(SpikeliteError, match="already quantized"):
        quantize_(model, "uniform", 4)
    dequantize_(model)
    assert not quant_spec(model)
    quantize_(model, "duq", 2)


@pytest.mark.parametrize("scheme,bits", SCHEMES)
def test_bake_reproduces_fake_quant_forward_exactly(scheme, bits):
    model = quantize_(_net(), scheme, bits)
    model.eval()
    with torch.no_grad():
        ref = model(_x())
    plain, side = bake(model)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    for name, module in synaptic_layers(plain):
        lq = side[name]
        assert lq.scheme == scheme and lq.bits == bits
        assert lq.codes is not None and lq.codes.dtype == torch.int32
        assert torch.equal(lq.dequantize(), module.weight)
        assert lq.codes.unique().numel() <= lq.levels
    plain.eval()
    with torch.no_grad():
        assert torch.equal(plain(_x()), ref)
    assert quant_spec(model)  # the source model is untouched


@pytest.mark.parametrize("order", ["mask_after_quant", "mask_before_quant"])
def test_mask_composes_with_quantizer_in_either_order(order):
    model = _net()
    layer = model[4].module
    mask = torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(2)) > 0.5
    if order == "mask_after_quant":  # Schaefer et al.: mask ⊙ Q(W)
        quantize_(model, "uniform", 2, overrides={"0.module": None, "6.module": None})
        apply_mask_(layer, mask)
        expect = fake_quant_of(layer)(layer.parametrizations.weight.original) * mask
    else:  # Q(mask ⊙ W)
        apply_mask_(layer, mask)
        quantize_(model, "uniform", 2, overrides={"0.module": None, "6.module": None})
        expect = fake_quant_of(layer)(layer.parametrizations.weight.original * mask)
    torch.testing.assert_close(layer.weight, expect, rtol=0, atol=0)
    plain, side = bake(model)
    lq = side["4.module"]
    assert lq.mask_order == ("after_quant" if order == "mask_after_quant" else "before_quant")
    assert torch.equal(lq.mask, mask)
    assert torch.equal(lq.dequantize(), plain[4].module.weight)
    if order == "mask_after_quant":
        assert (plain[4].module.weight[~mask] == 0).all()
    else:  # QP-SNN's uniform grid has no zero: Q(0) = ±1/3 at 2 bits, so pruned ≠ 0
        assert (plain[4].module.weight[~mask] != 0).all()


def test_masked_weights_get_no_gradient_through_quantizer():
    model = _net()
    layer = model[4].module
    mask = torch.zeros_like(layer.weight, dtype=torch.bool)
    mask[:, :10] = True
    quantize_(model, "duq", 4)
    apply_mask_(layer, mask)
    model(_x()).sum().backward()
    g = layer.parametrizations.weight.original.grad
    assert g is not None and (g[~mask] == 0).all() and g[mask].abs().sum() > 0


def test_unquantized_sidecars_are_fp32_with_masks():
    model = _net()
    mask = torch.ones_like(model[6].module.weight, dtype=torch.bool)
    mask[0] = False
    apply_mask_(model[6].module, mask)
    _, side = bake(model)
    assert side["0.module"].bits == 32 and side["0.module"].codes is None
    assert side["6.module"].mask is not None
    assert side["6.module"].nonzero(model[6].module.weight) == int(mask.sum())


def test_learnable_quantizer_parameters_are_trained():
    model = quantize_(_net(), "duq", 3)
    fq = fake_quant_of(model[4].module)
    names = {n for n, _ in model.named_parameters()}
    assert any(n.endswith(".a") for n in names) and any(n.endswith(".c") for n in names)
    model(_x()).sum().backward()
    assert fq.a.grad is not None and fq.c.grad is not None


def test_calibrate_reinitialises_and_reestimates_bn():
    model = quantize_(_net(), "symmetric", 4)
    bn = model[1].module
    data = [(torch.rand(4, 3, 2, 6, 6), torch.zeros(4)) for _ in range(3)]
    calibrate_(model, data, batches=2)
    assert bn.num_batches_tracked.item() == 2
    assert bn.momentum == 0.1
    assert not torch.equal(bn.running_mean, torch.zeros(4))


def test_quantize_state_sets_fixed_point_membrane():
    model = quantize_state_(_net(), 4)
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    assert all(m.state_bits == 4 and m.state_max == 2.0 for m in lifs)
    model(_x())
    step = 2.0 / 8
    for m in lifs:
        codes = m.mem / step
        assert torch.equal(codes, codes.round())
        assert codes.min() >= -8 and codes.max() <= 7
    with pytest.raises(SpikeliteError, match="state_bits must be an integer"):
        quantize_state_(_net(), 1)


def test_zoo_model_checkpoint_roundtrip_with_quantizers(tmp_path):
    from spikelite.train import load_model, save_checkpoint

    model = quantize_(create("csnn"), "duq", 2)
    with torch.no_grad():
        fake_quant_of(model.conv2.module).a.mul_(0.5)
    save_checkpoint(tmp_path / "ck", model,
                    {"model": model.spikelite_config, "quant": quant_spec(model)})
    loaded, _ = load_model(tmp_path / "ck")
    x = torch.rand(2, 2, 2, 34, 34)
    model.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert isinstance(fake_quant_of(loaded.conv2.module), FakeQuant)


def test_weight_mask_module():
    wm = WeightMask(torch.tensor([True, False, True, True]))
    assert wm.sparsity == 0.25
    with pytest.raises(SpikeliteError, match="does not fit"):
        wm(torch.ones(3))


def test_dequantize_on_a_copy_leaves_the_original_intact():
    import copy

    a = quantize_(_net(), "uniform", 4)
    b = copy.deepcopy(a)
    dequantize_(b)
    assert fake_quant_of(a[0].module) is not None
    assert a[0].module.weight.shape == (4, 2, 3, 3)  # torch's remove would delete it
    assert b(_x()).shape == a(_x()).shape
