"""Integer package: integer weights, gains folded into thresholds, exact simulation."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from spikelite.core import LIF, TimeDistributed
from spikelite.core.neurons import reset_states
from spikelite.errors import SpikeliteError
from spikelite.export.package import export_package, load_package, run_package
from spikelite.hardware.size import model_size
from spikelite.models import SpikingSequential, create
from spikelite.prune import prune_unstructured_
from spikelite.quant import bake, quantize_

from ._helpers import spikes, train_tiny


def _bn_with_sign_flip_and_dead_channel(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(5)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data[1] = -0.8  # a negative gain: the comparison flips sign
            m.weight.data[2] = 0.0  # a dead channel: constant input
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.2)


def _compare(model: nn.Module, pkg, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    reset_states(model)
    with torch.no_grad():
        ref = model.eval()(x).double()
    return ref, run_package(pkg, x)


@pytest.mark.parametrize("scheme,bits", [("duq", 2), ("uniform", 4), ("rescaw", 3)])
def test_quantized_pruned_csnn_package_reproduces_the_model(tmp_path, scheme, bits):
    torch.manual_seed(0)
    model = create("csnn")
    _bn_with_sign_flip_and_dead_channel(model)
    quantize_(model, scheme, bits)
    prune_unstructured_(model, 0.5)
    plain, sidecars = bake(model)
    manifest = export_package(plain.eval(), sidecars, tmp_path / "pkg")
    _, t = load_package(tmp_path / "pkg")
    conv1 = next(e for e in manifest["layers"] if e["name"] == "conv1")
    assert conv1["integer"] and conv1["feeds_neuron"] and conv1["bits"] == bits
    assert t["conv1.weight"].dtype == torch.int8
    assert t["conv1.sign"][1] == -1 and t["conv1.sign"][2] == 0
    if scheme == "uniform":  # QP-SNN's grid has a half-integer zero point: levels doubled
        w = t["conv1.weight"]
        assert conv1["level_step"] == 2 and bool((w[w != 0] % 2 != 0).all())
    # the bit-packed weights are exactly what the hardware model counts for dense storage
    size = model_size(plain, sidecars, weight_format="dense")
    assert manifest["packed_weight_bits"] == size.by_component()["weights"]
    x = spikes(10, 4, 2, 34, 34, rate=0.15)
    fired: list[float] = []
    plain.lif2.register_forward_hook(lambda m, i, o: fired.append(float(o.sum())))
    ref, got = _compare(plain, tmp_path / "pkg", x)
    assert fired[0] > 50  # the comparison exercises spiking, not silent layers
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_neuron_forms_resets_and_float_layers_are_exact(tmp_path):
    torch.manual_seed(2)
    layers = OrderedDict(
        fc1=TimeDistributed(nn.Linear(8, 6)),
        lif1=LIF(beta=torch.tensor([0.5, 0.6, 0.7, 0.8, 0.9, 0.95]), threshold=0.7,
                 reset="subtract"),
        fc2=TimeDistributed(nn.Linear(6, 5)), lif2=LIF(tau=2.0, v_reset=-0.2),
        fc3=TimeDistributed(nn.Linear(5, 3)))
    model = SpikingSequential(layers, num_classes=3, input_shape=(8,))
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.data *= 3
    quantize_(model, "symmetric", 5, overrides={"fc2.module": None})  # fc2 stays FP32
    plain, sidecars = bake(model)
    manifest = export_package(plain, sidecars, tmp_path / "p")
    kinds = {e["name"]: e.get("integer") for e in manifest["layers"]}
    assert kinds["fc1"] is True and kinds["fc2"] is False
    x = spikes(40, 6, 8, rate=0.5, seed=1)
    ref, got = _compare(plain, tmp_path / "p", x)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_refusals_name_the_problem(tmp_path):
    model = create("mlp", input_shape=(6,), hidden=(4,), num_classes=2)
    quantize_(model, "duq", 2)
    with pytest.raises(SpikeliteError, match="bake the model first"):
        export_package(model, {}, tmp_path / "a")
    fixed = create("mlp", input_shape=(6,), hidden=(4,), num_classes=2)
    fixed.lif1.state_bits, fixed.lif1.state_max = 8, 2.0
    with pytest.raises(SpikeliteError, match="state_bits"):
        export_package(fixed, {}, tmp_path / "b")
    per_neuron = nn.Sequential(TimeDistributed(nn.Conv2d(1, 2, 3, padding=1)),
                               LIF(threshold=torch.rand(2, 4, 4) + 0.5))
    with pytest.raises(SpikeliteError, match="per-neuron thresholds"):
        export_package(per_neuron, {}, tmp_path / "c", input_shape=(1, 4, 4))
    with pytest.raises(SpikeliteError, match="not an integer package"):
        load_package(tmp_path)
    export_package(create("mlp", input_shape=(6,), hidden=(4,), num_classes=2), {},
                   tmp_path / "ok")
    mf = tmp_path / "ok" / "manifest.json"
    mf.write_text(json.dumps({**json.loads(mf.read_text()), "version": 99}))
    with pytest.raises(SpikeliteError, match="version 99"):
        load_package(tmp_path / "ok")


def test_cli_writes_and_checks_a_package(tmp_path):
    from spikelite.cli import app

    runner = CliRunner()
    best = train_tiny(runner, app, tmp_path / "run")
    comp = tmp_path / "q"
    res = runner.invoke(app, ["compress", str(best), "--quant", "duq:2", "--epochs",
                              "1", "--out", str(comp), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["export", str(comp / "final"), "--to", "package", "--out",
                              str(tmp_path / "pkg")])
    assert res.exit_code == 0, res.output
    assert "100.0000% of output values equal" in res.output
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert manifest["source"]["model"]["name"] == "csnn"
    bad = runner.invoke(app, ["export", str(comp / "final"), "--to", "onnx", "--out", "x"])
    assert bad.exit_code == 2 and "nir or package" in bad.output


def test_a_converted_snn_packages_with_its_initial_membrane(tmp_path):
    from spikelite.convert import ann_to_snn

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    x = torch.rand(40, 10)
    snn = ann_to_snn(ann, x, threshold="max", time_steps=20)  # IF, subtract, v0 = 0.5·θ
    export_package(snn, {}, tmp_path / "conv", input_shape=(10,))
    manifest, _ = load_package(tmp_path / "conv")
    assert [e["v_init"] for e in manifest["layers"] if e["type"] == "lif"] == [0.5]
    xt = snn.encode(x)
    with torch.no_grad():
        ref = snn(xt).double()
    torch.testing.assert_close(run_package(tmp_path / "conv", xt), ref, rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("name,kwargs", [
    ("vgg16", {"widths": [4] * 13, "num_classes": 3}),
    ("vggsnn", {"widths": [4] * 8, "num_classes": 3}),
    ("mlp", {"input_shape": (2, 6, 6), "hidden": (8, 8)}),
])
def test_zoo_models_export_both_ways_and_read_back_equal(tmp_path, name, kwargs):
    nir = pytest.importorskip("nir")
    from spikelite.export import to_nir
    from spikelite.export.nir import check_roundtrip, write_nir
    from spikelite.export.package import check_package

    del nir
    torch.manual_seed(0)
    model = create(name, **kwargs).eval()
    quantize_(model, "duq", 4)
    plain, sidecars = bake(model)
    write_nir(to_nir(plain, sidecars=sidecars), tmp_path / "m.nir")
    export_package(plain, sidecars, tmp_path / "pkg")
    assert check_roundtrip(plain, tmp_path / "m.nir", time_steps=3, batch=2, rate=0.5) == 1.0
    assert check_package(plain, tmp_path / "pkg", time_steps=3, batch=2, rate=0.5) == 1.0


@pytest.mark.parametrize("scheme,bits,needs_mask", [
    ("duq", 2, False),     # zero is a code: pruned weights are stored as that code
    ("uniform", 4, True),  # QP-SNN's grid has no zero: a 1-bit mask plane is stored too
    ("rescaw", 3, True),
])
def test_packed_weights_decode_to_the_same_package(tmp_path, scheme, bits, needs_mask):
    from safetensors.torch import load_file

    torch.manual_seed(0)
    model = create("csnn")
    quantize_(model, scheme, bits)
    prune_unstructured_(model, 0.6)
    plain, sidecars = bake(model)
    export_package(plain.eval(), sidecars, tmp_path / "int")
    manifest = export_package(plain.eval(), sidecars, tmp_path / "packed", pack=True)
    t = load_file(str(tmp_path / "packed" / "tensors.safetensors"))
    for e in (e for e in manifest["layers"] if e.get("integer")):
        n = int(np.prod(e["weight_shape"]))
        assert f"{e['name']}.weight" not in t
        assert t[f"{e['name']}.codes_packed"].numel() == -(-n * bits // 8)  # ⌈n·b/8⌉ bytes
        assert (f"{e['name']}.mask_packed" in t) == needs_mask
        assert e["mask_bits"] == (n if needs_mask else 0)
    x = spikes(6, 3, 2, 34, 34, rate=0.15)
    torch.testing.assert_close(run_package(tmp_path / "packed", x),
                               run_package(tmp_path / "int", x), rtol=0, atol=0)
    # the cost model's dense footprint charges the same mask plane
    size = model_size(plain, sidecars, weight_format="dense")
    meta = {r.name: r.bits["metadata"] for r in size.rows if "metadata" in r.bits}
    for e in (e for e in manifest["layers"] if e.get("integer")):
        assert meta[e["module"]] == e["mask_bits"]


def test_pack_bits_round_trips() -> None:
    from spikelite.export.package import pack_bits, unpack_bits

    g = torch.Generator().manual_seed(0)
    for bits in (1, 2, 3, 5, 8, 11):
        v = torch.randint(0, 2 ** bits, (1001,), generator=g)
        packed = pack_bits(v, bits)
        assert packed.dtype == torch.uint8 and packed.numel() == -(-1001 * bits // 8)
        assert torch.equal(unpack_bits(packed, bits, 1001), v)
