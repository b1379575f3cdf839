"""MembraneUpdates from the neuron's own pre-reset membrane (``step_observer``) equal the
replay of the recursion and a brute-force count, for every neuron form and reset mode; a
neuron whose forward does not report its membrane falls back to the replay."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.core import IF, LIF, TimeDistributed
from spikelite.core.functional import lif_multistep_eager, lif_step, rest
from spikelite.hardware import record_activity
from spikelite.hardware.counting import _CHUNK, _NeuronCounter

C = 4  # channels (dim 2 of [T, B, C, F])

CONFIGS: dict[str, dict[str, object]] = {
    "beta-zero": dict(beta=0.8),
    "beta-zero-vreset": dict(beta=0.8, v_reset=0.1),
    "beta-subtract": dict(beta=0.8, reset="subtract"),
    "beta-none": dict(beta=0.8, reset="none"),
    "beta-strict": dict(beta=0.5, strict=True, threshold=0.7),
    "tau-zero": dict(tau=2.0),
    "tau-zero-vreset": dict(tau=2.0, v_reset=-0.2),
    "tau-subtract": dict(tau=3.0, reset="subtract"),
    "per-channel": dict(beta=torch.tensor([0.5, 0.7, 0.9, 1.0]),
                        threshold=torch.tensor([0.5, 0.8, 1.0, 1.2])),
    "per-channel-tau": dict(tau=torch.tensor([1.5, 2.0, 3.0, 4.0]), v_reset=0.05),
    "learn-leak": dict(beta=0.8, learn_leak=True, channels=C),
    "per-neuron-threshold": dict(beta=0.9, threshold=torch.linspace(0.5, 1.5, C * 5).view(C, 5)),
    "state-bits": dict(beta=0.9, state_bits=6),
    "state-bits-subtract": dict(beta=0.9, reset="subtract", state_bits=4, state_max=2.0),
    "snntorch-delayed-subtract": dict(beta=0.8, reset="subtract", reset_timing="delayed",
                                      strict=True),
    "snntorch-delayed-zero": dict(beta=0.8, reset_timing="delayed", strict=True),
    "snntorch-mixed-subtract": dict(beta=0.8, reset="subtract", reset_timing="mixed",
                                    threshold=0.3, strict=True),
    "tau-no-decay-input": dict(tau=3.0, decay_input=False, reset="subtract"),
    "tau-inv": dict(tau_inv=0.3, v_reset=-0.1, v_leak=0.05),
    "box": dict(tau_inv=0.7, form="box", v_leak=0.1, v_reset=-0.2, strict=True),
}


def _neuron(name: str, fused: bool) -> nn.Module:
    if name.startswith("if-"):
        return IF(reset=name[3:], fused=fused)
    return LIF(fused=fused, **CONFIGS[name])  # type: ignore[arg-type]


def _inputs(seed: int = 0, T: int = 7, B: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, C, 5, generator=g) * 0.8 + 0.3
    x[torch.rand(x.shape, generator=g) < 0.4] = 0.0  # silent inputs: unchanged membranes
    x[:, 0, 0] = 0.0  # a neuron that never changes
    return x


def _brute(neuron: nn.Module, x: torch.Tensor) -> int:
    """All neurons at the first step, then ``Σ [h_t ≠ h_{t−1}]`` from the eager step."""
    p = neuron.params_for(x)
    v = neuron._v0(x, p) if neuron.mem is not None else rest(x[0], p)
    total, h_prev = x[0].numel(), None
    with torch.no_grad():
        for xt in x.unbind(0):
            _, v, h = lif_step(xt, v, p)
            if h_prev is not None:
                total += int(torch.count_nonzero(h != h_prev))
            h_prev = h
    return total


def _record(model: nn.Module, batches: list[torch.Tensor]):
    return record_activity(model, batches, time_major=True, membrane_updates=True)


NAMES = [*CONFIGS, "if-zero", "if-subtract", "if-none"]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "eager"])
@pytest.mark.parametrize("name", NAMES)
def test_observed_membrane_equals_replay_and_brute_force(
    name: str, fused: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(1)
    neuron = _neuron(name, fused)
    batches = [_inputs(0), _inputs(1, B=2)]
    fast = _record(nn.Sequential(neuron), batches)
    assert neuron.step_observer is None  # removed after recording
    monkeypatch.setattr(_NeuronCounter, "attach", lambda self: None)  # force the replay
    replay = _record(nn.Sequential(neuron), batches)
    expect = sum(_brute(neuron, x) for x in batches)
    a, r = fast.neurons["0"], replay.neurons["0"]
    assert a.membrane_updates == r.membrane_updates == expect
    assert (a.spikes, a.spikes_per_step, a.neuron_steps) == (
        r.spikes, r.spikes_per_step, r.neuron_steps)
    assert 0 < a.membrane_updates < a.neuron_steps  # some unchanged, some changed


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "eager"])
def test_state_carried_between_calls(fused: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A neuron called twice per forward (the second call starts from ``mem``)."""

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif = LIF(beta=0.9, threshold=0.6, fused=fused)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.lif(x[:3]), self.lif(x[3:])])

    model = Twice()
    fast = _record(model, [_inputs(2)]).neurons["lif"]
    monkeypatch.setattr(_NeuronCounter, "attach", lambda self: None)
    replay = _record(model, [_inputs(2)]).neurons["lif"]
    assert fast.calls == 2
    assert fast.membrane_updates == replay.membrane_updates


class PlainLIF(LIF):
    """A neuron with its own forward that never reports its membrane."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.params_for(x)
        s, v = lif_multistep_eager(x, self._v0(x, p), p)
        self.mem = v.detach()
        return s


@pytest.mark.parametrize("kwargs", [dict(beta=0.8), dict(tau=2.0, reset="subtract"),
                                    dict(beta=0.9, state_bits=5)])
def test_neuron_without_observer_falls_back_to_replay(kwargs: dict[str, object]) -> None:
    batches = [_inputs(3), _inputs(4)]
    torch.manual_seed(0)
    plain = PlainLIF(**kwargs)  # type: ignore[arg-type]
    observed = LIF(**kwargs)  # type: ignore[arg-type]
    a = _record(nn.Sequential(plain), batches).neurons["0"]
    b = _record(nn.Sequential(observed), batches).neurons["0"]
    assert a.membrane_updates == b.membrane_updates == sum(
        _brute(observed, x) for x in batches)
    assert a.spikes == b.spikes


def test_observer_leaves_spikes_and_state_unchanged() -> None:
    x = _inputs(5)
    for fused in (True, False):
        ref, obs = LIF(beta=0.8, fused=fused), LIF(beta=0.8, fused=fused)
        seen: list[int] = []
        obs.step_observer = lambda t, h, hp, s, seen=seen: seen.append(t)
        with torch.no_grad():
            assert torch.equal(ref(x), obs(x))
        assert torch.equal(ref.mem, obs.mem)
        assert seen == list(range(x.shape[0]))


def test_observer_with_gradients() -> None:
    """The fused autograd path also reports ``h`` (and its gradients are unchanged)."""
    x = _inputs(6).requires_grad_(True)
    hs: list[torch.Tensor] = []
    a, b = LIF(beta=0.8), LIF(beta=0.8)
    b.step_observer = lambda t, h, hp, s: hs.append(h.clone())
    ga = torch.autograd.grad(a(x).sum(), x)[0]
    gb = torch.autograd.grad(b(x).sum(), x)[0]
    assert torch.equal(ga, gb) and len(hs) == x.shape[0]


def test_large_layer_counts_in_chunks() -> None:
    """More neurons per step than one comparison chunk: partial sums add up exactly."""
    T, B, N = 3, 2, _CHUNK + 123
    x = torch.randn(T, B, N)
    x[1, :, : N // 2] = 0.0
    lif = LIF(beta=1.0, threshold=100.0)  # IF without spikes: unchanged where x = 0
    act = _record(nn.Sequential(lif), [x]).neurons["0"]
    assert act.membrane_updates == _brute(lif, x)


def test_profile_counts_membrane_updates_only_when_asked_or_needed():
    """MembraneUpdates are opt-in (they cost a pass over the state per step), and implied
    by the event-driven neuron costing that needs them."""
    from spikelite.hardware import profile

    torch.manual_seed(0)
    model = nn.Sequential(TimeDistributed(nn.Linear(6, 5)), LIF(beta=0.8))
    x = (torch.rand(4, 3, 6) < 0.5).float()
    assert profile(model, x).neurobench["MembraneUpdates"] is None
    asked = profile(model, x, membrane_updates=True).neurobench["MembraneUpdates"]
    assert asked is not None and asked > 0
    implied = profile(model, x, neuron_mode="on_update")
    assert implied.neurobench["MembraneUpdates"] == asked
