"""core.synaptic: the one synaptic-layer type set, the weight-parametrization helpers and
the mask parametrization; the old import paths still work and warn; quant sits below prune."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import spikelite.hardware.layers
import spikelite.hardware.size
import spikelite.quant
import spikelite.regularize
from spikelite.core import synaptic
from spikelite.core.synaptic import (
    CONV_TYPES,
    SYNAPTIC_TYPES,
    WeightMask,
    apply_mask_,
    is_synaptic,
    latent_weight,
    mask_of,
    strip_weight_parametrizations,
    synaptic_layers,
    weight_parametrizations,
)
from spikelite.quant import quantize_

SRC = Path(synaptic.__file__).resolve().parents[1]


def test_type_set() -> None:
    assert set(SYNAPTIC_TYPES) == {nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear}
    assert set(CONV_TYPES) == {nn.Conv1d, nn.Conv2d, nn.Conv3d}
    assert is_synaptic(nn.Linear(2, 3)) and is_synaptic(nn.Conv3d(1, 1, 1))
    assert not is_synaptic(nn.BatchNorm2d(3)) and not is_synaptic(nn.ConvTranspose2d(1, 1, 1))


def test_the_tuple_is_defined_once() -> None:
    """Every user of the synaptic-layer types holds core.synaptic's tuple itself."""
    assert spikelite.hardware.layers.SYNAPTIC_TYPES is SYNAPTIC_TYPES
    assert spikelite.hardware.size.SYNAPTIC_TYPES is SYNAPTIC_TYPES
    assert spikelite.regularize.SYNAPTIC_TYPES is SYNAPTIC_TYPES
    with pytest.warns(DeprecationWarning):
        from spikelite.quant.apply import SYNAPTIC
    assert SYNAPTIC is SYNAPTIC_TYPES
    with pytest.warns(DeprecationWarning):
        from spikelite.hardware.layers import SYNAPTIC as HW
    assert HW is SYNAPTIC_TYPES
    with pytest.warns(DeprecationWarning):
        from spikelite.prune.graph import CONVS
    assert CONVS is CONV_TYPES
    spelled = re.compile(r"nn\.Conv[123]d,\s*nn\.Conv[123]d|nn\.Linear,\s*nn\.Conv[123]d")
    copies = [str(f.relative_to(SRC)) for pkg in ("core", "quant", "prune", "hardware", "models")
              for f in (SRC / pkg).rglob("*.py") if spelled.search(f.read_text())]
    copies += [f.name for f in (SRC / "regularize.py",) if spelled.search(f.read_text())]
    assert copies == ["core/synaptic.py"]


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 3))


def test_helpers_on_parametrized_weights() -> None:
    model = _net()
    assert [n for n, _ in synaptic_layers(model)] == ["0", "3"]
    conv = model[0]
    latent = conv.weight.detach().clone()
    assert weight_parametrizations(conv) == [] and mask_of(conv) is None
    assert latent_weight(conv) is conv.weight
    quantize_(model, "uniform", 4)
    mask = torch.rand(conv.weight.shape) > 0.5
    wm = apply_mask_(conv, mask)
    plist = weight_parametrizations(conv)
    assert [type(p).__name__ for p in plist] == ["FakeQuant", "WeightMask"]
    assert mask_of(conv) is wm is plist[1] and torch.equal(latent_weight(conv), latent)
    assert bool((conv.weight[~mask] == 0).all())
    deployed = conv.weight.detach().clone()
    strip_weight_parametrizations(conv, deployed)
    assert type(conv) is nn.Conv2d and torch.equal(conv.weight, deployed)
    assert weight_parametrizations(conv) == []


def test_mask_parametrization() -> None:
    wm = WeightMask(torch.tensor([True, False]))
    assert torch.equal(wm(torch.tensor([2.0, 3.0])), torch.tensor([2.0, 0.0]))
    assert wm.sparsity == 0.5


@pytest.mark.parametrize(("old", "name", "new"), [
    ("spikelite.prune.mask", "WeightMask", WeightMask),
    ("spikelite.prune.mask", "apply_mask_", apply_mask_),
    ("spikelite.quant.apply", "synaptic_layers", synaptic_layers),
    ("spikelite.quant.apply", "weight_parametrizations", weight_parametrizations),
    ("spikelite.quant.apply", "strip_weight_parametrizations", strip_weight_parametrizations),
    ("spikelite.prune.unstructured", "latent_weight", latent_weight),
    ("spikelite.prune.unstructured", "mask_of", mask_of),
])
def test_old_paths_warn_and_forward(old: str, name: str, new: object) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=r"spikelite\.core\.synaptic"):
        assert getattr(module, name) is new
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_deprecated_weight_mask_still_masks() -> None:
    with pytest.warns(DeprecationWarning, match="spikelite.prune.mask.WeightMask moved"):
        from spikelite.prune.mask import WeightMask as Old
    layer = nn.Linear(3, 2)
    from torch.nn.utils import parametrize

    keep = torch.eye(2, 3, dtype=torch.bool)
    parametrize.register_parametrization(layer, "weight", Old(keep))
    assert torch.equal(layer.weight, layer.parametrizations.weight.original * keep)
    assert mask_of(layer) is not None  # the same class as core.synaptic's


def test_package_reexports_do_not_warn() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from spikelite.prune import WeightMask as P
        from spikelite.prune import apply_mask_ as A
        from spikelite.prune import mask_of as M
        assert P is WeightMask and A is apply_mask_ and M is mask_of
        assert spikelite.quant.synaptic_layers is synaptic_layers


def test_quant_does_not_import_prune() -> None:
    code = (
        "import sys\n"
        "import spikelite.quant, spikelite.quant.structure\n"
        "bad = sorted(k for k in sys.modules if k.startswith('spikelite.prune'))\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
