"""NIR (and package) export of the peer-exact LIF settings: the equation when NIR can
express it, a clear refusal when it cannot (snnTorch's delayed reset, a membrane that starts
away from rest)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from torch import nn

from spikelite.core import LIF, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.models import SpikingSequential

pytest.importorskip("nir")
from spikelite.export import to_nir


def _model(neuron: LIF) -> SpikingSequential:
    layers = OrderedDict(fc=TimeDistributed(nn.Linear(3, 4)), lif=neuron)
    return SpikingSequential(layers, num_classes=4, input_shape=(3,))


@pytest.mark.parametrize("reset,timing", [("subtract", "delayed"), ("zero", "mixed"),
                                          ("subtract", "mixed")])
def test_snntorch_reset_timing_is_refused(reset, timing):
    with pytest.raises(SpikeliteError, match="timing.*cannot express|resets by 'subtract'"):
        to_nir(_model(LIF(beta=0.9, reset=reset, reset_timing=timing)))


def test_snntorch_delayed_zero_reset_exports_as_a_zero_reset():
    """snnTorch's default-timing zero reset is a reset to 0 then the charge: NIR's LIF."""
    graph = to_nir(_model(LIF(beta=0.9, reset="zero", reset_timing="delayed", strict=True)))
    node = graph.nodes["lif"]
    assert type(node).__name__ == "LIF"
    assert node.metadata["spikelite.reset_timing"] == "delayed"
    np.testing.assert_array_equal(node.v_reset, np.zeros(4))


def test_start_away_from_rest_is_refused():
    with pytest.raises(SpikeliteError, match="v_start.*start at rest"):
        to_nir(_model(LIF(beta=1.0, v_start=0.4)))


@pytest.mark.parametrize("kw,k,r,v_leak", [
    (dict(tau_inv=0.3, v_reset=-0.2), 0.3, 1.0, -0.2),
    (dict(tau_inv=0.7, form="box", v_leak=0.1, v_reset=-0.2), 0.7, 1.0, 0.1),
    (dict(tau=3.0, decay_input=False, reset="zero"), 1 / 3, 3.0, 0.0),
])
def test_tau_forms_map_onto_the_euler_step(kw, k, r, v_leak):
    """``v + (dt/τ)(v_leak − v + r·x)`` with ``dt/τ = k`` and input gain ``r·k`` (1 without
    decay_input)."""
    dt = 1e-3
    node = to_nir(_model(LIF(**kw)), dt=dt).nodes["lif"]
    np.testing.assert_allclose(dt / node.tau, k, rtol=1e-6)
    np.testing.assert_allclose(node.r, r, rtol=1e-6)
    np.testing.assert_allclose(node.v_leak, v_leak, rtol=1e-6)


def test_package_export_refuses_peer_exact_settings(tmp_path):
    from spikelite.export.package import export_package

    with pytest.raises(SpikeliteError, match="package's LIF equations.*cannot express"):
        export_package(_model(LIF(beta=0.9, reset="zero", reset_timing="delayed")), {},
                       tmp_path / "pkg")
