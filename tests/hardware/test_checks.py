"""energy.md §6 checks C1–C5 and C10, exactly, through the public API."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.core import LIF
from spikelite.hardware import get_format, model_size, profile

from .helpers import c1_layer, c3_mask, fixed_sidecar

CHECK = {"spike_io": "none"}  # §6: no neuron or spike-I/O costs


def run(bits: int, fmt: str = "dense", mask: torch.Tensor | None = None, **options):
    model, x = c1_layer()
    layers = {"0": fixed_sidecar("0", (100, 1000), bits, mask)}
    rep = profile(model, x, "horowitz45-derived", fmt, layers=layers, **{**CHECK, **options})
    return rep, model, layers


def test_c1_dense_8bit() -> None:
    rep, model, layers = run(8)
    c = rep.components()
    assert rep.exact()["charged_ac"] == 10_000
    assert c["compute.ac"] == pytest.approx(500.0)
    assert c["memory.weights.sram"] == pytest.approx(12_500.0)
    assert rep.total_pj == pytest.approx(13_000.0)
    size = model_size(model, layers, weight_format="dense")
    assert size.by_component()["weights"] == 800_000 and size.rows[0].bits["weights"] / 8 == 100_000


@pytest.mark.parametrize(("bits", "total", "nbytes"), [(4, 6_750.0, 50_000), (2, 3_625.0, 25_000)])
def test_c2_dense_low_bits(bits: int, total: float, nbytes: int) -> None:
    rep, model, layers = run(bits)
    assert rep.components()["compute.ac"] == pytest.approx(500.0)  # compute unchanged
    assert rep.total_pj == pytest.approx(total)
    assert model_size(model, layers).rows[0].bits["weights"] / 8 == nbytes


def test_c2_ternary_with_zeros_no_skipping() -> None:
    """Ternary codes with zeros, zero-skipping off: the same 3 625 pJ."""
    model, x = c1_layer()
    lq = fixed_sidecar("0", (100, 1000), 2)
    lq.codes.view(-1)[::3] = 0
    rep = profile(model, x, "horowitz45-derived", "dense", layers={"0": lq}, skip="inputs",
                  **CHECK)
    assert rep.total_pj == pytest.approx(3_625.0)


C3 = {
    "bitmask": 4_162.5,
    "rle:run_bits=4": 3_850.0,
    "coo:coord_bits=7": 4_787.5,
    "csr": 5_256.25,
}


@pytest.mark.parametrize(("fmt", "total"), list(C3.items()))
def test_c3_pruned_8bit_formats(fmt: str, total: float) -> None:
    rep, _, _ = run(8, fmt, c3_mask())
    assert rep.exact()["charged_ac"] == 2_000
    assert rep.components()["compute.ac"] == pytest.approx(100.0)
    assert rep.total_pj == pytest.approx(total)


def test_c3_schaefer_direction() -> None:
    ternary = run(2)[0].total_pj
    assert run(8, "bitmask", c3_mask())[0].total_pj / ternary == pytest.approx(1.148, abs=5e-4)
    assert run(8, "rle", c3_mask())[0].total_pj / ternary == pytest.approx(1.062, abs=5e-4)


@pytest.mark.parametrize(
    ("fmt", "bits"),
    [("dense", 800_000), ("bitmask", 260_000), ("coo:coord_bits=7", 300_000),
     ("rle:run_bits=4", 240_000), ("csr", 315_015)],
)
def test_c4_storage(fmt: str, bits: int) -> None:
    model, _ = c1_layer()
    layers = {"0": fixed_sidecar("0", (100, 1000), 8, c3_mask())}
    comp = model_size(model, layers, weight_format=fmt).by_component()
    assert comp["weights"] + comp["metadata"] == bits


def test_c4_rle_padding() -> None:
    fiber = torch.zeros(1, 100, dtype=torch.bool)
    fiber[0, [0, 40]] = True
    c = get_format("rle:run_bits=4").cost(fiber, 8)
    assert float(c.payload[0]) / 8 == 4  # 2 values + 2 padding entries (gap 39 → ⌊39/16⌋)
    assert get_format("rle:padding=false").cost(fiber, 8).payload_bits / 8 == 2


def test_c5_lif_neuron_cost() -> None:
    model = nn.Sequential(LIF(beta=0.5))
    x = torch.zeros(10, 1, 1000)
    x[0, 0, :500] = 2.0  # 500 spikes at the first step, silence after
    rep = profile(model, x, "horowitz45-derived", **CHECK)
    c = rep.components()
    assert rep.exact()["spikes"] == 500 and rep.exact()["neuron_steps"] == 10_000
    assert c["compute.neuron"] == pytest.approx(10_000 * (0.775 + 0.05) + 500 * 0.05)
    assert c["memory.membrane.sram"] == pytest.approx(10_000 * 5.0)
    assert rep.total_pj == pytest.approx(58_275.0)


def c10(T: int, **options):
    model, _ = c1_layer()
    x = torch.zeros(T, 1, 1000)
    x[:, 0, ::10] = 1.0
    layers = {"0": fixed_sidecar("0", (100, 1000), 8)}
    return profile(model, x, "sparseloop-eyeriss45", layers=layers,
                   **{"onchip_weight_bits": 0, **options})


def test_c10_dram_fill_and_static() -> None:
    assert c10(1).components()["memory.weights.dram"] == pytest.approx(6.4e6)
    assert c10(8, temporal_reuse=False).components()["memory.weights.dram"] == pytest.approx(
        51.2e6)
    assert c10(8, temporal_reuse=True).components()["memory.weights.dram"] == pytest.approx(6.4e6)
    on_chip = c10(8, onchip_weight_bits=1e9).components()
    assert not any(k.endswith(".dram") for k in on_chip)
    st = c10(1, static_power_mw=0.42, latency_s=0.01)
    assert st.components()["static"] == pytest.approx(4.2e6)
    assert c10(1, static_power_mw=0.42, latency_s=0.02).components()["static"] == pytest.approx(
        8.4e6)
    assert "static" not in c10(1, latency_s=0.01).components()
