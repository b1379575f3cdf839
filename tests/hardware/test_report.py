"""Reports, presets, formats, the CLI command, and compression visibly changing numbers."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from spikelite.cli.profile import profile_command
from spikelite.errors import SpikeliteError
from spikelite.hardware import (
    FORMATS,
    PRESETS,
    get_format,
    get_preset,
    list_presets,
    profile,
)
from spikelite.models import create
from spikelite.train import save_checkpoint

from .helpers import symmetric_sidecar


def demo_model() -> nn.Module:
    torch.manual_seed(0)
    return create("csnn", input_size=16, widths=[4, 8])


def compressed(model: nn.Module, bits: int = 4, sparsity: float = 0.5) -> dict:
    """Symmetric ``bits``-bit codes and a global magnitude mask, written into the model."""
    mods = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    allw = torch.cat([m.weight.detach().abs().flatten() for m in mods.values()])
    thr = allw.kthvalue(int(sparsity * allw.numel())).values
    return {n: symmetric_sidecar(n, m.weight, bits, m.weight.abs() > thr, set_weight=m)
            for n, m in mods.items()}


def spikes(T: int = 4, B: int = 3) -> torch.Tensor:
    torch.manual_seed(1)
    return (torch.rand(T, B, 2, 16, 16) < 0.3).float()


def test_report_outputs_and_recost() -> None:
    rep = profile(demo_model(), spikes())
    d = json.loads(rep.to_json())
    assert d["preset"]["name"] == "horowitz45-derived" and "Horowitz" in d["preset"]["citation"]
    assert d["total_pj_per_sample"] == pytest.approx(sum(d["components_pj"].values()))
    assert d["total_pj_per_step"] == pytest.approx(d["total_pj_per_sample"] / 4)
    so = set(d["neurobench"]["SynapticOperations"])
    assert {"Effective_ACs", "Effective_MACs", "Dense"} <= so
    assert [row["name"] for row in d["layers"]] == ["conv1.module", "lif1", "conv2.module",
                                                     "lif2", "fc.module"]
    text = rep.render()
    assert "NeuroBench" in text and "horowitz45-derived" in text and "total" in text
    other = rep.recost("lemaire22", "bitmask")
    assert other.preset.name == "lemaire22" and other.exact() == rep.exact()
    assert other.total_pj != rep.total_pj
    assert rep.recost(skip="none").exact()["charged_ac"] > rep.exact()["charged_ac"]


def test_compression_changes_every_affected_number() -> None:
    model = demo_model()
    x = spikes()
    fp = profile(model, x, "horowitz45-derived", "bitmask")
    layers = compressed(model)
    q = profile(model, x, "horowitz45-derived", "bitmask", layers=layers)
    assert q.exact()["nonzero_fanout"] < fp.exact()["nonzero_fanout"]
    assert q.exact()["dense"] == fp.exact()["dense"]  # Dense ignores zeros (NeuroBench)
    assert q.footprint.by_component()["weights"] < fp.footprint.by_component()["weights"] / 8
    assert q.groups()["weights"] < fp.groups()["weights"]
    assert q.groups()["compute"] < fp.groups()["compute"]
    assert q.total_pj < fp.total_pj
    assert q.neurobench["ConnectionSparsity"] >= 0.5 > fp.neurobench["ConnectionSparsity"]
    assert q.neurobench["Footprint"] == fp.neurobench["Footprint"]  # float32 storage: as NB


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_is_named_cited_and_costs(name: str) -> None:
    p = get_preset(name)
    assert p.name == name and len(p.citation) > 20 and p.values()
    rep = profile(demo_model(), spikes(T=2, B=1), name, "rle")
    assert rep.total_pj > 0 and rep.to_dict()["preset"]["citation"] == p.citation


def test_bit_width_laws() -> None:
    p = get_preset("horowitz45-derived")
    assert p.e_add(16) == pytest.approx(0.05) and p.e_mul(16, 16) == pytest.approx(0.775)
    assert p.e_add(8) == pytest.approx(0.03, rel=0.2) and p.e_mul(8, 8) == pytest.approx(0.2,
                                                                                        rel=0.2)
    assert p.e_mul(4, 8) == pytest.approx(p.e_mul(8, 8) / 2)
    h = get_preset("horowitz45")
    assert h.e_add(8) == 0.03 and h.e_mul(32, 32) == 3.1
    c = get_preset("compute-only-fp32")
    assert c.e_ac(4) == 0.9 and c.e_mac(4, 2, 16) == 4.6
    assert get_preset("sparseloop-eyeriss45").e_mac(16, 16, 16) == pytest.approx(2.2, abs=1e-3)
    assert len(PRESETS) == 5


def test_option_and_format_errors() -> None:
    with pytest.raises(SpikeliteError, match="unknown cost option"):
        profile(demo_model(), spikes(), bogus=1)
    with pytest.raises(SpikeliteError, match="membrane must be one of"):
        profile(demo_model(), spikes(), membrane="dram")
    with pytest.raises(SpikeliteError, match="unknown weight format"):
        get_format("zip")
    with pytest.raises(SpikeliteError, match="takes no options"):
        get_format("dense:run_bits=3")
    with pytest.raises(SpikeliteError, match="bad options"):
        get_format("rle:width=3")
    with pytest.raises(SpikeliteError, match="unknown cost preset"):
        get_preset("loihi")
    assert repr(get_format("rle:run_bits=5,padding=false")) == "rle(run_bits=5, padding=False)"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(1, 4), st.integers(1, 8))
def test_format_properties(bits_list: list[bool], run_bits: int, wbits: int) -> None:
    fiber = torch.tensor([bits_list])
    z = int(fiber.sum())
    costs = {n: get_format(n).cost(fiber, wbits) for n in FORMATS.names()}
    assert costs["dense"].total_bits == len(bits_list) * wbits
    assert costs["bitmask"].total_bits == len(bits_list) + z * wbits
    rle = get_format("rle", run_bits=run_bits).cost(fiber, wbits)
    entries = rle.payload_bits / wbits
    assert entries >= z and (z == 0 or entries - z <= len(bits_list) // 2 ** run_bits)
    assert get_format("rle", run_bits=run_bits, padding=False).cost(fiber, wbits).payload_bits \
        == z * wbits


def test_cli_profile_command(tmp_path) -> None:
    model = create("csnn", input_size=34)
    save_checkpoint(tmp_path / "ck", model, {"model": model.spikelite_config,
                                              "data": {"name": "digits-dvs", "limit": 20}})
    app = typer.Typer()
    app.command("profile")(profile_command)
    app.command("noop")(lambda: None)
    r = CliRunner().invoke(app, ["profile", str(tmp_path / "ck"), "--limit", "4", "--json",
                                 "--preset", "lemaire22", "--format", "csr",
                                 "--option", "spike_io=bitmap"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["samples"] == 4 and d["preset"]["name"] == "lemaire22"
    assert d["weight_format"] == "csr" and d["options"]["spike_io"] == "bitmap"
    r = CliRunner().invoke(app, ["profile", str(tmp_path / "ck"), "--limit", "2"])
    assert r.exit_code == 0 and "NeuroBench" in r.output
    r = CliRunner().invoke(app, ["profile", str(tmp_path / "ck"), "--preset", "nope"])
    assert r.exit_code == 2 and "unknown cost preset" in r.output


def test_real_quantizer_and_pruner_through_bake() -> None:
    """quantize_ + prune_unstructured_ → bake → profile: bits and masks from the sidecars."""
    from spikelite.hardware import classify
    from spikelite.prune import prune_unstructured_
    from spikelite.quant import bake, quantize_

    model = demo_model()
    quantize_(model, "uniform", 4)
    prune_unstructured_(model, 0.5)
    plain, layers = bake(model)
    rep = profile(plain, spikes(), "horowitz45-derived", "bitmask", layers=layers)
    assert {r.counts["bits"] for r in rep.layers if r.role == "synaptic"} == {4}
    for name, spec in classify(plain, layers).synaptic.items():
        assert torch.equal(spec.mask, dict(plain.named_modules())[name].weight != 0)
    assert rep.neurobench["ConnectionSparsity"] >= 0.5
    fp = profile(plain, spikes(), "horowitz45-derived", "bitmask")  # same zeros, FP32 bits
    assert fp.exact()["nonzero_fanout"] == rep.exact()["nonzero_fanout"]
    assert rep.footprint.by_component()["weights"] * 8 == fp.footprint.by_component()["weights"]
