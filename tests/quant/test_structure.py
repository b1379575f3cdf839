"""quant.structure: describe/rebuild_ round trip; the old ``spikelite.structure`` path warns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.core.synaptic import apply_mask_, weight_parametrizations
from spikelite.quant import quantize_
from spikelite.quant.structure import describe, rebuild_


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def test_round_trip() -> None:
    model = quantize_(_net(), "uniform", 3)
    apply_mask_(model[0], torch.rand(6, 4) > 0.5)
    desc = describe(model)
    assert desc == {"0": [{"kind": "quant", **desc["0"][0]}, {"kind": "mask"}],
                    "2": [{"kind": "quant", **desc["2"][0]}]}
    fresh = rebuild_(_net(), desc)
    fresh.load_state_dict(model.state_dict())
    assert describe(fresh) == desc
    assert [type(p).__name__ for p in weight_parametrizations(fresh[0])] == ["FakeQuant",
                                                                             "WeightMask"]
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), model(x))


def test_old_module_path_warns() -> None:
    import spikelite.structure as old

    for name, new in (("describe", describe), ("rebuild_", rebuild_)):
        with pytest.warns(DeprecationWarning, match=r"spikelite\.quant\.structure"):
            assert getattr(old, name) is new
