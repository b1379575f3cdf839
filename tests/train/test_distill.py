"""Knowledge distillation: the loss formula against a hand computation, and the teacher
left untouched."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.train import fit
from spikelite.train.config import FinetuneSpec
from spikelite.train.distill import Distiller, DistillSpec, distill_loss, kd_kl, rate_match
from spikelite.train.losses import cross_entropy


def _hand_kd(s: list[list[float]], t: list[list[float]], temp: float) -> float:
    """T²·mean_b Σ_c p_t (log p_t − log p_s), in plain Python floats (log-sum-exp)."""
    def log_softmax(row: list[float]) -> list[float]:
        z = [v / temp for v in row]
        m = max(z)
        lse = m + math.log(sum(math.exp(v - m) for v in z))
        return [v - lse for v in z]

    total = 0.0
    for rs, rt in zip(s, t, strict=True):
        ls, lt = log_softmax(rs), log_softmax(rt)
        total += sum(math.exp(b) * (b - a) for a, b in zip(ls, lt, strict=True))
    return temp * temp * total / len(s)


# large, tied and opposite logits: softmax saturation, exact ties, sign flips
S = [[50.0, -50.0, 0.0], [1.0, 1.0, 1.0], [-3.0, 7.5, 0.25]]
TT = [[-50.0, 50.0, 0.0], [1.0, 1.0, 1.0], [2.0, -1.0, 0.0]]


@pytest.mark.parametrize("temp", [1.0, 4.0, 0.5])
def test_kd_kl_matches_hand_computation(temp: float) -> None:
    got = kd_kl(torch.tensor(S, dtype=torch.float64), torch.tensor(TT, dtype=torch.float64), temp)
    assert float(got) == pytest.approx(_hand_kd(S, TT, temp), rel=1e-12, abs=1e-12)


def test_kd_kl_is_zero_for_equal_logits_and_gives_no_teacher_gradient() -> None:
    x = torch.tensor(S, dtype=torch.float64)
    assert float(kd_kl(x, x.clone(), 4.0)) == pytest.approx(0.0, abs=1e-12)
    s = torch.tensor(S, requires_grad=True)
    t = torch.tensor(TT, requires_grad=True)
    kd_kl(s, t, 2.0).backward()
    assert t.grad is None and s.grad is not None and bool(s.grad.abs().sum() > 0)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_distill_loss_mixes_ce_and_kd_on_time_averaged_logits(alpha: float) -> None:
    g = torch.Generator().manual_seed(1)
    out = torch.randn(5, 3, 3, generator=g, dtype=torch.float64) * 10  # [T, B, C]
    tout = torch.randn(5, 3, 3, generator=g, dtype=torch.float64) * 10
    y = torch.tensor([0, 2, 1])
    spec = DistillSpec(temperature=3.0, alpha=alpha)
    got = float(distill_loss(out, tout, y, spec, cross_entropy))
    s, t = out.mean(0).tolist(), tout.mean(0).tolist()
    ce = -sum(math.log(math.exp(r[c]) / sum(math.exp(v) for v in r))
              for r, c in zip(s, y.tolist(), strict=True)) / 3
    want = (1 - alpha) * ce + alpha * _hand_kd(s, t, 3.0)
    assert got == pytest.approx(want, rel=1e-10)


def test_rate_match_pairs_layers_and_falls_back_to_mean_rates_when_shapes_differ() -> None:
    a = {"l1": torch.tensor([[1.0, 0.0], [0.0, 0.0]]), "l2": torch.tensor([[0.5, 0.5, 0.5]])}
    b = {"l1": torch.tensor([[0.0, 0.0], [0.0, 1.0]]), "l2": torch.tensor([[1.0, 0.0]]),
         "other": torch.ones(1)}
    # l1: MSE over 4 entries = 2/4; l2: per-sample means 0.5 vs 0.5 → 0
    assert float(rate_match(a, b)) == pytest.approx((0.5 + 0.0) / 2)
    with pytest.raises(SpikeliteError, match="share no spiking layer"):
        rate_match({"x": torch.ones(1, 1)}, {"y": torch.ones(1, 1)})


@pytest.mark.parametrize("bad", [{"temperature": 0}, {"temperature": float("inf")},
                                 {"alpha": -0.1}, {"alpha": 1.5}, {"feature_weight": -1}])
def test_distill_spec_refuses_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError, match="distill"):
        FinetuneSpec(distill=bad)


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 2
    p = torch.full((48, 8), 0.1)
    p[y == 0, :4] = 0.8
    p[y == 1, 4:] = 0.8
    return TensorDataset((torch.rand(48, 4, 8, generator=g) < p[:, None]).float(), y)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(8, 16)), LIF(beta=0.8),
                         TimeDistributed(nn.Linear(16, 2)))


@pytest.mark.parametrize("features", [False, True])
def test_teacher_is_untouched_by_distillation(features: bool) -> None:
    teacher, student = _model(0), _model(1)
    teacher.train()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    seen: list[tuple[bool, bool]] = []
    d = Distiller(teacher, student, DistillSpec(features=features), cross_entropy)
    orig = teacher.forward

    def spy(x: torch.Tensor) -> torch.Tensor:
        seen.append((teacher.training, torch.is_grad_enabled()))
        return orig(x)

    teacher.forward = spy  # type: ignore[method-assign]
    data = _data()
    fit(student, data, None, FinetuneSpec(epochs=2, batch_size=16, lr=1e-2), progress=False,
        criterion=d, device="cpu")
    assert d.calls == 6 and seen == [(False, False)] * 6
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    d.close()
    assert teacher.training and all(p.requires_grad for p in teacher.parameters())


def test_distiller_refuses_the_student_as_teacher() -> None:
    m = _model()
    with pytest.raises(SpikeliteError, match="separate model"):
        Distiller(m, m, DistillSpec(), cross_entropy)
